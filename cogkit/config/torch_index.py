"""Which index torch's wheels come from, and which index the other packages come from.

Cog points pinned torch at PyTorch's own index (download.pytorch.org/whl/cpu or /cuXYZ, with the
+cpu local version on CPU builds, whose wheels are ~5x smaller). That index is not reachable from
every network, and not from behind a PyPI-only mirror, so the choice is explicit here:

  --torch-index / $COGKIT_TORCH_INDEX:
    auto     (default) PyTorch's index, unless a PyPI mirror is configured ($UV_DEFAULT_INDEX,
             $UV_INDEX_URL or $PIP_INDEX_URL: the mirror wins, nothing is rewritten behind it) or
             PyTorch's index cannot be reached from this machine (probed once per build, with a
             short timeout): then PyPI, with one warning line;
    pytorch  PyTorch's index, never probed;
    pypi     no rewrite: torch is resolved like any other package (from PyPI or the mirror);
    URL      a PyTorch-style index of your own (a mirror of download.pytorch.org/whl): cogkit adds
             /cpu or /cuXYZ unless the URL already ends with such a variant.

The mirror itself is passed to every uv step of the build as UV_DEFAULT_INDEX.
"""

from __future__ import annotations

import os
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from cogkit.config.compat import TORCH_INDEX
from cogkit.errors import CogkitError

TORCH_INDEX_ENV = "COGKIT_TORCH_INDEX"
# The PyPI mirror settings cogkit honours, in uv's order of precedence.
MIRROR_ENVS = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL")
PROBE_TIMEOUT = 3.0
CHOICES = ("auto", "pytorch", "pypi")
_VARIANT = re.compile(r"/(cpu|cu\d+|rocm[\d.]+)/?$")


@dataclass(frozen=True)
class TorchIndex:
    """The resolved choice: "pytorch" or "url" (a PyTorch-style index at `base`), or "pypi"."""

    mode: str
    base: str = TORCH_INDEX
    why: str = "PyTorch's index"

    def url(self, cuda: str | None) -> str | None:
        """The index torch's wheels come from for this CUDA variant (None: the CPU build)."""
        if self.mode == "pypi":
            return None
        if _VARIANT.search(self.base):
            return self.base.rstrip("/")
        variant = "cpu" if cuda is None else f"cu{cuda.replace('.', '')}"
        return f"{self.base.rstrip('/')}/{variant}"


PYTORCH = TorchIndex("pytorch")


def mirror(env: Mapping[str, str]) -> tuple[str, str] | None:
    """(variable, URL) of the PyPI mirror the user configured, if any."""
    for name in MIRROR_ENVS:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None


def probe(url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when `url` answers at all (any HTTP status), else why it cannot be reached."""
    return _probe_cached(url, timeout)


@lru_cache(maxsize=8)
def _probe_cached(url: str, timeout: float) -> str | None:
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered: reachable
    except OSError as exc:  # URLError and timeouts are OSErrors
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, socket.gaierror):
            return "its host name does not resolve"
        if isinstance(reason, TimeoutError):
            return f"no answer within {timeout:g}s"
        return str(reason) or type(reason).__name__


def parse_setting(value: str | None) -> str:
    """The user's setting, checked: auto, pytorch, pypi or an http(s)/file URL."""
    setting = (value or "auto").strip()
    lowered = setting.lower()
    if lowered in CHOICES:
        return lowered
    if re.match(r"^(https?|file)://\S+$", setting):
        return setting
    raise CogkitError(
        f"unknown torch index {setting!r}",
        "use --torch-index auto|pytorch|pypi or a URL of a PyTorch-style index (or COGKIT_TORCH_INDEX)",
    )


def choose_torch_index(
    setting: str | None,
    env: Mapping[str, str] | None = None,
    check: Callable[[str], str | None] = probe,
) -> tuple[TorchIndex, list[str]]:
    """Resolve --torch-index (or $COGKIT_TORCH_INDEX) into an index and the warnings to show.

    Only called when the requirements pin torch, torchvision or torchaudio."""
    env = os.environ if env is None else env
    chosen = parse_setting(setting if setting is not None else env.get(TORCH_INDEX_ENV))
    if chosen == "pypi":
        return TorchIndex("pypi", why="torch from PyPI (--torch-index pypi)"), []
    if chosen == "pytorch":
        return TorchIndex("pytorch", why="PyTorch's index (--torch-index pytorch)"), []
    if chosen != "auto":
        return TorchIndex("url", chosen, why=f"the PyTorch-style index {chosen}"), []
    configured = mirror(env)
    if configured is not None:
        name, url = configured
        return TorchIndex("pypi", why=f"torch from your mirror ${name}={url}"), []
    problem = check(f"{TORCH_INDEX}/")
    if problem is None:
        return TorchIndex("pytorch", why="PyTorch's index (reachable from here)"), []
    warning = (
        f"PyTorch's wheel index {TORCH_INDEX} cannot be reached from here ({problem}); "
        "installing torch from PyPI instead (choose with --torch-index or COGKIT_TORCH_INDEX)"
    )
    return TorchIndex("pypi", why="torch from PyPI (PyTorch's index unreachable)"), [warning]


def index_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the build's uv steps get so they use the user's mirror instead of PyPI."""
    configured = mirror(os.environ if env is None else env)
    return {"UV_DEFAULT_INDEX": configured[1]} if configured else {}
