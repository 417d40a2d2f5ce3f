"""Images through the docker CLI: load a built tarball, push with retries and read back the digest.

cogkit/images decides what to build and push; this module is the only place it touches Docker.
"""

from __future__ import annotations

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from cogkit.docker.containers import docker
from cogkit.errors import CogkitError

_AUTH_WORDS = ("unauthorized", "denied", "authentication required", "no basic auth credentials")


def _transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return not any(word in text for word in _AUTH_WORDS)


def load_image(tarball: str, image: str) -> None:
    """`docker load` a tarball holding `image` (what a standalone buildkitd hands back)."""
    from python_on_whales import DockerException

    try:
        docker().load(tarball, quiet=True)
    except DockerException as exc:
        raise CogkitError(
            f"built {image}, but could not load it into Docker: {str(exc).strip().splitlines()[-1]}",
            "start dockerd, or use `cogkit push` to send the image straight to a registry",
        ) from None


def push_image(image: str) -> str | None:
    """docker push with retries on transient failures; returns the pushed repo digest."""
    from python_on_whales import DockerException

    client = docker()

    @retry(
        retry=retry_if_exception(lambda e: isinstance(e, DockerException) and _transient(e)),
        stop=stop_after_attempt(4),
        wait=wait_exponential(multiplier=0.5, max=8),
        reraise=True,
    )
    def attempt() -> None:
        client.push(image, quiet=True)

    try:
        attempt()
    except DockerException as exc:
        detail = (exc.stderr or str(exc)).strip().splitlines()
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
