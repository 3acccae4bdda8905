"""`python -m ammcnet` is the same as the `ammcnet` command."""

from ammcnet.cli import main

raise SystemExit(main())
