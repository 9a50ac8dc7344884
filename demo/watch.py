"""Watch tab: one episode of an agent (or two side by side) as a video, with its figures.

The system picker and each system's play controls (its profile's play_controls) come from the registered
systems; the handlers are module-level functions taking the app context.
"""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from demo import generalisation, learning, playthrough
from demo.context import AppContext
from demo.ui import (
    AXIS_FORMATS,
    EXPECTED_ERRORS,
    SIDE_COLOURS,
    figures_table,
    form_lane,
    is_toggle,
    labelled_choices,
    option_echoes,
    ordered_controls,
    refusal,
    series_frame,
    trace_frame,
    trace_placeholder,
    watch_order,
)
from rlcore.checkpoint import REPLAY_FILE
from rlcore.config import from_dict
from rlcore.profile import PlayControl, profile_of
from rlcore.systems import System, get_system

NO_COMPARISON = "(none)"
# Scrolls the episode's video into view when it is not (a phone: the video is below the form; the map is below
# the video), and drops the focus a clicked map cell keeps (its edit box).
SHOW_VIDEO_JS = """() => setTimeout(() => {  // after Gradio's updates (a clicked cell takes the focus back)
  document.activeElement?.blur?.();
  const video = document.querySelector('#watch-video');
  const box = video?.getBoundingClientRect();
  if (box && (box.top < 0 || box.bottom > window.innerHeight)) video.scrollIntoView({block: 'start'});
}, 300)"""
PICK_PROMPT = "Pick an agent, a seed and press **Play**."


def default_system(ctx: AppContext, systems: list[System]) -> System:
    """The first system (showcase ones first) with an agent to show, else the first system."""
    return next((system for system in systems if ctx.catalog.refs(system.name)), systems[0])


def agent_choices(ctx: AppContext, systems: list[System], system: str, current: str | None = None):
    """Dropdown updates for the two agent pickers, and the option group of each system
    (shown for `system`)."""
    refs = ctx.catalog.refs(system)
    value = current if current in refs else (refs[0] if refs else None)
    return (
        gr.Dropdown(choices=refs, value=value),
        gr.Dropdown(choices=[NO_COMPARISON, *refs], value=NO_COMPARISON),
        *(gr.Column(visible=other.name == system) for other in systems),
    )


def agent_for_options(
    ctx: AppContext, systems: list[System], system_name: str, current: str | None, seed: Any, *values: Any
):
    """The agent picker after a play control changed (Mario's level, the Pendulum's physics): the first local
    agent trained on what will be played (System.trained_on), unless the current one is;
    otherwise unchanged."""
    try:
        system = get_system(system_name)
        played = system.play_options(**option_values(systems, system, seed, values))
        agents = ctx.catalog.local_agents(system_name)
        trained = [agent.ref for agent in agents if system.trained_on(system.config_of(agent.path), played)]
    except EXPECTED_ERRORS:
        return gr.Dropdown()  # a bad value is refused by Play; the picker stays as it is
    return gr.Dropdown(value=trained[0]) if trained and current not in trained else gr.Dropdown()


def control_widget(control: PlayControl, default: Any) -> gr.components.Component:
    if isinstance(default, bool):
        return gr.Checkbox(value=default, label=control.label)
    if control.choices:
        return gr.Dropdown(list(control.choices), value=default, label=control.label)
    return gr.Slider(control.minimum, control.maximum, value=default, step=control.step, label=control.label)


def play_controls(
    systems: list[System], shown: System
) -> tuple[list[gr.Column], list[gr.components.Component]]:
    """Each system's controls in a column of their own, visible for the shown system, toggles on a row below
    the rest: (columns, widgets in `ordered_controls` order)."""
    columns, widgets = [], {}
    for system in systems:
        defaults = system.PlayOptions()
        with gr.Column(visible=system is shown, elem_id=f"watch-options-{system.name}") as column:
            for toggles in (False, True):
                with gr.Row():
                    widgets.update(
                        {
                            (system.name, c.field): control_widget(c, getattr(defaults, c.field))
                            for c in profile_of(system).play_controls
                            if is_toggle(system, c) is toggles
                        }
                    )
        columns.append(column)
    return columns, [widgets[(system.name, control.field)] for system, control in ordered_controls(systems)]


def option_values(
    systems: list[System], system: System, seed: Any, values: tuple[Any, ...]
) -> dict[str, Any]:
    """The chosen system's play options from the widget values of every system's controls (in order),
    converted and checked against its PlayOptions (types and bounds) before anything is rendered."""
    controls = ordered_controls(systems)
    chosen = {control.field: value for (owner, control), value in zip(controls, values) if owner is system}
    checked = from_dict(
        system.PlayOptions, {"seed": 0 if seed is None else seed, **chosen}, source="play options"
    )
    return {name: getattr(checked, name) for name in ("seed", *chosen)}


def chosen_agents(
    ctx: AppContext, system: System, agent_ref: str, compare_ref: str | None
) -> tuple[Any, Any]:
    """The agent picked and the one to compare with it (None: no comparison), resolved in the catalog."""
    first = ctx.catalog.resolve(agent_ref, system.name)
    second = (
        ctx.catalog.resolve(compare_ref, system.name)
        if compare_ref and compare_ref != NO_COMPARISON
        else None
    )
    return first, second


def render(ctx: AppContext, system: System, agent_ref: str, compare_ref: str | None, options: dict[str, Any]):
    """(episodes by name, video path, cached, the agents' play notes) for one agent or two side by side."""
    first, second = chosen_agents(ctx, system, agent_ref, compare_ref)
    notes = play_notes(system, [agent for agent in (first, second) if agent is not None], options)
    if second is None:
        result = ctx.renderer.episode(system.name, first.path, options)
        return {first.ref: result}, result.video, result.cached, notes
    comparison = ctx.renderer.comparison(system.name, first.path, second.path, options)
    names = (
        (first.ref, second.ref)
        if first.ref != second.ref
        else (f"{first.ref} (left)", f"{second.ref} (right)")
    )
    return dict(zip(names, (comparison.left, comparison.right))), comparison.video, comparison.cached, notes


def play_notes(system: System, agents: list, options: dict[str, Any]) -> str:
    """What the episode plays against what each agent was trained on
    (System.play_note), one line per agent."""
    played = system.play_options(**options)
    lines = dict.fromkeys(
        f"**{agent.ref}**: {system.play_note(system.config_of(agent.path), played)}" for agent in agents
    )  # the same agent twice: one line
    return "  \n".join(line for line in lines if not line.endswith(": "))


def watch(
    ctx: AppContext,
    systems: list[System],
    system_name: str,
    agent_ref: str,
    compare_ref: str | None,
    seed: Any,
    *values: Any,
):
    """The Play button: the video, a status line with the figures table,
    the figures as JSON, the trace plot."""
    try:
        system = get_system(system_name)
        options = option_values(systems, system, seed, values)
    except EXPECTED_ERRORS as err:
        return None, refusal(err), {}, trace_placeholder()
    return show(ctx, system, agent_ref, compare_ref, options)


def show(ctx: AppContext, system: System, agent_ref: str, compare_ref: str | None, options: dict[str, Any]):
    """The episode(s) of checked play options: the video, the status with the figures, the JSON, the trace."""
    try:
        episodes, video_path, cached, notes = render(ctx, system, agent_ref, compare_ref, options)
    except EXPECTED_ERRORS as err:
        return None, refusal(err), {}, trace_placeholder()
    summaries = {
        name: {**e.summary, "steps": e.summary.get("steps", len(e.trace))} for name, e in episodes.items()
    }
    note = "served from the cache" if cached else "rendered just now"
    status_text = (
        f"{' vs '.join(episodes)} on seed {options['seed']} ({note}).\n\n"
        + (f"{notes}\n\n" if notes else "")
        + figures_table(summaries, hide=option_echoes(system))
    )
    document = {
        "cached": cached,
        "options": options,
        "agents": {name: {"summary": e.summary, "frames": e.frames} for name, e in episodes.items()},
    }
    return str(video_path), status_text, document, trace_frame(system, [e.trace for e in episodes.values()])


def on_system(ctx: AppContext, systems: list[System], system_name: str, current: str | None):
    """Another system: its agents, controls and default seed; its first agent's published replay in place of
    the previous system's episode."""
    system = get_system(system_name)
    replay, note = arrival(ctx, ctx.catalog.refs(system_name))
    return (
        *agent_choices(ctx, systems, system_name, current),
        gr.Number(value=system.PlayOptions().seed),
        replay,
        note,
        {},
        gr.LinePlot(value=trace_placeholder(), y_title=profile_of(system).trace_figure),
    )


def arrival(ctx: AppContext, refs: list[str]) -> tuple[str | None, str]:
    """On arrival: the default agent's published replay, if it has one (no wait for a first video)."""
    replay = ctx.catalog.resolve(refs[0]).path / REPLAY_FILE if refs else None
    if replay is None or not replay.is_file():
        return None, PICK_PROMPT
    return str(replay), f"Showing **{refs[0]}**'s published replay. {PICK_PROMPT}"


def build(ctx: AppContext) -> None:
    systems = watch_order()
    shown = default_system(ctx, systems)
    refs = ctx.catalog.refs(shown.name)
    with gr.Tab("Watch", id="watch") as tab:
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                system = gr.Radio(
                    labelled_choices(systems), value=shown.name, label="System", elem_id="watch-system"
                )
                agent, compare = _agent_pickers(refs)
                # no minimum here: Gradio would refuse a negative seed with red "Error" badges on every
                # output; option_values refuses it in one readable line (and clears the previous episode)
                seed = gr.Number(shown.PlayOptions().seed, precision=0, label="Seed", elem_id="watch-seed")
                columns, controls = play_controls(systems, shown)
                with gr.Row():
                    play = gr.Button("Play", variant="primary")
                    refresh = gr.Button("Refresh agents", size="sm")
            with gr.Column(scale=2):
                replay, note = arrival(ctx, refs)
                video = _episode_video(replay)
                # under the video (phones too)
                snapshots_note, snapshots_button = learning.controls(ctx, shown, refs)
                world_button = playthrough.button(ctx, shown.name, size="sm", elem_id="watch-playthrough")
                status = gr.Markdown(note, elem_id="watch-status")
                trace_plot = _trace_plot(shown)
                inside_outputs = inside_widgets()
                with gr.Accordion("Figures (JSON)", open=False):
                    figures = gr.JSON(label="Figures")
                map_note, map_table = generalisation.build(ctx, shown, refs[0] if refs else None)
    inputs = [system, agent, compare, seed, *controls]
    outputs = [video, status, figures, trace_plot]
    played, switched = _wire(ctx, systems, tab, inputs, [agent, compare, *columns], play, refresh, outputs)
    _wire_inside(ctx, systems, played, switched, inputs, inside_outputs)
    lineup = learning.wire(
        ctx, functools.partial(option_values, systems), inputs, snapshots_note, snapshots_button, outputs
    )
    playthrough.wire(ctx, system, world_button, outputs)
    with tab:  # its State inside the tab, not loose among the Tabs (see train.build)
        cell = generalisation.wire(
            ctx, systems, show, map_note, map_table, system, agent, [seed, *controls], outputs
        )
    _wire_inside_after(ctx, systems, lineup, cell, inputs, inside_outputs)
    for event in (played, lineup, cell[0]):  # on a phone the video is below the form (the map below it)
        event.then(None, js=SHOW_VIDEO_JS)


def _agent_pickers(refs: list[str]) -> tuple[gr.Dropdown, gr.Dropdown]:
    """The agent to play (the system's first by default) and the one to compare with it (none by default)."""
    agent = gr.Dropdown(
        refs,
        value=refs[0] if refs else None,
        allow_custom_value=True,
        label="Agent",
        info="A bundled or trained agent, a local checkpoint folder, or a Hub repo id (owner/name)",
    )
    compare = gr.Dropdown(
        [NO_COMPARISON, *refs],
        value=NO_COMPARISON,
        allow_custom_value=True,
        label="Compare with",
        info="A second agent on the same seed, side by side",
    )
    return agent, compare


def _episode_video(replay: str | None) -> gr.Video:
    """The episode's video, showing `replay` (the default agent's published one) on arrival."""
    return gr.Video(
        replay,
        label="Episode",
        autoplay=True,
        loop=True,
        interactive=False,
        height=420,
        elem_id="watch-video",
    )


def _trace_plot(shown: System) -> gr.LinePlot:
    """The episode's per-step figure, for the agent and the one compared with it (`shown`'s figure first)."""
    return gr.LinePlot(
        trace_placeholder(),
        x="step",
        y="value",
        color="side",
        color_map=SIDE_COLOURS,
        colors_in_legend=[],
        height=240,
        label="Per step (orange: the agent, blue: the one compared with it)",
        x_title="step of the episode",
        y_title=profile_of(shown).trace_figure,
        elem_id="watch-trace",
        **AXIS_FORMATS,
    )


def _wire(
    ctx: AppContext, systems: list[System], tab, inputs: list, pickers: list, play, refresh, outputs: list
):
    """The tab's events: system change, refresh and tab selection update the pickers; Play renders.
    Returns the Play and the system-change events (for what follows them)."""
    system, agent = inputs[0], inputs[1]
    choices = functools.partial(agent_choices, ctx, systems)
    switched = system.change(
        functools.partial(on_system, ctx, systems),
        [system, agent],
        [*pickers, inputs[3], *outputs],
        api_name="watch_system",
        **form_lane("watch"),
    )
    refresh.click(choices, [system, agent], pickers, api_name="watch_agents", **form_lane("watch"))
    # a visitor who picks another level (or physics) gets the agent trained for it, when there is one;
    # .input: not when the app sets the controls itself (a map cell plays the agent it belongs to)
    follow = functools.partial(agent_for_options, ctx, systems)
    for i, widget in enumerate(inputs[4:]):
        widget.input(
            follow,
            [system, agent, inputs[3], *inputs[4:]],
            agent,
            api_name="watch_agent_for_options" if i == 0 else False,
            **form_lane("watch"),
        )  # one endpoint for clients
    # Runs trained and agents uploaded since the page was built appear when the tab is shown again.
    tab.select(choices, [system, agent], pickers, api_name="watch_tab", **form_lane("watch"))
    # Not in Gradio's "render" group: a cached episode is answered at once, never behind renders; an uncached
    # one waits for one of the renderer's slots (Renderer._render_slot: render_concurrency, a bounded wait).
    played = play.click(
        functools.partial(watch, ctx, systems),
        inputs,
        outputs,
        api_name="watch",
        show_progress_on=[outputs[0]],
        concurrency_limit=None,
    )
    return played, switched


# ------------------------------------------------------------------ inside the agent (Episode.series)
INSIDE_LABEL = "Inside the agent, per step (orange: the agent, blue: the one compared with it)"


def inside_widgets() -> tuple:
    """The series picker, its per-step plot (numeric axes from the start) and the shown episodes' series."""
    picker = gr.Radio(
        [],
        label="Inside the agent",
        visible=False,
        elem_id="watch-series",
        info="What the agent computed at each step of the episode above",
    )
    plot = gr.LinePlot(
        trace_placeholder(),
        x="step",
        y="value",
        color="side",
        color_map=SIDE_COLOURS,
        colors_in_legend=[],
        height=240,
        label=INSIDE_LABEL,
        x_title="step of the episode",
        y_title="value",
        elem_id="watch-inside",
        **AXIS_FORMATS,
    )
    return picker, plot, gr.State([])


def series_view(series: list[dict[str, list[float]]], name: str | None = None) -> tuple:
    """(picker, plot, series) for `name` (default: the first series any agent has): the plot gets its axis
    title and no points yet; series_plot draws them next (a LinePlot given a new y_title and new points in
    one update draws none of them in the browser)."""
    names = list(dict.fromkeys(label for each in series for label in each))
    name = name if name in names else (names[0] if names else None)
    return (
        gr.Radio(choices=names, value=name, visible=bool(names)),
        gr.LinePlot(trace_placeholder(), y_title=name or "value"),
        series,
    )


def series_plot(name: str | None, series: list[dict[str, list[float]]]):
    """The points of series `name` for each agent (left, right)."""
    return series_frame(name, series) if name else trace_placeholder()


def inside(
    ctx: AppContext,
    systems: list[System],
    system_name: str,
    agent_ref: str,
    compare_ref: str | None,
    seed: Any,
    *values: Any,
) -> tuple:
    """After Play: the per-step series (Episode.series) of the episode(s) just shown, read back from the
    render cache, so the video is not waited on and nothing is played twice."""
    try:
        system = get_system(system_name)
        options = option_values(systems, system, seed, values)
        agents = [agent for agent in chosen_agents(ctx, system, agent_ref, compare_ref) if agent is not None]
        rendered = [ctx.renderer.cached_episode(system.name, agent.path, options) for agent in agents]
    except EXPECTED_ERRORS:  # Play has said why already
        return series_view([])
    return series_view([episode.series if episode is not None else {} for episode in rendered])


def _wire_inside(
    ctx: AppContext, systems: list[System], played, switched, inputs: list, outputs: tuple
) -> None:
    """After Play, the series of its episode(s); a system change clears them; the picker switches series."""
    picker, plot, series = outputs
    shown = played.then(
        functools.partial(inside, ctx, systems), inputs, list(outputs), api_name="watch_inside"
    )
    shown.then(series_plot, [picker, series], plot, api_name="watch_inside_plot")
    switched.then(lambda: series_view([]), None, list(outputs), api_name="watch_inside_clear")
    picker.input(
        lambda name, kept: series_view(kept, name)[1], [picker, series], plot, api_name="watch_series_title"
    ).then(series_plot, [picker, series], plot, api_name="watch_series")


def inside_of(ctx: AppContext, system_name: str, folders: list, options: dict[str, Any]) -> tuple:
    """The per-step series of the cached episodes of the checkpoint `folders` (left, right) on `options`."""
    rendered = [ctx.renderer.cached_episode(system_name, folder, options) for folder in folders]
    return series_view([episode.series if episode is not None else {} for episode in rendered])


def _wire_inside_after(
    ctx: AppContext, systems: list[System], lineup, cell, inputs: list, outputs: tuple
) -> None:
    """ "Inside the agent" after a snapshot lineup (its first and last snapshots, as the trace plot) and after
    a map click (the cell's episode alone): never the previous episode's series."""
    picker, plot, series = outputs

    def after_lineup(system_name: str, agent_ref: str, _compare: str, seed: Any, *values: Any) -> tuple:
        try:
            system = get_system(system_name)
            options = option_values(systems, system, seed, values)
            ends = learning.first_and_last(ctx, system_name, agent_ref)
            return inside_of(ctx, system_name, ends, options)
        except EXPECTED_ERRORS:  # the lineup has said why already
            return series_view([])

    def after_cell(system_name: str, agent_ref: str, options: dict[str, Any] | None) -> tuple:
        try:  # the cell's episode (it plays alone), on the options it played
            agent = ctx.catalog.resolve(agent_ref, system_name)
            return inside_of(ctx, system_name, [agent.path], options) if options else series_view([])
        except EXPECTED_ERRORS:
            return series_view([])

    clicked, cell_options = cell
    follows = (
        (lineup, after_lineup, inputs, "watch_snapshots_inside"),
        (clicked, after_cell, [*inputs[:2], cell_options], "watch_map_inside"),
    )
    for event, handler, names, name in follows:
        shown = event.then(handler, names, list(outputs), api_name=name)
        shown.then(series_plot, [picker, series], plot, api_name=False)
