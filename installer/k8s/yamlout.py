"""YAML as written to the manifest files: sorted keys, literal blocks, no anchors."""

from __future__ import annotations

from typing import Any, Sequence

import yaml

import installer.i18n.yamltext  # noqa: F401  (a Text in the YAML is written in English)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (rendered config files) as literal blocks, readable in a diff;
    no anchors/aliases (probes share one action dict), which some tools mishandle."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(objs: Sequence[dict[str, Any]]) -> str:
    return yaml.dump_all(
        objs, Dumper=_Dumper, sort_keys=True, default_flow_style=False, explicit_start=True
    )
