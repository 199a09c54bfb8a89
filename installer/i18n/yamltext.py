"""YAML files Sealbox writes (manifests, charts, bundle manifests, secrets files) are machine
output: a ``Text`` from ``_()`` in them is written in English. PyYAML would refuse the unknown
str subclass otherwise. Apart from ``installer.i18n`` itself, which the images carry and which
therefore imports nothing but the standard library; every module that dumps YAML imports this.
"""

from __future__ import annotations

from typing import Any

import yaml

from installer.i18n import Text


def _represent(dumper: Any, value: Text) -> Any:
    return dumper.represent_str(value.english)


for _dumper in (yaml.SafeDumper, yaml.Dumper):
    _dumper.add_representer(Text, _represent)
