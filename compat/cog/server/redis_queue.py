"""`python -m cog.server.redis_queue`: runs cogkit's Redis queue worker."""

from __future__ import annotations

from collections.abc import Sequence

from ._delegate import run

QUEUE_MODULE = "cogkit.runtime.queue"


def main(argv: Sequence[str] | None = None) -> None:
    run(QUEUE_MODULE, "Redis queue worker", argv)


if __name__ == "__main__":
    main()
