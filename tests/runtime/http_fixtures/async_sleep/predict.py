"""Async predictor that sleeps; concurrency.max 4 exercises slots, 409 and the wait queue."""

import asyncio

from cog import BasePredictor, Input


class Predictor(BasePredictor):
    async def setup(self) -> None:
        await asyncio.sleep(0)

    async def predict(self, seconds: float = Input(default=0.05, ge=0)) -> str:
        await asyncio.sleep(seconds)
        return f"slept {seconds}"
