"""Push a built image: through dockerd (python-on-whales, docker-config credentials, retries) or,
for a standalone buildkitd, straight from the image exporter during the build.

Layers the registry already has are not uploaded again, and cogkit's layer order makes a code
edit change only the code layer, so a code-only re-push uploads just that layer.
"""

from __future__ import annotations

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


def push(request: BuildRequest) -> PushOutcome:
    """Build (cached layers make this quick), then push the image: straight from the builder's image
    exporter where the engine has one (standalone buildkitd, dockerd with the containerd image store),
    else through dockerd."""
    try:
        outcome = build(replace(request, push=True))
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
