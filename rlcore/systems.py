"""The two systems behind one interface, for the command line, the Hub code and the app.

Each system is a package `rlcore.<name>` whose module `rlcore.<name>.api` provides:

    NAME: str                    "pendulum" | "mario"
    ALGORITHM: str               for config.json and the model card ("DDQN", ...)
    ENV_ID: str                  the environment id shown on the Hub (model-index dataset)
    Config                       dataclass; every field made with rlcore.config.option (default + help)
    PlayOptions                  dataclass of what a viewer may change when playing (seed, physics, level)

    train(config, out_dir, *, resume=False, device="auto", stop=None) -> Iterator[dict]
        Trains, yielding one metric record (a flat dict with a "step" key) per log interval, and
        keeps `out_dir` a valid, resumable checkpoint (model.safetensors, config.json,
        metrics.jsonl, PNG plots, training_state.*). `stop` is a threading.Event: when set, the
        run saves and returns. With resume=True it continues from out_dir's training state.
    load(checkpoint, device="cpu") -> Agent
        Reads a checkpoint folder (rlcore.checkpoint rules: safetensors only, checked shapes).
    evaluate(checkpoint, episodes=10, seed=0, *, progress=None, **EVALUATION_OPTIONS) -> dict
        The results.json document (rlcore/evaluation.py): mean_reward, std_reward, n_eval_episodes,
        seeds, `episodes` (per-episode figures: seed, return, ...; Mario: x_pos, flag_get), the
        `protocol` it ran under, date. `progress(n)` is called as episodes finish.
    EVALUATION_OPTIONS: dict     optional: protocol options of evaluate with their help (Mario: sticky,
                                 epsilon); `rlcore evaluate` makes them flags
    export(checkpoint, path) -> Path, EXPORT_FILE
                                 optional: the checkpoint in an outside format (Pendulum: agent.pt)
    play(checkpoint, options: PlayOptions) -> Episode
        One episode: RGB frames for rlcore.video.write_mp4, and its figures.
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType
from typing import Any

import numpy as np

SYSTEM_NAMES = ("pendulum", "mario")


@dataclasses.dataclass
class Episode:
    """One played episode: frames (H, W, 3) uint8, summary figures, and a per-step trace."""

    frames: list[np.ndarray]
    summary: dict[str, Any]
    trace: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    fps: int = 30


def get_system(name: str) -> ModuleType:
    """The api module of a system (imported lazily: Mario pulls in the emulator)."""
    if name not in SYSTEM_NAMES:
        raise ValueError(f"unknown system {name!r}: choose one of {', '.join(SYSTEM_NAMES)}")
    return importlib.import_module(f"rlcore.{name}.api")


def system_of_checkpoint(path: Any) -> ModuleType:
    """The system that wrote a checkpoint folder, from its config.json."""
    from rlcore.checkpoint import load_config

    return get_system(load_config(path)["system"])
