"""When EarlyExports starts a solve (pure logic; the engine side is in client/test_build_early_export.py)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from cogkit import llb
from cogkit.buildkit.early_export import EarlyExports
from cogkit.buildkit.progress import VertexInfo


class RecordingControl:
    """Stands in for ControlClient.solve_future: records each request, hands back a plain future."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.futures: list[Future[Any]] = []

    def solve_future(
        self, ref: str, session_id: str, exporter: str, attrs: dict[str, str], **kw: Any
    ) -> Future[Any]:
        self.calls.append({"ref": ref, "session": session_id, "exporter": exporter, "attrs": attrs, **kw})
        future: Future[Any] = Future()
        self.futures.append(future)
        return future


def _weights() -> llb.State:
    return llb.image("cogkit-base:py3.11-bookworm").file(
        llb.copy(llb.local("weights"), "/", "/src/"), name="weights"
    )


def _vertex(
    digest: str, *, cached: bool = False, error: str = "", done: bool = True, name: str = "weights"
) -> VertexInfo:
    return VertexInfo(digest, name, 1, cached=cached, error=error, completed=1.0 if done else None)


def test_starts_one_moby_export_when_the_layer_is_freshly_built() -> None:
    definition = _weights().marshal()
    control = RecordingControl()
    early = EarlyExports(control, "session-1", [definition.to_pb()])  # type: ignore[arg-type]
    early.on_vertex(_vertex("sha256:other", name="another step"))
    early.on_vertex(_vertex(definition.head, done=False))
    early.on_vertex(_vertex(definition.head, cached=True))
    early.on_vertex(_vertex(definition.head, error="boom"))
    assert control.calls == []
    early.on_vertex(_vertex(definition.head))
    early.on_vertex(_vertex(definition.head))  # a repeated status update starts nothing more
    assert len(control.calls) == 1
    call = control.calls[0]
    assert (call["session"], call["exporter"], call["attrs"]) == ("session-1", "moby", {})
    assert call["definition"] == definition.to_pb()
    assert early.exported == []  # not finished yet


def test_a_recomputed_digest_is_matched_by_the_layer_name() -> None:
    """BuildKit >= v0.11 reports vertices under digests it recomputed (dockerd 28.5 does): the name counts."""
    definition = _weights().marshal()
    control = RecordingControl()
    early = EarlyExports(control, "session-1", [definition.to_pb()])  # type: ignore[arg-type]
    early.on_vertex(_vertex("sha256:recomputed-by-the-daemon"))
    assert len(control.calls) == 1


def test_records_the_throwaway_image_and_starts_nothing_after_wait() -> None:
    definition = _weights().marshal()
    control = RecordingControl()
    early = EarlyExports(control, "s", [definition.to_pb()])  # type: ignore[arg-type]
    early.on_vertex(_vertex(definition.head))

    class Response:
        ExporterResponse = {"containerimage.digest": "sha256:feed"}  # noqa: N815 (the proto's name)

    control.futures[0].set_result(Response())
    early.wait()
    assert early.layers[0].image_id == "sha256:feed"
    assert early.exported == [definition.head]

    late = EarlyExports(control, "s", [definition.to_pb()])  # type: ignore[arg-type]
    late.wait()  # the final export is about to start: too late to begin another
    late.on_vertex(_vertex(definition.head))
    assert len(control.calls) == 1


def test_no_cache_reaches_the_early_solve_too() -> None:
    definition = _weights().marshal()
    control = RecordingControl()
    early = EarlyExports(control, "s", [definition.to_pb()], no_cache=True)  # type: ignore[arg-type]
    early.on_vertex(_vertex(definition.head))
    sent = control.calls[0]["definition"]
    assert sent.metadata and all(meta.ignore_cache for meta in sent.metadata.values())
