"""`python -m inferplace` is the same as the `inferplace` command."""

from inferplace.cli.main import main

raise SystemExit(main())
