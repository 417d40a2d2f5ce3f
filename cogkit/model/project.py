"""The project a command runs in: its cog.yaml, directory, and (when needed) its built image.

Commands without an IMAGE argument work on the nearest cog.yaml, as Cog does; this module is the
one place that finds it and asks the build for an image, so every command reports the same
"no cog.yaml" error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Project:
    config_path: Path
    directory: Path
    raw: dict[str, Any]  # cog.yaml as parsed

    @property
    def gpu(self) -> bool:
        return bool((self.raw.get("build") or {}).get("gpu"))


def load_project(config_file: str | None = None) -> Project:
    from cogkit.config.loader import find_config, load_config

    path = find_config(Path.cwd(), config_file)
    config = load_config(path)
    return Project(config_path=path, directory=config.project_dir, raw=dict(config.raw or {}))


def base_image_flags(args: Any) -> dict[str, Any]:
    """Cog's --use-cog-base-image / --use-cuda-base-image from a command's args, for BuildRequest."""
    return {
        "use_cog_base_image": getattr(args, "use_cog_base_image", None),
        "use_cuda_base_image": getattr(args, "use_cuda_base_image", "auto"),
    }


def build_project_image(
    config_file: str | None = None,
    *,
    progress: str | None = None,
    tag: str | None = None,
    flags: dict[str, Any] | None = None,
    require_predictor: bool = True,
) -> str:
    """Build the project's image with `cogkit build`'s engine and return its name.

    The base image and CA bundle come from COGKIT_BASE_IMAGE / COGKIT_CA_CERT, as for `cogkit build`;
    `flags` carries Cog's base-image flags (`base_image_flags`).
    """
    import sys

    project = load_project(config_file)  # "no cog.yaml" is reported before anything else

    from cogkit.images.build import BuildRequest, build

    request = BuildRequest(
        config_file=project.config_path,
        cwd=Path.cwd(),
        tag=tag,
        progress=progress or "auto",
        out=sys.stderr,
        pip_freeze=False,  # a local command's image: no pip freeze label, as Cog skips labels there
        require_predictor=require_predictor,
        **(flags or {}),
    )
    return build(request).image
