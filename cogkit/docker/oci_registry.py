"""A small OCI Distribution client for weight artifacts: blobs and manifests over the registry's HTTP API.

`cogkit weights` pushes files that never enter an image, so docker's own push cannot carry them.
Loopback registries speak plain HTTP, as Docker assumes; credentials stored by `cogkit login` /
`docker login` (the auths section of the config) are sent as Basic auth.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cogkit.docker.registry_login import api_base
from cogkit.errors import CogkitError

_TIMEOUT = 120
_CHUNK = 1 << 20


class RegistryError(CogkitError):
    """The registry refused a request or could not be reached."""


def split_repository(ref: str) -> tuple[str, str]:
    """`127.0.0.1:5000/me/model` → ("127.0.0.1:5000", "me/model")."""
    host, sep, path = ref.partition("/")
    if not sep or not ("." in host or ":" in host or host == "localhost"):
        raise RegistryError(
            f"model {ref!r} names no registry host", hint="write model: as HOST[:PORT]/owner/name"
        )
    return host, path


@dataclass
class Repository:
    host: str
    name: str

    @classmethod
    def parse(cls, ref: str) -> Repository:
        return cls(*split_repository(ref))

    @property
    def base(self) -> str:
        return f"{api_base(self.host)}/v2/{self.name}"

    def _auth(self) -> dict[str, str]:
        from cogkit.docker.credentials import config_key, load_config

        try:
            entry = (load_config().get("auths") or {}).get(config_key(self.host)) or {}
        except Exception:
            return {}
        auth = entry.get("auth")
        return {"Authorization": f"Basic {auth}"} if auth else {}

    def _request(
        self, method: str, url: str, data: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(
            url, data=data, method=method, headers={**self._auth(), **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT, context=ssl.create_default_context()) as r:
                return r.status, dict(r.headers.items()), r.read()
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp else b""
            return exc.code, dict(exc.headers.items()) if exc.headers else {}, body
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryError(
                f"cannot reach the registry {self.host}: {reason}",
                hint="check the host in model: and that it runs",
            ) from None

    def _fail(self, what: str, status: int, body: bytes) -> RegistryError:
        detail = body.decode(errors="replace").strip()[:200]
        hint = "log in with `cogkit login HOST`" if status in (401, 403) else "check the registry's logs"
        return RegistryError(f"{what}: registry answered {status} {detail}".rstrip(), hint=hint)

    def has_blob(self, digest: str) -> bool:
        status, _, _ = self._request("HEAD", f"{self.base}/blobs/{digest}")
        return status == 200

    def push_blob(self, digest: str, path: Path | None = None, data: bytes | None = None) -> bool:
        """Upload one blob (monolithic PUT) unless the registry has it; True when bytes were sent."""
        if self.has_blob(digest):
            return False
        status, headers, body = self._request("POST", f"{self.base}/blobs/uploads/")
        if status != 202:
            raise self._fail(f"cannot start an upload of {digest[:19]}", status, body)
        location = urllib.parse.urljoin(self.base + "/", headers.get("Location", ""))
        url = location + ("&" if "?" in location else "?") + urllib.parse.urlencode({"digest": digest})
        payload: Any = data if data is not None else path.open("rb")  # type: ignore[union-attr]
        size = len(data) if data is not None else path.stat().st_size  # type: ignore[union-attr]
        try:
            status, _, body = self._request(
                "PUT", url, payload, {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            )
        finally:
            if data is None:
                payload.close()
        if status not in (201, 204):
            raise self._fail(f"cannot upload {digest[:19]}", status, body)
        return True

    def push_manifest(self, reference: str, manifest: dict[str, Any], media_type: str) -> str:
        raw = json.dumps(manifest, separators=(",", ":")).encode()
        status, _, body = self._request(
            "PUT", f"{self.base}/manifests/{reference}", raw, {"Content-Type": media_type}
        )
        if status not in (200, 201):
            raise self._fail(f"cannot push manifest {reference}", status, body)
        return "sha256:" + hashlib.sha256(raw).hexdigest()

    def has_manifest(self, reference: str, media_type: str) -> bool:
        status, _, _ = self._request(
            "HEAD", f"{self.base}/manifests/{reference}", headers={"Accept": media_type}
        )
        return status == 200

    def manifest_size(self, reference: str, media_type: str) -> int | None:
        """The manifest's byte size as the registry stores it (the descriptor needs the exact bytes)."""
        status, headers, _ = self._request(
            "HEAD", f"{self.base}/manifests/{reference}", headers={"Accept": media_type}
        )
        length = {k.lower(): v for k, v in headers.items()}.get("content-length")
        return int(length) if status == 200 and length else None

    def get_manifest(self, reference: str, media_type: str) -> dict[str, Any]:
        status, _, body = self._request(
            "GET", f"{self.base}/manifests/{reference}", headers={"Accept": media_type}
        )
        if status != 200:
            raise self._fail(f"cannot fetch manifest {reference}", status, body)
        return json.loads(body)

    def blob_stream(self, digest: str) -> Iterator[bytes]:
        request = urllib.request.Request(f"{self.base}/blobs/{digest}", headers=self._auth())
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT, context=ssl.create_default_context()) as r:
                while chunk := r.read(_CHUNK):
                    yield chunk
        except urllib.error.HTTPError as exc:
            raise self._fail(f"cannot download {digest[:19]}", exc.code, b"") from None
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryError(
                f"cannot reach the registry {self.host}: {exc}", hint="check that it runs"
            ) from None
