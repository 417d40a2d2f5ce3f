"""Input/output types of the Cog API, implemented with the standard library only.

Cog builds these on pydantic; cogkit keeps them dependency-free so importing `cog` never
pulls pydantic (or anything else) into a model's import path.
"""

from __future__ import annotations

import io
import pathlib
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")

_REQUIRED: Any = ...


class Path(pathlib.PosixPath):
    """A file input or output; a real pathlib path (file inputs arrive downloaded)."""


class File(io.IOBase):
    """Deprecated file-like input/output; inputs arrive as an open binary file."""


class URLPath(Path):
    """A Path that came from a URL input (Cog's name; cogkit downloads before predict runs)."""


class URLFile(File):
    """Cog's lazily fetched URL file; named here so imports of it keep working."""


class Opaque:
    """`Annotated[T, Opaque]`: the schema shows T as a plain JSON object; the value passes through."""


class Secret:
    """A string that does not show up in logs, reprs or outputs."""

    __slots__ = ("_value",)

    def __init__(self, secret_value: str | None = None) -> None:
        self._value = secret_value

    def get_secret_value(self) -> str | None:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ConcatenateIterator(Iterator[Item], Generic[Item]):
    """Marks streamed string output that clients should join (LLM tokens)."""

    def __next__(self) -> Item:  # pragma: no cover - a marker type, never instantiated by cogkit
        raise StopIteration


class AsyncConcatenateIterator(AsyncIterator[Item], Generic[Item]):
    """Async twin of ConcatenateIterator."""

    async def __anext__(self) -> Item:  # pragma: no cover - a marker type
        raise StopAsyncIteration


class FieldInfo:
    """What `Input(...)` returns: the default plus the constraints that shape schema and validation."""

    __slots__ = (
        "default",
        "description",
        "ge",
        "le",
        "min_length",
        "max_length",
        "regex",
        "choices",
        "deprecated",
        "accept",
    )

    def __init__(
        self,
        default: Any = _REQUIRED,
        description: str | None = None,
        ge: float | None = None,
        le: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        regex: str | None = None,
        choices: Iterable[Any] | None = None,
        deprecated: bool | None = None,
        accept: str | None = None,
    ) -> None:
        self.default = default
        self.accept = accept  # newer Cog's file-type hint; accepted, not used
        self.description = description
        self.ge = ge
        self.le = le
        self.min_length = min_length
        self.max_length = max_length
        self.regex = regex
        self.choices = list(choices) if choices is not None else None
        self.deprecated = deprecated

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Input({fields})"


def Input(  # noqa: N802 - Cog's public spelling
    default: Any = _REQUIRED,
    description: str | None = None,
    ge: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    regex: str | None = None,
    choices: Iterable[Any] | None = None,
    deprecated: bool | None = None,
    accept: str | None = None,
) -> Any:
    """Describe a predict() parameter: default, description and constraints."""
    return FieldInfo(default, description, ge, le, min_length, max_length, regex, choices, deprecated, accept)
