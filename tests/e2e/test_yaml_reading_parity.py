"""The CLI reads YAML as kubectl does (issue 15): plain scalars and mapping keys, generated from the
characters that decide how go-yaml v2 resolves a scalar (digits, signs, `._`, base prefixes, exponents,
the letters of true/false/yes/no/on/off/null/.inf/.nan), go through the CLI's reader and through
`yaml-to-json`, a main package built with the control plane that calls k8s.io/apimachinery's
yaml.ToJSON, the function kubectl reads manifests with. Each must give the same JSON value, or both
refuse it. One deliberate difference: two keys kubectl holds as one (`yes` and `true` after its key
conversion, `0.0` and `-0.0` as equal Go floats) are refused here as a duplicate, where kubectl keeps
one of the two values silently (which one can change from run to run: Go's map order)."""

from __future__ import annotations

import base64
import json
import math
import os
import random
import subprocess
from typing import Any

import pytest

from inferplace.api.documents import documents

from ..support import controlplane

pytestmark = pytest.mark.e2e

ORACLE = controlplane.cache_dir() / "yaml-to-json"
FIXED = ["09", "1e3", "y", "n", "0o17", "00060", "1_000", "0b102", "-0b101", "1e400", "1e-400", ".5", "._5",
         "18446744073709551615", "18446744073709551616", "9223372036854775808", "=", "2001-12-14", "yEs", "On",
         "0x", "0x1F", "+1", "-0", "00", "1.", "+.5", "1e-301", "1_0.5", "0x_1f", ".1e3", "~", "12:30", "0.",
         "-.inf2", ".NaN", "+.INF", "NULL", "Off", "0B11", "0O7", "1E5", "1e+5", "+0x10", "-0o10", "0b", "1__0"]


def _oracle(texts: list[str]) -> list[dict[str, str]]:
    if not ORACLE.is_file():
        if os.environ.get("INFERPLACE_REQUIRE_E2E"):
            pytest.fail(f"{ORACLE} is missing: run `python -m tests.support.controlplane build`")
        pytest.skip(f"{ORACLE} is not built (python -m tests.support.controlplane build)")
    proc = subprocess.run([str(ORACLE)], input=json.dumps(texts), capture_output=True, text=True, timeout=120,
                          check=True)
    out: list[dict[str, str]] = json.loads(proc.stdout)
    return out


def _ours(text: str) -> tuple[Any, str | None]:
    (doc,) = documents(text.encode())
    return doc.value, doc.problem


def _same(ours: Any, theirs: Any) -> bool:
    """Equal as JSON values: kubectl's JSON has no int/float distinction (9.0 is written 9)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(_same(ours[k], theirs[k]) for k in ours)
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return ours is theirs
    if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
        return ours == theirs or math.isclose(ours, theirs, rel_tol=1e-15)
    return bool(type(ours) is type(theirs) and ours == theirs)


def _compare(texts: list[str]) -> None:
    _compare_documents([f"a: {t}\n" for t in texts] + [f"{t}: v\n" for t in texts])


def _difference(doc: str, theirs: dict[str, str], value: Any, problem: str | None) -> str | None:
    """How the two readers told one document apart: one refused it and the other did not, or the values differ."""
    if "error" in theirs or problem is not None:
        if ("error" in theirs) != (problem is not None):
            return f"{doc!r}: kubectl: {theirs.get('error') or theirs['json']}; cli: {problem or value}"
        return None
    if not _same(value, json.loads(theirs["json"])):
        return f"{doc!r}: kubectl: {theirs['json']}; cli: {json.dumps(value)}"
    return None


def _compare_documents(docs: list[str]) -> list[dict[str, str]]:
    """Each document through both readers: the same JSON value, or both refuse it. kubectl's answers."""
    answers = _oracle(docs)
    told_apart = []
    for doc, theirs in zip(docs, answers, strict=True):
        value, problem = _ours(doc)
        if doc.startswith("---") and problem is not None and "invalid Yaml document separator" in problem:
            continue  # a file's line: `kubectl apply` refuses it (test_files_are_split_...), yaml.ToJSON does not
        difference = _difference(doc, theirs, value, problem)
        if difference:
            told_apart.append(difference)
    assert not told_apart, f"{len(told_apart)} of {len(docs)} read differently:\n" + "\n".join(told_apart[:20])
    return answers


def test_the_scalars_that_misled_the_yaml_1_1_reader_are_read_as_kubectl_reads_them() -> None:
    _compare(FIXED)


PIECES = ["0", "1", "7", "9", "00", "12", "0x", "0X", "0o", "0O", "0b", "0B", "1_0", "_", ".", "e", "E", "e+", "e-",
          "5", "f", "F", "a", "inf", "Inf", "nan", "NaN", "y", "Y", "n", "N", "o", "on", "ON", "yes", "No", "True",
          "fAlse", "~", "null", "Null", "+", "-", "9223372036854775807", "18446744073709551616", "e400", "e-400"]
GENERATED = 20_000


def _generated() -> list[str]:
    rng = random.Random(15)  # fixed: the same cases every run
    texts = {"".join(rng.choice(["", "", "+", "-", "."])
                     + "".join(rng.choices(PIECES, k=rng.randint(1, 4)))) for _ in range(GENERATED)}
    return sorted(t for t in texts if t.strip() == t and not t.startswith(("- ", "? ")))


def test_generated_scalars_are_read_as_kubectl_reads_them() -> None:
    _compare(_generated())


def test_documents_the_python_parser_reads_are_read_as_kubectl_reads_them() -> None:
    """A bare `!` anywhere sends the document to PyYAML's Python parser (not libyaml): the same answers."""
    rng = random.Random(21)
    texts = [*FIXED, *rng.sample(_generated(), 3_000)]
    _compare_documents([f"z: ! q\na: {t}\n" for t in texts] + [f"z: ! q\n{t}: v\n" for t in texts])


PAIRS = 4_000


def test_two_keys_are_one_key_here_exactly_when_they_are_one_to_kubectl() -> None:
    """Two keys of one mapping: kubectl keeps one when go-yaml's map holds them as one (0.0 and -0.0 are equal
    floats to Go) or when they become one JSON text (`1` and `1.0`, `yes` and `true`); the CLI must then refuse
    the duplicate, and otherwise read both keys as kubectl does."""
    texts = _generated() + FIXED
    single = _oracle([f"{t}: v\n" for t in texts])
    by_key: dict[str, list[str]] = {}
    for t, theirs in zip(texts, single, strict=True):
        if "json" in theirs:
            by_key.setdefault(next(iter(json.loads(theirs["json"]))), []).append(t)
    rng = random.Random(16)
    readable = [t for group in by_key.values() for t in group]
    pairs = [tuple(rng.sample(readable, 2)) for _ in range(PAIRS)]  # mostly two keys
    for group in by_key.values():  # one JSON text: one key to kubectl
        pairs += [tuple(rng.sample(group, 2)) for _ in range(min(3, len(group) - 1))]
    zero, minus_zero = by_key.get("0", []), by_key.get("-0", [])  # integer and float zeros, both signs
    pairs += [(rng.choice(zero), rng.choice(minus_zero)) for _ in range(200) if zero and minus_zero]
    docs = [f"{a}: first\n{b}: second\n" for a, b in pairs]
    answers = _oracle(docs)
    told_apart = []
    for doc, theirs in zip(docs, answers, strict=True):
        value, problem = _ours(doc)
        if "error" in theirs:
            if problem is None:
                told_apart.append(f"{doc!r}: kubectl: {theirs['error']}; cli: {json.dumps(value)}")
            continue
        kept = json.loads(theirs["json"])
        if len(kept) == 1:
            if problem is None or "duplicate key" not in problem:
                told_apart.append(f"{doc!r}: kubectl keeps one key {theirs['json']}; cli: {problem or value}")
        elif problem is not None or not _same(value, kept):
            told_apart.append(f"{doc!r}: kubectl: {theirs['json']}; cli: {problem or json.dumps(value)}")
    merged = sum(1 for theirs in answers if "json" in theirs and len(json.loads(theirs["json"])) == 1)
    assert merged > 100, "too few pairs kubectl holds as one key: the test would not see a difference"
    assert not told_apart, f"{len(told_apart)} of {len(docs)} read differently:\n" + "\n".join(told_apart[:20])


TAGS = ["", "!", "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!binary", "!!map", "!!seq", "!!set",
        "!!omap", "!!pairs", "!!merge", "!!value", "!!yaml", "!foo", "!<tag:example.com,2000:x>", "!!python/tuple"]
TAGGED_FIXED = ["a: !!map [1]\n", "a: !!seq {x: 1}\n", "a: !!seq x\n", "a: !!set {x, y}\n",
                "a: !!omap [{x: 1}, {y: 2}]\n", "a: !!binary |\n  aGVs\n  bG8=\n", "a: !!binary /w==\n",
                "a: !!binary 7aCA\n", "a: !!binary\n", 'a: ! "12"\n', "a: ! <<\n", "a: <<\n",
                "!!binary aGVsbG8=: v\n", "! 12: v\n", "a: !!timestamp 2001-12-14 21:59:43.10 -5\n",
                "a: !!timestamp 2001-12-14t21:59:43.10-05:00\n", "a: !!timestamp 2000-02-29\n",
                "a: !!timestamp 1900-02-29\n", "x: &m {a: 2}\ny: {<<: [*m, {a: 5}], b: 1}\n",
                "y: {!!merge <<: {a: 1}}\n", "y: {!!merge x: {a: 1}}\n", 'y: {"<<": {a: 1}}\n', "y: {<<: 5}\n",
                "y: {<<: [5]}\n", "y: {<<: {<<: {c: 1}, c: 2}}\n", "y: {<<: {0.0: a}, -0.0: b}\n",
                "y: {! <<: {a: 1}}\n", "y: {<<: {a: 1}, <<: {a: 2}}\n", "x: {p: &m {a: 1}}\ny: {<<: *m}\n"]


def _timestamps(rng: random.Random, n: int) -> list[str]:
    """Text near go-yaml's timestamp layouts: field widths, separators, fractions, zones, impossible days."""
    def num(lo: int, hi: int, width: int | None = None) -> str:
        v = str(rng.randint(lo, hi))
        return v.zfill(width) if width else rng.choice([v, v.zfill(2)])

    out = []
    for _ in range(n):
        text = f"{num(0, 9999, 4)}-{num(0, 13)}-{num(0, 32)}"
        if rng.random() < 0.7:
            text += rng.choice(["T", "t", " ", "  ", "_"]) + f"{num(0, 25)}:{num(0, 61)}:{num(0, 61)}"
            if rng.random() < 0.5:
                text += rng.choice([".", ","]) + str(rng.randint(0, 10**rng.randint(0, 12)))
            if rng.random() < 0.6:
                text += rng.choice(["Z", "z", f"+{num(0, 26, 2)}:{num(0, 61, 2)}", f"-{num(0, 9)}:{num(0, 9, 2)}",
                                    " +05:00", "+0500", "Zx"])
        out.append(text)
    return out


def _base64ish(rng: random.Random, n: int) -> list[str]:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    out = [base64.b64encode(bytes(rng.randrange(256) for _ in range(rng.randint(0, 9)))).decode() for _ in range(n)]
    out += ["".join(rng.choice(alphabet + "=-_ ") for _ in range(rng.randint(1, 12))) for _ in range(n)]
    return [t for t in out if t.strip() == t]


def test_tags_timestamps_and_binary_are_read_as_kubectl_reads_them() -> None:
    """Explicit tags as go-yaml heeds them: ignored on mappings and lists, resolved on scalars where it
    resolves them (`!!int`, `!!timestamp`, ...), `!!binary` decoded, any other tag leaving the text."""
    rng = random.Random(17)
    bodies = [*rng.sample(_generated(), 400), *FIXED, "[1, x]", "{x: 1}", "<<", '"12"', "''", "|\n  aGVs\n  bG8=\n",
              *_timestamps(rng, 1500), *_base64ish(rng, 300)]
    docs = list(TAGGED_FIXED)
    for body in bodies:
        for tag in rng.sample(TAGS, 6):
            docs.append(f"a: {tag} {body}\n")
            if "\n" not in body and not body.startswith(("[", "{", "|")):
                docs.append(f"{tag} {body}: v\n")
    for ts in _timestamps(rng, 3000):
        docs.append(f"a: !!timestamp {ts}\n")
    answers = _compare_documents(docs)
    read = sum(1 for theirs in answers if "json" in theirs)
    assert read > len(docs) // 3, "too few documents kubectl reads: the comparison would be thin"


MERGE_KEYS = ["a", "b", "c", "d", "0", "0.0", "-0.0", "yes", "true"]  # yes/true and 0.0/-0.0: one key to kubectl


def _mapping(rng: random.Random, anchors: list[str], depth: int = 0) -> str:
    """A flow mapping of own keys and merges (inline, lists, aliases to earlier anchors), in any order."""
    pairs = []
    keys = rng.sample(MERGE_KEYS, len(MERGE_KEYS))  # each key once per mapping: few plain duplicates
    for _ in range(rng.randint(0, 4)):
        if depth < 2 and rng.random() < 0.35:
            choice = rng.random()
            if anchors and choice < 0.4:
                merged = f"*{rng.choice(anchors)}"
            elif choice < 0.7:
                merged = _mapping(rng, anchors, depth + 1)
            else:
                items = [f"*{rng.choice(anchors)}" if anchors and rng.random() < 0.5 else _mapping(rng, [], depth + 1)
                         for _ in range(rng.randint(1, 3))]
                merged = "[" + ", ".join(items) + "]"
            pairs.append(f"<<: {merged}")
        else:
            pairs.append(f"{keys.pop()}: {rng.randint(1, 9)}")
    return "{" + ", ".join(pairs) + "}"


MERGES = 3_000


def test_merges_are_read_as_kubectl_reads_them() -> None:
    """Merge keys where go-yaml applies them: in order, each writing its keys where it stands (a list from
    its end). Refused here, deliberately: a key given twice, and a key a later merge replaces (kubectl
    keeps the merged value, YAML the mapping's own)."""
    rng = random.Random(18)
    docs = []
    for _ in range(MERGES):
        anchors = [f"m{i}" for i in range(rng.randint(0, 2))]
        # An anchor at the top or one level down (filled in later by PyYAML: a merge must not read it early).
        lines = [f"{name}: &{name} {_mapping(rng, anchors[:i])}" if rng.random() < 0.5 else
                 f"{name}: {{p: &{name} {_mapping(rng, anchors[:i])}}}" for i, name in enumerate(anchors)]
        docs.append("\n".join([*lines, f"y: {_mapping(rng, anchors)}"]) + "\n")
    answers = _oracle(docs)
    told_apart, deliberate = [], 0
    for doc, theirs in zip(docs, answers, strict=True):
        value, problem = _ours(doc)
        if problem is not None and ("duplicate key" in problem or "is replaced by the merge" in problem):
            deliberate += 1
            continue
        difference = _difference(doc, theirs, value, problem)
        if difference:
            told_apart.append(difference)
    assert deliberate < len(docs) // 2, f"{deliberate} of {len(docs)} refused: the comparison would be thin"
    assert not told_apart, f"{len(told_apart)} of {len(docs)} read differently:\n" + "\n".join(told_apart[:20])


def _streams(texts: list[str]) -> list[dict[str, Any]]:
    """`yaml-to-json -stream`: each text as `kubectl apply -f` reads a file (documents, or where it stopped)."""
    _oracle([])  # skips or fails as the single-document oracle does when it is not built
    proc = subprocess.run([str(ORACLE), "-stream"], input=json.dumps(texts), capture_output=True, text=True,
                          timeout=120, check=True)
    out: list[dict[str, Any]] = json.loads(proc.stdout)
    return out


CHUNKS = ["a: 1", "b: [1, 2]", "~", "null", "", "# only a comment", "- x", "'s'", "c: d\n...", "e: 1\n...\nf: 2",
          "%YAML 1.1", "{g: 1}", '{"h": 1}', "i: |\n  ---\n  j", "k: |\nl", "m: 'n\n--- o'", "p: 1 # ---"]
SEPARATORS = ["---", "--- ", "---\t# c", "--- # c", "--- a: 1", "---a", "----", " ---", "--- |", "...", "--- !!map",
              "---\r", "--- {}", "---#"]


DELIBERATE = ("duplicate key", "is replaced by the merge", "text after the end of the document")


def test_files_are_split_and_read_as_kubectl_apply_reads_them() -> None:
    """Whole files (documents, separators, `...`, directives, CRLF, a BOM) through the CLI's reader and through
    kubectl's (cli-runtime's StreamVisitor). Where kubectl reads the file, the CLI answers the same documents;
    where kubectl stops on an error, the CLI reports a problem and answers the same documents before it.
    Deliberate: the CLI goes on after a broken document (kubectl stops there), and refuses duplicate keys."""
    rng = random.Random(19)
    texts = []
    for _ in range(3_000):
        parts = [rng.choice(CHUNKS)]
        for _ in range(rng.randint(0, 3)):
            parts += [rng.choice(SEPARATORS) if rng.random() < 0.3 else "---", rng.choice(CHUNKS)]
        text = "\n".join(parts) + rng.choice(["\n", "", "\n\n"])
        if rng.random() < 0.1:
            text = text.replace("\n", "\r\n")
        texts.append(("\ufeff" if rng.random() < 0.05 else "") + text)
    told_apart, stopped, json_first = [], 0, 0
    for text, theirs in zip(texts, _streams(texts), strict=True):
        ours = [d for d in documents(text.encode()) if d.value is not None or d.problem is not None]
        kept = [json.loads(doc) for doc in theirs["docs"]]
        problems = [d.problem for d in ours if d.problem is not None]
        if theirs.get("error", "").startswith("json: "):
            # A file starting with a JSON object: kubectl's JSON decoder, then YAML for the rest, fails on some
            # mixtures the YAML reader reads (left alone: such files are rare).
            json_first += 1
            continue
        if "error" in theirs:
            # What the CLI answers before its first problem, kubectl read too; at a bad `---` line kubectl
            # also drops the document before it, which the CLI still answers.
            stopped += 1
            before = [d.value for d in ours[: next((i for i, d in enumerate(ours) if d.problem), len(ours))]]
            if theirs["error"].startswith("invalid Yaml document separator") and len(before) == len(kept) + 1:
                before = before[:-1]
            if not problems or not _same(before, kept[: len(before)]):
                told_apart.append(f"{text!r}: kubectl stops: {theirs['error']} after {kept}; cli: "
                                  f"{[(d.value, d.problem) for d in ours]}")
        elif problems:  # refused here, read silently by kubectl: a key given twice, a document it drops
            if not all(any(w in p for w in DELIBERATE) for p in problems):
                told_apart.append(f"{text!r}: kubectl reads {kept}; cli: {problems}")
        elif not _same([d.value for d in ours], kept):
            told_apart.append(f"{text!r}: kubectl reads {kept}; cli: {[d.value for d in ours]}")
    assert 300 < stopped < 2_700, f"{stopped} of {len(texts)} stopped kubectl: the comparison would be thin"
    assert json_first < 100, json_first
    assert not told_apart, f"{len(told_apart)} of {len(texts)} read differently:\n" + "\n".join(told_apart[:20])


ESCAPES = ["\\0", "\\a", "\\b", "\\t", "\\n", "\\v", "\\f", "\\r", "\\e", "\\ ", '\\"', "\\\\", "\\/", "\\N", "\\_",
           "\\L", "\\P", "\\q", "\\x41", "\\x7f", "\\xZZ", "\\u00e9", "\\ud800", "\\udc00", "\\U0001F600",
           "\\UFFFFFFFF", "\\U00110000", "\\\n  ", "\t", "''",
           "\x07", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff", "é", "x", " "]


def test_quoted_scalars_and_escapes_are_read_as_kubectl_reads_them() -> None:
    """Double- and single-quoted scalars with every escape go-yaml knows, some it does not (`\\/` is YAML
    1.2's: libyaml takes it, go-yaml v2 refuses it), surrogates, and characters YAML does not allow."""
    rng = random.Random(20)
    docs = []
    for _ in range(3_000):
        body = "".join(rng.choices(ESCAPES, k=rng.randint(1, 4)))
        tag = "! " if rng.random() < 0.2 else ""  # the CLI reads these with PyYAML's Python parser
        docs.append(f'a: {tag}"{body}"\n' if rng.random() < 0.8 else f"a: {tag}'{body}'\n")
    _compare_documents(docs)

