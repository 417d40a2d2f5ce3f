"""Where torch's wheels come from: --torch-index / $COGKIT_TORCH_INDEX, a PyPI mirror, and the
fallback to PyPI when PyTorch's index cannot be reached (the probe is a real HTTP request)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cogkit.config import load_config
from cogkit.config.compat import TORCH_INDEX
from cogkit.config.requirements import rewrite_for_cuda
from cogkit.config.torch_index import (
    TorchIndex,
    choose_torch_index,
    index_env,
    parse_setting,
    probe,
)
from cogkit.errors import CogkitError

UNREACHABLE = "its host name does not resolve"


def never(url: str) -> str | None:
    raise AssertionError(f"probed {url} although the choice needs no probe")


def test_explicit_choices_never_probe() -> None:
    assert choose_torch_index("pypi", {}, never)[0].mode == "pypi"
    assert choose_torch_index("pytorch", {}, never)[0].mode == "pytorch"
    chosen, warnings = choose_torch_index("https://mirror.example/whl", {}, never)
    assert (chosen.mode, chosen.base, warnings) == ("url", "https://mirror.example/whl", [])


def test_env_setting_is_used_when_no_flag_and_the_flag_wins() -> None:
    env = {"COGKIT_TORCH_INDEX": "pypi"}
    assert choose_torch_index(None, env, never)[0].mode == "pypi"
    assert choose_torch_index("pytorch", env, never)[0].mode == "pytorch"


@pytest.mark.parametrize("name", ["UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"])
def test_a_pypi_mirror_wins_over_auto_without_probe_or_warning(name: str) -> None:
    env = {name: "https://pypi.mirror.example/simple"}
    chosen, warnings = choose_torch_index(None, env, never)
    assert chosen.mode == "pypi" and warnings == []
    assert name in chosen.why
    assert index_env(env) == {"UV_DEFAULT_INDEX": "https://pypi.mirror.example/simple"}


def test_explicit_index_beats_the_mirror() -> None:
    env = {"PIP_INDEX_URL": "https://pypi.mirror.example/simple"}
    assert choose_torch_index("pytorch", env, never)[0].mode == "pytorch"


def test_auto_uses_pytorch_when_reachable_and_probes_the_index() -> None:
    asked: list[str] = []
    chosen, warnings = choose_torch_index(None, {}, lambda url: asked.append(url))
    assert chosen.mode == "pytorch" and warnings == []
    assert asked == [f"{TORCH_INDEX}/"]


def test_auto_falls_back_to_pypi_with_one_warning_line() -> None:
    chosen, warnings = choose_torch_index(None, {}, lambda url: UNREACHABLE)
    assert chosen.mode == "pypi"
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert TORCH_INDEX in warnings[0] and UNREACHABLE in warnings[0] and "--torch-index" in warnings[0]


@pytest.mark.parametrize("bad", ["conda", "download.pytorch.org/whl", "ftp://x/y", ""])
def test_a_bad_setting_is_one_line_with_a_hint(bad: str) -> None:
    if bad == "":
        assert parse_setting(bad) == "auto"
        return
    with pytest.raises(CogkitError) as caught:
        parse_setting(bad)
    assert bad in caught.value.message and "\n" not in caught.value.message
    assert "auto|pytorch|pypi" in (caught.value.hint or "")


def test_url_variants() -> None:
    assert TorchIndex("pytorch").url(None) == f"{TORCH_INDEX}/cpu"
    assert TorchIndex("pytorch").url("12.4") == f"{TORCH_INDEX}/cu124"
    assert TorchIndex("url", "https://m.example/whl/").url("11.8") == "https://m.example/whl/cu118"
    assert TorchIndex("url", "https://m.example/whl/cu121").url("12.4") == "https://m.example/whl/cu121"
    assert TorchIndex("pypi").url(None) is None


def test_rewrite_follows_the_choice(tmp_path: Path) -> None:
    (tmp_path / "cog.yaml").write_text("build:\n  python_packages: [torch==2.13.0, numpy]\n")
    config = load_config(tmp_path / "cog.yaml")
    cpu = rewrite_for_cuda(config.requirements, False, config.cuda, TorchIndex("pytorch"))
    assert cpu.render() == f"--extra-index-url {TORCH_INDEX}/cpu\ntorch==2.13.0+cpu\nnumpy\n"
    pypi = rewrite_for_cuda(config.requirements, False, config.cuda, TorchIndex("pypi"))
    assert pypi.render() == "torch==2.13.0\nnumpy\n"  # nothing rewritten behind a mirror or PyPI
    mirror = rewrite_for_cuda(
        config.requirements, False, config.cuda, TorchIndex("url", "https://m.example/whl")
    )
    assert mirror.options == ["--extra-index-url https://m.example/whl/cpu"]


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(404)  # any answer means reachable
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/whl/"
    server.shutdown()
    server.server_close()


def test_probe_is_real_and_fast(local_server: str) -> None:
    assert probe(local_server) is None  # a 404 still answers
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = probe(f"http://127.0.0.1:{port}/whl/", timeout=1)
    assert refused is not None and "refused" in refused.lower()
    assert probe("https://cogkit-no-such-host.invalid/whl/", timeout=1) == UNREACHABLE
