"""Hyperparameters as documented dataclasses: every field has a default and a one-line help text.

    @dataclass
    class PendulumConfig:
        lr: float = option(2e-3, "Adam learning rate")

The command line builds its flags from these (rlcore.cli), checkpoints store `to_dict(config)` in
config.json, and `from_dict` reads them back. Types are checked by pydantic, field by field: strictly
for config.json (a value of the wrong JSON type is refused, not converted), leniently for
command-line strings (`parse_value`: "0.5", "true").

A dataclass may declare `RUNTIME: ClassVar[frozenset[str]]`, the fields that say where or how a run
computes (processes, addresses, memory, threads, files written), not what the agent is: `learned_part`
resets them to their defaults, so a run started from a checkpoint (`--init`, the app's "Start from")
never takes them from it.

A dataclass may declare `BOUNDS: ClassVar[dict[str, tuple[low, high]]]`, the inclusive range of its
numeric fields: `check_bounds` (which `from_dict` runs) refuses anything outside them, non-finite
floats and over-long strings, so a config or a play option never sizes a network, a buffer or an
episode beyond what the system supports.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from typing import Any, TypeVar

T = TypeVar("T")

MAX_SEED = 2**32 - 1  # seeds every part accepts (NumPy's legacy seeding is 32-bit)
MAX_STRING = 1000  # characters of a string field (a path, an action set's name)

# pydantic's error types -> the one-line wording of our messages (others keep pydantic's own message)
_EXPECTED = {"int": "must be an integer", "float": "must be a number", "bool": "must be true or false",
             "string": "must be a string", "list": "must be a list", "literal": "must be one of"}


def option(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with its documentation attached (`help`), shown by `--help`."""
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata={"help": help, **kwargs})
    return dataclasses.field(default=default, metadata={"help": help, **kwargs})


def runtime_fields(cls: type) -> frozenset[str]:
    """`cls.RUNTIME`: its fields that say where and how a run computes, not what it learns."""
    names = frozenset(getattr(cls, "RUNTIME", ()))
    unknown = names - {f.name for f in dataclasses.fields(cls)}
    if unknown:  # a renamed field must not silently become one a checkpoint sets again
        raise TypeError(f"{cls.__name__}.RUNTIME names no field {', '.join(sorted(unknown))}")
    return names


def learned_part(config: T) -> T:
    """`config` with its run-time fields at their defaults: what a new run may take from a checkpoint it
    starts from (the network, the action set, the recipe). A downloaded agent must not decide where the
    learner connects, how many processes it starts or how much memory it takes."""
    cls, defaults = type(config), type(config)()
    return dataclasses.replace(config, **{name: getattr(defaults, name) for name in runtime_fields(cls)})


def apply_preset(cls: type[T], presets: dict[str, dict[str, Any]], name: str, owner: str, **overrides: Any) -> T:
    """`cls()` with the named preset's overrides, then `overrides`; an unknown name is a ValueError."""
    if name not in presets:
        raise ValueError(f"unknown {owner} preset {name!r}: choose one of {', '.join(presets)}")
    return dataclasses.replace(cls(), **{**presets[name], **overrides})


def field_help(cls: type) -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


@functools.cache
def _adapter(hint: Any):
    import pydantic

    return pydantic.TypeAdapter(hint)


def validation_message(err: Exception, where: str, field: str | None = None) -> str:
    """A pydantic ValidationError as one line: "<where> field 'steps' must be an integer, got 2.5"."""
    first = err.errors()[0]
    kind = first["type"].split("_")[0]
    field = field or ".".join(map(str, first["loc"]))
    expected = _EXPECTED.get(kind, first["msg"][0].lower() + first["msg"][1:])
    if kind == "literal":
        expected = first["msg"].replace("Input should be", "must be")
    shown = repr(first['input'])
    return f"{where}field '{field}' {expected}, got {shown if len(shown) <= 60 else shown[:57] + '...'}"


def from_dict(cls: type[T], data: dict[str, Any], source: str = "config") -> T:
    """Build `cls` from a dict; unknown keys or wrong types raise ValueError naming the field."""
    import pydantic

    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {', '.join(unknown)} for {cls.__name__}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        # strict: a value of the wrong JSON type is refused, not converted ("3" for an int, true for a
        # float); JSON writers may print an integer as 3.0, which stays an integer
        if hints[name] is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        try:
            values[name] = _adapter(hints[name]).validate_python(value, strict=True)
        except pydantic.ValidationError as err:
            raise ValueError(validation_message(err, f"{source}: ", field=name)) from None
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


def parse_value(hint: Any, text: str) -> Any:
    """A command-line string as a value of type `hint` (pydantic's lax conversion: "0.5", "true", ...)."""
    import argparse

    import pydantic

    try:
        return _adapter(hint).validate_python(text)
    except pydantic.ValidationError as err:
        raise argparse.ArgumentTypeError(err.errors()[0]["msg"]) from None
