"""Older import path (`from cog.predictor import BasePredictor`) kept working."""

from .base_predictor import BasePredictor

__all__ = ["BasePredictor"]
