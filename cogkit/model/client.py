"""Talk to a running model server (in a container or in-process) over its Cog HTTP API.

Stdlib `http.client` only: importing an async HTTP stack would cost more start-up time than the
handful of requests the CLI makes. Readiness is polled on `/health-check`, which answers 200 with
the server's status from the moment it listens.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from cogkit.errors import CogkitError, InputError


class SetupFailedError(CogkitError):
    """The model's setup() raised or the worker died before READY."""


class PredictorImportError(SetupFailedError):
    """predict.py (or a module it imports) raised while being imported."""


class SetupTimeoutError(CogkitError):
    """READY did not arrive within --setup-timeout."""


class PredictionFailedError(CogkitError):
    """The prediction finished with status failed or canceled."""


def reachable_host(bind_host: str) -> str:
    """Where to reach a server bound to `bind_host`: a wildcard bind (0.0.0.0 or "") answers on loopback."""
    return "127.0.0.1" if bind_host in ("0.0.0.0", "") else bind_host


class ModelClient:
    def __init__(self, host: str, port: int, timeout: float | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            all_headers = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=payload, headers=all_headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            data = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            data = raw.decode(errors="replace")
        return response.status, data

    def health(self, timeout: float = 1.0) -> dict[str, Any] | None:
        """The /health-check body, or None while nothing listens yet."""
        try:
            status, data = self.request("GET", "/health-check", timeout=timeout)
        except (OSError, http.client.HTTPException):
            return None
        return data if status == 200 and isinstance(data, dict) else None

    def wait_ready(
        self,
        setup_timeout: float,
        *,
        still_running: Callable[[], bool] | None = None,
        logs: Callable[[], str] | None = None,
        on_tick: Callable[[str], None] | None = None,
        interval: float = 0.02,
        what: str = "the container",
    ) -> dict[str, Any]:
        """Poll until READY; SETUP_FAILED/DEFUNCT, an exited container or the timeout raise."""
        deadline = time.monotonic() + setup_timeout
        checks = 0
        last_state = "starting"
        while True:
            health = self.health()
            if health is not None:
                last_state = str(health.get("status", "UNKNOWN"))
                if last_state in ("READY", "BUSY"):
                    return health
                if last_state in ("SETUP_FAILED", "DEFUNCT"):
                    setup = health.get("setup") or {}
                    setup_logs = (setup.get("logs") or "") if isinstance(setup, dict) else ""
                    failed_import = import_failure(setup_logs or _call(logs))
                    if failed_import is not None:
                        raise PredictorImportError(
                            failed_import,
                            hint=_with_logs("fix the import, or install what it needs in the model's "
                                            "requirements", _user_traceback(setup_logs or _call(logs))),
                        )
                    raise SetupFailedError(
                        "model setup failed" if last_state == "SETUP_FAILED" else "the model's worker died",
                        hint=_with_logs("fix setup() in your predictor and retry", setup_logs or _call(logs)),
                    )
            checks += 1
            if still_running is not None and checks % 10 == 0 and not still_running():
                raise SetupFailedError(
                    f"{what} exited before the model was ready",
                    hint=_with_logs("its last log lines are below", _call(logs)),
                )
            if on_tick is not None:
                on_tick(last_state.lower())
            if time.monotonic() >= deadline:
                raise SetupTimeoutError(
                    f"the model was not ready after {setup_timeout:g}s (status {last_state})",
                    hint=_with_logs("raise --setup-timeout if setup is just slow", _call(logs)),
                )
            time.sleep(interval if checks < 100 else 0.1)

    def openapi(self) -> dict[str, Any] | None:
        try:
            status, data = self.request("GET", "/openapi.json", timeout=10)
        except (OSError, http.client.HTTPException):
            return None
        return data if status == 200 and isinstance(data, dict) else None

    def predict(
        self, inputs: Mapping[str, Any], *, mode: str = "predict", context: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Run one prediction (or training) synchronously and return the response body."""
        path = "/trainings" if mode == "train" else "/predictions"
        body: dict[str, Any] = {"input": dict(inputs)}
        if context:
            body["context"] = dict(context)
        try:
            status, data = self.request("POST", path, body=body)
        except (OSError, http.client.HTTPException) as exc:
            raise PredictionFailedError(
                f"lost the connection to the model: {exc}",
                hint="the container may have crashed; see its logs with --debug",
            ) from None
        return self._interpret(status, data, mode)

    def _interpret(self, status: int, data: Any, mode: str) -> dict[str, Any]:
        if status == 422:
            raise InputError(
                f"the model rejected the input: {validation_message(data)}",
                hint="check the input names and types (cogkit predict --help)",
            )
        if status == 409:
            raise PredictionFailedError(
                "the model is busy with another prediction",
                hint="wait for it to finish, or raise its concurrency",
            )
        if status == 404 and mode == "train":
            raise CogkitError("this model has no training interface", hint="add `train:` to cog.yaml")
        if not isinstance(data, dict):
            raise PredictionFailedError(
                f"the model answered HTTP {status}: {str(data)[:200]}", hint="rerun with --debug"
            )
        if status >= 400 and "status" not in data:
            raise PredictionFailedError(
                f"the model answered HTTP {status}: {validation_message(data)}", hint="rerun with --debug"
            )
        return data

    def predict_streaming(
        self,
        inputs: Mapping[str, Any],
        on_chunk: Callable[[Any], None],
        *,
        mode: str = "predict",
        on_log: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Like predict(), but over Server-Sent Events: each iterator item reaches `on_chunk` as it is made.

        Falls back to the plain JSON answer when the server does not stream.
        """
        path = "/trainings" if mode == "train" else "/predictions"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(
                "POST",
                path,
                body=json.dumps({"input": dict(inputs)}).encode(),
                headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
            )
            response = conn.getresponse()
            if not response.getheader("Content-Type", "").startswith("text/event-stream"):
                raw = response.read()
                conn.close()
                if response.status == 406:  # the model does not stream: ask again without SSE
                    return self.predict(inputs, mode=mode)
                return self._interpret(response.status, _json_or_text(raw), mode)
            final: dict[str, Any] | None = None
            event = ""
            for raw_line in response:
                line = raw_line.decode("utf-8", errors="replace").rstrip("\r\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = json.loads(line[5:].strip() or "null")
                    if event == "output" and isinstance(data, dict):
                        on_chunk(data.get("chunk"))
                    elif event == "log" and on_log is not None and isinstance(data, dict):
                        on_log(str(data.get("data", data.get("text", ""))))  # Cog 0.21: {source, data}
                    elif event == "completed" and isinstance(data, dict):
                        final = data
                        break
            if final is None:
                raise PredictionFailedError(
                    "the model's event stream ended without a result",
                    hint="the container may have crashed; rerun with --debug",
                )
            return final
        except (OSError, http.client.HTTPException) as exc:
            raise PredictionFailedError(
                f"lost the connection to the model: {exc}",
                hint="the container may have crashed; see its logs with --debug",
            ) from None
        finally:
            conn.close()


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return raw.decode(errors="replace")


def validation_message(data: Any) -> str:
    """Readable text for FastAPI/Cog-style 422 bodies: `{"detail": [{"loc": [...], "msg": ...}]}`."""
    if isinstance(data, dict):
        detail = data.get("detail", data.get("error", data))
        if isinstance(detail, list):
            parts = []
            for item in detail:
                if isinstance(item, dict):
                    loc = [str(p) for p in item.get("loc", []) if p not in ("body", "input")]
                    parts.append(f"{'.'.join(loc) + ': ' if loc else ''}{item.get('msg', item)}")
                else:
                    parts.append(str(item))
            return "; ".join(parts)
        return str(detail)
    return str(data)


def _call(fn: Callable[[], str] | None) -> str:
    if fn is None:
        return ""
    try:
        return fn()
    except Exception:
        return ""


def _user_traceback(logs: str) -> str:
    """The worker's import-failure report: its traceback (user frames only), without other log lines."""
    lines = logs.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(IMPORT_FAILED)), 0)
    return "\n".join(lines[start + 1:])


def _with_logs(hint: str, logs: str, lines: int = 25) -> str:
    tail = [line for line in (logs or "").rstrip().splitlines() if line.strip()][-lines:]
    if not tail:
        return hint
    return hint + "\n--- logs (last lines) ---\n" + "\n".join(tail)


def failure_message(response: Mapping[str, Any], lines: int = 20) -> tuple[str, str]:
    """(message, hint with the log tail) for a failed or canceled prediction.

    The hint only mentions logs when there are some: an input that could not be downloaded fails
    before predict() runs, with nothing logged, and gets a hint about the URL instead."""
    status = response.get("status", "failed")
    error = str(response.get("error") or "(no error message)")
    logs = str(response.get("logs") or "")
    if logs.strip():
        hint = "the model's logs are below"
    elif error.startswith("could not download "):
        hint = "the model server could not fetch that URL: check it, or pass a local file as -i name=@path"
    else:
        hint = "the model wrote no logs"
    return f"prediction {status}: {error}", _with_logs(hint, logs, lines)


IMPORT_FAILED = "error: importing "  # the line the worker writes first when the predictor's import fails


def import_failure(logs: str) -> str | None:
    """`predict.py failed: ModuleNotFoundError: …` when setup failed because the import did."""
    for line in logs.splitlines():
        if line.startswith(IMPORT_FAILED):
            return line[len("error: "):]
    return None
