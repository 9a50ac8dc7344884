"""The Backward Algorithm: training episodes that start from save states along a found route.

Salimans & Chen (2018, "Learning Montezuma's Revenge from a single demonstration") train from states
of one demonstration, first near its end, and move the start back as the agent succeeds from there;
Go-Explore (Ecoffet et al. 2021) robustifies its routes the same way. Here:

- the route (rlcore/mario/explore.py) is replayed once in every emulator worker, keeping a save state
  every `POINT_EVERY` agent steps (`RouteStarts`); point 0 is the level's start;
- `BackwardCurriculum` (in the learner) holds a window of `start_window` points, first the last ones
  before the flag; once the flag rate of the last `JUDGE_EPISODES` episodes started in the window
  reaches `start_threshold`, the window moves back by half its width, down to the level's start;
- a share of episodes (`start_share`) starts at the level's own start instead, with its no-op start,
  as evaluation does, so the part the window has left behind is still practised; another share
  (`start_behind`) at a route point behind the window, chosen uniformly, so each hard spot the window
  has passed is practised from just before it too; and another (`start_failed`) a few agent steps before
  where a recent episode from the level's start died, from that episode's own save state: the spot the
  agent fails at, reached as the agent itself reaches it (at its speed and height), not as the route does;
- sticky actions and the epsilon schedule apply to every episode alike.

Evaluation never uses any of this: it always starts at the level's start. Play-back starts at a save state
of the level's bundled route only when asked (`start_at`: `play --start-x`, the Train tab's practice spot).
"""

from __future__ import annotations

import functools
import os
from collections import deque
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlcore.mario.env import MarioPreprocessing, env_id, make_env, make_worker_env
from rlcore.mario.explore import Route, route_snapshots, walk_route

POINT_EVERY = 4  # agent steps between the route's start points (16 frames)
JUDGE_EPISODES = 20  # episodes from the window that decide whether it moves back
LEVEL_START = -1  # `route_start` of an episode that began at the level's own start
FAILED_START = -2  # `route_start` of an episode that began before where a level-start episode died
REWIND = (4, 32)  # agent steps back from a death that a failure start restores, drawn uniformly
FAILURES_KEPT = 32  # the latest deaths of level-start episodes a worker keeps to start from
HISTORY = 100  # level-start outcomes kept for the log's moving flag rate
# the routes `rlcore explore` found for World 1, bundled with the agents (checkpoints/routes/mario-W-S/)
BUNDLED_ROUTES = Path(__file__).resolve().parents[2] / "checkpoints" / "routes"


def route_points(route: Route, every: int = POINT_EVERY) -> list[int]:
    """Mario's x at each start point of `route` (what `route_snapshots` keeps), from its recorded x."""
    xs = [route.x_pos[0]] if route.x_pos else [0]  # the level's start: the first step barely moves
    xs += [route.x_pos[i - 1] for i in range(every, len(route.steps), every)]
    return xs


def bundled_route(world: int, stage: int, actions: str) -> tuple[Path, Route] | None:
    """The bundled route of a level for an agent of the action set `actions` -> (its folder, the route):
    `mario-W-S`, or `mario-W-S-<actions>` beside it when the level's first route uses another set; None."""
    for folder in (
        BUNDLED_ROUTES / f"mario-{world}-{stage}",
        BUNDLED_ROUTES / f"mario-{world}-{stage}-{actions}",
    ):
        route = Route.load(folder) if (folder / "route.json").is_file() else None
        if route is not None and route.actions == actions:
            return folder, route
    return None


def start_at(env: MarioPreprocessing, world: int, stage: int, actions: str, start_x: int) -> int:
    """Make every reset of `env` start at the bundled route's last start point at or before x `start_x` (a
    practice spot, never an evaluation's start) -> that point's x. A one-line error when the level has no
    bundled route or its route uses another action set."""
    found = bundled_route(world, stage, actions)
    if found is None:
        raise ValueError(
            f"start_x {start_x}: {env_id(world, stage)} has no bundled route of the action set "
            f"{actions!r} to start from (routes are bundled for: "
            f"{', '.join(p.name for p in sorted(BUNDLED_ROUTES.glob('*-*')))})"
        )
    route = found[1]
    noop_max, sticky = env.noop_max, env.sticky
    env.noop_max, env.sticky, env.start_snapshot = 0, 0.0, None  # the replay needs an exact emulator
    try:
        snapshots, xs = route_snapshots(env, route, POINT_EVERY)
    finally:
        env.noop_max, env.sticky = noop_max, sticky
    index = max(0, sum(x <= start_x for x in xs) - 1)
    env.start_snapshot = snapshots[index]
    return xs[index]


def practice_spot(xs: list[int], fail_x: int, width: int) -> int:
    """Where practice before `fail_x` starts: the x of the first point of the curriculum's first window
    (BackwardCurriculum with start_x=fail_x), so a run and its before/after start at the same spot."""
    return xs[BackwardCurriculum(xs, width, 1.0, start_x=fail_x).window[0]]


class RouteStarts(gym.Wrapper):
    """Episodes that start at a save state of the route chosen in the current window, or (with
    probability `share`) at the level's own start, or (`behind`) at a point behind the window, or
    (`failed`) a few steps before where a recent episode from the level's start died. Every info carries
    `route_start`: the point index, LEVEL_START or FAILED_START."""

    def __init__(
        self,
        env: MarioPreprocessing,
        route: Route,
        share: float,
        behind: float = 0.0,
        every: int = POINT_EVERY,
        failed: float = 0.0,
    ):
        super().__init__(env)
        # the replay needs an exact emulator: no-ops and sticky actions off while it runs
        noop_max, sticky = env.noop_max, env.sticky
        env.noop_max, env.sticky = 0, 0.0
        try:
            self.snapshots, self.xs = route_snapshots(env, route, every)
        finally:
            env.noop_max, env.sticky = noop_max, sticky
        self.share, self.behind, self.failed = share, behind, failed
        self.window = (len(self.snapshots) - 1, len(self.snapshots) - 1)
        self.start = LEVEL_START
        self.rng = np.random.default_rng()
        self.trail: deque = deque(maxlen=REWIND[1])  # this level-start episode's latest save states
        self.failures: deque = deque(maxlen=FAILURES_KEPT)  # save states before recent deaths

    def set_start_window(self, lo: int, hi: int) -> None:
        if not 0 <= lo <= hi < len(self.snapshots):
            raise ValueError(f"start window {lo}-{hi} outside the route's {len(self.snapshots)} points")
        self.window = (lo, hi)

    def _choose_start(self) -> int:
        """Where the next episode starts: a route point, LEVEL_START or FAILED_START."""
        draw = self.rng.random()
        if draw < self.share:
            return LEVEL_START
        if draw < self.share + self.behind and self.window[0] > 0:
            return int(self.rng.integers(0, self.window[0]))
        if self.share + self.behind <= draw < self.share + self.behind + self.failed and self.failures:
            return FAILED_START
        return int(self.rng.integers(self.window[0], self.window[1] + 1))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:  # its own stream: the env's draws (no-ops, sticky actions) stay as they were
            self.rng = np.random.default_rng([2, seed])
        state, info = self.env.reset(seed=seed, options=options)
        self.start = self._choose_start()
        self.trail.clear()
        if self.start == FAILED_START:
            state, info = self.env.restore(self.failures[int(self.rng.integers(len(self.failures)))])
        elif self.start != LEVEL_START:
            state, info = self.env.restore(self.snapshots[self.start])
        info["route_start"] = self.start
        return state, info

    def step(self, action):
        keep = self.failed and self.start == LEVEL_START
        if keep:
            self.trail.append(self.env.snapshot())
        state, reward, terminated, truncated, info = self.env.step(action)
        if keep and terminated and not info.get("flag_get") and len(self.trail) >= REWIND[0]:
            self.failures.append(self.trail[-int(self.rng.integers(REWIND[0], len(self.trail) + 1))])
        info["route_start"] = self.start
        return state, reward, terminated, truncated, info


def make_route_worker_env(
    world: int,
    stage: int,
    actions: str,
    noop_max: int,
    sticky: float,
    route_dir: str,
    share: float,
    behind: float = 0.0,
    failed: float = 0.0,
    owner_pid: int | None = None,
    sticky_share: float = 1.0,
) -> RouteStarts:
    env = make_worker_env(
        world, stage, actions, noop_max, owner_pid=owner_pid, sticky=sticky, sticky_share=sticky_share
    )
    return RouteStarts(env, Route.load(route_dir), share, behind, failed=failed)


def route_env_thunk(config) -> functools.partial:
    """A picklable factory of `config`'s worker env with route starts (config.starts)."""
    return functools.partial(
        make_route_worker_env,
        config.world,
        config.stage,
        config.actions,
        config.noop_max,
        config.sticky,
        config.starts,
        config.start_share,
        config.start_behind,
        config.start_failed,
        owner_pid=os.getpid(),
        sticky_share=config.sticky_share,
    )


def route_demonstration(route: Route) -> tuple[torch.Tensor, torch.Tensor]:
    """The route as a demonstration (DQfD, `--demo-weight`): the state before each of its steps, from one
    exact replay from the level's start (the frame stacks an agent playing it sees), and the step's action
    -> (states (n, 4, 84, 84) uint8, actions (n,) int64)."""
    env = make_env(route.world, route.stage, route.actions)
    try:  # the state before each step: after the reset and each step but the last (or where it ended)
        states = [
            state for i, state, _, ended in walk_route(env, route) if i < len(route.steps) and not ended
        ]
    finally:
        env.close()
    return torch.from_numpy(np.stack(states)), torch.tensor(route.steps[: len(states)], dtype=torch.int64)


def check_route(route: Route, config) -> None:
    """The route must be of the level and action set being trained (a one-line error otherwise)."""
    if (route.world, route.stage) != (config.world, config.stage):
        raise ValueError(
            f"--starts {config.starts}: its route is of {route.env_id}, the run trains "
            f"world {config.world} stage {config.stage}"
        )
    if route.actions != config.actions:
        raise ValueError(
            f"--starts {config.starts}: its route uses the action set {route.actions!r}, the run "
            f"{config.actions!r} (explore again with --actions {config.actions})"
        )
    if not route.flag:
        raise ValueError(f"--starts {config.starts}: its route does not reach the flag (explore for longer)")
    if config.start_share + config.start_behind + config.start_failed > 1:
        raise ValueError(
            f"--start-share {config.start_share}, --start-behind {config.start_behind} and --start-failed "
            f"{config.start_failed} add up to more than 1 (the rest of the episodes start in the window)"
        )


class BackwardCurriculum:
    """Where training episodes start along the route: a window of points that moves back from the flag."""

    def __init__(
        self, xs: list[int], width: int, threshold: float, judge: int = JUDGE_EPISODES, start_x: int = 0
    ):
        self.xs, self.width, self.threshold, self.judge = xs, max(1, width), threshold, judge
        # the window ends at the last point before the flag, or before start_x (where an agent fails)
        end = len(xs) if not start_x else max(1, sum(x < start_x for x in xs))
        self.lo = max(0, end - self.width)
        self.window_outcomes: deque[bool] = deque(maxlen=judge)
        self.level_outcomes: deque[bool] = deque(maxlen=HISTORY)
        self.failed_outcomes: deque[bool] = deque(maxlen=HISTORY)
        self.moves: list[dict[str, int]] = []  # (agent step, new window start) each time it moved

    @property
    def window(self) -> tuple[int, int]:
        return self.lo, min(len(self.xs), self.lo + self.width) - 1

    def record(self, start: int, flag: bool, step: int) -> bool:
        """One finished training episode -> whether the window moved back."""
        if start in (LEVEL_START, FAILED_START):
            (self.level_outcomes if start == LEVEL_START else self.failed_outcomes).append(bool(flag))
            return False
        lo, hi = self.window
        if not lo <= start <= hi:
            return False
        self.window_outcomes.append(bool(flag))
        full = len(self.window_outcomes) == self.judge
        if self.lo == 0 or not full or np.mean(self.window_outcomes) < self.threshold:
            return False
        self.lo = max(0, self.lo - max(1, self.width // 2))
        self.window_outcomes.clear()
        self.moves.append({"step": int(step), "start": self.lo, "x": self.xs[self.lo]})
        return True

    def summary(self) -> dict[str, float | int]:
        """What the log records: the window's first point and its x, and the flag rates (of episodes
        from failure starts once there are some)."""

        def rate(outcomes):
            return round(float(np.mean(outcomes)), 3) if outcomes else 0.0

        summary = {
            "start_point": self.lo,
            "start_x": self.xs[self.lo],
            "window_flag_rate": rate(self.window_outcomes),
            "level_start_flag_rate": rate(self.level_outcomes),
        }
        if self.failed_outcomes:
            summary["failed_start_flag_rate"] = rate(self.failed_outcomes)
        return summary

    def state(self) -> dict[str, Any]:
        return {
            "lo": self.lo,
            "window_outcomes": list(self.window_outcomes),
            "level_outcomes": list(self.level_outcomes),
            "failed_outcomes": list(self.failed_outcomes),
            "moves": self.moves,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.lo = min(max(0, int(state["lo"])), len(self.xs) - 1)
        self.window_outcomes = deque((bool(o) for o in state["window_outcomes"]), maxlen=self.judge)
        self.level_outcomes = deque((bool(o) for o in state["level_outcomes"]), maxlen=HISTORY)
        self.failed_outcomes = deque((bool(o) for o in state.get("failed_outcomes", [])), maxlen=HISTORY)
        self.moves = list(state.get("moves", []))
