"""`python -m cog.server.http`: the image CMD; runs cogkit's HTTP server."""

from __future__ import annotations

from collections.abc import Sequence

from ._delegate import run

SERVER_MODULE = "cogkit.runtime.server"


def main(argv: Sequence[str] | None = None) -> None:
    run(SERVER_MODULE, "HTTP server", argv)


if __name__ == "__main__":
    main()
