"""The Mario system behind rlcore/systems.py's contract (the CLI, the Hub code and the app use this)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from rlcore.config import MAX_SEED, check_bounds, option
from rlcore.mario import play as _play
from rlcore.mario.agent import ALGORITHM, SYSTEM, Mario
from rlcore.mario.config import PRESETS, MarioConfig, preset
from rlcore.mario.env import env_id
from rlcore.systems import Episode

NAME = SYSTEM
ALGORITHM = ALGORITHM
ENV_ID = env_id(1, 1)  # the tutorial's level; a checkpoint's own level is in its config.json
Config = MarioConfig
__all__ = ["NAME", "ALGORITHM", "ENV_ID", "Config", "PlayOptions", "PRESETS", "preset", "train", "load",
           "evaluate", "EVALUATION_OPTIONS", "play", "env_id_of"]


@dataclass
class PlayOptions:
    seed: int = option(0, "seed of the episode's random no-op start")
    world: int = option(1, "world 1-8 to play (the agent may have been trained on another)")
    stage: int = option(1, "stage 1-4 to play")
    max_steps: int = option(_play.MAX_EPISODE_STEPS, "stop the episode after this many agent steps")
    noop_max: int = option(_play.EVAL_NOOP_MAX, "random no-op frames (0..noop_max) at the start")

    # a frame is 184 KB: the step cap keeps a render under ~550 MB of frames
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "seed": (0, MAX_SEED), "world": (1, 8), "stage": (1, 4), "max_steps": (1, _play.MAX_EPISODE_STEPS),
        "noop_max": (0, 1000)}


def env_id_of(config: MarioConfig) -> str:
    return env_id(config.world, config.stage)


def train(config: MarioConfig, out_dir: str | os.PathLike, *, resume: bool = False, device: str = "auto",
          stop: threading.Event | None = None) -> Iterator[dict[str, Any]]:
    from rlcore.mario.train import train as _train

    yield from _train(config, out_dir, resume=resume, device=device, stop=stop, progress=False)


def load(checkpoint: str | os.PathLike, device: str = "cpu") -> Mario:
    return Mario.load(checkpoint, device=device)


# evaluate's protocol options beyond episodes and seed (`rlcore evaluate` offers them as flags)
EVALUATION_OPTIONS = {
    "sticky": "sticky actions: at each agent step the previous action is repeated instead of the chosen one "
              "with this probability (0.25: Machado et al. 2018)",
    "epsilon": "epsilon-random actions: with this probability a uniform random action replaces the greedy one",
}


def evaluate(checkpoint: str | os.PathLike, episodes: int = 10, seed: int = 0, *, sticky: float = 0.0,
             epsilon: float = 0.0, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    return _play.evaluate(checkpoint, episodes=episodes, seed=seed, sticky=sticky, epsilon=epsilon,
                          progress=progress)


def play(checkpoint: str | os.PathLike | Mario, options: PlayOptions | None = None) -> Episode:
    options = options or PlayOptions()
    check_bounds(options, "play options")
    run = _play.play_episode(checkpoint, seed=options.seed, world=options.world, stage=options.stage,
                             noop_max=options.noop_max, max_steps=options.max_steps)
    summary = {"return": run["return"], "x_pos": run["x_pos"], "flag_get": run["flag_get"], "steps": run["length"],
               "world": options.world, "stage": options.stage, "seed": options.seed}
    return Episode(frames=run["frames"], summary=summary, trace=run["trace"], fps=_play.PLAYBACK_FPS)
