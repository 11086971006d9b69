"""`python -m heard.streams.cli`: the same as the `heard` command."""

import sys

from heard.streams.cli import main

sys.exit(main())
