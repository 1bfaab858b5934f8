"""The one YAML reader for everything a user hands inferplace (manifests, price files, Deployments).

It reads YAML the way the API server will store it, and bounds every cost of reading:
- at most `MAX_BYTES` are read (enforced while reading: `/dev/zero` stops at the limit);
- the stream is split into documents on `---` lines, as kubectl splits it, and each document is
  parsed on its own, so one broken document is reported while the others are answered;
- NUL bytes and bytes that are not UTF-8 are reported with their line and column;
- aliases may not expand a document beyond `MAX_NODES` values or nest it deeper than `MAX_DEPTH`
  (a "billion laughs" is refused before anything is built), and an alias may not contain itself;
- each document is built as kubectl builds it (api.construction: go-yaml's scalars, tags and merges;
  duplicate keys refused with both line numbers; non-finite numbers refused as values); a value the
  loader cannot build (`!!int 0b102`, `!!float abc`, a 5,000-digit integer) is reported with its path
  and line, never a traceback. Messages show values cut to `errors.SHOWN` characters, never expanded.
"""

from __future__ import annotations

import io
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from inferplace.api import scalars
from inferplace.api.construction import Reading, Refused, loader_for, retag_scalar
from inferplace.api.errors import field_path, shown

MAX_BYTES = 16 * 1024 * 1024  # per file or stdin
MAX_DEPTH = 64  # nesting of mappings and lists
MAX_NODES = 200_000  # values in one document once aliases are expanded

_SEPARATOR_LIKE = re.compile(rb"^---(.*)$", re.MULTILINE)  # kubectl's test: the line starts with `---`


class ReadError(ValueError):
    """The input as a whole cannot be read (too large, unreadable)."""


@dataclass(frozen=True)
class Document:
    index: int  # 0-based, in the stream
    line: int  # 1-based line of its first line in the stream
    value: Any = None  # the parsed document (None: empty, or a problem)
    problem: str | None = None  # why it could not be read: "line N, column M: ..." or "path: ... (line N)"


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
        loader = loader_for(io.StringIO(text), text, first)
    except yaml.reader.ReaderError as exc:  # PyYAML's own reader checks the characters when it is made
        line = first + text.count("\n", 0, exc.position)
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return [(line, None, f"line {line}: not valid YAML: unacceptable character #x{code:04x}: {exc.reason}")]
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


def _built(loader: Reading, root: Node, first: int) -> tuple[Any, str | None]:
    bad = _prepared(root, first)
    if bad:
        return None, bad
    try:
        return loader.construct_document(root), None
    except Refused as exc:
        path = _path_to(root, exc.node) or "(the document)"
        return None, f"{path}: {exc.why} (line {first + exc.node.start_mark.line})"
    except RecursionError:
        return None, f"line {first}: nested too deeply"


def _prepared(root: Node, first: int) -> str | None:
    """One walk over the node graph (aliases share nodes: nothing is expanded): depth, expanded size and
    alias cycles checked before anything is built, and tags set as go-yaml heeds them (none on a mapping
    or a list: `!!set {a}` is a mapping, `!!omap [..]` a list). Scalars are not pushed: most nodes are."""
    if not isinstance(root, (MappingNode, SequenceNode)):
        retag_scalar(root)
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
                retag_scalar(k)
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
