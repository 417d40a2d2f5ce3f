"""Name an image the moby exporter left unnamed, in the engine that built it (Docker Engine API).

On dockerd's containerd image store a name given to the exporter makes dockerd unpack the image
under that name inside the solve, which races containerd's garbage collection of the snapshots it
unpacks onto ("parent snapshot ... does not exist", most often while another build shares the
base layers). So there the image is exported unnamed and named afterwards: POST /images/{id}/tag
over the builder's own socket (~20 ms).
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from cogkit.buildkit.address import BuilderAddress
from cogkit.buildkit.transport import docker_request
from cogkit.errors import BuildError, CogkitError


def split_name(ref: str) -> tuple[str, str]:
    """`host:5000/a/b:tag` -> (`host:5000/a/b`, `tag`); no tag means `latest`."""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = ref.rpartition(":")
        return name, tag
    return ref, "latest"


def tag_image(address: BuilderAddress, image_id: str | None, image: str) -> None:
    """Name a freshly exported image (`image_id`: the exporter's containerimage.digest)."""
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
