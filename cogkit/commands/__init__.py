"""One module per `cogkit` subcommand (see cogkit/cli.py), plus flags.py: the flags they share."""
