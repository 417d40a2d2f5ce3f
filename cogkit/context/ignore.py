"""Docker-compatible path patterns (.dockerignore semantics).

Why not pathspec: gitignore patterns float (`*.pyc` matches at any depth), while Docker's
PatternMatcher anchors every pattern at the context root, treats `**` as "any number of
directories", lets a pattern that matches a parent directory cover everything below it, and lets
the last matching pattern win (`!` re-includes). A build must send exactly what `docker build`
would, so these rules are implemented here directly, with unit tests pinning each of them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cogkit.errors import CogkitError


def clean_path(path: str) -> str:
    """Go's path.Clean: collapse separators, resolve `.` and `..`, "" becomes "."."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    out = "/".join(parts)
    if rooted:
        return "/" + out
    return out or "."


def _translate(pattern: str) -> str:
    """Pattern text -> anchored regex, following Docker's fileutils scanner rules."""
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1  # `**/` behaves like `**`
                if i >= n:
                    out.append(".*")
                else:
                    out.append("(.*/)?")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i + 1 < n:
                i += 1
                out.append(re.escape(pattern[i]))
            else:
                out.append(re.escape("\\"))
        elif ch == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end == -1:
                raise ValueError("unterminated character class")
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return "".join(out)


@dataclass(frozen=True)
class Pattern:
    """One cleaned pattern; `exclusion` is a `!` pattern that re-includes."""

    text: str
    exclusion: bool
    regex: re.Pattern[str] = field(compare=False, repr=False)

    @property
    def dirs(self) -> list[str]:
        return self.text.split("/")

    def match(self, path: str) -> bool:
        return self.regex.match(path) is not None


def compile_patterns(patterns: Iterable[str]) -> list[Pattern]:
    """Clean and compile patterns as Docker's NewPatternMatcher does; bad syntax is a CogkitError."""
    compiled: list[Pattern] = []
    for raw in patterns:
        text = raw.strip()
        if not text:
            continue
        exclusion = text.startswith("!")
        if exclusion:
            text = text[1:].strip()
            if not text:
                raise CogkitError(f"illegal exclusion pattern {raw!r}", "a `!` must be followed by a pattern")
        text = clean_path(text)
        try:
            regex = re.compile(_translate(text))
        except (ValueError, re.error) as exc:
            raise CogkitError(
                f"bad file pattern {raw!r}: {exc}", "check .dockerignore / include patterns"
            ) from None
        compiled.append(Pattern(text=text, exclusion=exclusion, regex=regex))
    return compiled


class PatternMatcher:
    """Docker's PatternMatcher.Matches: last matching pattern wins; parents count as matches."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = compile_patterns(patterns)
        self.has_exclusions = any(p.exclusion for p in self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, path: str) -> bool:
        """True when `path` (slash-separated, relative) is selected by the patterns."""
        path = clean_path(path)
        parent = path.rsplit("/", 1)[0] if "/" in path else "."
        parent_dirs = parent.split("/")
        matched = False
        for pat in self.patterns:
            hit = pat.match(path)
            if not hit and parent != ".":
                n = len(pat.dirs)
                if n <= len(parent_dirs):
                    hit = pat.match("/".join(parent_dirs[:n]))
            if hit:
                matched = not pat.exclusion
        return matched

    def could_match_below(self, directory: str, exclusions: bool = False) -> bool:
        """Whether some (exclusion, if asked) pattern might select an entry inside `directory`.

        Lets the walker prune directories nothing can reach, without ever pruning wrongly.
        """
        dir_parts = clean_path(directory).split("/")
        for pat in self.patterns:
            if pat.exclusion != exclusions:
                continue
            parts = pat.dirs
            if any("**" in part for part in parts):
                return True
            if len(parts) <= len(dir_parts):
                continue
            if all(re.fullmatch(_translate(pp)[1:-1], dp) for pp, dp in zip(parts, dir_parts, strict=False)):
                return True
        return False


def read_dockerignore(context_dir: str | os.PathLike[str]) -> list[str]:
    """Patterns from `<context>/.dockerignore`, cleaned the way the Docker CLI reads them."""
    path = os.path.join(os.fspath(context_dir), ".dockerignore")
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return []
    return parse_dockerignore(lines)


def parse_dockerignore(lines: Sequence[str]) -> list[str]:
    """Drop comments and blanks, clean each pattern, strip a leading `/` (it means the root)."""
    out: list[str] = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        neg = text.startswith("!")
        if neg:
            text = text[1:].strip()
        text = clean_path(text)
        if len(text) > 1 and text.startswith("/"):
            text = text[1:]
        out.append(("!" if neg else "") + text)
    return out
