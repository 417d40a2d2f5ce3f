"""Progress rendering from Status messages (pure: messages built by hand, rendered to a buffer)."""

from __future__ import annotations

import io

from google.protobuf.timestamp_pb2 import Timestamp

from cogkit.buildkit.pb import control_pb2
from cogkit.buildkit.progress import PlainDisplay, ProgressTracker, TtyDisplay, make_display


def _ts(seconds: float) -> Timestamp:
    return Timestamp(seconds=int(seconds), nanos=int((seconds % 1) * 1e9))


FAILURE = "executor failed running [/bin/sh -c pip install y]: exit code: 3"


def _messages() -> list[control_pb2.StatusResponse]:
    return [
        control_pb2.StatusResponse(
            vertexes=[
                control_pb2.Vertex(
                    digest="sha256:a", name="base image", started=_ts(100), completed=_ts(100.5), cached=True
                ),
                control_pb2.Vertex(digest="sha256:b", name="pip install", started=_ts(101)),
            ]
        ),
        control_pb2.StatusResponse(
            logs=[
                control_pb2.VertexLog(vertex="sha256:b", msg=b"Collecting x\nInstalling"),
                control_pb2.VertexLog(vertex="sha256:b", msg=b" y\nfailed!\n"),
            ]
        ),
        control_pb2.StatusResponse(
            vertexes=[
                control_pb2.Vertex(
                    digest="sha256:b", name="pip install", started=_ts(101), completed=_ts(103), error=FAILURE
                )
            ]
        ),
    ]


def test_plain_mode_numbers_steps_like_buildx() -> None:
    tracker, out = ProgressTracker(), io.StringIO()
    display = PlainDisplay(tracker, out)
    for message in _messages():
        display.handle(tracker.update(message))
    lines = out.getvalue().splitlines()
    assert lines[0] == "#1 base image" and lines[1] == "#1 CACHED"
    assert lines[2] == "#2 pip install"
    assert [line.split(" ", 2)[2] for line in lines[3:6]] == ["Collecting x", "Installing y", "failed!"]
    assert lines[6].startswith("#2 ERROR: executor failed running")


def test_tracker_keeps_what_a_failure_report_needs() -> None:
    tracker = ProgressTracker()
    for message in _messages():
        tracker.update(message)
    failed = tracker.failed()
    assert failed is not None and failed.name == "pip install"
    assert failed.exit_code == 3 and failed.duration == 2.0
    assert failed.log_tail() == ["Collecting x", "Installing y", "failed!"]


def test_the_failure_is_the_step_the_solve_names_not_a_sibling_it_cancelled() -> None:
    """BuildKit v0.25 (dockerd 28.5) kills the steps running beside a failed one; they error too."""
    tracker = ProgressTracker()
    root = 'process "/bin/sh -c exit 3" did not complete successfully: exit code: 3'
    sibling = control_pb2.Vertex(digest="sha256:s", name="runtime deps", started=_ts(100), completed=_ts(103))
    sibling.error = "process did not complete successfully: exit code: 137"
    failing = control_pb2.Vertex(digest="sha256:f", name="run: exit 3", started=_ts(101), completed=_ts(102))
    failing.error = root
    tracker.update(control_pb2.StatusResponse(vertexes=[sibling, failing]))
    assert tracker.failed(root).name == "run: exit 3"  # type: ignore[union-attr]
    assert tracker.failed().name == "run: exit 3"  # type: ignore[union-attr]  # (the first to fail)


def test_tty_view_shows_timers_cached_marks_and_running_logs() -> None:
    tracker, out = ProgressTracker(), io.StringIO()
    display = TtyDisplay(tracker, out)
    try:
        for message in _messages()[:2]:
            display.handle(tracker.update(message))
        running = "\n".join(display._render(final=False))
        assert "base image CACHED" in running and "0.5s" in running
        assert "    Installing y" in running  # log tail of the running step
    finally:
        display.finish()
    assert "\x1b[2K" in out.getvalue() and "Finished" in out.getvalue()


def test_auto_mode_is_plain_when_not_a_tty() -> None:
    assert isinstance(make_display("auto", ProgressTracker(), io.StringIO()), PlainDisplay)


def test_a_client_side_step_is_numbered_and_timed_like_a_vertex() -> None:
    tracker = ProgressTracker()
    out = io.StringIO()
    display = PlainDisplay(tracker, out)
    for message in _messages()[:1]:
        display.handle(tracker.update(message))
    display.handle(tracker.note("cogkit-early:x", "weights → Docker layer", started=200.0))
    display.handle(tracker.note("cogkit-early:x", "weights → Docker layer", started=200.0))  # no repeat
    display.handle(tracker.note("cogkit-early:x", "weights → Docker layer", started=200.0, completed=202.5))
    lines = out.getvalue().splitlines()
    assert lines[-2:] == ["#3 weights → Docker layer", "#3 DONE 2.5s"]
    assert [v.name for v in tracker.ordered()][-1] == "weights → Docker layer"
