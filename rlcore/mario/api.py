"""The Mario system behind rlcore/systems.py's contract (the CLI, the Hub code and the app use this)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rlcore.checkpoint import load_config
from rlcore.config import MAX_SEED, check_bounds, option
from rlcore.mario import play as _play
from rlcore.mario.agent import ALGORITHM, Mario
from rlcore.mario.agent import SYSTEM as NAME
from rlcore.mario.config import PRESETS, MarioConfig, preset
from rlcore.mario.curriculum import bundled_route, practice_spot, route_points
from rlcore.mario.env import env_id
from rlcore.mario.explore import ExploreOptions
from rlcore.systems import (
    Budget,
    Episode,
    Figure,
    FrameSink,
    GeneralisationMap,
    MapAxis,
    Practice,
    System,
    TrainingProgress,
)

ENV_ID = env_id(1, 1)  # the tutorial's level; a checkpoint's own level is in its config.json
Config = MarioConfig
__all__ = [
    "NAME",
    "ALGORITHM",
    "ENV_ID",
    "Config",
    "PlayOptions",
    "PRESETS",
    "preset",
    "train",
    "load",
    "evaluate",
    "play",
    "SYSTEM",
]


@dataclass
class PlayOptions:
    seed: int = option(0, "seed of the episode's random no-op start", ge=0, le=MAX_SEED)
    world: int = option(1, "world 1-8 to play (the agent may have been trained on another)", ge=1, le=8)
    stage: int = option(1, "stage 1-4 to play", ge=1, le=4)
    # a frame is 184 KB: the step cap keeps a render under ~550 MB of frames
    max_steps: int = option(
        _play.MAX_EPISODE_STEPS,
        "stop the episode after this many agent steps",
        ge=1,
        le=_play.MAX_EPISODE_STEPS,
    )
    noop_max: int = option(
        _play.EVAL_NOOP_MAX, "random no-op frames (0..noop_max) at the start", ge=0, le=1000
    )
    show_q: bool = option(
        False,
        "draw the agent's Q-value of each action into the video (bars; the chosen "
        "action highlighted, marked when random or delayed by sticky actions)",
    )
    sticky: float = option(
        0.0,
        "sticky actions, per emulator frame as ALE v5: at each frame the joypad keeps "
        "the previous frame's buttons with this probability",
        ge=0.0,
        le=0.95,
    )
    epsilon: float = option(
        0.0, "epsilon-random actions: a uniform random action with this probability", ge=0.0, le=1.0
    )
    start_x: int = option(
        0,
        "start at the save state of the level's bundled route (checkpoints/routes) at or "
        "before this x, as the Train tab's practice does (evaluation never does); 0: the "
        "level's start",
        ge=0,
        le=10**5,
    )


# the per-step Q figures an Episode offers to plots (trace key -> label)
Q_SERIES = {"q_max": "max Q", "q_chosen": "Q of the chosen action"}

# A practice run (SuperMario.practice) starts its episodes in a window of 4 route points (16 agent steps, ~1 s
# of play) before where the agent failed, and its before/after plays from the window's first point: after
# 12,000 steps from a window of 8 (x 520-716 on 1-3) mario-1-3-treetop passed the treetop from x 632 on but still fell
# from x 520, where it retraces its old run. Learning starts after 2,000 steps of replay (a run in the cap at
# 20 agent steps/s has ~12,000). docs/experiments/2026-12-07-practice-in-the-train-tab.md
PRACTICE_WINDOW, PRACTICE_BURNIN = 4, 2_000

SHORT_RUN_MEMORY = 1000  # replay rows of the shortest runs (~7 MB; the replay needs a few)


def short_run(config: MarioConfig, steps: int) -> dict[str, Any]:
    """A bounded Mario run (the app's): a record every episode (live plots), a replay no larger than the
    run, and learning from a quarter of the run on (the tutorial's 10,000-step burn-in would outlast it)."""
    return {
        "log_every": 1,
        "memory_size": min(config.memory_size, max(steps, SHORT_RUN_MEMORY)),
        "burnin": min(config.burnin, steps // 4),
        "checkpoint_every": max(steps, 1),
    }


class SuperMario(System):
    name, algorithm, env_id = NAME, ALGORITHM, ENV_ID
    blurb = (
        "a Double DQN agent that plays Super Mario Bros. from pixels (4 stacked 84x84 grayscale frames) "
        "on the nes-py emulator, following the PyTorch Mario tutorial"
    )
    Config, PlayOptions, presets = MarioConfig, PlayOptions, PRESETS
    budget = Budget("max_steps", "step", "agent step")
    metrics = ("reward", "length", "loss", "q", "epsilon")
    task_fields = ("world", "stage")
    figures = (
        Figure("mean_x_pos", "mean x position", metric="x_pos", per_episode="x_pos", fmt=".1f"),
        Figure(
            "flag_rate",
            "flag rate",
            metric="flag_rate",
            per_episode="flag_get",
            fmt=".0%",
            interval="flag_rate_ci95",
            other_protocols=(("sticky_", "sticky flag (per frame, ALE v5)"),),
        ),
    )
    # A run from a trained agent: explore a little around what it knows (epsilon 0.2 decaying to 0.05, not
    # 1.0), learn after 5k steps of replay (not 10k: a run in the app's cap has ~30k), in float32 unless this
    # CPU has native bfloat16 (the bundled agent was trained on one that had)
    # num_envs 3: the fast preset's workers (a checkpoint's own num_envs is never taken: Config.RUNTIME)
    fine_tune = {
        "exploration_rate": 0.2,
        "exploration_rate_decay": 0.99998,
        "exploration_rate_min": 0.05,
        "burnin": 5_000,
        "precision": "auto",
        "keep_snapshots": False,
        "num_envs": 3,
    }
    # evaluate's protocol options beyond episodes and seed (`rlcore evaluate` offers them as flags)
    evaluation_options = {
        "sticky": "sticky actions, per emulator frame as ALE v5: at each of a step's 4 frames the joypad "
        "keeps the previous frame's buttons with this probability (0.25: Machado et al. 2018)",
        "epsilon": "epsilon-random actions: with this probability a uniform random action replaces the "
        "greedy one",
    }
    # every level of the game; the colour scale ends near 1-1's flag pole (x ~3,160)
    generalisation = GeneralisationMap(
        rows=MapAxis("world", "World", tuple(range(1, 9))),
        columns=MapAxis("stage", "Stage", tuple(range(1, 5))),
        colour="x_pos",
        colour_label="x position reached",
        colour_range=(0, 3200),
        mark="flag_get",
        mark_label="flag reached",
        step_field="max_steps",
    )

    def train(
        self,
        config: MarioConfig,
        out_dir: str | os.PathLike,
        *,
        resume: bool = False,
        device: str = "auto",
        stop: threading.Event | None = None,
        progress: TrainingProgress | None = None,
    ) -> Iterator[dict[str, Any]]:
        from rlcore.mario.train import TrainingRun
        from rlcore.mario.train import train as _train

        if config.collector == "ray":  # Ray is imported only when asked for
            from rlcore.mario.distributed import RayTrainingRun as TrainingRun
        yield from _train(
            config, out_dir, resume=resume, device=device, stop=stop, run_type=TrainingRun, progress=progress
        )

    def load(self, checkpoint: str | os.PathLike, device: str = "cpu") -> Mario:
        return Mario.load(checkpoint, device=device)

    def evaluate(
        self,
        checkpoint: str | os.PathLike,
        episodes: int = 10,
        seed: int = 0,
        *,
        progress: Callable[[int], None] | None = None,
        **options: float,
    ) -> dict[str, Any]:
        return _play.evaluate(checkpoint, episodes=episodes, seed=seed, progress=progress, **options)

    def trained_on(self, config: MarioConfig, options: PlayOptions) -> bool:
        return (options.world, options.stage) == (config.world, config.stage)

    def task_text(self, config: MarioConfig) -> str:
        return f"{config.world}-{config.stage}"  # the level, as the game writes it

    def play_note(self, config: MarioConfig, options: PlayOptions) -> str:
        """The level played and the one the agent learnt:
        an agent trained on one level only knows that one."""
        played, trained = f"{options.world}-{options.stage}", f"{config.world}-{config.stage}"
        if self.trained_on(config, options):
            return f"World {played}, the level it was trained on."
        return (
            f"World {played}: a level it never saw (it was trained on {trained} only), "
            "so expect it to fail early."
        )

    def trained_budget(self, checkpoint: str | os.PathLike) -> int | None:
        step = load_config(checkpoint, system=NAME).get("state", {}).get("step")
        return step if isinstance(step, int) else None

    def play(self, checkpoint: str | os.PathLike | Mario, options: PlayOptions | None = None) -> Episode:
        options = options or PlayOptions()
        check_bounds(options, "play options")
        run = _play.play_episode(checkpoint, show_q=options.show_q, **_episode_options(options))
        return _episode(run["frames"], run, options)

    def play_streamed(
        self, checkpoint: str | os.PathLike | Mario, options: PlayOptions | None, sink: FrameSink
    ) -> Episode:
        """play()'s episode, each frame to `sink` as the emulator makes it (rlcore.mario.play.streamed_frames)."""
        options = options or PlayOptions()
        check_bounds(options, "play options")
        run: dict[str, Any] = {}
        with contextlib.closing(
            _play.streamed_frames(checkpoint, run, show_q=options.show_q, **_episode_options(options))
        ) as frames:
            sink(frames, _play.PLAYBACK_FPS)
        return _episode([], run, options)

    def map_episode(self, agent: Mario, options: PlayOptions) -> dict[str, Any]:
        """play()'s episode (the same actions and figures) without recording its frames."""
        check_bounds(options, "play options")
        run = _play.run_episode(agent, **_episode_options(options))
        return _summary(run, options)

    def practice(self, config: MarioConfig, summary: Mapping[str, Any]) -> Practice | None:
        """A run from an agent that fails on its level practises just before where it failed: its training
        episodes start from the level's bundled route there (the backward curriculum with start_x, the window
        moving back as it succeeds), and its before/after also plays from that spot. None when the agent
        reaches the flag, or the level has no bundled route of the agent's action set."""
        found = bundled_route(config.world, config.stage, config.actions)
        if summary.get("flag_get") or found is None or not found[1].flag:
            return None
        folder, route = found
        fail_x = int(summary["x_pos"])
        spot = practice_spot(route_points(route), fail_x, PRACTICE_WINDOW)
        changes = {
            "starts": str(folder),
            "start_x": fail_x,
            "start_window": PRACTICE_WINDOW,
            "burnin": min(config.burnin, PRACTICE_BURNIN),
        }
        return Practice(
            config=changes,
            play={"start_x": spot},
            note=f"its episode from the level's start ends at x {fail_x:,}, so training episodes start "
            f"from the level's route just before it (from x {spot:,}; {config.start_share:.0%} from the "
            "level's start), moving back once half of those reach the flag",
        )

    ExploreOptions = ExploreOptions

    def explore(self, options, out=None, progress=None) -> tuple[str, bool]:
        from rlcore.mario.explore import explore_and_save

        check_bounds(options, "explore options")
        return explore_and_save(options, out, progress)

    def world_in_a_row(
        self,
        checkpoints: Sequence[str | os.PathLike],
        *,
        episodes: int,
        seed: int,
        progress=None,
        **options: float,
    ) -> dict[str, Any]:
        from rlcore.mario.playthrough import world_in_a_row

        return world_in_a_row(checkpoints, episodes=episodes, seed=seed, progress=progress, **options)

    def playthrough(
        self, checkpoints: Sequence[str | os.PathLike], sink: FrameSink, *, seed: int = 0, **options: float
    ) -> Episode:
        from rlcore.mario.playthrough import playthrough_frames

        run: dict[str, Any] = {}
        sink(playthrough_frames(checkpoints, run, seed=seed, **options), _play.PLAYBACK_FPS)
        summary = {
            "levels": len(run["stages"]),
            "flags": run["flags"],
            "total_score": run["total_score"],
            "seed": seed,
            **{s["level"]: "flag" if s["flag_get"] else f"x {s['x_pos']}" for s in run["stages"]},
        }
        return Episode(frames=[], summary=summary, trace=run["stages"], fps=_play.PLAYBACK_FPS)


def _episode_options(options: PlayOptions) -> dict[str, Any]:
    """run_episode's options of an episode played with `options`."""
    return {
        "seed": options.seed,
        "world": options.world,
        "stage": options.stage,
        "noop_max": options.noop_max,
        "max_steps": options.max_steps,
        "sticky": options.sticky,
        "epsilon": options.epsilon,
        "start_x": options.start_x,
    }


def _episode(frames: list, run: dict[str, Any], options: PlayOptions) -> Episode:
    series = {label: [step[key] for step in run["trace"]] for key, label in Q_SERIES.items()}
    return Episode(
        frames=frames,
        summary=_summary(run, options),
        trace=run["trace"],
        fps=_play.PLAYBACK_FPS,
        series=series,
    )


def _summary(run: dict[str, Any], options: PlayOptions) -> dict[str, Any]:
    where = {"start_x": options.start_x} if options.start_x else {}  # a practice spot, not the level's start
    return {
        "return": run["return"],
        "x_pos": run["x_pos"],
        "flag_get": run["flag_get"],
        "steps": run["length"],
        "world": options.world,
        "stage": options.stage,
        "seed": options.seed,
        **where,
    }


SYSTEM = SuperMario()
train, load, evaluate, play = SYSTEM.train, SYSTEM.load, SYSTEM.evaluate, SYSTEM.play
