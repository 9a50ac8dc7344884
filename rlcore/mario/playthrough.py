"""A World playthrough: stage agents play their levels in a row (1-1, 1-2, ...), as one video with the
stage and the running score above the game, a title card before each level and the results at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rlcore.mario import play as _play
from rlcore.mario.agent import Mario

BANNER_HEIGHT = 24  # pixels above the NES screen: the playthrough's own line, the game's HUD stays visible
TITLE_FRAMES = 2 * _play.PLAYBACK_FPS  # 2 s of title card before each level
RESULTS_FRAMES = 4 * _play.PLAYBACK_FPS  # and 4 s of results at the end
INK, PAPER = (255, 255, 255), (0, 0, 0)


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def banner(frame: np.ndarray, text: str) -> np.ndarray:
    """`frame` with a black strip on top carrying `text`."""
    image = Image.new("RGB", (frame.shape[1], frame.shape[0] + BANNER_HEIGHT), PAPER)
    image.paste(Image.fromarray(frame), (0, BANNER_HEIGHT))
    draw, size = ImageDraw.Draw(image), 14
    while size > 8 and draw.textlength(text, font=_font(size)) > frame.shape[1] - 8:
        size -= 1  # fit the line to the frame's width
    draw.text((4, 4), text, fill=INK, font=_font(size))
    return np.asarray(image)


def card(lines: Sequence[str], size: tuple[int, int]) -> np.ndarray:
    """A black (height, width) card with centred lines of text, the first one larger."""
    image = Image.new("RGB", (size[1], size[0]), PAPER)
    draw = ImageDraw.Draw(image)
    y = size[0] // 2 - 12 * len(lines)
    for i, line in enumerate(lines):
        font = _font(20 if i == 0 else 13)
        width = draw.textlength(line, font=font)
        draw.text(((size[1] - width) / 2, y), line, fill=INK, font=font)
        y += 30 if i == 0 else 20
    return np.asarray(image)


def stage_order(agents: Sequence[Mario]) -> list[Mario]:
    """The agents sorted by the level they were trained on; one agent per level."""
    levels = [(a.config.world, a.config.stage) for a in agents]
    duplicates = sorted({lv for lv in levels if levels.count(lv) > 1})
    if duplicates:
        raise ValueError(
            f"two agents were trained on level {duplicates[0][0]}-{duplicates[0][1]}: give one per level"
        )
    return sorted(agents, key=lambda a: (a.config.world, a.config.stage))


def playthrough_frames(
    checkpoints: Sequence[str | os.PathLike | Mario],
    run: dict[str, Any],
    *,
    seed: int = 0,
    sticky: float = 0.0,
    noop_max: int = _play.EVAL_NOOP_MAX,
    max_steps: int = _play.MAX_EPISODE_STEPS,
) -> Iterator[np.ndarray]:
    """Each agent plays the level it was trained on, in level order, one episode each on `seed` (greedy, or
    under sticky actions); the video's frames are yielded as they are played (a writer holds one), and `run`
    gets {stages: [per-level figures], total_score, flags, seed, sticky} as it goes. The run goes on after
    a level is lost, as a showcase of every stage agent (the results card says which levels were cleared)."""
    if not checkpoints:
        raise ValueError("give at least one Mario checkpoint")
    agents = stage_order([c if isinstance(c, Mario) else Mario.load(c) for c in checkpoints])
    stages = run.setdefault("stages", [])
    run.update(total_score=0, flags=0, seed=seed, sticky=sticky)
    size = None
    for agent in agents:
        level = f"{agent.config.world}-{agent.config.stage}"
        episode: dict[str, Any] = {}
        frames = _play.episode_frames(
            agent, episode, seed=seed, sticky=sticky, noop_max=noop_max, max_steps=max_steps
        )
        for i, frame in enumerate(frames):  # frame i comes after step i - 1, whose entry is in the trace
            if size is None:
                size = (frame.shape[0] + BANNER_HEIGHT, frame.shape[1])
            if i == 0:
                title = card([f"WORLD {level}", f"agent trained {agent.curr_step:,} steps on {level}"], size)
                yield from [title] * TITLE_FRAMES
            score = episode["trace"][i - 1]["score"] if i else 0
            cleared = f"CLEARED {run['flags']}/{len(agents)}"
            yield banner(frame, f"WORLD {level}  SCORE {run['total_score'] + score:06d}  {cleared}")
        score = episode["trace"][-1]["score"] if episode["trace"] else 0
        stages.append(_stage_figures(level, episode, score, agent.curr_step))
        run["total_score"] += score
        run["flags"] = sum(s["flag_get"] for s in stages)
    lines = [f"{run['flags']} of {len(stages)} levels cleared", f"score {run['total_score']:,}"]
    lines += [f"{s['level']}: {'flag' if s['flag_get'] else 'lost at x ' + str(s['x_pos'])}" for s in stages]
    yield from [card(lines, size)] * RESULTS_FRAMES


def _stage_figures(level: str, run: dict[str, Any], score: int, training_steps: int) -> dict[str, Any]:
    """A level's line of a playthrough's results: its episode's outcome and the agent's training."""
    return {
        "level": level,
        "flag_get": run["flag_get"],
        "x_pos": run["x_pos"],
        "return": run["return"],
        "score": score,
        "length": run["length"],
        "training_steps": training_steps,
    }


def world_in_a_row(
    checkpoints: Sequence[str | os.PathLike | Mario],
    *,
    episodes: int = 100,
    seed: int = 0,
    sticky: float = 0.0,
    noop_max: int = _play.EVAL_NOOP_MAX,
    max_steps: int = _play.MAX_EPISODE_STEPS,
    progress=None,
) -> dict[str, Any]:
    """How often the stage agents clear their world in a row: run i plays every level in order on seed
    `seed + i` and ends at the first level lost (as a player would, with no frames recorded) ->
    {runs, cleared, rate, ci95, levels: [{level, played, cleared}], protocol}."""
    from rlcore.evaluation import check_episodes, rate_summary

    check_episodes(episodes)
    if not checkpoints:
        raise ValueError("give at least one Mario checkpoint")
    agents = stage_order([c if isinstance(c, Mario) else Mario.load(c) for c in checkpoints])
    levels = [{"level": f"{a.config.world}-{a.config.stage}", "played": 0, "cleared": 0} for a in agents]
    outcomes = []
    for run in range(episodes):
        episode = {"seed": seed + run, "sticky": sticky, "noop_max": noop_max, "max_steps": max_steps}
        outcomes.append(_clears_world(agents, levels, episode))
        if progress is not None:
            progress(1)
    summary = rate_summary(outcomes)
    protocol = {
        "sticky": sticky,
        "noop_max": noop_max,
        "max_steps": max_steps,
        "first_seed": seed,
        "episodes": episodes,
    }
    if sticky:
        protocol["sticky_per"] = _play.STICKY_PER
    return {
        "runs": episodes,
        "cleared": summary["count"],
        "rate": summary["rate"],
        "ci95": summary["ci95"],
        "levels": levels,
        "protocol": protocol,
        "agents": [str(c) for c in checkpoints],
    }


def _clears_world(agents: list[Mario], levels: list[dict[str, Any]], episode: dict[str, Any]) -> bool:
    """One run of world_in_a_row: the agents play their levels in order (run_episode's `episode`
    settings) until one is lost; each level played and cleared is counted in `levels`."""
    for agent, level in zip(agents, levels):
        level["played"] += 1
        if not _play.run_episode(agent, **episode)["flag_get"]:
            return False
        level["cleared"] += 1
    return True
