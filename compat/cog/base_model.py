"""`cog.BaseModel`: structured outputs (Cog's `class Output(BaseModel)` idiom) without pydantic."""

from __future__ import annotations

import typing
from typing import Any

_NONE_TYPE = type(None)


def _is_optional(annotation: Any) -> bool:
    if isinstance(annotation, str):
        text = annotation.replace(" ", "")
        return text.startswith(("Optional[", "typing.Optional[")) or "|None" in text or "None|" in text
    return _NONE_TYPE in typing.get_args(annotation)


class BaseModel:
    """Declare fields with annotations; Optional fields without a default default to None."""

    # Not annotated on purpose: get_type_hints() on subclasses must only see the user's fields.
    __cog_fields__ = {}
    __cog_defaults__ = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            for name, annotation in klass.__dict__.get("__annotations__", {}).items():
                if name.startswith("_") or str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                    continue
                fields[name] = annotation
                if name in klass.__dict__:
                    defaults[name] = klass.__dict__[name]
                elif _is_optional(annotation):
                    defaults.setdefault(name, None)
        cls.__cog_fields__ = fields
        cls.__cog_defaults__ = defaults

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.__cog_fields__)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected field(s): {', '.join(sorted(unknown))}")
        for name in self.__cog_fields__:
            if name in values:
                value = values[name]
            elif name in self.__cog_defaults__:
                value = self.__cog_defaults__[name]
            else:
                raise TypeError(f"{type(self).__name__} is missing required field {name!r}")
            object.__setattr__(self, name, value)

    def model_dump(self) -> dict[str, Any]:
        """The fields as a dict, in declaration order (pydantic v2 spelling)."""
        return {name: getattr(self, name) for name in self.__cog_fields__}

    dict = model_dump  # pydantic v1 spelling, still used by older models

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.model_dump() == other.model_dump()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.model_dump().items())
        return f"{type(self).__name__}({inner})"
