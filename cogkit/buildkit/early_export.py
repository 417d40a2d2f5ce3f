"""Turn a big lower layer into a Docker layer while the layers above it still build (dockerd only).

dockerd's moby exporter makes Docker layers of the result's snapshots only when the build ends:
it pipes each layer's files through tar and sha256 for its diff ID, so a 1 GiB weights layer puts
about 2.5 s on the critical path after the last step. dockerd keeps that work per snapshot. So as
soon as such a layer has been built, a second solve of just the lower part, exported at once,
registers the layer while the steps above it still run, and the final export finds it done.

The second export also creates a throwaway image, which is removed after the build. A layer that
came from the cache starts nothing: it was registered when it was first built.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import grpc

from cogkit.buildkit.address import BuilderAddress
from cogkit.buildkit.control import ControlClient
from cogkit.buildkit.gateway import without_cache
from cogkit.buildkit.progress import VertexInfo
from cogkit.buildkit.transport import docker_request
from cogkit.llb.definition import Definition
from cogkit.llb.pb import ops_pb2

# Shows the early export as a step of its own: (key, name, started, completed), wall-clock times.
ProgressHook = Callable[[str, str, float | None, float | None], None]


@dataclass
class EarlyLayer:
    """One lower part of the result: the graph up to `head`, exported when `head` is built."""

    definition: ops_pb2.Definition
    head: str
    name: str = ""
    future: grpc.Future | None = None

    @property
    def image_id(self) -> str | None:
        """The throwaway image its export created (None while it runs, or if it failed)."""
        if self.future is None or not self.future.done():
            return None
        try:
            return self.future.result().ExporterResponse.get("containerimage.digest") or None
        except Exception:  # cancelled or failed: the final export does the work instead
            return None


class EarlyExports:
    """Watches the main build's vertices and exports each early layer once it is freshly built."""

    def __init__(
        self,
        control: ControlClient,
        session_id: str,
        definitions: Iterable[ops_pb2.Definition],
        cache_imports: Sequence[tuple[str, Mapping[str, str]]] = (),
        no_cache: bool = False,
        progress: ProgressHook | None = None,
    ) -> None:
        self._control = control
        self._progress = progress
        self._session_id = session_id
        self._cache_imports = list(cache_imports)
        self._lock = threading.Lock()
        self._closed = False
        self.layers: list[EarlyLayer] = []
        for pb in definitions:
            graph = Definition.from_pb(pb)
            name = graph.name_of(graph.head) or "lower layers"
            self.layers.append(EarlyLayer(without_cache(pb) if no_cache else pb, graph.head, name))

    def on_vertex(self, vertex: VertexInfo) -> None:
        """Status-stream hook: a watched layer just finished building (not from the cache)."""
        if vertex.completed is None or vertex.cached or vertex.error:
            return
        with self._lock:
            if self._closed:
                return
            for layer in self.layers:
                # By name too: BuildKit >= v0.11 reports recomputed digests, not the ones we sent.
                named = layer.name != "lower layers" and layer.name == vertex.name
                if (layer.head == vertex.digest or named) and layer.future is None:
                    self._start(layer)

    def _start(self, layer: EarlyLayer) -> None:
        key, name = f"cogkit-early:{layer.head}", f"{layer.name} → Docker layer, while the steps above run"
        started_at = time.time()
        if self._progress is not None:
            self._progress(key, name, started_at, None)
        layer.future = self._control.solve_future(
            f"cogkit-early-{uuid.uuid4().hex}",
            self._session_id,
            "moby",
            {},
            cache_imports=self._cache_imports,
            definition=layer.definition,
            internal=True,  # a throwaway export, not a build of its own in the engine's history
        )

        if self._progress is not None:
            progress = self._progress
            layer.future.add_done_callback(lambda _: progress(key, name, started_at, time.time()))

    def wait(self, timeout: float = 600) -> None:
        """Before the final export: let running early exports finish (so dockerd does no work twice),
        and start no more. Their failures do not matter: the final export then does the work."""
        with self._lock:
            self._closed = True
            running = [layer.future for layer in self.layers if layer.future is not None]
        for future in running:
            with contextlib.suppress(Exception):
                future.result(timeout=timeout)

    def cancel(self) -> None:
        with self._lock:
            self._closed = True
            for layer in self.layers:
                if layer.future is not None:
                    layer.future.cancel()

    def remove_images(self, address: BuilderAddress) -> None:
        """Delete the throwaway images (their layers stay: the final image holds them)."""
        for layer in self.layers:
            if layer.future is not None:
                with contextlib.suppress(Exception):
                    layer.future.result(timeout=60)
            image_id = layer.image_id
            if image_id:
                with contextlib.suppress(Exception):
                    docker_request(address, "DELETE", f"/images/{image_id}")

    @property
    def exported(self) -> list[str]:
        """Digests of the layers that were exported early."""
        return [layer.head for layer in self.layers if layer.image_id]
