"""The build context: which files a build sends (.dockerignore rules) and which of them are weights.

Below both users: the layer plan (cogkit/layers) splits the project with it, and the BuildKit
session (cogkit/buildkit/session) filters what it streams with the same rules, so the two never disagree.
"""

from cogkit.context.ignore import PatternMatcher, parse_dockerignore, read_dockerignore
from cogkit.context.weights import SIZE_THRESHOLD, WeightFile, find_weights

__all__ = [
    "SIZE_THRESHOLD",
    "PatternMatcher",
    "WeightFile",
    "find_weights",
    "parse_dockerignore",
    "read_dockerignore",
]
