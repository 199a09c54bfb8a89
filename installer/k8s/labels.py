"""Labels on every rendered object, so `sealbox k8s status/delete` find what Sealbox made."""

from __future__ import annotations

from installer import constants as L

MANAGED = L.MANAGED
MODULE = L.MODULE
BUNDLE_VERSION = L.BUNDLE_VERSION
MODULE_VERSION = L.MODULE_VERSION
CONFIG_HASH = L.CONFIG_HASH
PRODUCT = f"{L.PREFIX}.product"
SELECTOR = f"{MANAGED}=true"

# The well-known labels tools such as `kubectl get -l app.kubernetes.io/managed-by=sealbox` use.
APP_NAME = "app.kubernetes.io/name"
APP_PART_OF = "app.kubernetes.io/part-of"
APP_MANAGED_BY = "app.kubernetes.io/managed-by"
APP_INSTANCE = "app.kubernetes.io/instance"
APP_VERSION = "app.kubernetes.io/version"
# On a Namespace Sealbox created (never on one that existed): `delete --purge` may remove it.
CREATED_BY = f"{L.PREFIX}.created-by"
