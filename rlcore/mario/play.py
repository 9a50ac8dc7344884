"""Evaluation and play-back of a trained Mario: greedy play, random no-op starts, RGB video."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.config import check_seeds
from rlcore.mario.agent import Mario
from rlcore.mario.env import MarioPreprocessing, make_env
from rlcore.runtime import torch_threads

PLAYBACK_FPS = 15  # one frame per agent step = every 4th NES frame of 60 fps: real-time speed
EVAL_NOOP_MAX = 30  # random no-op frames at each start, so greedy episodes differ
MAX_EPISODE_STEPS = 3_000  # a safety cap; the game clock (400) ends a stuck episode before it
# Greedy play is a batch-1 forward per emulator step: a second OpenMP thread gains nothing, and on
# busy cores (a training run beside it) 2 threads stalled evaluations many times over (bench/README.md)
PLAY_THREADS = 1


def _agent(checkpoint: str | os.PathLike | Mario, device: str = "cpu") -> Mario:
    return checkpoint if isinstance(checkpoint, Mario) else Mario.load(checkpoint, device=device)


def run_episode(agent: Mario, *, seed: int, world: int | None = None, stage: int | None = None,
                noop_max: int = EVAL_NOOP_MAX, max_steps: int = MAX_EPISODE_STEPS,
                record: bool = False, env: MarioPreprocessing | None = None) -> dict[str, Any]:
    """One greedy episode -> {return, x_pos, flag_get, length, frames (if record), trace}.
    `env` reuses an emulator (its level and no-op setting win over world/stage/noop_max)."""
    config = agent.config
    own_env = env is None
    if own_env:
        env = make_env(world or config.world, stage or config.stage, config.actions, noop_max=noop_max)
    try:
        with torch_threads(PLAY_THREADS):
            state, info = env.reset(seed=seed)
            frames = [env.rgb_frame()] if record else []
            trace: list[dict[str, Any]] = []
            total, x_max, flag, steps = 0.0, int(info.get("x_pos", 0)), False, 0
            while steps < max_steps:
                action = int(agent.greedy_actions(state)[0])
                state, reward, terminated, truncated, info = env.step(action)
                steps += 1
                total += reward
                x_max = max(x_max, int(info["x_pos"]))
                flag = flag or bool(info["flag_get"])
                if record:
                    frames.append(env.rgb_frame())
                trace.append({"step": steps, "action": action, "reward": float(reward), "x_pos": int(info["x_pos"]),
                              "y_pos": int(info["y_pos"]), "flag_get": bool(info["flag_get"]),
                              "time": int(info["time"]), "score": int(info["score"])})
                if terminated or truncated or info["flag_get"]:
                    break
    finally:
        if own_env:
            env.close()
    return {"return": round(total, 3), "x_pos": x_max, "flag_get": flag, "length": steps, "seed": seed,
            "frames": frames, "trace": trace}


def evaluate(checkpoint: str | os.PathLike | Mario, episodes: int = 10, seed: int = 0, *,
             noop_max: int = EVAL_NOOP_MAX, max_steps: int = MAX_EPISODE_STEPS,
             device: str = "cpu") -> dict[str, Any]:
    """Greedy episodes with seeds seed..seed+episodes-1 -> the results.json document."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    check_seeds(seed, episodes)
    agent = _agent(checkpoint, device)
    seeds = [seed + i for i in range(episodes)]
    env = make_env(agent.config.world, agent.config.stage, agent.config.actions, noop_max=noop_max)
    try:  # one emulator for all episodes; each reset(seed=s) draws its own no-op start
        runs = [run_episode(agent, seed=s, max_steps=max_steps, env=env) for s in seeds]
    finally:
        env.close()
    returns = np.array([r["return"] for r in runs], dtype=np.float64)
    x_pos = np.array([r["x_pos"] for r in runs])
    return {
        "env_id": agent.env_id,
        "mean_reward": round(float(returns.mean()), 3),
        "std_reward": round(float(returns.std()), 3),
        "mean_x_pos": round(float(x_pos.mean()), 1),
        "max_x_pos": int(x_pos.max()),
        "flag_rate": round(float(np.mean([r["flag_get"] for r in runs])), 3),
        "n_eval_episodes": episodes,
        "seeds": seeds,
        "noop_max": noop_max,
        "deterministic": True,
        "training_steps": agent.curr_step,
        "episodes": [{k: r[k] for k in ("seed", "return", "x_pos", "flag_get", "length")} for r in runs],
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def play_episode(checkpoint: str | os.PathLike | Mario, *, seed: int = 0, world: int | None = None,
                 stage: int | None = None, noop_max: int = EVAL_NOOP_MAX, max_steps: int = MAX_EPISODE_STEPS,
                 video: str | os.PathLike | None = None, device: str = "cpu") -> dict[str, Any]:
    """One greedy episode with its full-colour (240, 256, 3) frames and per-step info; written as
    an H.264 mp4 when `video` is a path."""
    run = run_episode(_agent(checkpoint, device), seed=seed, world=world, stage=stage, noop_max=noop_max,
                      max_steps=max_steps, record=True)
    if video is not None:
        from rlcore.video import write_mp4

        run["video"] = str(write_mp4(Path(video), run["frames"], fps=PLAYBACK_FPS))
    return run
