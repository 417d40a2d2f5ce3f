"""Image reference normalisation, matching Go's reference.ParseNormalizedNamed + TagNameOnly.

"python:3.11" -> "docker.io/library/python:3.11", "localhost:5000/x" -> "localhost:5000/x:latest".
The normalised string is part of the source op's identifier, so it decides the vertex digest.
"""

from __future__ import annotations

import re

from cogkit.llb.graph_errors import GraphError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"

_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")

_HINT = "use a name like python:3.11, ghcr.io/org/image:tag or localhost:5000/image@sha256:<digest>"


def _invalid(ref: str, why: str) -> GraphError:
    return GraphError(f"invalid image reference {ref!r}: {why}", hint=_HINT)


def _split_domain(name: str) -> tuple[str, str]:
    """Docker's rule: the first component is a registry only if it looks like a host."""
    first, sep, rest = name.partition("/")
    if sep and (("." in first or ":" in first) or first == "localhost" or first.lower() != first):
        domain, remainder = first, rest
    else:
        domain, remainder = DEFAULT_DOMAIN, name
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def normalize_image_ref(ref: str) -> str:
    """Return the fully qualified reference (domain/path[:tag][@digest]), adding :latest if untagged."""
    original = ref
    ref = ref.strip()
    if not ref:
        raise _invalid(original, "it is empty")
    name, _, digest = ref.partition("@")
    if digest and not _DIGEST_RE.match(digest):
        raise _invalid(original, f"bad digest {digest!r}")
    tag = ""
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise _invalid(original, f"bad tag {tag!r}")
    if _HEX64_RE.match(name):
        raise _invalid(original, "64-character hex names are reserved for image IDs")
    domain, remainder = _split_domain(name)
    if remainder.lower() != remainder:
        raise _invalid(original, "repository names must be lowercase")
    if not _DOMAIN_RE.match(domain) or not _PATH_RE.match(remainder):
        raise _invalid(original, "not a valid repository name")
    full = f"{domain}/{remainder}"
    if len(full) > NAME_TOTAL_LENGTH_MAX:
        raise _invalid(original, f"repository name longer than {NAME_TOTAL_LENGTH_MAX} characters")
    if tag:
        full += f":{tag}"
    elif not digest:
        full += ":latest"
    if digest:
        full += f"@{digest}"
    return full
