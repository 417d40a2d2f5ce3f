"""Build secrets served over the session, never written into the graph or any layer.

Sources are checked before the build starts, so a typo in `src=` is a clear error up front rather
than a failed step minutes in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cogkit.buildkit.errors import SecretFileMissing
from cogkit.buildkit.pb import secrets_pb2
from cogkit.buildkit.session.h2grpc import NOT_FOUND, RpcError
from cogkit.errors import CogkitError


@dataclass(frozen=True)
class SecretSource:
    """Where a secret's bytes come from: a file (`src`) or an environment variable (`env`)."""

    id: str
    src: str | None = None
    env: str | None = None

    @classmethod
    def parse(cls, spec: str) -> SecretSource:
        """Parse `id=NAME,src=PATH` or `id=NAME,env=VAR` (as `docker build --secret`)."""
        fields: dict[str, str] = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            key = key.strip().lower()
            if not sep or not value or key not in ("id", "src", "source", "env", "type"):
                raise CogkitError(f"malformed secret {spec!r}", "use id=NAME,src=PATH or id=NAME,env=VAR")
            fields["src" if key == "source" else key] = value.strip()
        if fields.get("type", "file") not in ("file", "env"):
            raise CogkitError(f"unsupported secret type in {spec!r}", "type is file or env")
        if "id" not in fields:
            raise CogkitError(f"secret {spec!r} has no id", "use id=NAME,src=PATH or id=NAME,env=VAR")
        if "src" in fields and "env" in fields:
            raise CogkitError(f"secret {spec!r} has both src and env", "give one source")
        if "src" not in fields and "env" not in fields:
            if fields.get("type") == "env":
                return cls(id=fields["id"], env=fields["id"])
            return (
                cls(id=fields["id"], src=fields["id"])
                if os.path.exists(fields["id"])
                else cls(id=fields["id"], env=fields["id"])
            )
        return cls(id=fields["id"], src=fields.get("src"), env=fields.get("env"))

    def validate(self) -> None:
        """Fail before the build when the source is missing."""
        if self.src is not None:
            path = os.path.expanduser(self.src)
            if not os.path.isfile(path):
                raise SecretFileMissing(self.id, self.src)
        elif self.env is not None and self.env not in os.environ:
            raise CogkitError(
                f"secret {self.id!r}: environment variable {self.env} is not set",
                f"export {self.env} or use src=PATH",
            )

    def read(self) -> bytes:
        if self.src is not None:
            with open(os.path.expanduser(self.src), "rb") as fh:
                return fh.read()
        return os.environ.get(self.env or "", "").encode()


def normalize_secrets(secrets: Mapping[str, SecretSource | str] | None) -> dict[str, SecretSource]:
    """Accept SecretSource values or spec strings; validate every source now."""
    out: dict[str, SecretSource] = {}
    for key, value in (secrets or {}).items():
        source = SecretSource.parse(value) if isinstance(value, str) else value
        if source.id != key:
            source = SecretSource(id=key, src=source.src, env=source.env)
        source.validate()
        out[key] = source
    return out


class SecretsService:
    """Secrets.GetSecret: unknown ids are NOT_FOUND, which the daemon reports as a missing secret."""

    def __init__(self, secrets: Mapping[str, SecretSource]) -> None:
        self.secrets = dict(secrets)

    def get_secret(self, request: bytes, metadata: list[tuple[str, str]]) -> bytes:
        secret_id = secrets_pb2.GetSecretRequest.FromString(request).ID
        source = self.secrets.get(secret_id)
        if source is None:
            raise RpcError(NOT_FOUND, f"secret {secret_id} not found")
        try:
            data = source.read()
        except OSError as exc:
            raise RpcError(NOT_FOUND, f"secret {secret_id}: {exc.strerror}") from None
        return secrets_pb2.GetSecretResponse(data=data).SerializeToString()
