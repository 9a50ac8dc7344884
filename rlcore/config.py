"""Hyperparameters as declarative dataclasses: every field carries its default, its one-line help and its
bounds, and one pydantic model per class checks them all.

    @dataclass
    class PendulumConfig:
        lr: float = option(2e-3, "Adam learning rate", ge=0.0, le=1.0)

`option(default, help, ge=, le=, ...)` stores pydantic `Field` arguments in the dataclass field's
metadata (`description` = the help), which is where pydantic reads a standard dataclass's field
constraints: `config_model(cls)` (a `pydantic.TypeAdapter` of the class, with `MODEL_SETTINGS`) then
validates types, the inclusive bounds, finite floats and string lengths in one place, and refuses
unknown fields. The classes stay plain dataclasses (`dataclasses.fields`, `replace`, `asdict` work).

- `from_dict` reads a JSON document's dict (config.json, a Hub agent's config, the app's settings)
  through the model strictly: a value of the wrong JSON type is refused, not converted ("3" for an
  int, true for a float); an integer written as 3.0 stays an integer.
- `check_bounds(instance)` re-validates an instance built in code (presets, flags, the app's knobs).
- The command line builds one flag per field from the same field info (rlcore.cli: its type, help,
  default and bounds) and converts strings leniently (`parse_value`: "0.5", "true").
- Every refusal is one line naming the field (`validation_message`): "config: field 'lr' must be from
  0.0 to 1.0, got 5".

A dataclass may declare `RUNTIME: ClassVar[frozenset[str]]`, the fields that say where or how a run
computes (processes, addresses, memory, threads, files written), not what the agent is: `learned_part`
resets them to their defaults, so a run started from a checkpoint (`--init`, the app's "Start from")
never takes them from it.

Bounds keep a config or a play option (a checkpoint's, a visitor's) from sizing a network, a buffer or
an episode beyond what the system supports.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from typing import Any, TypeVar

T = TypeVar("T")

MAX_SEED = 2**32 - 1  # seeds every part accepts (NumPy's legacy seeding is 32-bit)
MAX_STRING = 1000  # characters of a string field (a path, an action set's name)

# The pydantic settings of every config class's model (a class may declare its own `__pydantic_config__`):
# unknown fields refused, floats finite, strings short; check_bounds re-validates instances built in code
MODEL_SETTINGS = {
    "extra": "forbid",
    "allow_inf_nan": False,
    "str_max_length": MAX_STRING,
    "revalidate_instances": "always",
}

# pydantic's error types -> the one-line wording of our messages (others: pydantic's own, "must be ...")
_EXPECTED = {
    "int": "must be an integer",
    "float": "must be a number",
    "bool": "must be true or false",
    "string": "must be a string",
    "list": "must be a list",
    "finite": "must be a finite number",
}
_RANGE_ERRORS = ("greater_than_equal", "less_than_equal", "greater_than", "less_than")


def option(
    default: Any,
    help: str,
    *,
    ge: Any = None,
    le: Any = None,
    aliases: tuple[str, ...] = (),
    **constraints: Any,
) -> Any:
    """A dataclass field with its documentation (`help`, shown by --help), its inclusive bounds (`ge`, `le`)
    and any other pydantic `Field` constraint (`max_length`, ...), all kept as the field's metadata, where
    pydantic reads a dataclass field's `Field` arguments; `aliases`: extra flag names ("--workers")."""
    # pydantic takes its own Field argument names from the metadata and leaves other keys (aliases) alone
    metadata = {"description": help, "aliases": tuple(aliases), **constraints}
    metadata.update({key: value for key, value in (("ge", ge), ("le", le)) if value is not None})
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@functools.cache
def config_model(cls: type) -> Any:
    """The one pydantic model of a config dataclass (a `pydantic.TypeAdapter` of it): types, the fields'
    bounds, finite floats, string lengths and no unknown fields."""
    import pydantic

    if "__pydantic_config__" not in vars(cls):  # how pydantic takes settings for a standard dataclass
        cls.__pydantic_config__ = MODEL_SETTINGS
    return pydantic.TypeAdapter(cls)


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


def apply_preset(
    cls: type[T], presets: dict[str, dict[str, Any]], name: str, owner: str, **overrides: Any
) -> T:
    """`cls()` with the named preset's overrides, then `overrides`; an unknown name is a ValueError."""
    if name not in presets:
        raise ValueError(f"unknown {owner} preset {name!r}: choose one of {', '.join(presets)}")
    return dataclasses.replace(cls(), **{**presets[name], **overrides})


def field_help(cls: type) -> dict[str, str]:
    return {f.name: f.metadata.get("description", "") for f in dataclasses.fields(cls)}


def field_bounds(cls: type) -> dict[str, tuple[Any, Any]]:
    """{field: (low, high)} of the fields that declare bounds (None: none on that side)."""
    return {
        f.name: (f.metadata.get("ge"), f.metadata.get("le"))
        for f in dataclasses.fields(cls)
        if "ge" in f.metadata or "le" in f.metadata
    }


def flag_aliases(field: dataclasses.Field) -> tuple[str, ...]:
    """The extra flag names of a field (`option(..., aliases=(...))`)."""
    return tuple(field.metadata.get("aliases", ()))


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


@functools.cache
def _adapter(hint: Any):
    import pydantic

    return pydantic.TypeAdapter(hint)


def validation_message(err: Exception, where: str, field: str | None = None, cls: type | None = None) -> str:
    """A pydantic ValidationError as one line: "<where> field 'steps' must be an integer, got 2.5"; with
    `cls`, a value outside a field's bounds says both: "field 'lr' must be from 0.0 to 1.0, got 5"."""
    first = err.errors()[0]
    loc = [str(part) for part in first["loc"]]
    bounds = field_bounds(cls).get(loc[0]) if cls is not None and loc else None
    return f"{where}field '{field or '.'.join(loc)}' {_wording(first, bounds)}"


def _wording(error: dict[str, Any], bounds: tuple[Any, Any] | None) -> str:
    kind, shown = error["type"], repr(error["input"])
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    if kind == "string_too_long":
        return f"is {len(error['input'])} characters long, at most {error['ctx']['max_length']} are accepted"
    if kind in _RANGE_ERRORS and bounds is not None and None not in bounds:
        return f"must be from {bounds[0]} to {bounds[1]}, got {shown}"
    if kind in ("too_short", "too_long"):
        side, limit = ("at least", "min_length") if kind == "too_short" else ("at most", "max_length")
        return f"must have {side} {error['ctx'][limit]} items, got {error['ctx']['actual_length']}"
    message = error["msg"].replace("Input should be", "must be")
    return f"{_EXPECTED.get(kind.split('_')[0], message[0].lower() + message[1:])}, got {shown}"


def from_dict(cls: type[T], data: dict[str, Any], source: str = "config") -> T:
    """Build `cls` from a JSON document's dict through its model, strictly (a value of the wrong JSON type
    is refused, not converted); unknown keys, wrong types or bounds raise a ValueError naming the field."""
    import pydantic

    try:
        text = json.dumps(_whole_numbers(cls, data))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source}: not JSON data ({err})") from None
    try:
        return config_model(cls).validate_json(text, strict=True)
    except pydantic.ValidationError as err:
        unknown = sorted(str(e["loc"][0]) for e in err.errors() if e["type"] == "unexpected_keyword_argument")
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {', '.join(unknown)} for {cls.__name__}") from None
        raise ValueError(validation_message(err, f"{source}: ", cls=cls)) from None


def _whole_numbers(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """`data` with integer fields written as 3.0 (JSON writers may print integers so) as integers again."""
    hints = typing.get_type_hints(cls)
    return {
        name: int(value)
        if hints.get(name) is int and isinstance(value, float) and value.is_integer()
        else value
        for name, value in data.items()
    }


def check_seeds(seed: int, count: int = 1) -> None:
    """Seeds seed .. seed + count - 1 (evaluation episodes) must all lie in 0 .. MAX_SEED."""
    if not (isinstance(seed, int) and 0 <= seed and seed + max(count, 1) - 1 <= MAX_SEED):
        raise ValueError(
            f"seeds must be from 0 to {MAX_SEED}, got {seed}"
            + (f" .. {seed} + {count - 1}" if count > 1 else "")
        )


def check_bounds(instance: Any, source: str = "config") -> None:
    """`instance` (built in code: presets, flags, the app's knobs) re-validated by its class's model: a
    ValueError naming the first field outside its bounds, not finite, too long or of the wrong type."""
    import pydantic

    try:
        config_model(type(instance)).validate_python(instance)
    except pydantic.ValidationError as err:
        raise ValueError(validation_message(err, f"{source}: ", cls=type(instance))) from None


def parse_value(hint: Any, text: str) -> Any:
    """A command-line string as a value of type `hint` (pydantic's lax conversion: "0.5", "true", ...)."""
    import argparse

    import pydantic

    try:
        return _adapter(hint).validate_python(text)
    except pydantic.ValidationError as err:
        raise argparse.ArgumentTypeError(err.errors()[0]["msg"]) from None
