"""Images in Docker: name a built image, load a built tarball, push with retries and read back the digest.

cogkit/images decides what to build and push; this module is the only place it touches Docker.
"""

from __future__ import annotations

import sys
from typing import TextIO
from urllib.parse import quote, urlencode

from cogkit.buildkit.address import BuilderAddress
from cogkit.buildkit.transport import docker_request
from cogkit.errors import BuildError, CogkitError

_AUTH_WORDS = ("unauthorized", "denied", "authentication required", "no basic auth credentials")


def _transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return not any(word in text for word in _AUTH_WORDS)


def split_name(ref: str) -> tuple[str, str]:
    """`host:5000/a/b:tag` -> (`host:5000/a/b`, `tag`); no tag means `latest`."""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = ref.rpartition(":")
        return name, tag
    return ref, "latest"


def tag_image(address: BuilderAddress, image_id: str | None, image: str) -> None:
    """Name a freshly exported image in the engine that built it (POST /images/{id}/tag).

    On dockerd's containerd image store the build exports the image unnamed and this names it:
    a name given to the exporter makes it unpack the image under that name inside the solve, which
    races containerd's garbage collection of the snapshots it unpacks onto ("parent snapshot ...
    does not exist"), most often while another build shares the base layers."""
    if not image_id:
        raise BuildError(f"built {image}, but the engine reported no image ID to name", "rerun the build")
    repo, tag = split_name(image)
    path = f"/images/{quote(image_id, safe=':')}/tag?{urlencode({'repo': repo, 'tag': tag})}"
    try:
        status = docker_request(address, "POST", path)
    except (OSError, CogkitError) as exc:
        status, detail = 0, str(exc)
    else:
        detail = f"HTTP {status}"
    if status not in (200, 201):
        raise BuildError(f"built {image_id}, but could not name it {image}: {detail}", "rerun the build")


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
