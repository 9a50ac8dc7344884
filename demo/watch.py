"""Watch tab: one episode of an agent (or two side by side) as a video, with its figures."""

from __future__ import annotations

import gradio as gr

from demo.context import AppContext
from rlcore.hub import REPLAY_FILE
from demo.ui import (EXPECTED_ERRORS, OPTION_ECHOES, SIDE_COLOURS, SYSTEM_LABELS, TRACE_FIGURE, figures_table, refusal,
                     trace_frame, trace_placeholder)

NO_COMPARISON = "(none)"


def default_system(ctx: AppContext) -> str:
    """Mario when a Mario agent is bundled (the showcase), else Pendulum."""
    return "mario" if ctx.catalog.refs("mario") else "pendulum"


def agent_choices(ctx: AppContext, system: str, current: str | None = None):
    """Dropdown updates for the two agent pickers and the option groups of `system`."""
    refs = ctx.catalog.refs(system)
    value = current if current in refs else (refs[0] if refs else None)
    return (gr.Dropdown(choices=refs, value=value),
            gr.Dropdown(choices=[NO_COMPARISON, *refs], value=NO_COMPARISON),
            gr.Column(visible=system == "mario"),
            gr.Column(visible=system == "pendulum"))


def build(ctx: AppContext) -> None:
    system0 = default_system(ctx)
    refs0 = ctx.catalog.refs(system0)
    render_queue = dict(concurrency_id="render", concurrency_limit=ctx.settings.render_concurrency)

    with gr.Tab("Watch", id="watch") as tab:
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                system = gr.Radio([(SYSTEM_LABELS[s], s) for s in ("mario", "pendulum")], value=system0,
                                  label="System", elem_id="watch-system")
                agent = gr.Dropdown(refs0, value=refs0[0] if refs0 else None, allow_custom_value=True,
                                    label="Agent",
                                    info="A bundled or trained agent, a local checkpoint folder, or a Hub "
                                         "repo id (owner/name)")
                compare = gr.Dropdown([NO_COMPARISON, *refs0], value=NO_COMPARISON, allow_custom_value=True,
                                      label="Compare with", info="A second agent on the same seed, side by side")
                seed = gr.Number(0, precision=0, minimum=0, label="Seed")
                with gr.Column(visible=system0 == "mario") as mario_options:
                    with gr.Row():
                        world = gr.Dropdown(list(range(1, 9)), value=1, label="World")
                        stage = gr.Dropdown(list(range(1, 5)), value=1, label="Stage")
                with gr.Column(visible=system0 == "pendulum") as pendulum_options:
                    gravity = gr.Slider(2.0, 20.0, value=10.0, step=0.5, label="Gravity g")
                    mass = gr.Slider(0.2, 3.0, value=1.0, step=0.1, label="Mass m")
                    length = gr.Slider(0.3, 2.5, value=1.0, step=0.1, label="Length l")
                with gr.Row():
                    play = gr.Button("Play", variant="primary")
                    refresh = gr.Button("Refresh agents", size="sm")
            with gr.Column(scale=2):
                # On arrival: the default agent's published replay, if it has one (no wait for a first video).
                replay = ctx.catalog.resolve(refs0[0]).path / REPLAY_FILE if refs0 else None
                has_replay = replay is not None and replay.is_file()
                video = gr.Video(str(replay) if has_replay else None, label="Episode", autoplay=True, loop=True,
                                 interactive=False, height=420, elem_id="watch-video")
                status = gr.Markdown((f"Showing **{refs0[0]}**'s published replay. " if has_replay else "")
                                     + "Pick an agent, a seed and press **Play**.", elem_id="watch-status")
                trace_plot = gr.LinePlot(trace_placeholder(), x="step", y="value", color="side",
                                         color_map=SIDE_COLOURS, colors_in_legend=[], height=240,
                                         label="Per step (orange: the agent, blue: the one compared with it)",
                                         y_title=TRACE_FIGURE[system0], elem_id="watch-trace")
                with gr.Accordion("Figures (JSON)", open=False):
                    figures = gr.JSON(label="Figures")

        def on_system(chosen_system, current):
            return (*agent_choices(ctx, chosen_system, current),
                    gr.LinePlot(value=trace_placeholder(), y_title=TRACE_FIGURE[chosen_system]))

        pickers = [agent, compare, mario_options, pendulum_options]
        system.change(on_system, [system, agent], [*pickers, trace_plot], api_name="watch_system")
        refresh.click(lambda s, current: agent_choices(ctx, s, current), [system, agent], pickers,
                      api_name="watch_agents")
        # Runs trained and agents uploaded since the page was built appear when the tab is shown again.
        tab.select(lambda s, current: agent_choices(ctx, s, current), [system, agent], pickers,
                   api_name="watch_tab")

        def watch(chosen_system, agent_ref, compare_ref, seed_value, world_value, stage_value, g, m, l,
                  progress=gr.Progress()):
            try:  # every value is checked against the system's PlayOptions bounds before anything is rendered
                options = {"seed": int(seed_value or 0), "world": int(world_value), "stage": int(stage_value),
                           "g": float(g), "m": float(m), "l": float(l)}
                first = ctx.catalog.resolve(agent_ref, chosen_system)
                second = (ctx.catalog.resolve(compare_ref, chosen_system)
                          if compare_ref and compare_ref != NO_COMPARISON else None)
                progress(0.1, desc="Rendering the episode...")
                if second is None:
                    result = ctx.renderer.episode(chosen_system, first.path, options)
                    episodes, video_path, cached = {first.ref: result}, result.video, result.cached
                else:
                    comparison = ctx.renderer.comparison(chosen_system, first.path, second.path, options)
                    left, right = comparison.left, comparison.right
                    names = (first.ref, second.ref) if first.ref != second.ref else (f"{first.ref} (left)",
                                                                                      f"{second.ref} (right)")
                    episodes = dict(zip(names, (left, right)))
                    video_path, cached = comparison.video, comparison.cached
            except EXPECTED_ERRORS as err:
                return None, refusal(err), {}, trace_placeholder()
            summaries = {name: {**e.summary, "steps": e.summary.get("steps", len(e.trace))}
                         for name, e in episodes.items()}
            note = "served from the cache" if cached else "rendered just now"
            status_text = (f"{' vs '.join(episodes)} on seed {options['seed']} ({note}).\n\n"
                           + figures_table(summaries, hide=OPTION_ECHOES))
            document = {"cached": cached, "options": options,
                        "agents": {name: {"summary": e.summary, "frames": e.frames} for name, e in episodes.items()}}
            plot = trace_frame(chosen_system, [e.trace for e in episodes.values()])
            return str(video_path), status_text, document, plot

        play.click(watch, [system, agent, compare, seed, world, stage, gravity, mass, length],
                   [video, status, figures, trace_plot], api_name="watch", show_progress_on=[video],
                   **render_queue)
