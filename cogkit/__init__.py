"""cogkit: Cog-compatible model containers, built natively on BuildKit."""

__version__ = "0.1.0"
