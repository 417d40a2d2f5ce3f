"""Push a built image: through dockerd (python-on-whales, docker-config credentials, retries) or,
for a standalone buildkitd, straight from the image exporter during the build.

Layers the registry already has are not uploaded again, and cogkit's layer order makes a code
edit change only the code layer, so a code-only re-push uploads just that layer.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace

from cogkit.docker.images import push_image
from cogkit.errors import BuildError, CogkitError
from cogkit.images.build import BuildOutcome, BuildRequest, build


@dataclass
class PushOutcome:
    image: str
    digest: str | None
    build: BuildOutcome


_REFUSED = ("401 unauthorized", "403 forbidden", "authorization failed", "insufficient_scope", "unauthorized")


PUSH_ID_LABEL = "run.cog.push_id"


def new_push_id(now_ms: int | None = None) -> str:
    """A UUIDv7 (RFC 9562: 48-bit Unix milliseconds, version 7, variant 10, 74 random bits)."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62 | rand & ((1 << 62) - 1)
    )
    hexed = f"{value:032x}"
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def push(request: BuildRequest) -> PushOutcome:
    """Build (cached layers make this quick), then push the image: straight from the builder's image
    exporter where the engine has one (standalone buildkitd, dockerd with the containerd image store),
    else through dockerd.

    Every push labels its image `run.cog.push_id` with a fresh UUIDv7, as Cog's does
    (pkg/image/build.go, pkg/cli/push.go): the config changes, the layers stay cached."""
    labels = {**request.labels, PUSH_ID_LABEL: new_push_id()}
    try:
        outcome = build(replace(request, push=True, labels=labels))
    except BuildError as err:
        text = f"{err.message}\n{err.hint or ''}".lower()
        if any(word in text for word in _REFUSED):
            raise CogkitError(
                f"push was refused by the registry: {err.message}",
                "log in first: `cogkit login` (or `docker login`)",
            ) from None
        raise
    if outcome.pushed:  # the exporter pushed; only the blobs the registry lacked were uploaded
        digest = outcome.report.exporter_response.get("containerimage.digest")
        return PushOutcome(outcome.image, digest, outcome)
    return PushOutcome(outcome.image, push_image(outcome.image, request.progress, request.out), outcome)
