"""`python -m cogkit` runs the CLI."""

from cogkit.cli import run

run()
