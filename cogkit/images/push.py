"""Push a built image: through dockerd (python-on-whales, docker-config credentials, retries) or,
for a standalone buildkitd, straight from the image exporter during the build.

Layers the registry already has are not uploaded again, and cogkit's layer order makes a code
edit change only the code layer, so a code-only re-push uploads just that layer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cogkit.docker.images import push_image
from cogkit.errors import CogkitError
from cogkit.images.build import BuildOutcome, BuildRequest, build


@dataclass
class PushOutcome:
    image: str
    digest: str | None
    build: BuildOutcome


def push(request: BuildRequest) -> PushOutcome:
    """Build (cached layers make this quick), then push the image."""
    outcome = build(replace(request, push=True))
    if outcome.pushed:  # standalone buildkitd pushed from the exporter
        digest = outcome.report.exporter_response.get("containerimage.digest")
        return PushOutcome(outcome.image, digest, outcome)
    if "/" not in outcome.image:
        raise CogkitError(
            f"{outcome.image} has no registry in its name",
            "push to a name like registry.example.com/me/model (set image: in cog.yaml or pass IMAGE)",
        )
    return PushOutcome(outcome.image, push_image(outcome.image), outcome)
