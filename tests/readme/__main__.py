"""`python -m tests.readme --update`: rewrite the README's output blocks from the tool."""

from __future__ import annotations

import argparse

from tests.readme import update

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--update", action="store_true", help="rewrite every output block from its command")
    if parser.parse_args().update:
        update()
