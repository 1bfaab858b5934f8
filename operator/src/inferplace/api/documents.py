"""The one YAML reader for everything a user hands inferplace (manifests, price files, Deployments).

It reads YAML the way the API server will store it, and bounds every cost of reading:
- at most `MAX_BYTES` are read (enforced while reading: `/dev/zero` stops at the limit);
- the stream is split into documents on `---` lines, as kubectl splits it, and each document is
  parsed on its own, so one broken document is reported while the others are answered;
- NUL bytes and bytes that are not UTF-8 are reported with their line and column;
- aliases may not expand a document beyond `MAX_NODES` values or nest it deeper than `MAX_DEPTH`
  (a "billion laughs" is refused before anything is built), and an alias may not contain itself;
- duplicate keys are refused with both line numbers (the API server's JSON would keep the last), also
  two keys kubectl holds as one (`yes` and `true`, `0.0` and `-0.0`, `1` and `1.0`) and a key a later
  merge (`<<`) replaces (kubectl keeps the merged value, YAML the mapping's own);
- tags count as go-yaml counts them (none on mappings and lists; `!!timestamp` checked and kept as
  text, `!!binary` decoded, unknown tags leave the text), merges applied where they stand;
- non-finite floats are refused as values (JSON cannot hold them), and are text as keys (`.inf`);
  dates and times stay strings, as kubectl sends them; a value the loader cannot build (`!!int 0b102`,
  `!!float abc`, a 5,000-digit integer) is reported, never a traceback. Messages show values cut to
  `SHOWN` characters, never expanded.
"""

from __future__ import annotations

import io
import math
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from inferplace.api import scalars
from inferplace.api.errors import field_path

MAX_BYTES = 16 * 1024 * 1024  # per file or stdin
MAX_DEPTH = 64  # nesting of mappings and lists
MAX_NODES = 200_000  # values in one document once aliases are expanded
SHOWN = 80  # characters of a value quoted in a message

_SEPARATOR_LIKE = re.compile(rb"^---(.*)$", re.MULTILINE)  # kubectl's test: the line starts with `---`


class ReadError(ValueError):
    """The input as a whole cannot be read (too large, unreadable)."""


@dataclass(frozen=True)
class Document:
    index: int  # 0-based, in the stream
    line: int  # 1-based line of its first line in the stream
    value: Any = None  # the parsed document (None: empty, or a problem)
    problem: str | None = None  # why it could not be read: "line N, column M: ..." or "path: ... (line N)"


def shown(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= SHOWN else text[:SHOWN] + f"... ({len(text)} characters)"


def read_bytes(path: Path | str, stream: IO[bytes] | None = None) -> bytes:
    """At most MAX_BYTES of a file (or of `stream`, e.g. stdin's buffer), stopping as soon as it is more."""
    try:
        with (open(path, "rb") if stream is None else _nullcontext(stream)) as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ReadError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise ReadError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MiB; split it into several files")
    return data


class _nullcontext:  # noqa: N801 - contextlib.nullcontext, typed for IO
    def __init__(self, f: IO[bytes]) -> None:
        self.f = f

    def __enter__(self) -> IO[bytes]:
        return self.f

    def __exit__(self, *exc: object) -> None:
        pass


def split(data: bytes) -> Iterator[tuple[int, bytes, str | None]]:
    """(first line, bytes, problem) of each document, split on `---` lines as kubectl splits them
    (apimachinery's YAMLReader): every line starting with `---`. kubectl refuses the file at one with more
    than a comment after it (`--- |`, `--- {a: 1}`, `----`), though YAML allows some: the document it
    starts is reported, the others are still read."""
    start, line, problem = 0, 1, None
    for m in _SEPARATOR_LIKE.finditer(data):
        yield line, data[start:m.start()], problem
        problem = _bad_separator(m, line + data.count(b"\n", start, m.start()))
        line += data.count(b"\n", start, m.end()) + 1
        start = m.end() + 1
    yield line, data[start:], problem


def _bad_separator(m: re.Match[bytes], line: int) -> str | None:
    rest = m.group(1).decode("utf-8", "replace").strip()  # Go's strings.TrimSpace
    if not rest or rest.startswith("#"):
        return None
    written = m.group(0).decode("utf-8", "replace").rstrip()
    return (f"line {line}: {shown(written)!r}: kubectl reads a line starting with `---` as a document separator, "
            "with nothing but a comment after it (invalid Yaml document separator); put the rest on the next line")


def documents(data: bytes) -> list[Document]:
    """Every non-empty document of a YAML stream, each read on its own."""
    out: list[Document] = []
    for first, chunk, problem in split(data):
        if problem is not None:
            out.append(Document(len(out), first - 1, None, problem))
            continue
        if not chunk.strip() or all(ln.strip().startswith(b"#") or not ln.strip() for ln in chunk.splitlines()):
            continue
        for line, value, why in _chunk(chunk, first):
            out.append(Document(len(out), line, value, why))
    return out


def _where(chunk: bytes, offset: int, first: int) -> str:
    line = first + chunk.count(b"\n", 0, offset)
    column = offset - (chunk.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _chunk(chunk: bytes, first: int) -> list[tuple[int, Any, str | None]]:
    """(line, value, problem) of the document in a chunk (a part between `---` lines). The YAML parser
    could see more (`... ` then text, `--- text`): kubectl would drop or refuse them, and so they are
    reported."""
    nul = chunk.find(b"\x00")
    if nul >= 0:
        return [(first, None, f"{_where(chunk, nul, first)}: a NUL byte (is this a binary file?)")]
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [(first, None, f"{_where(chunk, exc.start, first)}: not UTF-8 (byte 0x{chunk[exc.start]:02x})")]
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.endswith("\n"):  # kubectl's line reader ends every line, the last too (`|` keeps it)
        text += "\n"
    try:
        loader = (_PyLoader if _PYTHON_NEEDED.search(text) else _Loader)(io.StringIO(text))
    except yaml.reader.ReaderError as exc:  # PyYAML's own reader checks the characters when it is made
        line = first + text.count("\n", 0, exc.position)
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return [(line, None, f"line {line}: not valid YAML: unacceptable character #x{code:04x}: {exc.reason}")]
    loader.first, loader.go_keys = first, {}
    out: list[tuple[int, Any, str | None]] = []
    try:
        while True:
            try:
                if not loader.check_node():
                    break
                root = loader.get_node()
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
                where = f"line {first + mark.line}, column {mark.column + 1}" if mark else f"line {first}"
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                if "document start" in problem:  # the document ended (`...`, a closed flow value) and text follows
                    out.append((first + (mark.line if mark else 0), None, f"{where}: text after the end of the "
                                "document: kubectl reads one document between `---` lines and would drop it; "
                                "put `---` before it"))
                    break
                out.append((first + (mark.line if mark else 0), None, f"{where}: not valid YAML: {shown(problem)}"))
                break
            except (ValueError, OverflowError):  # PyYAML's Python scanner: chr() of an escape such as \UFFFFFFFF
                mark = loader.get_mark()
                out.append((first + mark.line, None, f"line {first + mark.line}, column {mark.column + 1}: not valid "
                            "YAML: found invalid Unicode character escape code"))
                break
            if root is not None:
                out.append((first + root.start_mark.line, *_built(loader, root, first)))
    finally:
        loader.dispose()
    return out


def _built(loader: _Reading, root: Node, first: int) -> tuple[Any, str | None]:
    bad = _prepared(root, first)
    if bad:
        return None, bad
    try:
        return loader.construct_document(root), None
    except _Refused as exc:
        path = _path_to(root, exc.node) or "(the document)"
        return None, f"{path}: {exc.why} (line {first + exc.node.start_mark.line})"
    except RecursionError:
        return None, f"line {first}: nested too deeply"


# libyaml's parser where the platform has it (several times faster on a thousand manifests); the
# construction, where every check above happens, is Python either way.
_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Refused(Exception):  # noqa: N818
    def __init__(self, node: Node, why: str) -> None:
        super().__init__(why)
        self.node, self.why = node, why


def _unbuildable(node: Node, exc: Exception) -> _Refused:
    """Any error of PyYAML's constructors (ConstructorError, ValueError, OverflowError, ...) as a refusal."""
    return _Refused(node, f"cannot be read: {shown(getattr(exc, 'problem', None) or str(exc))}")


# PyYAML's stubs type its loaders loosely (and one parser is C): the mixin is checked as if on Any; at run
# time it sits before SafeConstructor in both loaders' order, so super() reaches PyYAML's own.
_MIXIN_BASE: Any = object


class _Reading(_MIXIN_BASE):  # type: ignore[misc]
    """Construction as kubectl's reader (go-yaml v2 under sigs.k8s.io/yaml) gives it, with Kubernetes'
    JSON in mind: no dates, no duplicate keys, no number JSON cannot hold. Mixed into the libyaml loader
    and into the pure-Python one."""

    first: int  # the line the document starts on, for messages
    go_keys: dict[Node, dict[str, object]]  # each mapping built so far: its keys as go-yaml's map held them

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            value = super().construct_object(node, deep)
        except _Refused:
            raise
        except Exception as exc:
            raise _unbuildable(node, exc) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refused(node, f"{shown(node.value)} is not a number Kubernetes can store")
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
                            raise _Refused(key_node, f"key {shown(text)!r} (line {self.first + own[go_key]}) is "
                                           f"replaced by the merge on line {self.first + merge_line}: kubectl keeps "
                                           "the merged value; write `<<` before the mapping's own keys")
                        entries[go_key] = (text, value, key_node, merge_line)
                continue
            text, go_key = self._key(key_node, deep)
            # An alias key (`*k: v`) is the anchored node, marked where the anchor is: its value says where.
            line = (value_node if key_node in keys_met else key_node).start_mark.line
            keys_met.add(key_node)
            if go_key in own:
                raise _Refused(key_node, f"duplicate key {shown(text)!r} (lines {self.first + own[go_key]} "
                               f"and {self.first + line}): the API server would keep only the last")
            own[go_key] = line
            entries[go_key] = (text, self.construct_object(value_node, deep), key_node, line)
        out: dict[str, Any] = {}
        go_keys: dict[str, object] = {}
        lines: dict[str, int] = {}
        for go_key, (text, value, key_node, line) in entries.items():
            if text in out:
                first, second = sorted((lines[text], line))
                raise _Refused(key_node, f"duplicate key {shown(text)!r} (lines {self.first + first} and "
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
        raise _Refused(value_node, "a merge (`<<`) needs a mapping or a list of mappings")

    def _key(self, key_node: Node, deep: bool) -> tuple[str, object]:
        """The key's JSON text, and the key as go-yaml's Go map compares it (0.0 equals -0.0; 1 is not 1.0;
        NaN equals nothing)."""
        if not isinstance(key_node, ScalarNode):  # `? {}` or `? [a]`: JSON keys are strings
            raise _Refused(key_node, "a key must be a plain value (a string), not a mapping or a list")
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
            raise _Refused(key_node, str(exc)) from None
        if isinstance(value, float) and math.isnan(value):
            return text, object()
        return text, (type(value).__name__, value)


class _Loader(_Reading, _BASE):  # type: ignore[misc, valid-type]
    """libyaml's parser: the one used unless a document has a bare `!` tag."""


class _PyLoader(_Reading, yaml.SafeLoader):  # type: ignore[misc]  # construct_mapping's keys are str
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
        _cls.add_constructor(_tag, _Reading.construct_go_scalar)
    _cls.add_constructor(scalars.BINARY_TAG, _Reading.construct_go_binary)
    _cls.add_constructor(scalars.MERGE_TAG, _Reading.construct_merge_text)


_HEEDED = frozenset((*scalars.RESOLVED_TAGS, scalars.STR_TAG, scalars.BINARY_TAG, scalars.MERGE_TAG))


def _retag_scalar(node: Node) -> None:
    """On a scalar go-yaml heeds only the tags it resolves; any other (`!foo 1`, `!!python/tuple x`) leaves
    the text. A merge key is `<<` only (`!!merge x` is the key "x")."""
    if node.tag not in _HEEDED or (node.tag == scalars.MERGE_TAG and node.value != "<<"):
        node.tag = scalars.STR_TAG


def _prepared(root: Node, first: int) -> str | None:
    """One walk over the node graph (aliases share nodes: nothing is expanded): depth, expanded size and
    alias cycles checked before anything is built, and tags set as go-yaml heeds them (none on a mapping
    or a list: `!!set {a}` is a mapping, `!!omap [..]` a list). Scalars are not pushed: most nodes are."""
    if not isinstance(root, (MappingNode, SequenceNode)):
        _retag_scalar(root)
        return None
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    state: dict[int, int] = {}  # 1: on the stack, 2: done
    stack: list[tuple[Node, list[Node] | None]] = [(root, None)]
    while stack:
        node, kids = stack.pop()
        nid = id(node)
        if kids is not None:  # every collection below is done
            size[nid] = 1 + sum(size.get(id(k), 1) for k in kids)  # a scalar is 1 and 1 deep
            depth[nid] = 1 + max((depth.get(id(k), 1) for k in kids), default=0)
            state[nid] = 2
            if size[nid] > MAX_NODES:
                return (f"line {first + node.start_mark.line}: expands to more than {MAX_NODES:,} values "
                        "(aliases): refused")
            if depth[nid] > MAX_DEPTH:
                return f"line {first + node.start_mark.line}: nested deeper than {MAX_DEPTH} levels: refused"
            continue
        if state.get(nid) == 2:
            continue
        if state.get(nid) == 1:
            return f"line {first + node.start_mark.line}: an alias contains itself: refused"
        state[nid] = 1
        if isinstance(node, MappingNode):
            node.tag = scalars.MAP_TAG
            kids = [n for pair in node.value for n in pair]
        else:
            node.tag = scalars.SEQ_TAG
            kids = list(node.value)
        stack.append((node, kids))
        for k in kids:
            if not isinstance(k, (MappingNode, SequenceNode)):
                _retag_scalar(k)
                continue
            kid_state = state.get(id(k))
            if kid_state == 1:
                return f"line {first + k.start_mark.line}: an alias contains itself: refused"
            if kid_state != 2:
                stack.append((k, None))
        if len(stack) > MAX_NODES:
            return f"line {first + node.start_mark.line}: more than {MAX_NODES:,} values: refused"
    return None


def _path_to(root: Node, target: Node) -> str:
    """The field path of `target` (e.g. `metadata.labels.day`), searched breadth-first."""
    queue: deque[tuple[Node, tuple[int | str, ...]]] = deque([(root, ())])
    seen: set[int] = set()
    while queue:
        node, path = queue.popleft()
        if node is target:
            return field_path(path) if path else ""
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for k, v in node.value:
                name = str(k.value) if isinstance(k, ScalarNode) else "?"
                if k is target:
                    return field_path((*path, name))
                queue.append((v, (*path, name)))
        elif isinstance(node, SequenceNode):
            for i, v in enumerate(node.value):
                queue.append((v, (*path, i)))
    return ""
