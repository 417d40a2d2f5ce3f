"""Sync str -> str predictor whose `mode` input picks a behaviour the HTTP tests need."""

import os
import signal
import sys
import time

from cog import BasePredictor, Input, current_scope


class Predictor(BasePredictor):
    def setup(self) -> None:
        print("setting up basic predictor")

    def predict(
        self,
        text: str = Input(description="text to echo", default="world"),
        mode: str = Input(default="echo", choices=["echo", "sleep", "flood", "fail", "die", "metric"]),
        seconds: float = Input(default=0.0, ge=0, le=60),
        count: int = Input(default=1, ge=0, le=1000),
    ) -> str:
        if mode == "sleep":
            print(f"sleeping {seconds}s")
            time.sleep(seconds)
        elif mode == "flood":
            line = "x" * 200 + "\n"
            while True:
                sys.stdout.write(line)
                sys.stdout.flush()
        elif mode == "fail":
            raise ValueError("asked to fail")
        elif mode == "die":
            print("about to die", flush=True)
            time.sleep(seconds)
            os.kill(os.getpid(), signal.SIGKILL)
        elif mode == "metric":
            current_scope().record_metric("tokens", count)
        return "hello " + text
