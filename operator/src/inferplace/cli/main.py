"""`inferplace`: estimate LLM serving performance and recommend where each inference workload should run."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from inferplace import __version__
from inferplace.api.errors import terminal_safe
from inferplace.cli import crd, estimate, operator, plan, prices, recommend, render, verify

EXIT_USAGE = 2

# The cyclic garbage collector's thresholds for the commands that answer files (Python's default: 700,
# 10, 10). A search makes hundreds of thousands of short-lived objects (candidates, options, status
# models) beside a large heap that lives as long as the process (the catalog, the parsed manifests, the
# API's models), and at the default every full collection walks all of it: 14 of them took about 0.9 s
# of a 4.3 s run of 1,000 workloads, and gave back nothing (peak RSS the same with the collector off).
# Collected every 50,000 container allocations, at most a few MB of cyclic garbage wait for the next
# collection. Not the operator: it runs for months beside kopf's own churn, and with these thresholds its
# peak RSS rose by 6 MB (152-155 MB a process, 10,000 workloads over 4) with no sooner Ready.
COLLECTOR_THRESHOLDS = (50_000, 20, 20)
LONG_RUNNING = frozenset({"operator"})


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"inferplace: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="inferplace", description=__doc__)
    parser.add_argument("--version", action="version", version=f"inferplace {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    estimate.register(sub)
    recommend.register(sub)
    plan.register(sub)
    render.register(sub)
    verify.register(sub)
    prices.register(sub)
    crd.register(sub)
    operator.register(sub)
    return parser


class _Escaped:
    """A text stream whose every write has the characters a terminal acts on escaped: a message quoting a
    file's content cannot clear the screen, colour it or set the window title."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(terminal_safe(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    err = sys.stderr
    sys.stderr = _Escaped(err)
    try:
        args = build_parser().parse_args(argv)
        if args.command not in LONG_RUNNING:
            gc.set_threshold(*COLLECTOR_THRESHOLDS)
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    finally:
        sys.stderr = err
