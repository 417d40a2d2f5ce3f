"""cog.yaml: finding, parsing with positions, validation with Cog's rules, CUDA/torch resolution."""

from cogkit.config.loader import CONFIG_NAME, Config, RunStep, find_config, load_config, parse_config

__all__ = ["CONFIG_NAME", "Config", "RunStep", "find_config", "load_config", "parse_config"]
