"""The one YAML writer for what inferplace hands to kubectl (rendered objects, `-o yaml`).

PyYAML quotes a string by YAML 1.1's rules, kubectl reads by go-yaml's: `211e01`, `1e5` or `0o17` went
out plain and came back as numbers, so an object with such a label value could not be applied (an e2e
run whose random suffix was `211e01` found it). Every string go-yaml would read as anything but a string
(api.scalars.resolve, the reader's own rules) is single-quoted; nothing else changes. No anchors or
aliases: a reviewer reads every object as it will be applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from inferplace.api.scalars import STR_TAG, resolve

_BASE: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter if present


class KubectlDumper(_BASE):  # type: ignore[misc,valid-type]
    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 - PyYAML's signature
        return True


def _string(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if data and resolve(data)[0] != STR_TAG:
        return dumper.represent_scalar(STR_TAG, data, style="'")
    return dumper.represent_str(data)


KubectlDumper.add_representer(str, _string)


def dump_all(docs: Iterable[Any], **options: Any) -> str:
    """`docs` as YAML documents that kubectl reads back exactly (options as yaml.dump_all's)."""
    out: str = yaml.dump_all(docs, Dumper=KubectlDumper, sort_keys=False, **options)
    return out


__all__ = ["KubectlDumper", "dump_all"]
