"""File inputs and outputs: URL and data-URL inputs to local files, file outputs to URLs.

Inputs are fetched by the parent (server) process, concurrently and with a size limit, so the
predictor only ever sees local paths and a slow download never holds a worker slot's CPU.
Outputs become `data:` URLs by default (Cog's sync behaviour), a multipart PUT when the request
carries `output_file_prefix`, or a raw PUT to `--upload-url` for async predictions.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import msgspec

from cogkit.errors import InputError
from cogkit.runtime import httpclient, netpolicy

MAX_FILENAME_BYTES = 200  # Cog truncates input file names to this length
DEFAULT_MAX_INPUT_FILE_BYTES = int(os.environ.get("COG_MAX_INPUT_FILE_SIZE", str(1 << 30)))
DOWNLOAD_TIMEOUT_ENV = "COGKIT_DOWNLOAD_TIMEOUT"
DOWNLOAD_TIMEOUT = float(os.environ.get(DOWNLOAD_TIMEOUT_ENV, "600"))  # seconds for one input URL, all hops
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_mimetypes = None


class FileUploadError(Exception):
    """An output file could not be uploaded (an infrastructure failure, not the model's)."""


def _mime():
    global _mimetypes
    if _mimetypes is None:
        import mimetypes

        mimetypes.init()
        _mimetypes = mimetypes
    return _mimetypes


def sanitize_filename(name: str, fallback: str = "file") -> str:
    """A safe basename: no directories, no odd characters, at most 200 bytes, extension kept."""
    name = unquote(name).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).lstrip(".")
    if not name:
        name = fallback
    if len(name.encode()) > MAX_FILENAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot and stem else ""
        keep = MAX_FILENAME_BYTES - (len(ext) + 1 if ext else 0)
        name = (stem if ext else name)[:keep] + (f".{ext}" if ext else "")
    return name


class InputFiles:
    """Materialises file inputs of one prediction into a private temp dir and removes it after."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_INPUT_FILE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._dir: str | None = None
        self._count = 0

    def _target(self, name: str) -> str:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="cogkit-input-")
        self._count += 1
        sub = os.path.join(self._dir, str(self._count))
        os.mkdir(sub)
        return os.path.join(sub, name)

    async def resolve(self, inputs: dict[str, Any], single: Iterable[str], many: Iterable[str]) -> None:
        """Replace URL values of file fields with local paths, downloading all of them concurrently."""
        jobs: list[tuple[str, int | None, str]] = []
        for key in single:
            value = inputs.get(key)
            if isinstance(value, str) and _is_remote(value):
                jobs.append((key, None, value))
        for key in many:
            value = inputs.get(key)
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, str) and _is_remote(item):
                        jobs.append((key, i, item))
        if not jobs:
            return
        tasks = [asyncio.ensure_future(self._fetch(url)) for _, _, url in jobs]
        try:
            paths = await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            raise
        for (key, index, _), path in zip(jobs, paths, strict=True):
            if index is None:
                inputs[key] = path
            else:
                inputs[key][index] = path

    async def _fetch(self, url: str) -> str:
        if url[:5].lower() == "data:":
            return await asyncio.to_thread(self._write_data_url, url) if len(url) > 1 << 20 else (
                self._write_data_url(url)
            )
        return await self._download(url)

    def _write_data_url(self, url: str) -> str:
        header, sep, payload = url[5:].partition(",")
        if not sep:
            raise InputError("invalid data URL: missing ','")
        parts = [p.strip() for p in header.split(";")]
        mime = parts[0] or "text/plain"
        if any(p.lower() == "base64" for p in parts[1:]):
            data = _strict_b64decode(payload)
        else:
            data = unquote(payload).encode("latin-1", "replace")
        if len(data) > self.max_bytes:
            raise InputError(f"input file is larger than the limit of {self.max_bytes} bytes")
        ext = _mime().guess_extension(mime) or ""
        path = self._target(f"file{ext}")
        with open(path, "wb") as fh:
            fh.write(data)
        return path

    async def _download(self, url: str) -> str:
        """GET under the network policy (every hop checked), within the size and time limits."""
        import aiohttp

        name = sanitize_filename(urlsplit(url).path)
        shown = _redact(url)
        try:
            # asyncio.wait_for, not asyncio.timeout: the in-image runtime runs on Python 3.10 too
            return await asyncio.wait_for(self._get_to_file(url, name, shown), DOWNLOAD_TIMEOUT)
        except netpolicy.DeniedAddress as exc:
            raise InputError(f"input URL {shown} was refused: {exc}") from None
        except netpolicy.TooManyRedirects as exc:
            raise InputError(f"could not download {shown}: {exc}") from None
        except (asyncio.TimeoutError, TimeoutError):  # noqa: UP041 (distinct classes before Python 3.11)
            raise InputError(f"could not download {shown}: it took longer than {DOWNLOAD_TIMEOUT:g} s "
                             f"({DOWNLOAD_TIMEOUT_ENV})") from None
        except (aiohttp.ClientError, ValueError) as exc:
            denied = netpolicy.denial(exc)
            if denied is not None:
                raise InputError(f"input URL {shown} was refused: {denied}") from None
            raise InputError(f"could not download {shown}: {_one_line(exc)}") from None

    async def _get_to_file(self, url: str, name: str, shown: str) -> str:
        import aiohttp

        resp = await netpolicy.guarded_request(
            httpclient.session(), "GET", url, netpolicy.current(),
            max_redirects=netpolicy.max_redirects_from_env(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30))
        async with resp:
            if resp.status >= 400:
                raise InputError(f"could not download {shown}: HTTP {resp.status}")
            if resp.content_length is not None and resp.content_length > self.max_bytes:
                raise InputError(f"input file {shown} is larger than {self.max_bytes} bytes")
            if "." not in name:
                ctype = resp.headers.get("Content-Type", "").split(";")[0].strip()
                name += (_mime().guess_extension(ctype) or "") if ctype else ""
            path = self._target(name)
            size = 0
            with open(path, "wb") as fh:
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise InputError(f"input file {shown} is larger than {self.max_bytes} bytes")
                    fh.write(chunk)
            return path

    def cleanup(self) -> None:
        if self._dir is not None:
            import shutil  # only predictions with file inputs need it (start-up budget)

            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _is_remote(value: str) -> bool:
    return value[:8].lower().startswith(("http://", "https://", "data:"))


_B64_SPACE = re.compile(r"[ \t\r\n]+")


def _b64_strict(text: str) -> bytes:
    """One strict pass: binascii's C-level strict mode where it exists (3.11+), base64's validate= before."""
    if sys.version_info >= (3, 11):  # noqa: UP036 (the in-image runtime runs on 3.10 too)
        return binascii.a2b_base64(text, strict_mode=True)
    return base64.b64decode(text, validate=True)


def _strict_b64decode(payload: str) -> bytes:
    """Base64 as clients send it (maybe percent-encoded, wrapped or unpadded); anything else is an error.

    Decoding leniently would hand the model a silently truncated file. The fast path is one strict
    C-level pass (quicker than the lenient decoder); only a payload that fails it is cleaned up.
    """
    try:
        return _b64_strict(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        pass
    text = _B64_SPACE.sub("", unquote(payload) if "%" in payload else payload)
    text += "=" * (-len(text) % 4)
    try:
        return _b64_strict(text)
    except (binascii.Error, ValueError):
        raise InputError("invalid data URL: the data after ';base64,' is not valid base64") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def _redact(url: str) -> str:
    """URL without query string (signed URLs carry credentials there)."""
    if url[:5].lower() == "data:":
        return "data URL"
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


# ------------------------------------------------------------------------------------ outputs


_PLAIN = frozenset({str, int, float, bool, type(None)})


def has_files(value: Any) -> bool:
    """Whether an output holds paths (files to upload or inline). Plain JSON values answer at once, and a
    list of them in one C-level pass: an embeddings batch is 32 x 384 floats, each an isinstance
    check against the os.PathLike ABC on the item-by-item path (~8 ms a response)."""
    if type(value) in _PLAIN:
        return False
    if isinstance(value, list):
        return not _PLAIN.issuperset(map(type, value)) and any(has_files(v) for v in value)
    if isinstance(value, dict):
        return any(has_files(v) for v in value.values())
    return isinstance(value, os.PathLike)


def guess_mime(path: str) -> str:
    return _mime().guess_type(path)[0] or "application/octet-stream"


RAW_DATA_URL_BYTES = 64 * 1024


def data_url(path: str) -> str | msgspec.Raw:
    """`data:<mime>;base64,...` for a file; Cog's default encoding of sync file outputs.

    Large files come back as msgspec.Raw holding the already-encoded JSON string: base64 never
    needs JSON escaping, so this skips a decode, a concatenation and an escape scan of a string
    that is ~11 MB for an 8 MiB file (about 15 ms). Responses are always encoded with msgspec.json.
    """
    with open(path, "rb") as fh:
        raw = fh.read()
    mime = guess_mime(path)
    if len(raw) < RAW_DATA_URL_BYTES:
        return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"
    encoded = binascii.b2a_base64(raw, newline=False)
    del raw
    return msgspec.Raw(b"".join((b'"data:', mime.encode(), b";base64,", encoded, b'"')))


# One output file, sent as a data URL or uploaded: 5 GiB is also the most one S3-style PUT takes.
MAX_OUTPUT_FILE_ENV = "COGKIT_MAX_OUTPUT_FILE_SIZE"
MAX_OUTPUT_FILE_BYTES = int(os.environ.get(MAX_OUTPUT_FILE_ENV, str(5 << 30)))
KEEP_OUTPUT_FILES = os.environ.get("COG_KEEP_OUTPUT_FILES", "").lower() in ("1", "true", "yes")
_CTIME_SLACK_NS = 20_000_000  # file times come from the kernel's coarse clock


def dispose_output(path: str, created_after_ns: int) -> None:
    """Delete an output file once it is sent, if this prediction created it in the temp dir.

    Predictors write outputs to tempfile dirs (Cog's documented pattern) and nobody else reads
    them after the upload; leaving them fills /tmp and makes the kernel write 8 MB files back
    to disk, which slows the next prediction's writes several-fold. Files outside the temp dir,
    or older than the prediction (e.g. made in setup and returned every time), are left alone.
    """
    if KEEP_OUTPUT_FILES:
        return
    try:
        tmp = os.path.realpath(tempfile.gettempdir())
        real = os.path.realpath(path)
        if not real.startswith(tmp + os.sep):
            return
        if os.stat(real).st_ctime_ns < created_after_ns - _CTIME_SLACK_NS:
            return
        os.unlink(real)
        parent = os.path.dirname(real)
        if parent != tmp:
            os.rmdir(parent)  # only succeeds when the prediction's own temp dir is now empty
    except OSError:
        pass


class OutputFiles:
    """Turns file outputs into URLs: data URL, multipart PUT to a prefix, or PUT to --upload-url."""

    def __init__(self, prediction_id: str | None, output_file_prefix: str | None = None,
                 upload_url: str | None = None, created_after_ns: int | None = None) -> None:
        self.prediction_id = prediction_id
        self.prefix = output_file_prefix
        self.upload_url = upload_url
        self.created_after_ns = created_after_ns

    async def convert(self, value: Any) -> Any:
        if isinstance(value, os.PathLike):
            return await self.one(os.fspath(value))
        if isinstance(value, list):
            return [await self.convert(v) for v in value]
        if isinstance(value, dict):
            return {k: await self.convert(v) for k, v in value.items()}
        return value

    async def one(self, path: str) -> str | msgspec.Raw:
        size = os.path.getsize(path)
        if size > MAX_OUTPUT_FILE_BYTES:
            raise FileUploadError(f"output file {os.path.basename(path)} is {size} bytes, over the limit of "
                                  f"{MAX_OUTPUT_FILE_BYTES} ({MAX_OUTPUT_FILE_ENV})")
        if self.prefix:
            url: str | msgspec.Raw = await self._put_multipart(path)
        elif self.upload_url:
            url = await self._put_signed(path)
        elif size > 16 << 20:
            url = await asyncio.to_thread(data_url, path)  # keep the loop (health checks) responsive
        else:
            url = data_url(path)
        if self.created_after_ns is not None:
            dispose_output(path, self.created_after_ns)
        return url

    async def _put_multipart(self, path: str) -> str:
        import aiohttp

        url = self.prefix + os.path.basename(path)  # type: ignore[operator]

        @contextlib.contextmanager
        def form() -> Iterator[aiohttp.FormData]:
            with open(path, "rb") as fh:  # a form is consumed by one send: a fresh one per attempt
                data = aiohttp.FormData()
                data.add_field("file", fh, filename=os.path.basename(path), content_type=guess_mime(path))
                yield data

        await self._upload(url, form, {}, aiohttp.ClientTimeout(total=60))
        return url

    async def _put_signed(self, path: str) -> str:
        import aiohttp

        name = os.path.basename(path)
        url = self.upload_url.rstrip("/") + "/" + name  # type: ignore[union-attr]
        headers = {"Content-Type": guess_mime(path)}
        if self.prediction_id:
            headers["X-Prediction-ID"] = self.prediction_id
        reply = await self._upload(url, lambda: open(path, "rb"), headers,
                                   aiohttp.ClientTimeout(sock_connect=10, sock_read=15))
        parts = urlsplit(reply.location or reply.url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))

    @staticmethod
    async def _upload(url: str, body: httpclient.BodyFactory, headers: dict[str, str],
                      timeout: Any) -> httpclient.Reply:
        """A PUT retried like every upload (httpclient.UPLOAD_RETRY); FileUploadError when it fails."""
        try:
            reply = await httpclient.request("PUT", url, body=body, headers=headers, timeout=timeout,
                                             retry=httpclient.UPLOAD_RETRY)
        except httpclient.RetriesExhausted as exc:
            raise FileUploadError(f"upload to {_redact(url)} failed: {exc}") from None
        if reply.status >= 400:
            raise FileUploadError(f"upload to {_redact(url)} failed: HTTP {reply.status}")
        return reply
