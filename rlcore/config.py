"""Hyperparameters as documented dataclasses: every field has a default and a one-line help text.

    @dataclass
    class PendulumConfig:
        lr: float = option(2e-3, "Adam learning rate")

The command line builds its flags from these, checkpoints store `to_dict(config)` in config.json,
and `from_dict` reads them back with a clear error for unknown or ill-typed fields.

A dataclass may declare `BOUNDS: ClassVar[dict[str, tuple[low, high]]]`, the inclusive range of its
numeric fields: `check_bounds` (which `from_dict` runs) refuses anything outside them, non-finite
floats and over-long strings, so a config or a play option never sizes a network, a buffer or an
episode beyond what the system supports.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, TypeVar

T = TypeVar("T")

MAX_SEED = 2**32 - 1  # seeds every part accepts (NumPy's legacy seeding is 32-bit)
MAX_STRING = 1000  # characters of a string field (a path, an action set's name)


def option(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with its documentation attached (`help`), shown by `--help`."""
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata={"help": help, **kwargs})
    return dataclasses.field(default=default, metadata={"help": help, **kwargs})


def field_help(cls: type) -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(cls: type[T], data: dict[str, Any], source: str = "config") -> T:
    """Build `cls` from a dict; unknown keys or wrong types raise ValueError naming the field."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {', '.join(unknown)} for {cls.__name__}")
    values = {}
    for name, value in data.items():
        values[name] = _coerce(hints[name], value, f"{source}: field '{name}'")
    instance = cls(**values)
    check_bounds(instance, source)
    return instance


def check_seeds(seed: int, count: int = 1) -> None:
    """Seeds seed .. seed + count - 1 (evaluation episodes) must all lie in 0 .. MAX_SEED."""
    if not (isinstance(seed, int) and 0 <= seed and seed + max(count, 1) - 1 <= MAX_SEED):
        raise ValueError(f"seeds must be from 0 to {MAX_SEED}, got {seed}" + (f" .. {seed} + {count - 1}"
                                                                             if count > 1 else ""))


def check_bounds(instance: Any, source: str = "config") -> None:
    """Every field inside its declared `BOUNDS` range, every float finite, every string short; a
    ValueError naming the field otherwise."""
    bounds = getattr(type(instance), "BOUNDS", {})
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        where = f"{source}: field '{field.name}'"
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number, got {value!r}")
        if isinstance(value, str) and len(value) > MAX_STRING:
            raise ValueError(f"{where} is {len(value)} characters long, at most {MAX_STRING} are accepted")
        if field.name in bounds and not isinstance(value, bool) and isinstance(value, (int, float)):
            low, high = bounds[field.name]
            if not low <= value <= high:
                raise ValueError(f"{where} must be from {low} to {high}, got {value}")


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint)
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise ValueError(f"{where} must be one of {typing.get_args(hint)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where} must be a list, got {value!r}")
        return origin(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ValueError(f"{where} must be an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where} must be a number, got {value!r}")
        return float(value)
    if hint is str and not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {value!r}")
    return value
