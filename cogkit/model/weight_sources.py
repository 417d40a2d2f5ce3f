"""Remote sources of `cogkit weights import`: one `https://` (or `http://`) file, or a Hugging Face
repository `hf://org/repo[@ref]` (also `huggingface://`), as Cog 0.20+ reads them
(pkg/model/weightsource/{http,huggingface}.go).

* `https://host/path/file.bin` is one file named after the URL's last path segment. A URL with
  credentials in it is refused (the URI is written to weights.lock). The fingerprint is the strong
  ETag of a HEAD (`etag:<value>`), else the content's sha256.
* `hf://org/repo@ref` (ref defaults to `main`) resolves the ref to a commit with
  `GET $HF_ENDPOINT/api/models/org/repo/revision/<ref>`, lists
  `/api/models/org/repo/tree/<sha>?recursive=true` and downloads each file from
  `/org/repo/resolve/<sha>/<path>` (redirects followed). `HF_ENDPOINT` defaults to
  https://huggingface.co; `HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`) is sent as a bearer token. LFS
  files are checked against the sha256 the listing gives. The fingerprint is `commit:<sha>`.
* TLS is verified with the system's trust store, which honours `SSL_CERT_FILE` / `SSL_CERT_DIR`
  (as Go's does for Cog). 5xx, 429 and network errors are retried 3 times.

Files are streamed straight into the content-addressed store, so the import, `weights pull` and
runs find them by digest without a second copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cogkit.errors import CogkitError

RETRIES = 3
HF_DEFAULT_ENDPOINT = "https://huggingface.co"


class SourceError(CogkitError):
    """A remote weight source that cannot be read."""


@dataclass
class RemoteFile:
    path: str
    size: int
    digest: str
    local: Path  # its copy in the store


def is_remote(uri: str) -> bool:
    return uri.startswith(("hf://", "huggingface://", "https://", "http://"))


def validate(uri: str) -> None:
    """Refuse a malformed remote URI when cog.yaml is read (no network)."""
    if uri.startswith(("hf://", "huggingface://")):
        parse_hf(uri)
    elif uri.startswith(("https://", "http://")):
        _http_filename(uri)


def parse_hf(uri: str) -> tuple[str, str]:
    """(org/repo, ref) of `hf://org/repo[@ref]`; the ref defaults to main."""
    rest = uri.split("://", 1)[1]
    if not rest:
        raise SourceError("empty hf:// URI", hint="e.g. hf://org/repo or hf://org/repo@v1")
    repo, ref = rest, "main"
    at = rest.rfind("@")
    if at > 0:
        repo, ref = rest[:at], rest[at + 1 :]
        if not ref:
            raise SourceError(f"empty ref in hf:// URI: {uri!r}", hint="e.g. hf://org/repo@main")
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts):
        raise SourceError(f'invalid hf:// repo "{repo}": expected org/repo', hint="e.g. hf://org/repo")
    return repo, ref


def _http_filename(uri: str) -> str:
    parsed = urllib.parse.urlsplit(uri)
    if parsed.username is not None or parsed.password is not None:
        raise SourceError(
            "HTTP URI must not embed credentials (user:pass@host)",
            hint="the URI is written to weights.lock; serve the file without credentials in the URL",
        )
    name = parsed.path.rstrip("/").rsplit("/", 1)[-1] if parsed.path.rstrip("/") else ""
    if not name or parsed.path.endswith("/"):
        raise SourceError(f'HTTP URI "{uri}" has no filename in path', hint="point at one file")
    return urllib.parse.unquote(name)


# ------------------------------------------------------------------------------------ HTTP
def _context() -> ssl.SSLContext:
    return ssl.create_default_context()  # loads SSL_CERT_FILE / SSL_CERT_DIR when set


class _NoAuthOnOtherHosts(urllib.request.HTTPRedirectHandler):
    """Follow redirects (HF's resolve → CDN) without handing the token to another host."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        moved = urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc
        if new is not None and moved:
            new.headers.pop("Authorization", None)
        return new


def _open(url: str, *, method: str = "GET", token: str | None = None, hf: bool = False) -> Any:
    headers = {"User-Agent": "cogkit-weights"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=_context()), _NoAuthOnOtherHosts()
    )
    delay = 0.5
    for attempt in range(RETRIES + 1):
        try:
            return opener.open(urllib.request.Request(url, headers=headers, method=method), timeout=60)
        except urllib.error.HTTPError as exc:
            if (exc.code >= 500 or exc.code == 429) and attempt < RETRIES:
                time.sleep(delay)
                delay *= 2
                continue
            raise _http_error(url, exc.code, hf) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLError):
                raise SourceError(
                    f"cannot verify {url}: {getattr(reason, 'verify_message', None) or reason}",
                    hint="trust its CA with SSL_CERT_FILE=/path/to/ca.pem (or SSL_CERT_DIR)",
                ) from None
            if attempt < RETRIES:
                time.sleep(delay)
                delay *= 2
                continue
            raise SourceError(f"cannot reach {url}: {reason}", hint="check the URL and the network") from None
    raise AssertionError("unreachable")


def _http_error(url: str, code: int, hf: bool) -> SourceError:
    if hf and code == 401:
        return SourceError(
            f"authentication failed for {url} (HTTP 401): set HF_TOKEN or HUGGING_FACE_HUB_TOKEN",
            hint="a token from https://huggingface.co/settings/tokens with read access",
        )
    if hf and code == 403:
        return SourceError(
            f"access denied for {url} (HTTP 403): check repo visibility and token permissions",
            hint="gated repositories need their terms accepted with the token's account",
        )
    if code == 404:
        return SourceError(f"not found: {url} (HTTP 404)", hint="check the URI in cog.yaml")
    return SourceError(f"GET {url} returned HTTP {code}", hint="check the URI in cog.yaml")


def _download(response: Any, store_path: Callable[[str], Path], scratch: Path) -> tuple[str, int, Path]:
    """Stream a response body into the store; (digest, size, stored path)."""
    scratch.mkdir(parents=True, exist_ok=True)
    tmp = scratch / f"download-{os.getpid()}-{time.monotonic_ns()}"
    h = hashlib.sha256()
    size = 0
    try:
        with response, tmp.open("wb") as out:
            while chunk := response.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
        digest = "sha256:" + h.hexdigest()
        target = store_path(digest)
        if target.exists():
            tmp.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.replace(target)
        return digest, size, target
    finally:
        tmp.unlink(missing_ok=True)


def fetch_http(uri: str, store_path: Callable[[str], Path], scratch: Path) -> tuple[list[RemoteFile], str]:
    name = _http_filename(uri)
    etag = ""
    try:
        with _open(uri, method="HEAD") as head:
            raw = head.headers.get("ETag") or ""
            etag = "" if raw.startswith("W/") else raw  # a weak ETag promises nothing about content
    except SourceError:
        pass  # best effort, as Cog: the GET decides
    digest, size, local = _download(_open(uri), store_path, scratch)
    return [RemoteFile(name, size, digest, local)], (f"etag:{etag}" if etag else digest)


def fetch_hf(uri: str, store_path: Callable[[str], Path], scratch: Path) -> tuple[list[RemoteFile], str]:
    repo, ref = parse_hf(uri)
    base = (os.environ.get("HF_ENDPOINT") or HF_DEFAULT_ENDPOINT).rstrip("/")
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or None
    quoted = urllib.parse.quote(ref, safe="")
    with _open(f"{base}/api/models/{repo}/revision/{quoted}", token=token, hf=True) as response:
        sha = (json.loads(response.read() or b"{}") or {}).get("sha") or ""
    if not sha:
        raise SourceError(f"empty sha in revision response for {repo}@{ref}", hint="check the ref")
    with _open(f"{base}/api/models/{repo}/tree/{sha}?recursive=true", token=token, hf=True) as response:
        entries = json.loads(response.read() or b"[]")
    files = []
    for entry in entries:
        if entry.get("type") != "file":
            continue
        path = str(entry["path"])
        url = f"{base}/{repo}/resolve/{sha}/{urllib.parse.quote(path)}"
        digest, size, local = _download(_open(url, token=token, hf=True), store_path, scratch)
        lfs = entry.get("lfs") or {}
        if lfs.get("oid") and digest != f"sha256:{lfs['oid']}":
            raise SourceError(
                f"{uri}: {path} does not match the sha256 its listing gives ({lfs['oid'][:12]}…)",
                hint="the download was corrupted or the mirror is inconsistent; import again",
            )
        files.append(RemoteFile(path, size, digest, local))
    return sorted(files, key=lambda f: f.path), f"commit:{sha}"


def fetch(uri: str, store_path: Callable[[str], Path], scratch: Path) -> tuple[list[RemoteFile], str]:
    """The files of a remote source, in the store, and the source's fingerprint."""
    if uri.startswith(("hf://", "huggingface://")):
        return fetch_hf(uri, store_path, scratch)
    return fetch_http(uri, store_path, scratch)
