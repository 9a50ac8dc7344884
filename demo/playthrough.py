"""Watch tab, "World in a row": the recorded playthrough of the bundled stage agents, when one is shipped.

`rlcore playthrough A B ... --out checkpoints/<agent>/playthrough.mp4` writes the video and its figures
(playthrough.json, beside it) into a bundled agent's folder. The app plays that file as it is: a world
takes a minute of emulation to play again, too long to keep a visitor waiting. Only bundled agents'
files are shown (an upload cannot bring a video of its own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from demo.context import AppContext
from demo.ui import form_lane, refusal, trace_placeholder
from rlcore.checkpoint import PLAYTHROUGH_FILE, CheckpointError, read_json


def recorded_playthrough(ctx: AppContext, system_name: str) -> tuple[Path, dict[str, Any]] | None:
    """(video, figures) of the first bundled agent of `system_name` that ships a playthrough;
    None: none does."""
    for agent in ctx.catalog.local_agents(system_name):
        video = agent.path / PLAYTHROUGH_FILE
        if agent.source != "bundled" or not video.is_file():
            continue
        try:
            figures = read_json(video.with_suffix(".json"))
        except CheckpointError:
            continue  # a video without its figures is not shown: the status could not say what it is
        stages = figures.get("stages") if isinstance(figures, dict) else None
        if isinstance(stages, list) and stages and all(isinstance(stage, dict) for stage in stages):
            return video, figures
    return None


def world_of(figures: dict[str, Any]) -> str:
    """ "World 1" from the first level played ("1-1"), for the button and the status."""
    return f"World {str(figures['stages'][0].get('level', '?')).split('-')[0]}"


def description(figures: dict[str, Any]) -> str:
    """The status under the video: who played, what they cleared, and how to record it again."""
    stages = figures["stages"]  # dicts (recorded_playthrough checked)
    outcome = ", ".join(
        f"{s.get('level')} {'flag' if s.get('flag_get') else 'lost at x ' + str(s.get('x_pos'))}"
        for s in stages
    )
    summary = figures.get("summary") if isinstance(figures.get("summary"), dict) else {}
    score = summary.get("total_score")
    agents = ", ".join(Path(str(a)).name for a in figures.get("agents") or [])
    options = figures.get("options") if isinstance(figures.get("options"), dict) else {}
    sticky = options.get("sticky") or 0
    protocol = f"sticky actions {sticky} per frame" if sticky else "greedy"
    return (
        f"**{world_of(figures)} in a row** (recorded, seed {options.get('seed', 0)}, {protocol}): "
        f"{agents} each play the level they were trained on. {summary.get('flags', '?')} of "
        f"{summary.get('levels', len(stages))} levels cleared, score "
        f"{format(score, ',') if isinstance(score, int) else '?'}: {outcome}. "
        "Recorded with `rlcore playthrough`."
    )


def show(ctx: AppContext, system_name: str):
    """(video, status, figures, trace) for the Watch tab's outputs."""
    found = recorded_playthrough(ctx, system_name)
    if found is None:
        return None, refusal(f"no bundled {system_name} agent ships a playthrough"), {}, trace_placeholder()
    video, figures = found
    return str(video), description(figures), figures, trace_placeholder()


def button(ctx: AppContext, system_name: str, **style: Any) -> gr.Button:
    """The button for the shown system, labelled with its world and hidden when it has no playthrough: made
    under the video at build time (with `style`), and returned as the update when the system changes."""
    found = recorded_playthrough(ctx, system_name)
    label = (
        f"Watch {world_of(found[1])} played in a row by its stage agents"
        if found
        else "Watch a world in a row"
    )
    return gr.Button(label, visible=found is not None, **style)


def wire(ctx: AppContext, system_radio, world_button: gr.Button, outputs: list) -> None:
    """`outputs`: the Watch tab's [video, status, figures, trace]."""
    system_radio.change(
        lambda name: button(ctx, name),
        system_radio,
        world_button,
        show_progress="hidden",
        **form_lane("watch"),
    )
    world_button.click(
        lambda name: show(ctx, name),
        system_radio,
        outputs,
        api_name="watch_playthrough",
        show_progress_on=[outputs[0]],
    )
