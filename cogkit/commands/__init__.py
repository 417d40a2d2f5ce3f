"""One module per `cogkit` subcommand; see cogkit/cli.py for the registration contract."""
