"""Redis Streams prediction queue: many model workers share one queue, nothing is lost.

Modules: protocol (keys, entry format), scripts (atomic transitions), store (group-commit
state writer), cancel (cancel watcher), consumer (the worker loop), backend (the seam to the
prediction runtime), client (submit/status/follow/cancel). See docs/queue.md.
"""
