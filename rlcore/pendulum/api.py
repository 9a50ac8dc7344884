"""The Pendulum system behind rlcore.systems' contract (used by the CLI, the Hub code and the app)."""

from __future__ import annotations

import dataclasses
import datetime
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rlcore import checkpoint as ckpt
from rlcore.config import MAX_SEED, check_bounds, option
from rlcore.evaluation import check_episodes, protocol_name
from rlcore.pendulum import ALGORITHM, ENV_ID, NAME
from rlcore.pendulum.config import PRESETS, PendulumConfig
from rlcore.pendulum.env import GRAVITY, LENGTH, MASS
from rlcore.pendulum.export import EXPORT_FILE, export_torchscript
from rlcore.pendulum.play import EPISODE_STEPS, PendulumAgent, evaluate_net, load_agent
from rlcore.pendulum.rollout import episode_rollout, episode_summary
from rlcore.resolve import resolve_config
from rlcore.systems import (
    Budget,
    Episode,
    Figure,
    GeneralisationMap,
    MapAxis,
    System,
)

__all__ = [
    "NAME",
    "ALGORITHM",
    "ENV_ID",
    "Config",
    "PlayOptions",
    "PRESETS",
    "preset",
    "PendulumAgent",
    "train",
    "load",
    "evaluate",
    "play",
    "evaluate_net",
    "EPISODE_STEPS",
    "EXPORT_FILE",
    "export",
    "SYSTEM",
]

Config = PendulumConfig
# The default episode starts hanging down (theta -3.11 rad): a viewer sees the whole swing-up
# (seed 0 starts upright)
SWING_UP_SEED = 3


@dataclasses.dataclass
class PlayOptions:
    seed: int = option(
        SWING_UP_SEED,
        "random start of the episode (evaluate's episode with the same seed)",
        ge=0,
        le=MAX_SEED,
    )
    g: float = option(GRAVITY, "gravity (m/s^2)", ge=0.1, le=100.0)
    m: float = option(MASS, "mass of the bob (kg)", ge=0.05, le=20.0)
    l: float = option(LENGTH, "length of the rod (m)", ge=0.05, le=20.0)  # noqa: E741
    # a frame is 300 KB: 1,000 steps are a 33 s video and at most ~300 MB of frames per render
    steps: int = option(EPISODE_STEPS, "steps to play (dt = 0.05 s each)", ge=1, le=1000)


class Pendulum(System):
    name, algorithm, env_id = NAME, ALGORITHM, ENV_ID
    blurb = (
        "a policy network that swings up and balances TorchRL's stateless, differentiable pendulum; "
        "it was trained by backpropagating the return through simulated rollouts (no value function, "
        "no sampling-based gradient), following the TorchRL pendulum tutorial"
    )
    Config, PlayOptions, presets = PendulumConfig, PlayOptions, PRESETS
    budget = Budget("iterations", "step", "iteration")
    metrics = ("return", "reward_per_step", "last_reward")
    task_fields = ("g", "m", "l")
    figures = (Figure("mean_last_reward", "last reward", per_episode="last_rewards", fmt=".3g"),)
    export_file = EXPORT_FILE
    # gravity x mass around the training physics (g 10, m 1), length fixed; the scale spans a spinning
    # policy's return (about -1,500) to a perfect one (0)
    generalisation = GeneralisationMap(
        rows=MapAxis("g", "Gravity g", (5.0, 7.5, 10.0, 12.5, 15.0, 20.0)),
        columns=MapAxis("m", "Mass m", (0.5, 1.0, 1.5, 2.0)),  # four columns: a phone shows them all
        colour="return",
        colour_label="return (sum of the rewards)",
        colour_range=(-1500.0, 0.0),
        mark="swung_up",
        mark_label="swung up and balanced through the last second",
        step_field="steps",
    )

    def train(
        self,
        config,
        out_dir,
        *,
        resume=False,
        device="auto",
        stop: threading.Event | None = None,
        progress=None,
    ) -> Iterator[dict]:
        from rlcore.pendulum.train import train as _train

        # `progress` is not needed: a record comes every iteration (a few milliseconds)
        return _train(config, out_dir, resume=resume, device=device, stop=stop)

    def load(self, checkpoint, device="cpu") -> PendulumAgent:
        """Rebuild the policy described by config.json and load model.safetensors into it (checked)."""
        return load_agent(ckpt.checkpoint_dir(checkpoint), self.config_of(checkpoint), device)

    def evaluate(
        self,
        checkpoint,
        episodes=10,
        seed=0,
        *,
        progress: Callable[[int], None] | None = None,
        **options: float,
    ) -> dict:
        """Gymnasium Pendulum-v1's measure: the return of 200-step episodes from random starts
        (see evaluate_net), with the mean last-step reward; the results.json document. All episodes run
        as one batch: `progress(episodes)` is called once at the end."""
        check_episodes(episodes)
        results = evaluate_net(self.load(checkpoint).net, episodes, seed, EPISODE_STEPS)
        if progress is not None:
            progress(episodes)
        protocol = {
            "name": protocol_name({}),
            "episode_steps": EPISODE_STEPS,
            "first_seed": seed,
            "episodes": episodes,
        }
        per_episode = [
            {"seed": s, "return": r, "last_reward": last}
            for s, r, last in zip(results["seeds"], results["episode_rewards"], results["last_rewards"])
        ]
        return {
            "system": NAME,
            "env_id": ENV_ID,
            "algorithm": ALGORITHM,
            **results,
            "protocol": protocol,
            "episodes": per_episode,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }

    def trained_budget(self, checkpoint) -> int | None:
        done = ckpt.load_config(checkpoint, system=NAME).get("iterations_done")
        return done if isinstance(done, int) else None

    def export(self, checkpoint, path=None) -> Path:
        """Write the policy as agent.pt (the Open RL Leaderboard's TorchScript format, see export.py) to
        `path`, by default into the checkpoint folder."""
        agent = self.load(checkpoint)
        return export_torchscript(agent.net, path if path is not None else agent.checkpoint / EXPORT_FILE)

    def trained_on(self, config: PendulumConfig, options: PlayOptions) -> bool:
        """Training sets gravity, mass and length (config.g, m, l)."""
        return (options.g, options.m, options.l) == (config.g, config.m, config.l)

    def map_episode(self, agent: PendulumAgent, options: PlayOptions) -> dict:
        """play()'s episode figures without drawing its frames."""
        check_bounds(options, "play options")
        traj, _ = episode_rollout(
            agent.net, options.seed, g=options.g, m=options.m, l=options.l, steps=options.steps
        )
        return episode_summary(traj, options.seed, g=options.g, m=options.m, l=options.l)

    def task_text(self, config: PendulumConfig) -> str:
        return f"g {config.g:g}, m {config.m:g}, l {config.l:g}"  # the physics, as the video writes it

    def play_note(self, config: PendulumConfig, options: PlayOptions) -> str:
        """The physics played against the physics trained on (config.g, m and l)."""
        played = f"g {options.g:g}, m {options.m:g}, l {options.l:g}"
        trained = f"g {config.g:g}, m {config.m:g}, l {config.l:g}"
        if self.trained_on(config, options):
            return f"Physics {played}, as in training."
        return f"Physics {played}: not what it trained on ({trained}), so it may not swing up or balance."

    def play(self, checkpoint, options=None) -> Episode:
        """One episode rendered as frames (rlcore.video.write_mp4(path, episode.frames, episode.fps))."""
        from rlcore.pendulum.render import render_episode

        options, agent = self._played(checkpoint, options)
        return render_episode(
            agent.net, options.seed, g=options.g, m=options.m, l=options.l, steps=options.steps
        )

    def play_streamed(self, checkpoint, options, sink) -> Episode:
        """play()'s episode, each frame drawn as `sink` reads it (rlcore.pendulum.render.streamed_episode)."""
        from rlcore.pendulum.render import streamed_episode

        options, agent = self._played(checkpoint, options)
        episode, frames = streamed_episode(
            agent.net, options.seed, g=options.g, m=options.m, l=options.l, steps=options.steps
        )
        sink(frames, episode.fps)
        return episode

    def _played(self, checkpoint, options) -> tuple[PlayOptions, PendulumAgent]:
        options = options or PlayOptions()
        check_bounds(options, "play options")
        return options, checkpoint if isinstance(checkpoint, PendulumAgent) else self.load(checkpoint)


SYSTEM = Pendulum()
train, load, evaluate, play = SYSTEM.train, SYSTEM.load, SYSTEM.evaluate, SYSTEM.play


def preset(name: str = "tutorial", **overrides: Any) -> PendulumConfig:
    """A named configuration with field overrides (rlcore.resolve.resolve_config)."""
    return resolve_config(SYSTEM, preset=name, overrides=overrides)


export = SYSTEM.export
