"""Images through the docker CLI: load a built tarball, push with retries and read back the digest.

cogkit/images decides what to build and push; this module is the only place it touches Docker.
"""

from __future__ import annotations

import sys
from typing import TextIO

from cogkit.errors import CogkitError

_AUTH_WORDS = ("unauthorized", "denied", "authentication required", "no basic auth credentials")


def _transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return not any(word in text for word in _AUTH_WORDS)


def load_image(tarball: str, image: str, progress: str = "auto", out: TextIO = sys.stderr) -> None:
    """`docker load` a tarball holding `image` (what a standalone buildkitd hands back).

    Through the engine API when it is reachable directly, with layers/bytes/rate shown
    (cogkit.docker.transfer); otherwise through the docker CLI, quietly."""
    from python_on_whales import DockerException

    from cogkit.docker import transfer
    from cogkit.docker.containers import docker

    try:
        if transfer.available():
            transfer.load_tarball(tarball, progress, out)
        else:
            docker().load(tarball, quiet=True)
    except (DockerException, transfer.TransferError) as exc:
        raise CogkitError(
            f"built {image}, but could not load it into Docker: {str(exc).strip().splitlines()[-1]}",
            "start dockerd, or use `cogkit push` to send the image straight to a registry",
        ) from None


def push_image(image: str, progress: str = "auto", out: TextIO = sys.stderr) -> str | None:
    """docker push with retries on transient failures; returns the pushed repo digest.

    Through the engine API when it is reachable directly, with layers/bytes/rate shown
    (cogkit.docker.transfer); otherwise through the docker CLI, quietly."""
    from python_on_whales import DockerException
    from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

    from cogkit.docker import transfer
    from cogkit.docker.containers import docker

    client = docker()
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
            client.push(image, quiet=True)

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
    digests = client.image.inspect(image).repo_digests or []
    return next((d.split("@", 1)[1] for d in digests if d.startswith(repo + "@")), None)
