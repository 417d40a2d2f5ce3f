"""cog.yaml: finding, parsing with positions, validation with Cog's rules, CUDA/torch resolution.

Two readers of one file: `loader` (the build's full model: msgspec Structs, positions, Cog's rules,
CUDA tables) and `predictor` (the few keys a running model needs, standard library + pyyaml, shipped
into images). The loader's names are imported on first use, so `cogkit.config.predictor` never
pulls in the loader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cogkit.config.loader import CONFIG_NAME, Config, RunStep, find_config, load_config, parse_config

__all__ = ["CONFIG_NAME", "Config", "RunStep", "find_config", "load_config", "parse_config"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from cogkit.config import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'cogkit.config' has no attribute {name!r}")
