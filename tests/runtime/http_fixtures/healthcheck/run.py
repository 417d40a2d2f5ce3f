"""A user-defined healthcheck() (sync and async) driven by a file: ok, false, raise, none, slow."""

import asyncio
import os
import time

from cog import BaseRunner


def _mode() -> str:
    try:
        with open(os.environ["HC_FILE"]) as fh:
            return fh.read().strip()
    except OSError:
        return "ok"


class Runner(BaseRunner):
    def run(self, seconds: float = 0.0) -> str:
        time.sleep(seconds)
        return "ran"

    def healthcheck(self) -> bool:
        mode = _mode()
        if mode == "raise":
            raise RuntimeError("hc boom")
        if mode == "slow":
            time.sleep(7)
        if mode == "none":
            return None  # type: ignore[return-value]  # only a real False is unhealthy
        return mode != "false"


class AsyncRunner(BaseRunner):
    async def run(self, seconds: float = 0.0) -> str:
        await asyncio.sleep(seconds)
        return "ran"

    async def healthcheck(self) -> bool:
        mode = _mode()
        if mode == "raise":
            raise ValueError("async boom")
        if mode == "slow":
            await asyncio.sleep(7)
        return mode != "false"
