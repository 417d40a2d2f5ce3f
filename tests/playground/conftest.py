"""Fixtures for the playground tests: real headless Chromium, real model servers, artifacts.

With CI=true a missing chromium fails (`.ci/run` installs Debian's package); locally it skips.
Screenshots go to $COGKIT_TEST_ARTIFACTS (default: <tmp>/cogkit-test-artifacts/playground).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cdp import CHROMIUM, Browser
from playground_helpers import EXAMPLES, IN_CI


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing; install Debian's chromium (`apt-get install chromium`)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    b = Browser()
    yield b
    b.close()


@pytest.fixture
def page(browser: Browser):
    p = browser.page()
    yield p
    errors = p.console_errors()
    urls = [e["request"]["url"] for e in browser.events(p.session, "Network.requestWillBeSent")]
    p.close()
    assert not errors, f"uncaught errors in the page: {errors}"
    # No network: everything the page loads comes from the server under test (or is inline data).
    outside = [u for u in urls if not u.startswith(("http://127.0.0.1:", "data:", "about:", "blob:"))]
    assert urls and not outside, f"the page reached outside the model server: {outside}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    default = Path(tempfile.gettempdir()) / "cogkit-test-artifacts"
    root = Path(os.environ.get("COGKIT_TEST_ARTIFACTS") or default)
    path = root / "playground"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def project(tmp_path: Path):
    """`project("hello-world")`: a copy of an example (so test runs leave examples/ untouched)."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("__pycache__", "output.*"))
        return target

    return copy
