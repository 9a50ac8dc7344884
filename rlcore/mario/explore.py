"""Go-Explore's exploration phase on the emulator: find a route to the flag without a network.

Ecoffet et al. (Nature 2021) explore by returning to promising states and exploring from there. The
emulator saves and restores its whole state (nes-py `dump_state()` / `load_state()`, ~20 us each), so
"return" is exact and free:

- the archive maps cells (Mario's x and y position, in 16-pixel bins) to the best way found of
  reaching them: the emulator state and the agent-step actions from the level's start (fewer steps
  is better, so the route stays fast against the level's clock);
- each iteration picks a cell, favouring the rightmost and the rarely chosen, restores it and acts at
  random for up to `EXPLORE_STEPS` agent steps, keeping an action with probability `REPEAT` (jumps
  need A held), adding or improving every cell it passes, until Mario dies;
- the first episode that reaches the flag (the axe in X-4) ends the search.

Actions are agent steps (4 frames, the agent's own skip), so a route is exactly what an agent could
have played, and replaying it from `reset()` (no no-ops, no sticky actions) reaches the flag again:
the emulator is deterministic. Native snapshots live in memory only (they do not pickle), so the
route is saved as its actions, and a trainer rebuilds the save states it needs by replaying them
(`route_snapshots`). Memory is bounded: at most `max_cells` cells (a stage has ~3,000 bins), each
one snapshot and its action list.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlcore import checkpoint as ckpt
from rlcore.config import MAX_SEED, option
from rlcore.mario.env import SKIP, MarioPreprocessing, env_id, make_env, resolve_actions

ROUTE_FILE = "route.json"
CELL_X, CELL_Y = 16, 16  # pixels per cell: one tile of the level
EXPLORE_STEPS = 50  # agent steps explored from a chosen cell (200 frames)
REPEAT = 0.9  # the chance of keeping the previous random action (Go-Explore's action repeats)
FRONTIER_PX = 256.0  # a cell this far behind the best x is chosen e times less often
MAX_CELLS = 20_000
MAX_ROUTE_STEPS = 20_000  # what a route file may hold (a stage's clock allows ~3,000 agent steps)


@dataclass
class ExploreOptions:
    """`rlcore explore mario`'s flags."""

    world: int = option(1, "world 1-8", ge=1, le=8)
    stage: int = option(1, "stage 1-4", ge=1, le=4)
    actions: str = option(
        "right_jump",
        "the action set of the agent that will train from the route (right_jump, "
        "the tutorial's; castles with fire bars need right_only, whose NOOP waits)",
    )
    seed: int = option(
        0, "seed of the search (with a frame budget the search is deterministic)", ge=0, le=MAX_SEED
    )
    frames: int = option(
        2_000_000,
        "emulator frame budget (about 40 min of one core; World 1's stages took 16k-67k)",
        ge=1,
        le=10**9,
    )
    seconds: float = option(0.0, "also stop after this long (0: no time limit)", ge=0.0, le=10**6)
    until_x: int = option(
        0,
        "stop at the first episode reaching this x: a section of the stage (0: the flag; a "
        "section's route cannot train with --starts)",
        ge=0,
        le=10**5,
    )


def explore_and_save(
    options: ExploreOptions,
    out: str | os.PathLike | None = None,
    progress: Callable[[dict[str, Any]], Any] | None = None,
) -> tuple[str, bool]:
    """`explore`, the route replayed from the level's start as a check, and saved (default folder:
    runs/routes/mario-W-S) -> (what was written and what it cost, whether it reached its goal and held)."""
    resolve_actions(options.actions)
    out = Path(out) if out else Path("runs/routes") / f"mario-{options.world}-{options.stage}"

    def report(status: dict[str, int]) -> None:
        if progress is not None:
            progress(
                {
                    "done": status["frames"],
                    "total": options.frames,
                    "cells": status["cells"],
                    "best_x": status["best_x"],
                }
            )

    route = explore(
        options.world,
        options.stage,
        options.actions,
        seed=options.seed,
        max_frames=options.frames,
        max_seconds=options.seconds,
        target_x=options.until_x,
        progress=report,
    )
    check = replay(route)
    file = route.save(out)
    goal = f"x {options.until_x}" if options.until_x else "the flag"
    reached = route.flag or bool(options.until_x and route.x_pos[-1] >= options.until_x)
    found = f"reaches {goal}" if reached else f"does NOT reach {goal} (best x {route.x_pos[-1]})"
    held = check["flag_get"] if route.flag else check["x_pos"] >= route.x_pos[-1]
    return (
        f"wrote {file}: {len(route.steps)} agent steps, {found}; {route.frames:,} frames, {route.seconds} s, "
        f"{route.cells} cells; replayed from the level's start: flag {check['flag_get']}, x {check['x_pos']}",
        reached and held,
    )


@dataclass
class Route:
    """A way through a stage: the agent-step actions from the level's start, and what finding it cost."""

    world: int
    stage: int
    actions: str  # the action set the indices refer to
    steps: list[int]  # action index per agent step (4 frames each)
    x_pos: list[int] = field(default_factory=list)  # Mario's x after each step
    flag: bool = False  # the route ends at the flag (the axe in X-4)
    frames: int = 0  # emulator frames the exploration spent
    seconds: float = 0.0
    cells: int = 0
    seed: int = 0
    skip: int = SKIP

    @property
    def env_id(self) -> str:
        return env_id(self.world, self.stage)

    def save(self, folder: str | os.PathLike) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        document = {"format": "rlcore-route", "env_id": self.env_id, **dataclasses.asdict(self)}
        # one line per field: the action and x lists stay compact in git (~2-4 KB a stage)
        lines = ",\n".join(
            f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in document.items()
        )
        return ckpt.atomic_write_bytes(folder / ROUTE_FILE, ("{\n" + lines + "\n}\n").encode())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Route":
        """A route folder (or its route.json), checked field by field: a one-line error on anything else."""
        file = Path(path) / ROUTE_FILE if Path(path).is_dir() else Path(path)
        if not file.is_file():
            raise ckpt.CheckpointError(f"{path}: no {ROUTE_FILE} here (make one with `rlcore explore mario`)")
        data = ckpt.read_json(file)
        with ckpt.reading(file):
            if not isinstance(data, dict) or data.get("format") != "rlcore-route":
                raise ValueError("not an rlcore route file")
            route = cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})
            n_actions = len(resolve_actions(route.actions))
            env_id(route.world, route.stage)
            steps = np.asarray(route.steps)
            if (
                steps.ndim != 1
                or not 0 < len(steps) <= MAX_ROUTE_STEPS
                or steps.dtype.kind != "i"
                or steps.min() < 0
                or steps.max() >= n_actions
            ):
                raise ValueError(f"steps must be 1-{MAX_ROUTE_STEPS} action indices below {n_actions}")
            if route.skip != SKIP:
                raise ValueError(f"skip {route.skip!r}: routes are recorded with the agent's skip {SKIP}")
            route.steps = [int(a) for a in steps]
        return route


def walk_route(
    env: MarioPreprocessing, route: Route
) -> Iterator[tuple[int, np.ndarray, dict[str, Any], bool]]:
    """Replay `route`'s actions from the level's start on `env` (the one replay loop of a route's check,
    its save states and its demonstration) -> (i, the state, the info, whether the episode ended) after
    the reset (i 0) and after each step i; it stops where the episode ends. `env.snapshot()` taken
    between two items is the save state after step i."""
    state, info = env.reset()
    yield 0, state, info, False
    for i, action in enumerate(route.steps, start=1):
        state, _, terminated, truncated, info = env.step(action)
        ended = bool(terminated or truncated)
        yield i, state, info, ended
        if ended:
            return


def route_snapshots(env: MarioPreprocessing, route: Route, every: int) -> tuple[list[Any], list[int]]:
    """Replay `route` from the level's start on `env` (no no-ops, no sticky actions) and keep a save state
    every `every` agent steps, the level's start first -> (snapshots, Mario's x at each)."""
    if env.noop_max or env.sticky:
        raise ValueError(
            "route_snapshots replays a route exactly: use an env without no-ops or sticky actions"
        )
    snapshots, xs = [], []
    for i, _, info, ended in walk_route(env, route):
        if ended:
            raise ValueError(
                f"route of {route.env_id} ends at step {i} of {len(route.steps)} when replayed "
                f"(x {info['x_pos']}): it was recorded on another emulator or action set"
            )
        if i % every == 0:
            snapshots.append(env.snapshot())
            xs.append(int(info["x_pos"]))
        if i == len(route.steps) - 1:
            break  # no start on the flag's own step
    return snapshots, xs


def replay(route: Route, env: MarioPreprocessing | None = None) -> dict[str, Any]:
    """Play `route`'s actions from the level's start -> {flag_get, x_pos, steps}: the check that it holds."""
    own = env is None
    env = env or make_env(route.world, route.stage, route.actions)
    try:
        for steps, _, info, _ in walk_route(env, route):
            pass
        return {"flag_get": bool(info["flag_get"]), "x_pos": int(info["x_pos"]), "steps": steps}
    finally:
        if own:
            env.close()


@dataclass
class Cell:
    snapshot: Any
    actions: np.ndarray  # uint8 action indices from the level's start
    x_pos: list[int]
    chosen: int = 0


class Archive:
    """Cells keyed by (x, y) bins, each the shortest way found to reach it."""

    def __init__(self, max_cells: int = MAX_CELLS):
        self.cells: dict[tuple[int, int], Cell] = {}
        self.max_cells = max_cells
        self.best_x = 0

    def offer(
        self, info: dict[str, Any], snapshot: Callable[[], Any], actions: list[int], xs: list[int]
    ) -> None:
        key = (int(info["x_pos"]) // CELL_X, int(info["y_pos"]) // CELL_Y)
        cell = self.cells.get(key)
        if cell is None and len(self.cells) >= self.max_cells:
            return
        if cell is None or len(actions) < len(cell.actions):
            self.cells[key] = Cell(
                snapshot(), np.asarray(actions, np.uint8), list(xs), chosen=cell.chosen if cell else 0
            )
            self.best_x = max(self.best_x, int(info["x_pos"]))

    def choose(self, rng: np.random.Generator) -> Cell:
        cells = list(self.cells.values())
        x = np.array([c.x_pos[-1] for c in cells], np.float64)
        chosen = np.array([c.chosen for c in cells], np.float64)
        weight = np.exp((x - self.best_x) / FRONTIER_PX) / np.sqrt(chosen + 1.0)
        cell = cells[rng.choice(len(cells), p=weight / weight.sum())]
        cell.chosen += 1
        return cell

    def furthest_way(self) -> tuple[list[int], list[int]]:
        """(actions, x positions) of the way to the cell furthest right."""
        best = max(self.cells.values(), key=lambda c: c.x_pos[-1])
        return [int(a) for a in best.actions], list(best.x_pos)


def _explore_from(
    env: MarioPreprocessing, cell: Cell, archive: Archive, rng: np.random.Generator, target_x: int
) -> tuple[tuple[list[int], list[int]] | None, bool, int]:
    """One go from `cell`: up to EXPLORE_STEPS sticky random actions, each cell reached offered to `archive`
    -> ((actions, x positions) when it reached the flag or `target_x`, else None; whether at the flag;
    the frames it played)."""
    env.reset()
    env.restore(cell.snapshot)
    taken, xs = [int(a) for a in cell.actions], list(cell.x_pos)
    n_actions = env.action_space.n
    action, frames = int(rng.integers(n_actions)), 0
    for _ in range(EXPLORE_STEPS):
        if rng.random() >= REPEAT:
            action = int(rng.integers(n_actions))
        _, _, terminated, truncated, info = env.step(action)
        frames += env.skip
        taken.append(action)
        xs.append(int(info["x_pos"]))
        if info["flag_get"] or (target_x and xs[-1] >= target_x):
            return (taken, xs), bool(info["flag_get"]), frames
        if terminated or truncated:
            break
        archive.offer(info, env.snapshot, taken, xs)
    return None, False, frames


def explore(
    world: int = 1,
    stage: int = 1,
    actions: str = "right_jump",
    *,
    seed: int = 0,
    max_frames: int = 2_000_000,
    max_seconds: float = 0.0,
    max_cells: int = MAX_CELLS,
    target_x: int = 0,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> Route:
    """Search the stage until an episode reaches the flag (or x >= `target_x` when > 0: a section) or a
    budget runs out (frames, or seconds when > 0) -> the Route there (`flag` False when it does not end
    at the flag: the furthest cell's way, when the budget ran out). Deterministic for a seed (a frame
    budget; a time budget may stop it at another point)."""
    rng = np.random.default_rng(seed)
    env = make_env(world, stage, actions)
    start, frames = time.monotonic(), 0
    archive = Archive(max_cells)
    try:
        _, info = env.reset()
        archive.offer(info, env.snapshot, [], [int(info["x_pos"])])
        found: tuple[list[int], list[int]] | None = None
        flag = False
        while (
            found is None
            and frames < max_frames
            and not (max_seconds and time.monotonic() - start > max_seconds)
        ):
            found, flag, played = _explore_from(env, archive.choose(rng), archive, rng, target_x)
            frames += played
            if progress is not None:
                progress({"cells": len(archive.cells), "best_x": archive.best_x, "frames": frames})
        steps, xs = found if found is not None else archive.furthest_way()  # or: the budget ran out
        return Route(
            world=world,
            stage=stage,
            actions=actions,
            steps=steps,
            x_pos=xs[1:],
            flag=flag,
            frames=frames,
            seconds=round(time.monotonic() - start, 1),
            cells=len(archive.cells),
            seed=seed,
        )
    finally:
        env.close()
