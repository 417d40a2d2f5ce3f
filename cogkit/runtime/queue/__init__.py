"""Redis Streams prediction queue: many model workers share one queue, nothing is lost.

Modules: protocol (keys, entry format), scripts (atomic transitions), store (group-commit
state writer), cancel (cancel watcher), consumer (the worker loop), backend (the seam to the
prediction runtime), client (submit/status/follow/cancel). See docs/queue.md.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m cog.server.redis_queue` delegates here (imports stay lazy until called)."""
    from cogkit.runtime.queue.entrypoint import main as entry

    return entry(argv)
