"""Which config a run gets: the one answer for every front end
(`rlcore train`, the app's Train tab, the benches).

A run's config comes from exactly one base, then the overrides given, then the system's bounds:

- `preset`: a new agent: the system's named preset (`System.presets`) over the Config's defaults;
- `init`: a run from a checkpoint's weights: the checkpoint's learned config (its network matches the
  weights; where and how it ran, `Config.RUNTIME`, come from the defaults, never from the checkpoint),
  `init_from` set to it, then the system's `fine_tune` changes;
- `resume`: a run's own saved config (its folder's config.json).

`overrides` (flags, the app's knobs and task) win over the base; `check_bounds` then refuses what the system
cannot run, in one line.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlcore.config import apply_preset, check_bounds, learned_part


def resolve_config(
    system,
    *,
    preset: str | None = None,
    init: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """The Config of a run of `system` from one base (`preset`, `init` or `resume`; none: the first preset),
    then `overrides`; a ValueError (CheckpointError for a bad checkpoint) saying why it cannot be."""
    given = [name for name, value in (("preset", preset), ("init", init), ("resume", resume)) if value]
    if len(given) > 1:
        raise ValueError(
            f"a run starts from one of a preset, a checkpoint's weights or its own saved config, "
            f"not from {' and '.join(given)}"
        )
    if init:
        base = _start_from(system, init)
    elif resume:
        base = system.config_of(resume)
    else:
        base = apply_preset(
            system.Config,
            dict(system.presets),
            preset or next(iter(system.presets)),
            system.name.capitalize(),
        )
    config = dataclasses.replace(base, **dict(overrides or {}))
    check_bounds(config)
    return config


def _start_from(system, checkpoint: str | os.PathLike) -> Any:
    """The learned part of `checkpoint`'s config with `init_from` set and the system's `fine_tune` changes."""
    if not system.can_start_from:
        raise ValueError(f"{system.name} runs cannot start from a checkpoint (its Config has no init_from)")
    return dataclasses.replace(
        learned_part(system.config_of(checkpoint)), init_from=_path_to_record(checkpoint), **system.fine_tune
    )


def _path_to_record(folder: str | os.PathLike) -> str:
    """How a run records the folder it starts from: relative to the working directory when inside it
    (`checkpoints/mario-1-1`: reusable by a reader of the card, and no server's layout in it), else as
    given. Runs load it from that same directory (the app's training processes inherit it)."""
    try:
        return Path(folder).absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:  # outside the working directory
        return os.fspath(folder)
