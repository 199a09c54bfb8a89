"""Module variables for a cluster: Service names for address variables, no host facts."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from installer.deploy.render import Renderer
from installer.deploy.variables import Resolved, resolve
from installer.errors import UsageError
from installer.i18n import _
from installer.spec.address import cluster_addresses
from installer.spec.model import ModuleSpec


class ClusterStore:
    """What installer.deploy.desired asks of a state store; in a cluster there are no host paths."""

    deployment_id = "default"

    def config_dir(self, container: str) -> str:
        return f"/k8s/{container}"

    def data_dir(self, module: str, name: str, instance: Optional[int] = None) -> str:
        return f"/k8s/{module}/{name}"


class _NoFacts:
    """Variable defaults that read host facts make no sense for a cluster: say so."""

    def __getattr__(self, name: str) -> Any:
        raise UsageError(
            _("facts.{name} has no meaning in a cluster; pass the variable with --set").format(
                name=name
            )
        )


def cluster_defaults(specs: Mapping[str, ModuleSpec], namespace: str) -> dict[str, str]:
    """Address variables (derived from `wired_to`) point at the provider's Service (same
    namespace): the one answer `installer.spec.address` gives every deployment path."""
    return cluster_addresses(specs)


def resolve_for_cluster(
    specs: Mapping[str, ModuleSpec],
    order: list[str],
    renderer: Renderer,
    namespace: str,
    overrides: Mapping[str, Any],
    stored_secrets: Mapping[str, Any],
) -> Resolved:
    """The variables of ``order`` for a cluster. Takes the two options it needs, not
    render.K8sOptions, so that values sits below render (no import cycle, type-only included)."""
    remembered = {**cluster_defaults(specs, namespace), **stored_secrets}
    return resolve(
        [specs[n] for n in order],
        overrides=overrides,
        answers={},
        remembered=remembered,
        default_context=lambda spec: {"network": spec.network, "facts": _NoFacts()},
        render_default=renderer.render_string,
        prompter=None,
        others=[s for n, s in specs.items() if n not in order],
    )
