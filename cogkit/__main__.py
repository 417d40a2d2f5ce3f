"""`python -m cogkit` runs the CLI."""

import sys

from cogkit.cli import main

sys.exit(main())
