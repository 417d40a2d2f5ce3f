"""`cogkit weights import` from Cog's remote sources, `https://` files and `hf://` repositories, against
servers this test starts on 127.0.0.1 (there is no network to Hugging Face here): an HTTPS server with a
certificate from a CA the test makes (trusted the way Cog users do it, SSL_CERT_FILE), and an HTTP
server speaking the Hugging Face Hub layout that HF_ENDPOINT points at, gated by HF_TOKEN."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"
TOKEN = "hf_cogkit_test_token"
SHA = "0123456789abcdef0123456789abcdef01234567"
PTH = os.urandom(4096) + b"esrgan"
HF_FILES = {
    "config.json": b'{"hidden": 8}',
    "model.safetensors": os.urandom(70_000),
    "sub/tokenizer.txt": b"a b c\n",
    "README.md": b"# tiny\n",
}
LFS = {"model.safetensors"}


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        self.server.seen.append((self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        path = self.path
        if path == "/files/RealESRGAN_x4plus.pth":
            return self._send(200, PTH, {"ETag": '"v1-strong"'})
        if path.startswith("/cdn/"):  # where resolve redirects (no token needed, as HF's CDN)
            name = path[len("/cdn/") :]
            return self._send(200, HF_FILES[name]) if name in HF_FILES else self._send(404)
        if path.startswith(("/api/", "/acme/")) and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, b'{"error":"Invalid credentials"}')
        if path == "/api/models/acme/tiny/revision/main":
            return self._send(200, json.dumps({"sha": SHA}).encode())
        if path == f"/api/models/acme/tiny/tree/{SHA}?recursive=true":
            entries: list[dict] = [{"type": "directory", "path": "sub"}]
            for name, data in HF_FILES.items():
                entry: dict = {"type": "file", "path": name, "size": len(data)}
                if name in LFS:
                    entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}
                entries.append(entry)
            return self._send(200, json.dumps(entries).encode())
        if path.startswith(f"/acme/tiny/resolve/{SHA}/"):
            return self._send(302, b"", {"Location": "/cdn/" + path.split(f"/{SHA}/", 1)[1]})
        return self._send(404)


def _serve(server: http.server.ThreadingHTTPServer) -> threading.Thread:
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def _make_ca(tmp: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it (openssl, as a user would)."""

    def ssl_cmd(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp)

    ssl_cmd("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "1", "-subj", "/CN=cogkit test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    ssl_cmd("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
            "-subj", "/CN=127.0.0.1")  # fmt: skip
    (tmp / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nauthorityKeyIdentifier=keyid\n"
    )
    ssl_cmd("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "srv.pem", "-days", "1", "-extfile", "ext.cnf")  # fmt: skip
    return tmp / "ca.pem", tmp / "srv.pem", tmp / "srv.key"


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[str, str, http.server.ThreadingHTTPServer]]:
    """(https base URL, HF endpoint URL, the HF server) on free ports of 127.0.0.1."""
    ca, cert, key = _make_ca(tmp_path)
    secure = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _serve(secure)
    _serve(hub)
    secure.ca = ca  # type: ignore[attr-defined]
    try:
        yield f"https://127.0.0.1:{secure.server_port}", f"http://127.0.0.1:{hub.server_port}", hub
    finally:
        for server in (secure, hub):
            server.shutdown()
            server.server_close()


def test_import_from_https_and_hf_sources(tmp_path: Path, registry: str, cli, servers) -> None:
    https_base, hf_endpoint, hub = servers
    ca = Path(tmp_path / "ca.pem")
    project = tmp_path / "remote"
    project.mkdir()
    model = f"{registry}/cogkit-test/remote-{uuid.uuid4().hex[:8]}"
    url = f"{https_base}/files/RealESRGAN_x4plus.pth"
    (project / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n'
        f"model: {model}\n"
        "weights:\n"
        f"  - name: esrgan\n    target: /weights/esrgan\n    source: {url}\n"
        "  - name: tiny\n    target: /weights/tiny\n    source:\n"
        '      uri: hf://acme/tiny\n      exclude: ["*.md"]\n'
    )
    base = {"COG_CACHE_DIR": str(tmp_path / "cache"), "HF_ENDPOINT": hf_endpoint, "HF_TOKEN": ""}

    # the https server's CA is not trusted yet: one line saying how to trust it
    untrusted = cli("weights", "import", cwd=project, env={**base, "SSL_CERT_FILE": SYSTEM_CA})
    assert untrusted.returncode == 1
    assert f"error: cannot verify {url}: " in untrusted.stderr
    assert "hint: trust its CA with SSL_CERT_FILE=" in untrusted.stderr
    assert "Traceback" not in untrusted.stderr

    # trusted, but the hub wants a token: Cog's 401 wording
    no_token = cli("weights", "import", cwd=project, env={**base, "SSL_CERT_FILE": str(ca)})
    assert no_token.returncode == 1
    assert (f"error: authentication failed for {hf_endpoint}/api/models/acme/tiny/revision/main (HTTP 401): "
            "set HF_TOKEN or HUGGING_FACE_HUB_TOKEN") in no_token.stderr  # fmt: skip

    env = {**base, "SSL_CERT_FILE": str(ca), "HF_TOKEN": TOKEN}
    imported = cli("weights", "import", cwd=project, env=env)
    assert imported.returncode == 0, imported.stderr
    assert f"Imported 2 weight artifact(s) to {model}" in imported.stdout + imported.stderr
    lock = {w["name"]: w for w in json.loads((project / "weights.lock").read_text())["weights"]}
    esrgan, tiny = lock["esrgan"], lock["tiny"]
    assert esrgan["sources"][0]["uri"] == url
    assert esrgan["sources"][0]["fingerprint"] == 'etag:"v1-strong"'  # a strong ETag (HEAD), as Cog
    assert [(f["path"], f["digest"]) for f in esrgan["files"]] == [
        ("RealESRGAN_x4plus.pth", "sha256:" + hashlib.sha256(PTH).hexdigest())]  # fmt: skip
    assert tiny["sources"][0]["fingerprint"] == f"commit:{SHA}"
    assert [f["path"] for f in tiny["files"]] == ["config.json", "model.safetensors", "sub/tokenizer.txt"]
    for entry in tiny["files"]:
        assert entry["digest"] == "sha256:" + hashlib.sha256(HF_FILES[entry["path"]]).hexdigest()
    seen = dict(hub.seen)  # type: ignore[attr-defined]
    assert seen[f"/acme/tiny/resolve/{SHA}/config.json"] == f"Bearer {TOKEN}"  # pinned to the commit

    # the artifacts are in the registry: a fresh cache pulls them from there, with no source server
    for server in (hub,):
        server.shutdown()
    fresh = {"COG_CACHE_DIR": str(tmp_path / "fresh")}
    pulled = cli("weights", "pull", cwd=project, env=fresh)
    assert pulled.returncode == 0, pulled.stderr
    stored = tmp_path / "fresh" / "weights" / "files" / "sha256" / hashlib.sha256(PTH).hexdigest()
    assert stored.read_bytes() == PTH
    status = cli("weights", "status", cwd=project, env=fresh)
    assert status.returncode == 0, status.stderr + status.stdout


def test_remote_source_mistakes_are_one_line(tmp_path: Path, cli) -> None:
    project = tmp_path / "bad"
    project.mkdir()
    base = 'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\nmodel: 127.0.0.1:5000/a/b\n'
    cases = {
        "hf://justone": 'error: invalid hf:// repo "justone": expected org/repo',
        "hf://org/repo@": "error: empty ref in hf:// URI",
        "https://user:pw@example.com/w.bin": "error: HTTP URI must not embed credentials (user:pass@host)",
        "https://example.com/": 'error: HTTP URI "https://example.com/" has no filename in path',
    }
    for uri, expected in cases.items():
        weights = f"weights:\n  - name: a\n    target: /w\n    source: {uri}\n"
        (project / "cog.yaml").write_text(base + weights)
        result = cli("weights", "import", cwd=project)
        assert result.returncode == 1, uri
        assert expected in result.stderr, (uri, result.stderr)
        assert "Traceback" not in result.stderr
