"""Base class for every frozen boundary type (stage outputs, catalog entries, settings)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticUndefined

M = TypeVar("M", bound=BaseModel)


class FrozenModel(BaseModel):
    """Immutable, strict about unknown keys, and round-trips through JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


@lru_cache(maxsize=256)
def _fields(cls: type[BaseModel]) -> tuple[dict[str, Any], frozenset[str], frozenset[str]]:
    """A model's plain field defaults, the fields without one (a default factory counts as none), all fields."""
    fields = cls.model_fields
    defaults = {n: f.default for n, f in fields.items() if f.default is not PydanticUndefined}
    return defaults, frozenset(fields) - defaults.keys(), frozenset(fields)


def trusted(cls: type[M], /, **values: Any) -> M:
    """``cls(**values)`` without validation, for internal frozen objects whose values are already valid: parts
    of validated objects and numbers the engine computed, on paths that run per option per patient. Fields not
    given take their defaults. The object is the one validation would build (``__dict__``, fields set, no
    extra, no private state); tests check that such objects validate and equal their validated twins."""
    defaults, required, names = _fields(cls)
    if values.keys() != names:
        given = set(values)
        missing, unknown = required - given, given - names
        if missing or unknown:
            raise TypeError(f"{cls.__name__}: missing {sorted(missing)}, unknown {sorted(unknown)}")
        values = {**defaults, **values}
    else:
        given = set(names)
    obj = _new(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", given)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


_new = object.__new__
_set = object.__setattr__
