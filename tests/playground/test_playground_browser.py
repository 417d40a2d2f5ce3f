"""The playground in real headless Chromium, against real model servers.

hello-world through `cogkit serve --local`, streaming through `cogkit playground --target` (whose
request log counts what reaches the server), image-io in an image built by `cogkit build`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import urllib.request
import uuid
import zlib
from pathlib import Path

import pytest
from playground_helpers import REPO, Process, free_port, runtime_server, wait_ready

PY = sys.executable
READY = "document.body.dataset.ready === 'true'"


def status_is(value: str) -> str:
    return f"document.getElementById('status').textContent === {json.dumps(value)}"


def text(page, element_id: str) -> str:
    return page.js(f"document.getElementById({json.dumps(element_id)}).textContent")


def set_value(page, element_id: str, value: str) -> None:
    page.js(f"(() => {{ const n = document.getElementById({json.dumps(element_id)});"
            f" n.value = {json.dumps(value)}; n.dispatchEvent(new Event('input', {{bubbles: true}})); }})()")


def click(page, selector: str) -> None:
    page.js(f"document.querySelector({json.dumps(selector)}).click()")


def png(width: int, height: int) -> bytes:
    """A small RGB PNG (no imaging library needed): a horizontal gradient."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, 128, 64))
                    for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_hello_world_from_cogkit_serve_local(page, project, artifacts: Path) -> None:
    directory = project("hello-world")
    port = free_port()
    serve = Process([PY, "-m", "cogkit", "serve", "--local", "--no-reload", "-p", str(port)], cwd=directory,
                    env={"DOCKER_HOST": "unix:///nonexistent.sock", "COGKIT_DOCKER_CLI": "/bin/false"})
    try:
        url = serve.wait_output(r"playground: (http://127\.0\.0\.1:\d+/playground)").group(1)
        assert url == f"http://127.0.0.1:{port}/playground"
        wait_ready(f"http://127.0.0.1:{port}", serve.proc, log=serve.log)
        page.goto(url)
        page.wait(READY)
        field = "document.querySelector('[data-field=text]')"
        assert page.js(f"{field}.querySelector('textarea') !== null")
        assert "Who to greet" in page.js(f"{field}.textContent")
        set_value(page, "in-text", "world")
        click(page, "#run")
        page.wait(status_is("succeeded"))
        assert text(page, "output") == "hello world"
        assert re.fullmatch(r"predict_time \d+\.\d{3} s", text(page, "time"))

        click(page, "[data-snippet=curl]")
        curl = page.wait("document.getElementById('snippet').dataset.kind === 'curl'"
                         " && document.getElementById('snippet').textContent")
        done = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30)
        assert json.loads(done.stdout)["output"] == "hello world", done.stderr
        click(page, "[data-snippet=python]")
        python = page.wait("document.getElementById('snippet').dataset.kind === 'python'"
                           " && document.getElementById('snippet').textContent")
        compile(python, "snippet.py", "exec")
        assert f"http://127.0.0.1:{port}/predictions" in python and '"text": "world"' in python
        click(page, "[data-snippet=cogkit]")
        page.wait("document.getElementById('snippet').dataset.kind === 'cogkit'")
        assert text(page, "snippet") == "cogkit predict \\\n  -i 'text=world'"

        assert page.js("document.querySelectorAll('#history li').length") == 1
        click(page, "#history li button:nth-of-type(2)")  # run again
        page.wait("document.querySelectorAll('#history li').length === 2")
        page.wait(status_is("succeeded"))
        page.screenshot(artifacts / "hello-world.png")

        page.goto(url.replace("/playground", "/docs"))
        page.wait(READY)
        inputs = page.js("document.getElementById('schema-Input').textContent")
        assert "text" in inputs and "Who to greet" in inputs
        assert "POST/predictions" in page.js("document.getElementById('doc').textContent").replace(" ", "")
        page.screenshot(artifacts / "docs.png")
    finally:
        serve.stop()


def test_streaming_through_cogkit_playground(page, artifacts: Path) -> None:
    server, base = runtime_server("streaming")
    proxy = Process([PY, "-m", "cogkit", "playground", "--target", base, "-p", "0"], cwd=REPO)
    try:
        url = proxy.wait_output(r"Playground for \S+ at (http://127\.0\.0\.1:\d+/playground)").group(1)
        page.goto(url)
        page.wait(READY)
        assert page.js("document.querySelector('[data-field=delay] input[type=range]') !== null")
        assert page.js("document.getElementById('in-delay').value") == "0.05"  # the default

        # Invalid input: the page says what the server would, and sends nothing.
        set_value(page, "in-prompt", "")
        set_value(page, "in-delay", "5")
        click(page, "#run")
        page.wait("document.getElementById('err-delay').textContent !== ''")
        shown = {name: text(page, f"err-{name}") for name in ("prompt", "delay")}
        req = urllib.request.Request(base + "/predictions", data=json.dumps({"input": {"delay": 5}}).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("the server accepted an invalid input")
        except urllib.error.HTTPError as exc:
            assert exc.code == 422
            detail = json.loads(exc.read())["detail"]
        assert shown == {d["loc"][2]: d["msg"] for d in detail}
        assert shown["delay"] == "Input should be less than or equal to 2"
        assert "/predictions" not in proxy.output()

        # Valid input: tokens appear live, in order, and one request reached the server.
        words = "one two three four five six"
        set_value(page, "in-prompt", words)
        set_value(page, "in-delay", "0.2")
        click(page, "#run")
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while page.js(status_is("succeeded").replace("===", "!==")) and time.monotonic() < deadline:
            current = text(page, "output")
            if current and (not seen or seen[-1] != current):
                seen.append(current)
            time.sleep(0.02)
        assert text(page, "output") == words
        assert len([s for s in seen if s != words]) >= 3, f"output did not stream: {seen}"
        for earlier, later in zip(seen, seen[1:], strict=False):
            assert later.startswith(earlier), seen
        assert text(page, "err-delay") == ""
        assert len(re.findall(r"POST /predictions -> 200", proxy.output())) == 1
        page.screenshot(artifacts / "streaming.png")

        # Cancel a long one after its first token.
        set_value(page, "in-prompt", "a b c d e f g h")
        set_value(page, "in-delay", "1")
        click(page, "#run")
        page.wait("document.getElementById('output').textContent.startsWith('a')")
        click(page, "#cancel")
        page.wait(status_is("canceled"), timeout=15)
        assert "POST /predictions/pg" in proxy.output() and "/cancel -> 200" in proxy.output()
        assert page.js("document.querySelector('#history li .badge').textContent") == "canceled"
    finally:
        proxy.stop()
        server.stop()


@pytest.fixture(scope="module")
def image_io_image(tmp_path_factory) -> str:
    from playground_helpers import EXAMPLES, IN_CI

    if not os.path.exists("/var/run/docker.sock"):
        if IN_CI:
            pytest.fail("dockerd is not available", pytrace=False)
        pytest.skip("dockerd is not available; run `bash scripts/setup.sh` first")
    project = tmp_path_factory.mktemp("image-io") / "image-io"
    shutil.copytree(EXAMPLES / "image-io", project, ignore=shutil.ignore_patterns("__pycache__", "output.*"))
    tag = f"cogkit-test-playground:{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "NO_COLOR": "1", "COGKIT_PROGRESS": "plain",
           "COGKIT_BASE_IMAGE": os.environ.get("COGKIT_TEST_BASE_IMAGE", "cogkit-base:py3.11-bookworm"),
           "COGKIT_CA_CERT": "/etc/ssl/certs/ca-certificates.crt"}
    built = subprocess.run([PY, "-m", "cogkit", "build", "-t", tag], cwd=project, env=env,
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    yield tag
    if os.environ.get("COGKIT_TEST_KEEP_IMAGES") != "1":
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def test_image_io_in_a_built_image(page, image_io_image: str, tmp_path: Path, artifacts: Path) -> None:
    port = free_port()
    run = ["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:5000", image_io_image]
    container = subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, timeout=120)
        picture = tmp_path / "gradient.png"
        picture.write_bytes(png(160, 100))
        page.goto(base + "/playground")
        page.wait(READY)
        assert page.js("document.querySelector('[data-field=image] input[type=file]') !== null")
        assert page.js("document.getElementById('in-grayscale').type") == "checkbox"
        page.set_files("#in-image", [str(picture)])
        set_value(page, "in-scale", "2")
        page.js("document.getElementById('in-grayscale').checked = false")
        click(page, "#run")
        page.wait(status_is("succeeded"), timeout=60)
        page.wait("(() => { const i = document.querySelector('#output img'); return i && i.complete"
                  " && i.naturalWidth > 0; })()", timeout=15)
        size = page.js("(() => { const i = document.querySelector('#output img');"
                       " return [i.naturalWidth, i.naturalHeight]; })()")
        assert size == [320, 200]
        assert page.js("document.querySelector('#output a[download]').download") == "output.png"
        click(page, "[data-snippet=cogkit]")
        page.wait("document.getElementById('snippet').dataset.kind === 'cogkit'")
        assert "-i 'image=@gradient.png'" in text(page, "snippet")
        click(page, "[data-snippet=curl]")
        curl = page.wait("document.getElementById('snippet').dataset.kind === 'curl'"
                         " && document.getElementById('snippet').textContent")
        done = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        response = json.loads(done.stdout)  # the snippet reads the picked file itself
        assert response["status"] == "succeeded", response.get("error")
        assert response["output"].startswith("data:image/png;base64,")
        shot = page.screenshot(artifacts / "image-io.png")
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            shutil.copyfile(shot, REPO / "docs" / "playground.png")
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)


FUZZ = REPO / "tests" / "runtime" / "http_fixtures" / "fuzz"  # one input of every kind


def test_controls_and_messages_follow_the_schema(page, artifacts: Path) -> None:
    server, base = runtime_server(FUZZ)
    try:
        page.goto(base + "/playground")
        page.wait(READY)
        kinds = page.js("Object.fromEntries([...document.querySelectorAll('[data-field]')].map(f => {"
                        " const c = f.querySelector('input, textarea, select');"
                        " return [f.dataset.field, c.tagName.toLowerCase() + ':' + (c.type || '')]; }))")
        assert kinds == {
            "text": "input:text", "count": "input:range", "ratio": "input:range", "flag": "input:checkbox",
            "color": "select:select-one", "size": "select:select-one", "tags": "textarea:textarea",
            "maybe": "input:number", "token": "input:password", "pattern": "input:text", "file": "input:file",
        }
        order = page.js("[...document.querySelectorAll('[data-field]')].map(f => f.dataset.field)")
        assert order == list(kinds)  # x-order, as declared
        assert page.js("document.getElementById('in-size').selectedOptions[0].textContent") == "m"
        assert page.js("[...document.getElementById('in-color').options].map(o => o.textContent)") == [
            "red", "green"]

        bad = {"text": "x" * 60, "count": "1.5", "ratio": "2", "pattern": "abc"}
        for name, value in bad.items():
            set_value(page, f"in-{name}", value)
        click(page, "#run")
        page.wait("document.getElementById('err-text').textContent !== ''")
        shown = {name: text(page, f"err-{name}") for name in bad}
        sent = {"text": "x" * 60, "count": 1.5, "ratio": 2, "pattern": "abc"}  # as the page would send them
        req = urllib.request.Request(base + "/predictions", data=json.dumps({"input": sent}).encode(),
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=10)
        assert caught.value.code == 422
        assert shown == {d["loc"][2]: d["msg"] for d in json.loads(caught.value.read())["detail"]}
        assert shown["ratio"] == "Input should be less than or equal to 1.0"  # the limit as Python writes it
        page.screenshot(artifacts / "validation.png")

        for name, value in {"text": "hi", "count": "3", "ratio": "0.25", "pattern": "abba", "tags": "a\nb",
                            "token": "hunter2"}.items():
            set_value(page, f"in-{name}", value)
        page.js("document.getElementById('in-color').value = '1'")
        click(page, "#run")
        page.wait(status_is("succeeded"))
        assert text(page, "output") == "hi:3:0.25:False:green:m:['a', 'b']:None:abba:False:7"
        assert "hunter2" not in text(page, "response")
        stored = page.js("JSON.stringify(localStorage)")
        assert "hunter2" not in stored and '\\"token\\":\\"**********\\"' in stored
    finally:
        server.stop()


STREAM = REPO / "tests" / "runtime" / "http_fixtures" / "stream"  # Iterator[str], a log line per item
MEDIA = Path(__file__).parent / "fixtures" / "media"  # List[Path]: a PNG, a WAV and a text file


def test_iterator_items_and_logs_arrive_live(page) -> None:
    server, base = runtime_server(STREAM)
    try:
        page.goto(base + "/playground")
        page.wait(READY)
        set_value(page, "in-n", "5")
        set_value(page, "in-delay", "0.3")
        click(page, "#run")
        page.wait("document.querySelectorAll('#output .item').length >= 2", timeout=10)
        assert page.js(status_is("processing"))  # still running: items and logs came before the end
        assert text(page, "logs").startswith("item 0\nitem 1\n")
        page.wait(status_is("succeeded"))
        items = page.js("[...document.querySelectorAll('#output .item')].map(n => n.textContent)")
        assert items == [f"chunk-{i}" for i in range(5)]
        assert text(page, "logs") == "".join(f"item {i}\n" for i in range(5))
    finally:
        server.stop()


def test_file_outputs_preview_by_type(page, artifacts: Path) -> None:
    server, base = runtime_server(MEDIA)
    try:
        page.goto(base + "/playground")
        page.wait(READY)
        click(page, "#run")
        page.wait(status_is("succeeded"))
        page.wait("(() => { const i = document.querySelector('#output img');"
                  " return i && i.naturalWidth === 64; })()")
        page.wait("(() => { const a = document.querySelector('#output audio'); return a && a.readyState >= 1"
                  " && Math.abs(a.duration - 0.5) < 0.05; })()", timeout=10)
        names = page.js("[...document.querySelectorAll('#output a[download]')].map(a => a.download)")
        assert names == ["output.0.png", "output.1.wav", "output.2.txt"]
        assert page.js("document.querySelector('#output a[download=\"output.2.txt\"]').href"
                       ".startsWith('data:text/plain')")
        page.screenshot(artifacts / "media.png")
    finally:
        server.stop()


def test_training_mode_uses_the_trainings_endpoint(page) -> None:
    server, base = runtime_server(FUZZ, "--x-mode", "train")
    try:
        page.goto(base + "/playground")
        page.wait(READY)
        fields = page.js("[...document.querySelectorAll('[data-field]')].map(f => f.dataset.field)")
        assert fields == ["steps"]
        set_value(page, "in-steps", "3")
        click(page, "#run")
        page.wait(status_is("succeeded"))
        assert text(page, "output") == "trained 3"
        click(page, "[data-snippet=cogkit]")
        page.wait("document.getElementById('snippet').dataset.kind === 'cogkit'")
        assert text(page, "snippet").startswith("cogkit train")
    finally:
        server.stop()
