"""Outputs of the newer types: TypedDict out, None from -> int / -> str, dict[str, int] out."""

from typing import TypedDict

from cog import BaseRunner


class Result(TypedDict):
    total: int
    names: list[str]


class Typed(BaseRunner):
    def run(self, n: int = 2) -> Result:
        return {"total": n, "names": ["a"] * n}


class NoneInt(BaseRunner):
    def run(self, give: bool = True) -> int:
        return None  # type: ignore[return-value]


class NoneStr(BaseRunner):
    def run(self) -> str:
        return None  # type: ignore[return-value]
