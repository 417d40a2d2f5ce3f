"""Slots: the one count of how many predictions a predictor runs at once.

A predictor takes `concurrency` predictions at a time (cog.yaml `concurrency.max`, 1 unless it
is async). The Worker owns that number as one `Slots` object, and every layer asks it rather
than keeping a count of its own:

- the Worker reports BUSY while every slot is taken, and `Worker.predict()` called on its own
  takes a slot itself (raising `Busy` when none is free);
- the PredictionRunner takes a slot when it admits a prediction (before input files are
  fetched), lets up to `max_waiting` more wait in FIFO order, and raises `Busy` past that,
  which the HTTP server answers with 409 "Already running a prediction", as Cog does;
- the queue consumer waits for a free slot before it hands an entry to the runner, and holds
  `--prefetch` entries beyond the slots.

A slot is released by whoever took it. `release()` hands it straight to the oldest waiter, or
frees it, and the caller does so *before* it wakes anyone waiting on the finished prediction,
so a client that waited for its response can always start the next one at once.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Busy", "Slots"]

BUSY_DETAIL = "Already running a prediction"  # Cog's 409 detail


class Busy(Exception):
    """Every slot, and the wait queue if there is one, is taken: Cog answers HTTP 409."""

    def __init__(self, detail: str = BUSY_DETAIL) -> None:
        super().__init__(detail)


class Slots:
    """`size` slots, a FIFO of waiters for them, and a signal for anyone polling for a free one."""

    __slots__ = ("size", "taken", "_waiters", "_freed")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a predictor needs at least one slot")
        self.size = size
        self.taken = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._freed: asyncio.Event | None = None  # created on first use, inside the running loop

    @property
    def full(self) -> bool:
        return self.taken >= self.size

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def take(self) -> None:
        """Take a free slot now, or raise Busy."""
        if self.taken >= self.size:
            raise Busy()
        self.taken += 1

    def take_or_wait(self, max_waiting: int = 0) -> asyncio.Future[None] | None:
        """None when a slot was taken now; else a future that resolves once a slot is handed over
        (FIFO), if fewer than `max_waiting` already wait; else raise Busy."""
        if self.taken < self.size:
            self.taken += 1
            return None
        if len(self._waiters) >= max_waiting:
            raise Busy()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    def withdraw(self, waiter: asyncio.Future[None]) -> None:
        """A waiter gives up before it got a slot (its prediction was canceled or failed)."""
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass

    def release(self) -> None:
        """Give a slot back: to the oldest live waiter, else to the pool."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands without ever being free
                return
        self.taken -= 1
        if self._freed is not None:
            self._freed.set()

    async def wait_free(self) -> None:
        """Return at once if a slot is free, else after the next release() or wake(). Takes
        nothing: the caller re-checks `full` (another may have taken the slot meanwhile)."""
        if self.taken < self.size:
            return
        freed = self._freed
        if freed is None:
            freed = self._freed = asyncio.Event()
        freed.clear()  # set() already woke earlier waiters: clearing cannot strand them
        await freed.wait()

    def wake(self) -> None:
        """Wake everyone in `wait_free()` (a transport that stops must not wait for a slot)."""
        if self._freed is not None:
            self._freed.set()
