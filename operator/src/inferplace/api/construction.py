"""YAML nodes built as kubectl builds them (go-yaml v2 under sigs.k8s.io/yaml), for api.documents.

- scalars resolved as go-yaml resolves them (api.scalars); `!!timestamp` checked and kept as text,
  `!!binary` decoded, tags go-yaml does not resolve leave the text (`retag_scalar`);
- mappings filled as go-yaml's Go map fills them: a merge (`<<`) writes its keys where it stands, 0.0 and
  -0.0 are one key, then each key becomes a JSON string; refused where kubectl would answer silently:
  a key given twice, a key a later merge replaces, two keys that become one string;
- non-finite floats refused as values (JSON cannot hold them);
- libyaml parses unless a document needs PyYAML's Python parser to be read as go-yaml reads it (a bare
  `!` tag, the `\\/` escape): `loader_for`.
Every refusal is a `Refused` naming its node; api.documents turns it into `path: why (line N)`.
"""

from __future__ import annotations

import math
import re
from typing import IO, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from inferplace.api import scalars
from inferplace.api.errors import shown

# libyaml's parser where the platform has it (several times faster on a thousand manifests); the
# construction, where every check of this module happens, is Python either way.
_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Refused(Exception):  # noqa: N818
    """A value kubectl's reader would refuse or read silently otherwise; `node` is where."""

    def __init__(self, node: Node, why: str) -> None:
        super().__init__(why)
        self.node, self.why = node, why


def _unbuildable(node: Node, exc: Exception) -> Refused:
    """Any error of PyYAML's constructors (ConstructorError, ValueError, OverflowError, ...) as a refusal."""
    return Refused(node, f"cannot be read: {shown(getattr(exc, 'problem', None) or str(exc))}")


# PyYAML's stubs type its loaders loosely (and one parser is C): the mixin is checked as if on Any; at run
# time it sits before SafeConstructor in both loaders' order, so super() reaches PyYAML's own.
_MIXIN_BASE: Any = object


class Reading(_MIXIN_BASE):  # type: ignore[misc]
    """Construction as kubectl's reader (go-yaml v2 under sigs.k8s.io/yaml) gives it, with Kubernetes'
    JSON in mind: no dates, no duplicate keys, no number JSON cannot hold. Mixed into the libyaml loader
    and into the pure-Python one."""

    first: int  # the line the document starts on, for messages
    go_keys: dict[Node, dict[str, object]]  # each mapping built so far: its keys as go-yaml's map held them

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            value = super().construct_object(node, deep)
        except Refused:
            raise
        except Exception as exc:
            raise _unbuildable(node, exc) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise Refused(node, f"{shown(node.value)} is not a number Kubernetes can store")
        return value

    def resolve(self, kind: type[Node], value: str, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and implicit[0]:  # a plain scalar: read as kubectl reads it
            return scalars.resolve(value)[0]
        tag: str = super().resolve(kind, value, implicit)
        return tag

    def construct_go_scalar(self, node: ScalarNode) -> Any:
        return scalars.resolve_tagged(node.tag, node.value)

    def construct_go_binary(self, node: ScalarNode) -> str:
        return scalars.binary_text(node.value)

    def construct_merge_text(self, node: ScalarNode) -> str:  # `a: <<` is the text "<<" to go-yaml
        return str(node.value)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[str, Any]:
        """A mapping as kubectl's reader builds it: go-yaml fills a Go map pair by pair (a merge, `<<`,
        writes its keys where it stands; equal keys, such as 0.0 and -0.0, are one), then sigs.k8s.io/yaml
        makes each key a JSON string (`1` -> "1", `yes` -> "true"). Refused, where kubectl would answer
        silently: a key given twice (it keeps the last), a key a later merge replaces (it keeps the merged
        value, YAML the mapping's own), and two keys that become one string (`1` and `1.0`: it keeps
        either value)."""
        entries: dict[object, tuple[str, Any, Node, int]] = {}  # Go key -> (text, value, key node, line)
        own: dict[object, int] = {}  # Go key -> line, for the mapping's own keys
        keys_met: set[Node] = set()
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == scalars.MERGE_TAG and key_node.value == "<<":
                merge_line = key_node.start_mark.line
                for merged in self._merged(value_node):
                    # Built afresh (not from the cache): an anchored mapping may not be filled in yet.
                    built = self.construct_mapping(merged, deep=True)
                    merged_keys = self.go_keys[merged]
                    for text, value in built.items():
                        go_key = merged_keys[text]
                        if go_key in own:
                            raise Refused(key_node, f"key {shown(text)!r} (line {self.first + own[go_key]}) is "
                                           f"replaced by the merge on line {self.first + merge_line}: kubectl keeps "
                                           "the merged value; write `<<` before the mapping's own keys")
                        entries[go_key] = (text, value, key_node, merge_line)
                continue
            text, go_key = self._key(key_node, deep)
            # An alias key (`*k: v`) is the anchored node, marked where the anchor is: its value says where.
            line = (value_node if key_node in keys_met else key_node).start_mark.line
            keys_met.add(key_node)
            if go_key in own:
                raise Refused(key_node, f"duplicate key {shown(text)!r} (lines {self.first + own[go_key]} "
                               f"and {self.first + line}): the API server would keep only the last")
            own[go_key] = line
            entries[go_key] = (text, self.construct_object(value_node, deep), key_node, line)
        out: dict[str, Any] = {}
        go_keys: dict[str, object] = {}
        lines: dict[str, int] = {}
        for go_key, (text, value, key_node, line) in entries.items():
            if text in out:
                first, second = sorted((lines[text], line))
                raise Refused(key_node, f"duplicate key {shown(text)!r} (lines {self.first + first} and "
                               f"{self.first + second}): one key to kubectl, which keeps either value")
            out[text], go_keys[text], lines[text] = value, go_key, line
        self.go_keys[node] = go_keys
        return out

    def _merged(self, value_node: Node) -> list[MappingNode]:
        """The mappings a merge writes, in the order go-yaml writes them (a list from its end: the first wins)."""
        if isinstance(value_node, MappingNode):
            return [value_node]
        if isinstance(value_node, SequenceNode) and all(isinstance(n, MappingNode) for n in value_node.value):
            return [n for n in reversed(value_node.value) if isinstance(n, MappingNode)]
        raise Refused(value_node, "a merge (`<<`) needs a mapping or a list of mappings")

    def _key(self, key_node: Node, deep: bool) -> tuple[str, object]:
        """The key's JSON text, and the key as go-yaml's Go map compares it (0.0 equals -0.0; 1 is not 1.0;
        NaN equals nothing)."""
        if not isinstance(key_node, ScalarNode):  # `? {}` or `? [a]`: JSON keys are strings
            raise Refused(key_node, "a key must be a plain value (a string), not a mapping or a list")
        if key_node.tag in scalars.RESOLVED_TAGS:  # built here: `.inf` and `.nan` are fine keys (JSON text)
            try:
                value = scalars.resolve_tagged(key_node.tag, key_node.value)
            except ValueError as exc:
                raise _unbuildable(key_node, exc) from None
        else:
            value = self.construct_object(key_node, deep)
        try:
            text = scalars.key_text(value)
        except ValueError as exc:
            raise Refused(key_node, str(exc)) from None
        if isinstance(value, float) and math.isnan(value):
            return text, object()
        return text, (type(value).__name__, value)


class _Loader(Reading, _BASE):  # type: ignore[misc, valid-type]
    """libyaml's parser: the one used unless a document has a bare `!` tag."""


class _PyLoader(Reading, yaml.SafeLoader):  # type: ignore[misc]  # construct_mapping's keys are str
    """PyYAML's own parser, for the rare document where libyaml and go-yaml differ: a bare `!` tag (go-yaml
    reads `! 12` as the text "12" where PyYAML resolves it as if untagged; only the Python composer lets
    the two be told apart) and the `\\/` escape (YAML 1.2's, which go-yaml v2 refuses)."""

    ESCAPE_REPLACEMENTS = {  # type: ignore[misc]  # noqa: RUF012  (Final in the stubs; PyYAML reads it per class)
        k: v for k, v in yaml.SafeLoader.ESCAPE_REPLACEMENTS.items() if k != "/"}

    def compose_scalar_node(self, anchor: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if _SURROGATE.search(event.value):  # an escape such as \ud800: libyaml and go-yaml refuse it
            raise yaml.scanner.ScannerError("while scanning a quoted scalar", event.start_mark,
                                            "found invalid Unicode character escape code", event.start_mark)
        if event.tag == "!":
            event.tag = scalars.MERGE_TAG if event.value == "<<" else scalars.STR_TAG
        return super().compose_scalar_node(anchor)


_SURROGATE = re.compile("[\ud800-\udfff]")
# A `!` standing alone, where a tag can stand, or a `\/` (also matches the rare text such as `a ! b`: then
# the slower parser reads it, with the same result).
_PYTHON_NEEDED = re.compile(r"(?:^|[\s\[\]{},])!(?=[\s\[\]{},]|$)|\\/", re.MULTILINE)

for _cls in (_Loader, _PyLoader):
    for _tag in scalars.RESOLVED_TAGS:
        _cls.add_constructor(_tag, Reading.construct_go_scalar)
    _cls.add_constructor(scalars.BINARY_TAG, Reading.construct_go_binary)
    _cls.add_constructor(scalars.MERGE_TAG, Reading.construct_merge_text)


_HEEDED = frozenset((*scalars.RESOLVED_TAGS, scalars.STR_TAG, scalars.BINARY_TAG, scalars.MERGE_TAG))


def retag_scalar(node: Node) -> None:
    """On a scalar go-yaml heeds only the tags it resolves; any other (`!foo 1`, `!!python/tuple x`) leaves
    the text. A merge key is `<<` only (`!!merge x` is the key "x")."""
    if node.tag not in _HEEDED or (node.tag == scalars.MERGE_TAG and node.value != "<<"):
        node.tag = scalars.STR_TAG


def loader_for(stream: IO[str], text: str, first: int) -> Reading:
    """The loader for one document's text (the libyaml one unless it needs the Python parser)."""
    loader: Reading = (_PyLoader if _PYTHON_NEEDED.search(text) else _Loader)(stream)
    loader.first, loader.go_keys = first, {}
    return loader
