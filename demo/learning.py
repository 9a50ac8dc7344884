"""Watch tab, "How it learned": an agent's bundled snapshots played side by side on one seed.

A bundled agent may ship a few snapshots of its training run (snapshots/step-<N>/, written by
`rlcore bundle-snapshots`, see rlcore/snapshots.py) with their evaluations (snapshot_evals.json). Each
panel of the video is one snapshot, captioned with its training step and its evaluated success rate
(the system's figure for it, e.g. a flag rate): the learning story a short run in the Train tab cannot tell.
Any system may have snapshots; an agent without them says so and shows no button.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from demo.context import AppContext
from demo.ui import (
    EXPECTED_ERRORS,
    figures_line,
    form_lane,
    option_echoes,
    refusal,
    trace_frame,
    trace_placeholder,
)
from rlcore.checkpoint import CheckpointError
from rlcore.snapshots import snapshot_folders, snapshot_rates
from rlcore.systems import System, get_system

MAX_PANELS = 6  # side by side; more snapshots are thinned out evenly (the first and the last kept)
HEADING = "**How it learned**"


def bundled_snapshots(folder: Path) -> list[tuple[int, Path]]:
    """(step, folder) of the snapshots an agent ships, at most MAX_PANELS of them ([] when it has none)."""
    try:
        found = snapshot_folders(folder)
    except CheckpointError:
        return []
    if len(found) <= MAX_PANELS:
        return found
    picks = sorted({round(i * (len(found) - 1) / (MAX_PANELS - 1)) for i in range(MAX_PANELS)})
    return [found[i] for i in picks]


def short_steps(step: int) -> str:
    """275000 -> "275k", 1250000 -> "1.25M": short enough for a caption above a 256-pixel panel."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if step >= size:
            return f"{step / size:.3g}{suffix}"
    return str(step)


def evaluated_rate(system: System, evaluation: dict[str, Any] | None, counts: bool = True) -> str:
    """A snapshot's evaluated success rate as the system's figure shows it ("flag rate 40% (8/20)"), else its
    mean return; "" when it was not evaluated."""
    if not evaluation:
        return ""
    episodes = evaluation.get("n_eval_episodes", "?")
    for key, rate in evaluation.get("rates", {}).items():
        figure = next((f for f in system.figures if f.per_episode == key), None)
        label, fmt = (figure.label, figure.fmt) if figure else (f"{key} rate", ".0%")
        return f"{label} {format(rate['rate'], fmt)}" + (f" ({rate['count']}/{episodes})" if counts else "")
    return f"return {evaluation['mean_reward']:.4g}" + (f" ({episodes} episodes)" if counts else "")


def note_text(ctx: AppContext, system_name: str, agent_ref: str | None) -> tuple[str, bool]:
    """(what the chosen agent's snapshots are, or that it has none; whether it has any)."""
    try:
        agent = ctx.catalog.resolve(agent_ref or "", system_name)
    except EXPECTED_ERRORS:
        return "", False
    snapshots = bundled_snapshots(agent.path)
    if not snapshots:
        return f"{HEADING}: **{agent.ref}** has no bundled snapshots.", False
    steps = ", ".join(short_steps(step) for step, _ in snapshots)
    return (
        f"{HEADING}: **{agent.ref}** ships {len(snapshots)} snapshots of its training ({steps} steps). "
        "Play them side by side on this seed.",
        True,
    )


def first_and_last(ctx: AppContext, system_name: str, agent_ref: str) -> list[Path]:
    """The folders of the agent's first and last bundled snapshots (the per-step plots show these two)."""
    snapshots = bundled_snapshots(ctx.catalog.resolve(agent_ref, system_name).path)
    return [snapshots[0][1], snapshots[-1][1]] if snapshots else []


def play_snapshots(ctx: AppContext, option_values, system_name: str, agent_ref: str, seed: Any, *values: Any):
    """The snapshots' episodes side by side: (video, status with their rates and figures,
    figures JSON, trace)."""
    try:
        system = get_system(system_name)
        options = option_values(system, seed, values)
        agent = ctx.catalog.resolve(agent_ref, system_name)
        snapshots = bundled_snapshots(agent.path)
        if not snapshots:
            raise CheckpointError(f"{agent.ref} has no bundled snapshots")
        evaluations = snapshot_rates(agent.path)
        rates = {folder.name: evaluated_rate(system, evaluations.get(folder.name)) for _, folder in snapshots}
        captions = [
            ", ".join(
                filter(
                    None,
                    (
                        f"{short_steps(step)} steps",
                        evaluated_rate(system, evaluations.get(f.name), counts=False),
                    ),
                )
            )
            for step, f in snapshots
        ]
        lineup = ctx.renderer.lineup(system.name, [f for _, f in snapshots], captions, options)
    except EXPECTED_ERRORS as err:
        return None, refusal(err), {}, trace_placeholder()
    names = [f"{step:,} steps" for step, _ in snapshots]
    lines = [
        f"- **{short_steps(step)} steps**: evaluated {rates[f.name] or '(not evaluated)'}. This episode: "
        f"{figures_line(episode.summary, hide=option_echoes(system))}"
        for (step, f), episode in zip(snapshots, lineup.episodes)
    ]
    note = "served from the cache" if lineup.cached else "rendered just now"
    status = (
        f"{HEADING}: **{agent.ref}**'s snapshots on seed {options['seed']}, left to right ({note}); "
        '"evaluated" is each snapshot\'s rate over its evaluation episodes. Per-step plots: the first '
        f"snapshot ({names[0]}) in orange, the last ({names[-1]}) in blue.\n\n" + "\n".join(lines)
    )
    document = {
        "cached": lineup.cached,
        "options": options,
        "snapshots": {
            name: {"evaluated": rates[f.name], "summary": episode.summary}
            for name, (_, f), episode in zip(names, snapshots, lineup.episodes)
        },
    }
    ends = [lineup.episodes[0].trace, lineup.episodes[-1].trace]
    return str(lineup.video), status, document, trace_frame(system, ends)


def controls(ctx: AppContext, system: System, refs: list[str]) -> tuple[gr.Markdown, gr.Button]:
    """The section under Play: a note on the chosen agent's snapshots, and the button
    (hidden without them)."""
    text, has_snapshots = note_text(ctx, system.name, refs[0] if refs else None)
    with gr.Group():
        note = gr.Markdown(text, elem_id="watch-snapshots-note")
        button = gr.Button(
            "Play its snapshots side by side", size="sm", elem_id="watch-snapshots", visible=has_snapshots
        )
    return note, button


def wire(ctx: AppContext, option_values, inputs: list, note: gr.Markdown, button: gr.Button, outputs: list):
    """`inputs`: the Watch tab's [system, agent, compare, seed, *controls]; `outputs`: [video, status,
    figures, trace]. `option_values(system, seed, values)`: the checked play options from the controls'
    values. Returns the button's event (for what follows a lineup)."""
    system, agent = inputs[0], inputs[1]

    def describe(system_name: str, agent_ref: str | None):
        text, has_snapshots = note_text(ctx, system_name, agent_ref)
        return text, gr.Button(visible=has_snapshots)

    def play(system_name: str, agent_ref: str, _compare: str, seed: Any, *values: Any):
        return play_snapshots(ctx, option_values, system_name, agent_ref, seed, *values)

    agent.change(
        describe,
        [system, agent],
        [note, button],
        api_name="watch_snapshot_note",
        show_progress="hidden",
        **form_lane("watch"),
    )
    # As Play: not in Gradio's queue, so a cached lineup is answered at once, never behind renders; what is
    # not cached waits for one of the renderer's slots (Renderer._render_slot: a bounded wait).
    return button.click(
        play,
        inputs,
        outputs,
        api_name="watch_snapshots",
        show_progress_on=[outputs[0]],
        concurrency_limit=None,
    )
