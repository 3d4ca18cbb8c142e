"""Read template.yaml (CloudFormation short-form tags included) and expand it with samtranslator."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.Loader, suffix: str, node: yaml.Node) -> Any:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]  # a MappingNode
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@lru_cache(maxsize=1)
def _load() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    return loaded


def load_template() -> dict[str, Any]:
    return copy.deepcopy(_load())


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in load_template()["Resources"].items() if r["Type"] == kind}


def expand(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template (default: template.yaml) as CloudFormation sees it after the SAM transform."""
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(template) if template is not None else load_template()
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://artifacts-bucket/{props[key].strip('/')}.zip"

    class _NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    expanded: dict[str, Any] = transform(template, {}, _NoManagedPolicies())
    return expanded


def function_timeout(logical_id: str) -> float:
    """The function's Timeout as the template sets it (its own, else Globals'), in seconds."""
    template = _load()
    own = template["Resources"].get(logical_id, {}).get("Properties", {}).get("Timeout")
    return float(own if own is not None else template["Globals"]["Function"].get("Timeout", 3))
