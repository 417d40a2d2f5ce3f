"""Helpers for the end-to-end build tests (a module, not conftest: imported by name)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from cogkit import llb
from cogkit.buildkit.gateway import BuildResult, Gateway

DOCKER_CLI = "/usr/bin/docker"


def docker(*args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run Debian's docker 20.10 client (matches the daemon)."""
    proc = subprocess.run([DOCKER_CLI, *args], capture_output=True, input=input, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
    return proc


def on_base(
    base_image: str,
    make: Callable[[llb.State], tuple[llb.State, dict[str, Any] | None]],
) -> Callable[[Gateway], BuildResult]:
    """A build function: resolve the base image, inherit its env, apply `make`, keep/extend its config."""

    def build(gw: Gateway) -> BuildResult:
        _, image_config = gw.resolve_image_config(base_image)
        state, config_overrides = make(llb.image(base_image).with_image_config(image_config))
        config = dict(image_config)
        config["config"] = {**(image_config.get("config") or {}), **(config_overrides or {})}
        return BuildResult(state.marshal(caps=gw.caps), image_config=config)

    return build
