"""Evaluation and play-back of a trained Mario: greedy play, random no-op starts, RGB video."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np

from rlcore.config import check_seeds
from rlcore.evaluation import check_episodes, protocol_name, rate_summary
from rlcore.mario.agent import Mario
from rlcore.mario.curriculum import start_at
from rlcore.mario.env import MarioPreprocessing, action_labels, make_env
from rlcore.runtime import torch_threads

PLAYBACK_FPS = 15  # one frame per agent step = every 4th NES frame of 60 fps: real-time speed
EVAL_NOOP_MAX = 30  # random no-op frames at each start, so greedy episodes differ
STICKY_PER = "frame (ALE v5)"  # what a sticky protocol draws per: results name it, never mixing older figures
MAX_EPISODE_STEPS = 3_000  # a safety cap; the game clock (400) ends a stuck episode before it
# Greedy play is a batch-1 forward per emulator step: a second OpenMP thread gains nothing, and on
# busy cores (a training run beside it) 2 threads stalled evaluations many times over (bench/README.md)
PLAY_THREADS = 1


def _agent(checkpoint: str | os.PathLike | Mario, device: str = "cpu") -> Mario:
    return checkpoint if isinstance(checkpoint, Mario) else Mario.load(checkpoint, device=device)


class EpsilonActions:
    """Epsilon-random actions of an evaluation episode: with probability `epsilon` a uniform random
    action replaces the greedy one. The draws come from a generator of their own seeded by the
    episode's seed (a stream apart from the env's, which draws no-ops and sticky repeats), so every
    episode is reproducible from its seed."""

    STREAM = 1  # keeps these draws independent of the env's np_random, seeded by the same number

    def __init__(self, epsilon: float, n_actions: int, seed: int):
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be a probability in [0, 1], got {epsilon}")
        self.epsilon, self.n_actions = epsilon, n_actions
        self.rng = np.random.default_rng([self.STREAM, seed])
        self.explored = False  # whether the last action returned was a random one

    def __call__(self, greedy: Callable[[], int]) -> int:
        self.explored = bool(self.epsilon and self.rng.random() < self.epsilon)
        return int(self.rng.integers(self.n_actions)) if self.explored else greedy()


def decision(
    q: np.ndarray, action: int, performed: int, explored: bool, delayed_frames: int = 0
) -> dict[str, Any]:
    """What the agent did at one step: Q_online(s, a) of every action ("q"), its choice ("action": greedy, or
    "random" under epsilon), the action the emulator performed at the step's last frame ("performed"),
    and whether sticky actions delayed it ("sticky": its first `delayed_frames` frames kept
    the previous buttons)."""
    return {
        "action": action,
        "performed": int(performed),
        "random": explored,
        "sticky": delayed_frames > 0,
        "delayed_frames": int(delayed_frames),
        "q": [float(v) for v in q],
        "q_max": float(q.max()),
        "q_chosen": float(q[action]),
    }


class EpisodeOptions(TypedDict, total=False):
    """What episode_frames (and run_episode, play_episode) play: its keyword arguments and their meaning."""

    seed: int
    world: int | None
    stage: int | None
    noop_max: int
    max_steps: int
    epsilon: float
    sticky: float
    env: MarioPreprocessing | None
    start_x: int


def run_episode(agent: Mario, *, record: bool = False, **episode: Unpack[EpisodeOptions]) -> dict[str, Any]:
    """One (epsilon-)greedy episode -> {return, x_pos, flag_get, length, seed, frames (if record), trace (per
    step: its `decision`, reward, position, clock and score)}; `episode`: episode_frames' options.
    episode_frames plays it with its frames streamed."""
    run: dict[str, Any] = {}
    frames = list(episode_frames(agent, run, record=record, **episode))
    trace = run.pop("trace")
    return {**run, "frames": frames, "trace": trace}


def episode_frames(
    agent: Mario,
    run: dict[str, Any],
    *,
    seed: int,
    world: int | None = None,
    stage: int | None = None,
    noop_max: int = EVAL_NOOP_MAX,
    max_steps: int = MAX_EPISODE_STEPS,
    epsilon: float = 0.0,
    sticky: float = 0.0,
    record: bool = True,
    env: MarioPreprocessing | None = None,
    start_x: int = 0,
) -> Iterator[np.ndarray]:
    """run_episode's episode as it is played: its full-colour frames yielded one at a time as they are made
    (none unless `record`), each step's entry appended to run["trace"] before the frame after that step is
    yielded, and run_episode's figures put into `run` once it ends. `env` reuses an emulator (its level,
    no-op and sticky settings win over world/stage/noop_max/sticky). `start_x` > 0 starts at the level's
    bundled route's save state at or before that x (a practice spot; evaluation never does), else at the
    level's start."""
    config = agent.config
    own_env = env is None
    if own_env:
        env = make_env(
            world or config.world, stage or config.stage, config.actions, noop_max=noop_max, sticky=sticky
        )
    if start_x:
        start_at(env, world or config.world, stage or config.stage, config.actions, start_x)
    choose = EpsilonActions(epsilon, agent.action_dim, seed)
    try:
        with torch_threads(PLAY_THREADS):
            yield from _play(agent, env, choose, run, seed=seed, max_steps=max_steps, record=record)
    finally:
        if own_env:
            env.close()


def _play(
    agent: Mario,
    env: MarioPreprocessing,
    choose: EpsilonActions,
    run: dict[str, Any],
    *,
    seed: int,
    max_steps: int,
    record: bool,
) -> Iterator[np.ndarray]:
    """episode_frames' episode, on an emulator set up for it (the level, its start, no-ops, sticky actions)."""
    state, info = env.reset(seed=seed)
    trace: list[dict[str, Any]] = run.setdefault("trace", [])
    total, x_max, flag, steps = 0.0, int(info.get("x_pos", 0)), False, 0
    if record:
        yield env.rgb_frame()
    while steps < max_steps:
        q = agent.q_values(state)[0]  # Q_online of the observation acted on
        action = choose(lambda: int(q.argmax()))
        state, reward, terminated, truncated, info = env.step(action)
        steps += 1
        total += reward
        x_max = max(x_max, int(info["x_pos"]))
        flag = flag or bool(info["flag_get"])
        trace.append({"step": steps, **_traced(q, action, reward, info, env, choose.explored)})
        if record:
            yield env.rgb_frame()
        if terminated or truncated or info["flag_get"]:
            break
    run.update({"return": round(total, 3), "x_pos": x_max, "flag_get": flag, "length": steps, "seed": seed})


def _traced(
    q: np.ndarray, action: int, reward: float, info: dict[str, Any], env: MarioPreprocessing, explored: bool
) -> dict[str, Any]:
    """What an episode's trace keeps of a step besides its number: the decision, reward, position, clock
    and score."""
    return {
        **decision(q, action, env.last_action, explored, env.delayed_frames),
        "reward": float(reward),
        "x_pos": int(info["x_pos"]),
        "y_pos": int(info["y_pos"]),
        "flag_get": bool(info["flag_get"]),
        "time": int(info["time"]),
        "score": int(info["score"]),
    }


def evaluate(
    checkpoint: str | os.PathLike | Mario,
    episodes: int = 10,
    seed: int = 0,
    *,
    sticky: float = 0.0,
    epsilon: float = 0.0,
    noop_max: int = EVAL_NOOP_MAX,
    max_steps: int = MAX_EPISODE_STEPS,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
    env_factory: Callable[..., MarioPreprocessing] | None = None,
) -> dict[str, Any]:
    """Episodes with seeds seed..seed+episodes-1 under a protocol (greedy, sticky actions, epsilon-random
    actions) -> the results.json document. `progress(1)` is called after each episode; `env_factory`
    (tests) replaces the emulator: it takes make_env's level arguments and noop_max / sticky."""
    check_episodes(episodes)
    check_seeds(seed, episodes)
    agent = _agent(checkpoint, device)
    seeds = [seed + i for i in range(episodes)]
    config = agent.config
    env = (env_factory or make_env)(
        config.world, config.stage, config.actions, noop_max=noop_max, sticky=sticky
    )
    try:  # one emulator for all episodes; each reset(seed=s) draws its own no-op start and sticky repeats
        runs = []
        for s in seeds:
            run = run_episode(agent, seed=s, max_steps=max_steps, epsilon=epsilon, env=env)
            runs.append(
                {k: v for k, v in run.items() if k != "trace"}
            )  # traces of 1,000 episodes: hundreds of MB
            if progress is not None:
                progress(1)
    finally:
        env.close()
    protocol = {
        "name": protocol_name({"sticky": sticky, "epsilon": epsilon}),
        "sticky": sticky,
        "epsilon": epsilon,
        "noop_max": noop_max,
        "max_steps": max_steps,
        "first_seed": seed,
        "episodes": episodes,
    }
    if sticky:
        protocol["sticky_per"] = STICKY_PER
    return _results(agent, runs, seeds, protocol)


def _results(
    agent: Mario, runs: list[dict[str, Any]], seeds: list[int], protocol: dict[str, Any]
) -> dict[str, Any]:
    returns = np.array([r["return"] for r in runs], dtype=np.float64)
    x_pos = np.array([r["x_pos"] for r in runs])
    flags = rate_summary([r["flag_get"] for r in runs])
    return {
        "env_id": agent.env_id,
        "mean_reward": round(float(returns.mean()), 3),
        "std_reward": round(float(returns.std()), 3),
        "mean_x_pos": round(float(x_pos.mean()), 1),
        "std_x_pos": round(float(x_pos.std()), 1),
        "max_x_pos": int(x_pos.max()),
        "flag_rate": flags["rate"],
        "flags": flags["count"],
        "flag_rate_ci95": flags["ci95"],
        "n_eval_episodes": len(runs),
        "protocol": protocol,
        "seeds": seeds,
        "noop_max": protocol["noop_max"],
        "deterministic": protocol["epsilon"] == 0,  # the policy (sticky repeats are the env's)
        "training_steps": agent.curr_step,
        "episodes": [{k: r[k] for k in ("seed", "return", "x_pos", "flag_get", "length")} for r in runs],
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def play_episode(
    checkpoint: str | os.PathLike | Mario,
    *,
    show_q: bool = False,
    video: str | os.PathLike | None = None,
    device: str = "cpu",
    **episode: Unpack[EpisodeOptions],
) -> dict[str, Any]:
    """One (epsilon-)greedy episode with its full-colour (240, 256, 3) frames and per-step info (with the
    Q-values acted on); `show_q` draws them into the frames (q_overlay); written as an H.264 mp4 when
    `video` is a path. `episode`: episode_frames' options (seed 0 unless given)."""
    agent = _agent(checkpoint, device)
    run = run_episode(agent, record=True, **{"seed": 0, **episode})
    if show_q:
        note_row = bool(episode.get("sticky") or episode.get("epsilon"))
        run["frames"] = q_overlay(
            run["frames"], run["trace"], action_labels(agent.config.actions), note_row=note_row
        )
    if video is not None:
        from rlcore.video import write_mp4

        run["video"] = str(write_mp4(Path(video), run["frames"], fps=PLAYBACK_FPS))
    return run


def streamed_frames(
    checkpoint: str | os.PathLike | Mario,
    run: dict[str, Any],
    *,
    show_q: bool = False,
    device: str = "cpu",
    **episode: Any,
) -> Iterator[np.ndarray]:
    """play_episode's frames as the episode is played, one at a time (episode_frames: `run` gets the trace
    and figures as it goes), so a render holds O(1) frames. `episode`: run_episode's options. With `show_q`
    the same episode is first played without frames for the range of its Q-values (the bars' scale; play
    is deterministic, so the second play acts as the first), then each frame gets its step's bars."""
    agent = _agent(checkpoint, device)
    trace = run.setdefault("trace", [])
    frames = episode_frames(agent, run, record=True, **episode)
    if not show_q:
        return frames
    labels = action_labels(agent.config.actions)
    note_row = bool(episode.get("sticky") or episode.get("epsilon"))
    bars = q_bars(run_episode(agent, **episode)["trace"], labels, note_row=note_row)
    return overlaid(frames, trace, bars, labels)


def q_bars(trace: list[dict[str, Any]], labels: list[str], *, note_row: bool = False) -> Any:
    """The rlcore.video.ValueBars of an episode's trace: its Q-values' range is the bars' scale."""
    from rlcore.video import ValueBars

    values = [v for step in trace for v in step["q"]]
    return ValueBars(labels, min(values), max(values), note_row=note_row)


def overlaid(
    frames: Iterable[np.ndarray], trace: list[dict[str, Any]], bars: Any, labels: list[str]
) -> Iterator[np.ndarray]:
    """The frames with each step's Q-values drawn in by `bars`, one at a time: frame i gets trace[i] (read
    when frame i + 1 comes, so `trace` may be filled as the frames are made). Frames without a step (the
    last one, after the last step) are left as they are."""
    held = None
    for i, frame in enumerate(frames):
        if held is not None:
            step = trace[i - 1] if i - 1 < len(trace) else None
            yield held if step is None else bars(held, step["q"], step["performed"], _mark(step, labels))
        held = frame
    if held is not None:
        yield held


def q_overlay(
    frames: list[np.ndarray], trace: list[dict[str, Any]], labels: list[str], *, note_row: bool = False
) -> list[np.ndarray]:
    """The frames with each step's Q-values drawn in as bars (rlcore.video.ValueBars): frame i is the screen
    the agent acted on at step i, its chosen action highlighted and marked when it was random or a sticky
    repeat. The last frame (after the last step, no decision) is left as is."""
    if not trace:
        return frames
    return list(overlaid(frames, trace, q_bars(trace, labels, note_row=note_row), labels))


def _mark(step: dict[str, Any], labels: list[str]) -> str:
    if step["sticky"]:
        return f"sticky: {labels[step['action']]} {step['delayed_frames']} frame(s) late"
    return "random (epsilon)" if step["random"] else ""
