"""Push a built image: through dockerd (python-on-whales, docker-config credentials, retries) or,
for a standalone buildkitd, straight from the image exporter during the build.

Layers the registry already has are not uploaded again, and cogkit's layer order makes a code
edit change only the code layer, so a code-only re-push uploads just that layer.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import TextIO

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from cogkit.build import BuildOutcome, BuildRequest, build
from cogkit.errors import CogkitError

_AUTH_WORDS = ("unauthorized", "denied", "authentication required", "no basic auth credentials")


@dataclass
class PushOutcome:
    image: str
    digest: str | None
    build: BuildOutcome


def _transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return not any(word in text for word in _AUTH_WORDS)


def push_with_docker(image: str, out: TextIO = sys.stderr, progress: str = "auto") -> str | None:
    """docker push with retries on transient failures; returns the pushed repo digest.

    Through the engine API when it is reachable directly, with layers/bytes/rate shown
    (cogkit.docker.transfer); otherwise through the docker CLI, quietly."""
    from python_on_whales import DockerException, docker

    from cogkit.docker import transfer

    failures = (DockerException, transfer.TransferError)

    @retry(
        retry=retry_if_exception(lambda e: isinstance(e, failures) and _transient(e)),
        stop=stop_after_attempt(4),
        wait=wait_exponential(multiplier=0.5, max=8),
        reraise=True,
    )
    def attempt() -> None:
        if transfer.available():
            transfer.push_image(image, progress, out)
        else:
            docker.push(image, quiet=True)

    try:
        attempt()
    except failures as exc:
        detail = (getattr(exc, "stderr", None) or str(exc)).strip().splitlines()
        message = detail[-1] if detail else str(exc)
        if not _transient(exc):
            raise CogkitError(
                f"push of {image} was refused: {message}", "log in first: `cogkit login` (or `docker login`)"
            ) from None
        raise CogkitError(
            f"push of {image} failed: {message}", "check that the registry is reachable"
        ) from None
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    digests = docker.image.inspect(image).repo_digests or []
    return next((d.split("@", 1)[1] for d in digests if d.startswith(repo + "@")), None)


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
    return PushOutcome(outcome.image, push_with_docker(outcome.image, request.out, request.progress), outcome)
