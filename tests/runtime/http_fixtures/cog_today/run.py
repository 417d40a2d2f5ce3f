"""A Cog 0.2x-style model: `run:` + BaseRunner.run, current_scope() metrics/context, newer types."""

import sys
import time
from typing import Any, Optional, TypedDict

from cog import BaseRunner, CancelationException, Input, current_scope, emit_metric


class Point(TypedDict):
    x: int
    label: str


class Runner(BaseRunner):
    def run(
        self,
        mode: str = "echo",
        options: dict = Input(default={}, description="free-form options"),
        rows: list[dict] = Input(default=[]),
        point: Optional[Point] = None,
        maybe: Optional[int] = Input(description="optional, no default"),
        either: int | str = Input(default=0),
        mixed: list[int | str] = Input(default=[]),
        metric: str = "timing.preprocess",
    ) -> Any:
        scope = current_scope()
        if mode == "metrics":
            scope.record_metric(metric, 1.5)
            scope.record_metric("timing.inference", 2)
            scope.record_metric("tokens", 3, mode="increment")
            scope.record_metric("tokens", 4, mode="incr")
            emit_metric("legacy", 7)
            scope.metrics["gone"] = 1
            scope.metrics["gone"] = None
            return "ok"
        if mode == "exit":
            sys.exit(3)
        if mode == "cleanup":  # a cancel lands in slow cleanup code; a second cancel interrupts it
            try:
                time.sleep(30)
            except CancelationException:
                print("cleaning up", flush=True)
                time.sleep(5)
                return "cleaned up"
        if mode == "context":
            return dict(scope.context)
        if mode == "types":
            return {
                "options": options, "rows": rows, "point": point, "maybe": maybe,
                "either": [either, type(either).__name__],
                "mixed": [[m, type(m).__name__] for m in mixed],
            }
        return mode
