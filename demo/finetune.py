"""Train tab runs that start from a trained agent: where they may start, the task knobs, what the time cap
allows, and the before/after that ends them (the starting agent and the trained one on the same episode).

A run may start from a bundled agent or one of its snapshots (`snapshots/step-<N>/` in its folder, when it
ships some); visitors pick from that list only, never a folder of the server. The task knobs (a level, the
physics) are each system's `task_fields` (Config fields that are also PlayOptions fields, with their widgets
in its profile's `knobs.task`), so the before/after plays exactly the task the run trained on.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from demo.context import AppContext
from demo.ui import EXPECTED_ERRORS, figures_table, form_lane, option_echoes
from rlcore.checkpoint import CheckpointError, load_config, one_line
from rlcore.config import from_dict
from rlcore.profile import PlayControl, profile_of
from rlcore.systems import Practice, System, all_systems, get_system

NEW_AGENT = ""  # the "Start from" choice of a run from scratch (the preset's config)
SNAPSHOTS = "snapshots"


@dataclasses.dataclass(frozen=True)
class StartPoint:
    ref: str  # what the dropdown passes back: "mario-1-1", "mario-1-1/snapshots/step-00100000"
    label: str
    path: Path


def start_points(ctx: AppContext, system: System) -> list[StartPoint]:
    """The bundled agents of `system` and their snapshots, each with how long it trained (when known)."""
    if not system.can_start_from:
        return []
    points = []
    for agent in ctx.catalog.local_agents(system.name):
        if agent.source != "bundled":
            continue
        points.append(
            StartPoint(
                agent.ref,
                _trained_for(system, agent.path, f"{agent.ref} (trained for {{}})", agent.ref),
                agent.path,
            )
        )
        for snapshot in sorted((agent.path / SNAPSHOTS).glob("step-*")):
            if _is_checkpoint(snapshot, system):
                ref = f"{agent.ref}/{SNAPSHOTS}/{snapshot.name}"
                points.append(
                    StartPoint(
                        ref, _trained_for(system, snapshot, f"{agent.ref}, snapshot at {{}}", ref), snapshot
                    )
                )
    return points


def _is_checkpoint(folder: Path, system: System) -> bool:
    try:
        load_config(folder, system=system.name)
        return True
    except CheckpointError:
        return False


def _trained_for(system: System, folder: Path, template: str, otherwise: str) -> str:
    """`template` filled with how long the agent trained
    ("705,741 agent steps"), or `otherwise` when unknown."""
    trained = system.trained_budget(folder)
    unit = profile_of(system).knobs.budget_label.lower()
    return template.format(f"{trained:,} {unit}") if trained else otherwise


def start_choices(ctx: AppContext, system: System) -> list[tuple[str, str]]:
    return [("A new agent (the preset's recipe)", NEW_AGENT)] + [
        (p.label, p.ref) for p in start_points(ctx, system)
    ]


def recommended_start(ctx: AppContext, system: System) -> str:
    """What the tab proposes: the system's `start_agent` when bundled here, else the first bundled agent (a
    run from it shows learning within the cap)."""
    refs = [point.ref for point in start_points(ctx, system)]
    knobs = profile_of(system).knobs
    return knobs.start_agent if knobs.start_agent in refs else (refs or [NEW_AGENT])[0]


def start_path(ctx: AppContext, system: System, ref: str | None) -> Path | None:
    """The folder a "Start from" choice names (None: a new agent); a ValueError for anything not listed."""
    if not ref:
        return None
    for point in start_points(ctx, system):
        if point.ref == ref:
            return point.path
    raise ValueError(
        f"{ref!r}: not an agent a {system.name} run can start from here "
        f"(choose one of: {', '.join(p.ref for p in start_points(ctx, system)) or 'none'})"
    )


# ------------------------------------------------------------------------------------ task knobs


def task_controls() -> list[PlayControl]:
    """Every system's task knobs, one per field name (systems sharing a field share its widget)."""
    seen: dict[str, PlayControl] = {}
    for system in all_systems():
        for control in profile_of(system).knobs.task:
            seen.setdefault(control.field, control)
    return list(seen.values())


def task_widget(control: PlayControl, visible: bool, value: Any) -> gr.components.Component:
    elem_id = f"train-task-{control.field}"
    if control.choices:
        return gr.Dropdown(
            list(control.choices),
            value=value,
            label=control.label,
            visible=visible,
            elem_id=elem_id,
            min_width=120,
        )
    return gr.Slider(
        control.minimum,
        control.maximum,
        value=value,
        step=control.step,
        label=control.label,
        visible=visible,
        elem_id=elem_id,
        min_width=120,
    )


def _any_value(control: PlayControl) -> Any:
    """A valid value for a knob of another system (hidden; never used, but the API needs a default)."""
    return control.choices[0] if control.choices else control.minimum


def task_defaults(system: System, start: Path | None) -> dict[str, Any]:
    """The task a run proposes: from an agent, the system's `start_task` over the agent's own;
    else the Config's."""
    values = system.task_of(system.config_of(start) if start is not None else system.Config())
    return {**values, **profile_of(system).knobs.start_task} if start is not None else values


def task_values(system: System, values: Sequence[Any]) -> dict[str, Any]:
    """The task knobs' values (in task_controls() order) that belong to `system`,
    typed as its Config's fields."""
    types = {f.name: f.type for f in dataclasses.fields(system.Config)}
    mine = set(system.task_fields)
    chosen = {}
    for control, value in zip(task_controls(), values):
        if control.field in mine and value is not None:
            chosen[control.field] = int(value) if types[control.field] in ("int", int) else float(value)
    return chosen


def task_updates(system: System, start: Path | None) -> list[Any]:
    """Shown and filled for the system's task knobs, hidden for the others'."""
    defaults = task_defaults(system, start)
    return [
        gr.update(visible=c.field in defaults, value=defaults.get(c.field))
        if c.field in defaults
        else gr.update(visible=False)
        for c in task_controls()
    ]


def budget_for(system: System, start_ref: str | None) -> int:
    """The budget the tab proposes: the system's `start_budget` for a run from an agent, else its default."""
    knobs = profile_of(system).knobs
    return knobs.start_budget if start_ref and knobs.start_budget else knobs.default_budget


def start_widgets(ctx: AppContext, system: System, start_ref: str) -> tuple[gr.Dropdown, list]:
    """The "Start from" dropdown and the task knobs (a row; only the system's own are shown)."""
    start_from = gr.Dropdown(
        start_choices(ctx, system),
        value=start_ref,
        label="Start from",
        elem_id="train-start",
        info="A bundled agent (or one of its snapshots) to train further on the task below, "
        "or a new agent; from an agent the preset is not used (its own recipe is)",
    )
    start = start_path(ctx, system, start_ref)
    defaults = task_defaults(system, start)
    with gr.Row():
        task = [
            task_widget(c, c.field in defaults, defaults.get(c.field, _any_value(c))) for c in task_controls()
        ]
    return start_from, task


def wire_start_widgets(
    ctx: AppContext, system_changed, system_radio, start_from, task: list, steps, note, preset
) -> None:
    """A new system proposes its recommended start; a new start proposes its task and budget (the preset is
    used only by a new agent); both redo the note."""

    def for_system(chosen: str):
        system = get_system(chosen)
        ref = recommended_start(ctx, system)
        return (gr.update(choices=start_choices(ctx, system), value=ref), *start_updates(ctx, system, ref))

    def for_start(chosen: str, ref: str):
        return start_updates(ctx, get_system(chosen), ref)

    outputs = [*task, steps, note, preset]
    # quick updates of the form: no loading overlay over the widgets they fill
    system_changed.then(
        for_system,
        system_radio,
        [start_from, *outputs],
        api_name="train_start_choices",
        show_progress="hidden",
        **form_lane("train"),
    )
    start_from.input(
        for_start,
        [system_radio, start_from],
        outputs,
        api_name="train_start",
        show_progress="hidden",
        **form_lane("train"),
    )


def start_updates(ctx: AppContext, system: System, ref: str | None) -> list[Any]:
    """The task knobs, the budget and the cap note for a run of `system` starting from `ref`."""
    try:
        start = start_path(ctx, system, ref)
    except ValueError:
        start, ref = None, NEW_AGENT
    return [
        *task_updates(system, start),
        gr.update(value=budget_for(system, ref)),
        cap_note(ctx, system, ref),
        gr.update(interactive=start is None),
    ]


# ------------------------------------------------------------------------------------ the cap


def cap_note(ctx: AppContext, system: System, start_ref: str | None) -> str:
    """What the time cap allows on this CPU against what learning needs (a good agent's training, a visible
    change from an agent), said before Start."""
    knobs, cap = profile_of(system).knobs, ctx.settings.max_train_seconds
    if not knobs.cpu_rate:
        return ""
    unit, allows = knobs.budget_label.lower(), cap * knobs.cpu_rate
    text = (
        f"{cap:.0f} s here is about **{allows:,.0f} {unit}** (~{knobs.cpu_rate:g} a second on an idle 2-core "
        "CPU, fewer while it is busy)"
    )
    try:
        start = start_path(ctx, system, start_ref)
    except ValueError:
        start = None
    practises = system.practises and knobs.practice_needs > 0
    required = knobs.practice_needs if practises and start is not None else knobs.start_needs
    needs = f"a run from a trained agent needs about **{required:,}** before the agent changes visibly" + (
        "." if allows >= required else ", so expect little change within the cap."
    )
    if start is not None:
        trained = system.trained_budget(start)
        practice = (
            f" That is when it practises where the agent fails on this task (its training episodes start "
            f"just before that spot, and the before/after plays from there too); on the whole task it "
            f"needs about **{knobs.start_needs:,}**."
            if practises
            else ""
        )
        return (
            f"{text}, on top of the {f'{trained:,} ' if trained else ''}{unit} of **{start_ref}**; {needs}"
            f"{practice} The run ends with a before/after: "
            "the starting agent and the trained one on the same episode."
        )
    good = next(
        (
            (p.ref, system.trained_budget(p.path))
            for p in start_points(ctx, system)
            if system.trained_budget(p.path)
        ),
        None,
    )
    if good is None or good[1] <= allows:
        return f"{text}."
    return (
        f"{text}; the bundled agent **{good[0]}** needed **{good[1]:,}**: a new agent cannot learn much "
        f"within the cap, and {needs}"
    )


def start_and_task(
    ctx: AppContext, system_name: str, start: Sequence[Any]
) -> tuple[Path | None, dict[str, Any]]:
    """The Train form's "Start from" choice and task knobs' values -> (the start folder, the task fields)."""
    system = get_system(system_name)
    ref, *values = start or (NEW_AGENT,)
    return start_path(ctx, system, ref), task_values(system, values)


# ------------------------------------------------------------------------------------ before/after


def episode_seed(system: System, start: Path | None, training_seed: int) -> int:
    """The episode that shows the trained agent: for a run from an agent, the system's default episode (the
    one Watch opens on, chosen to show the task: the Pendulum's starts hanging down),
    else the training seed."""
    return system.play_options().seed if start is not None else training_seed


def with_practice(
    ctx: AppContext, system: System, start: Path, config: dict[str, Any], options: Mapping[str, Any]
) -> tuple[dict[str, Any], Practice | None]:
    """The run's config with the system's practice (System.practice) for the agent it starts from, judged by
    that agent's episode on the before/after's `options` (rendered now: the before/after's left side is then
    served from the cache)."""
    try:
        episode = ctx.renderer.episode(system.name, start, dict(options))
        practice = system.practice(from_dict(system.Config, config), episode.summary)
    except EXPECTED_ERRORS as err:  # no practice then: the run trains on the whole task, as any other
        print(f"app: {system.name} run without practice: {one_line(err)}", file=sys.stderr, flush=True)
        return config, None
    return ({**config, **practice.config}, practice) if practice is not None else (config, None)


def add_before_after(
    ctx: AppContext,
    system: System,
    start: tuple[str, Path],
    trained: Path,
    options: Mapping[str, Any],
    status: str,
    video: str,
    practice: Practice | None = None,
) -> tuple[str, str]:
    """The end of a run from an agent: the status with both agents' figures, and their side-by-side video
    (a failure to render it keeps the trained agent's own video and says why in one line)."""
    try:
        text, both = before_after(ctx, system, start, trained, options, practice)
    except EXPECTED_ERRORS as err:
        return f"{status}\n\nNo before/after: {one_line(err)}", video
    return f"{status}\n\n{text}", both


def before_after(
    ctx: AppContext,
    system: System,
    start: tuple[str, Path],
    trained: Path,
    options: Mapping[str, Any],
    practice: Practice | None = None,
) -> tuple[str, str]:
    """The starting agent (left) and the trained one (right) on the same episode (`options`: its seed and the
    task trained on; from the practice spot when the run practised one, then the figures of both from the
    task's start too): (Markdown of both agents' figures, the side-by-side video)."""
    ref, folder = start
    played = {**options, **practice.play} if practice is not None else dict(options)
    shown = ctx.renderer.comparison(system.name, folder, trained, played)
    text = (
        f"**Before / after** ({_options_line(played)}): left the agent it started from, right the trained "
        f"one, on the same episode.\n\n{_pair_table(system, ref, shown.left.summary, shown.right.summary)}"
    )
    if practice is None:
        return text, str(shown.video)
    before, after = (ctx.renderer.episode(system.name, agent, dict(options)) for agent in (folder, trained))
    return (
        f"**Practice**: {practice.note}.\n\n{text}\n\n**From the start** ({_options_line(options)}):\n\n"
        f"{_pair_table(system, ref, before.summary, after.summary)}",
        str(shown.video),
    )


def _options_line(options: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in options.items())


def _pair_table(system: System, ref: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    return figures_table({f"before ({ref})": before, "after (this run)": after}, hide=option_echoes(system))
