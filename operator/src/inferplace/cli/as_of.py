"""`--as-of DATE|TIMESTAMP` (and `INFERPLACE_AS_OF`): the one clock of a CLI answer.

Without either, the answer is as of the system clock, read once. With one, every price age and
staleness, the confidence they lower and every timestamp in the output count to that time, so the
same command prints the same bytes on any day (reports, golden files, GitOps diffs).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from datetime import datetime

from inferplace.api.clock import AS_OF_FORMS, AsOf, AsOfError, Clock, now_from, parse_as_of, system_clock
from inferplace.cli.inputs import InputError

ENV = "INFERPLACE_AS_OF"


def add_as_of_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as-of", metavar="DATE|TIMESTAMP",
                   help=f"answer as of this time instead of the system clock: {AS_OF_FORMS}; price ages, "
                        f"staleness and every timestamp count to it [{ENV}]")


def as_of(args: argparse.Namespace, env: Mapping[str, str] | None = None,
          clock: Clock = system_clock) -> AsOf:
    """The flag's time, else the environment's, else the system clock's (read once)."""
    e = os.environ if env is None else env
    flag: str | None = getattr(args, "as_of", None)
    if flag is not None:
        return AsOf(_parsed(flag, "--as-of"), f"--as-of {flag.strip()}")
    text = e.get(ENV)
    if text is not None and text.strip():
        return AsOf(_parsed(text, ENV), f"{ENV}={text.strip()}")
    return now_from(clock)


def _parsed(text: str, where: str) -> datetime:
    try:
        return parse_as_of(text)
    except AsOfError as exc:
        raise InputError(f"{where}: {exc}") from None


__all__ = ["ENV", "add_as_of_argument", "as_of"]
