"""Typed settings: pydantic v2 dataclasses, validated from YAML mappings with one-line errors.

Every configuration object (the model's sizes, a training run's config, the demo scene) is a
pydantic dataclass: a plain dataclass to the code that uses it (``dataclasses.replace`` and
``asdict`` keep working), with its fields' types, ranges and allowed keys checked by pydantic
whenever one is built. :func:`load_settings` is the one way a mapping read from a file, a model
file or the command line becomes such an object: it turns pydantic's multi-line report into an
:class:`~ammcnet.errors.ConfigError` of one line that names the key, the file and the fix.

>>> @settings
... class Box:
...     side: Int = 1
>>> load_settings(Box, {"side": 3}).side
3
>>> load_settings(Box, {"sides": 3}, where="box.yaml")
Traceback (most recent call last):
...
ammcnet.errors.ConfigError: box.yaml: unknown config key 'sides'; allowed: side
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import ConfigDict, Strict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as _pydantic_dataclass

from ammcnet.errors import ConfigError

#: The pydantic config of every settings class: unknown keys are an error, never dropped.
SETTINGS = ConfigDict(extra="forbid")

#: Strict scalar types: ``true`` is not an integer and ``1`` is not a switch (pydantic's lax mode
#: would accept both); numbers still pass where a float is wanted.
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]

T = TypeVar("T")

#: What a user is told for each family of pydantic error types.
_EXPECTED = {
    "int": "expected an integer",
    "float": "expected a number",
    "bool": "expected true or false",
    "string": "expected a string",
    "str": "expected a string",
    "tuple": "expected a list, e.g. [1, 2]",
    "list": "expected a list, e.g. [1, 2]",
    "dict": "expected a mapping",
    "dataclass": "expected a mapping",
    "model": "expected a mapping",
}


def settings(cls: type[T]) -> type[T]:
    """Make ``cls`` a settings class: a pydantic dataclass with :data:`SETTINGS`, whose constructor
    (also reached through ``dataclasses.replace``) raises a one-line :class:`ConfigError` instead
    of pydantic's ``ValidationError``, so no caller has to know pydantic is underneath."""
    built = _pydantic_dataclass(cls, config=SETTINGS)
    init = built.__init__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except ValidationError as exc:
            raise ConfigError(explain(exc, built, built.__name__)) from None

    built.__init__ = __init__  # type: ignore[method-assign]
    return built


@cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def load_settings(cls: type[T], data: Any, *, where: str = "config") -> T:
    """Build the settings class ``cls`` from a (partial) mapping; missing keys keep their defaults.

    Args:
        cls: a pydantic (or plain) dataclass.
        data: the mapping read from YAML, JSON or a model file.
        where: what the mapping came from (a file path, ``--set``), named in the error.

    Raises:
        ConfigError: an unknown key (naming the allowed ones), a value of the wrong type or out of
            range (naming the key and what was expected); one line.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of settings, got {data!r}")
    try:
        return _adapter(cls).validate_python(dict(data))
    except ValidationError as exc:
        raise ConfigError(explain(exc, cls, where)) from None


def dump_settings(obj: Any) -> dict[str, Any]:
    """Plain YAML/JSON-able dict of a settings object (tuples become lists), every field written."""
    return _adapter(type(obj)).dump_python(obj, mode="json")


def explain(exc: ValidationError, cls: type, where: str) -> str:
    """One line for the first problem in a pydantic ``ValidationError`` on ``cls``."""
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
    key = ".".join(loc)
    kind = err["type"]
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        parent = ".".join(loc[:-1])
        allowed = ", ".join(sorted(field_names(cls, loc[:-1])))
        under = f" under {parent}" if parent else ""
        return f"{where}: unknown config key {key!r}; allowed{under}: {allowed}"
    family = kind.split("_")[0]
    if kind.endswith(("_type", "_parsing")) or kind in ("int_from_float",):
        what = _EXPECTED.get(family, err["msg"])
    else:
        what = err["msg"][0].lower() + err["msg"][1:]
    what = what.rstrip(".").replace("value error, ", "")
    if not key or kind == "value_error":  # a check across fields: its message names the keys
        return f"{where}: {what}"
    value = err.get("input")
    shown = "" if isinstance(value, Mapping) else f"={value!r}"
    return f"{where}: {key}{shown}: {what}"


def field_names(cls: Any, path: list[str]) -> list[str]:
    """Names of the fields of the (nested) settings class reached from ``cls`` along ``path``."""
    for name in path:
        hints = typing.get_type_hints(cls, include_extras=False)
        cls = hints.get(name)
        if cls is None:
            return []
    return [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
