"""Train tab: a short training run in a child process, live metric plots, Stop, then its video and files.

Start is two events: an unqueued check (/train_check) that refuses bad settings or a second run at once
and gives the session its one place, then the training generator (/train), which Gradio's queue runs
`max_concurrent_runs` at a time (concurrency_id="training") and which trains only on that place: a
session's further /train calls, through the API or not, are refused when their turn comes.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import pandas as pd

from demo import finetune
from demo.catalog import record_evaluation
from demo.context import AppContext
from demo.housekeeping import prune_oldest
from demo.jobs import FINISHED, PAGE_WENT_AWAY, STOPPED, Run
from demo.ui import (
    AXIS_FORMATS,
    EXPECTED_ERRORS,
    figures_line,
    fitted_plot,
    form_lane,
    labelled_choices,
    numeric_frame,
    option_echoes,
    refusal,
)
from rlcore.checkpoint import CONFIG_FILE, REPLAY_FILE, atomic_path, one_line
from rlcore.config import MAX_SEED, check_bounds, to_dict
from rlcore.profile import profile_of
from rlcore.resolve import resolve_config
from rlcore.systems import Practice, System, all_systems, get_system

POLL_SECONDS = 0.5
MAX_PLOTS = 5
# The queued status: legible (demo/app.css keeps Gradio from fading a pending output), an hourglass
WAITING = "⏳ Waiting for a training slot (Gradio's queue shows your place)..."
NO_PLACE = (
    "this run was given no place in the queue: press Start (through the API: /train_check, then "
    "/train); one queued run per visitor"
)


def presets(system_name: str) -> dict[str, Any]:
    """The system's named configs (System.presets applied to Config's defaults)."""
    system = get_system(system_name)
    return {name: resolve_config(system, preset=name) for name in system.presets}


def run_config(
    system_name: str,
    preset: str,
    steps: float,
    lr: float,
    seed: float,
    start: Path | None = None,
    task: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The training config the run gets (rlcore.resolve): the preset, or with `start` that agent's config,
    with the visitor's knobs and task (a level, the physics), checked against the caps."""
    system = get_system(system_name)
    knobs = profile_of(system).knobs
    if preset not in system.presets:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(system.presets)}")
    if steps is None or not (1 <= steps <= knobs.max_budget) or int(steps) != steps:
        raise ValueError(f"{knobs.budget_label.lower()} must be a whole number from 1 to {knobs.max_budget}")
    if lr is None or not math.isfinite(lr) or not (0 < lr <= 1):
        raise ValueError("the learning rate must be a number in (0, 1]")
    if seed is None or int(seed) != seed or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"the seed must be a whole number from 0 to {MAX_SEED}")
    changes = {
        system.budget.field: int(steps),
        knobs.lr_field: float(lr),
        knobs.seed_field: int(seed),
        **(task or {}),
    }
    config = resolve_config(
        system, preset=None if start is not None else preset, init=start, overrides=changes
    )
    if knobs.short_run is not None:
        config = dataclasses.replace(config, **knobs.short_run(config, int(steps)))
    check_bounds(config)  # the system's own limits, before a process is started
    return to_dict(config)


def metric_frames(system_name: str, records: list[dict[str, Any]]) -> list[pd.DataFrame]:
    """(step, value) frames of each live metric, typed as numbers even while empty (see numeric_frame)."""
    system = get_system(system_name)
    x = system.budget.record_key
    return [
        numeric_frame(
            ((r[x], r[metric]) for r in records if _number(r.get(metric)) and _number(r.get(x))),
            ("step", "value"),
        )
        for metric in system.metrics
    ]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def metric_plot(system: System, index: int, **update: Any) -> dict[str, Any]:
    """The title, axis titles and visibility of live plot `index` for `system` (hidden past its metrics)."""
    if index >= len(system.metrics):
        return {"visible": False, **update}
    metric = system.metrics[index]
    title = profile_of(system).knobs.metric_titles.get(metric, metric)
    return {"visible": True, "title": title, "y_title": metric, "x_title": system.budget.unit, **update}


def plot_updates(system_name: str, records: list[dict[str, Any]]) -> list[Any]:
    system = get_system(system_name)
    frames = metric_frames(system_name, records)
    frames += [numeric_frame((), ("step", "value"))] * (MAX_PLOTS - len(frames))
    return [fitted_plot(frame, **metric_plot(system, i)) for i, frame in enumerate(frames)]


def zip_checkpoint(folder: Path, downloads_dir: Path) -> Path:
    """The run as one zip of what an upload or a Hub push needs: the files a push publishes (weights,
    config, results, metrics, replay video, plots), never the resume state (training_state.*: tens of MB
    for Mario, of use only to --resume on the machine that trained)."""
    from rlcore.hub import files_to_push

    archive = downloads_dir / f"{folder.name}.zip"
    # ".part" while written: the pruning of old zips (glob "*.zip") never sees a zip being written
    with (
        atomic_path(archive, suffix=".part") as tmp,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zipped,
    ):
        for file in files_to_push(folder):
            zipped.write(file, f"{folder.name}/{file.name}")
    return archive


def keep_replay(video: Path, folder: Path) -> None:
    """The episode just rendered, as the run's replay.mp4
    (its zip, Watch and a Hub push take it from there)."""
    with atomic_path(folder / REPLAY_FILE, suffix=".part") as tmp:
        shutil.copyfile(video, tmp)


def hub_token_available() -> bool:
    """Whether this machine has a Hub token (env or login cache); the token itself is never read out."""
    try:
        from huggingface_hub import get_token

        return get_token() is not None
    except Exception:
        return False


def push_namespace(ctx: AppContext) -> str | None:
    """Where the tab may push: the namespace the Space owner set (RLCORE_HUB_PUSH_NAMESPACE), when this
    machine has a token; None: pushes are off. A visitor never names a repo: the token is the Space's."""
    namespace = ctx.settings.hub_push_namespace
    return namespace if namespace and hub_token_available() else None


def new_push_repo(namespace: str, system_name: str) -> str:
    """A repo id for one run's push under `namespace`, unique to the run (time and a random part); the push
    creates it and refuses to commit should it exist anyway."""
    return f"{namespace}/rlcore-{system_name[:40]}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def push_info(namespace: str | None) -> str:
    if namespace is None:
        return "Pushing to the Hub is off in this app."
    return (
        f"Into a new repo made for this run: {namespace}/rlcore-<system>-<date>-<time>-<id> "
        "(never an existing repo; the final status names it)."
    )


def run_status(run: Run, system: System) -> str:
    knobs = profile_of(system).knobs
    recorded = run.records[-1].get(system.budget.record_key, 0) if run.records else 0
    done = max(recorded, run.progress or 0)  # the trainer's progress comes between its records
    when = "after" if run.done else "for"
    text = (
        f"Run {run.id}: **{run.state}** {when} {run.elapsed:.0f} s, {done} / "
        f"{run.config[system.budget.field]} {knobs.budget_label.lower()}"
    )
    if run.doing and not run.done:
        text += f": {run.doing}..."
    # each metric's latest value: some (the Pendulum's return) are not in every record
    latest = {
        m: next((r[m] for r in reversed(run.records) if _number(r.get(m))), None) for m in system.metrics
    }
    figures = ", ".join(f"{m} {value:.4g}" for m, value in latest.items() if value is not None)
    text += f"; latest: {figures}" if figures else ""
    if run.message:
        text += f" ({run.message})"
    return text


class _Form(NamedTuple):
    """The Train tab's settings of a run (its left column, above Start and Stop)."""

    system: gr.Radio
    preset: gr.Dropdown
    start_from: gr.Dropdown
    task: list
    steps: gr.Number
    lr: gr.Number
    seed: gr.Number
    push: gr.Checkbox
    cap_note: gr.Markdown


def build(ctx: AppContext) -> None:
    systems = all_systems()
    first = systems[0]
    namespace = push_namespace(ctx)
    first_start = finetune.recommended_start(ctx, first)
    with gr.Tab("Train", id="train") as tab:
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                form = _form(ctx, systems, first_start, namespace)
                with gr.Row():
                    start = gr.Button("Start training", variant="primary")
                    stop = gr.Button("Stop", variant="stop")
            with gr.Column(scale=2):
                status, plots, video, download = _results(first)
    system, preset, steps = form.system, form.preset, form.steps
    system_changed = system.change(
        on_system, system, [preset, steps, form.lr, *plots], api_name="train_system", **form_lane("train")
    )
    tab.select(preset_choices, [system, preset], preset, api_name="train_tab", **form_lane("train"))
    finetune.wire_start_widgets(
        ctx, system_changed, system, form.start_from, form.task, steps, form.cap_note, preset
    )
    with tab:  # _wire makes a gr.State: inside the tab, not loose among the Tabs (the browser drew the
        # Agents tab's header twice when a component sat between tabs)
        inputs = [system, preset, steps, form.lr, form.seed, form.push, form.start_from, *form.task]
        _wire(ctx, namespace, inputs, [status, *plots, video, download], start, stop)


def _form(ctx: AppContext, systems: list[System], first_start: str, namespace: str | None) -> _Form:
    """The settings of a run, shown for the first system starting from `first_start`."""
    first = systems[0]
    system = gr.Radio(labelled_choices(systems), value=first.name, label="System", elem_id="train-system")
    # allow_custom_value: API callers may name any preset of the system; run_config checks it.
    preset = gr.Dropdown(
        ["tutorial"],
        value="tutorial",
        label="Preset",
        allow_custom_value=True,
        info="A named set of hyperparameters of the system",
        interactive=not first_start,  # a run from an agent takes the agent's
    )
    start_from, task = finetune.start_widgets(ctx, first, first_start)
    # No minimum/maximum here: run_config checks the caps and says so in a readable line.
    knobs = profile_of(first).knobs
    steps = gr.Number(
        finetune.budget_for(first, first_start),
        precision=0,
        label=knobs.budget_label,
        info=knobs.budget_info,
        elem_id="train-steps",
    )
    lr = gr.Number(getattr(first.Config(), knobs.lr_field), label="Learning rate")
    seed = gr.Number(0, precision=0, label="Seed")
    # shown only when the Space owner set a namespace: the app picks the repo, never a visitor
    push = gr.Checkbox(
        False,
        label="Push to the Hub when done",
        info=push_info(namespace),
        visible=namespace is not None,
        elem_id="train-push",
    )
    cap_note = gr.Markdown(finetune.cap_note(ctx, first, first_start), elem_id="train-cap-note")
    gr.Markdown(
        f"Runs are capped at {ctx.settings.max_train_seconds:.0f} s and stop when this page is "
        "closed. The GPU is used when there is one."
    )
    return _Form(system, preset, start_from, task, steps, lr, seed, push, cap_note)


def _results(first: System) -> tuple[gr.Markdown, list[gr.LinePlot], gr.Video, gr.File]:
    """A run's status line, its metric plots (the first system's metrics until one is chosen), its video
    and its files."""
    status = gr.Markdown("No run yet.", elem_id="train-status")
    with gr.Row():
        plots = [
            gr.LinePlot(
                numeric_frame((), ("step", "value")),
                x="step",
                y="value",
                height=220,
                elem_id=f"train-plot-{i}",
                min_width=260,
                **AXIS_FORMATS,
                **metric_plot(first, i),
            )
            for i in range(MAX_PLOTS)
        ]
    with gr.Row():
        video = gr.Video(
            label="The new agent",
            autoplay=True,
            loop=True,
            interactive=False,
            elem_id="train-video",
            height=300,
            scale=2,
        )
        download = gr.File(
            label="The agent (zip, without resume state)", interactive=False, height=120, scale=1
        )
    return status, plots, video, download


def _wire(ctx: AppContext, namespace: str | None, inputs: list, outputs: list, start, stop) -> None:
    # Adapters, not functools.partial: Gradio finds gr.Request and generators from the handler's own
    # signature. The request comes first: the "Start from" and task knobs follow the form's fields as *start
    # (Gradio finds gr.Request only among the positional parameters before them).
    def start_run(
        request: gr.Request, chosen, preset_name, steps_value, lr_value, seed_value, push_value, *start
    ):
        yield from train(
            ctx, namespace, chosen, preset_name, steps_value, lr_value, seed_value, push_value, request, start
        )

    def check_start(
        request: gr.Request, chosen, preset_name, steps_value, lr_value, seed_value, push_value, *start
    ) -> tuple[Any, bool]:
        return check_before_queueing(
            ctx,
            namespace,
            chosen,
            (preset_name, steps_value, lr_value, seed_value),
            push_value,
            request,
            start,
        )

    def stop_run(request: gr.Request) -> str:
        return stop_training(ctx, request)

    def leave_queue_if_waiting(left: int, request: gr.Request):
        # A run already going saves and delivers its agent after Stop; only a place in the queue is cancelled.
        going = any(run.owner == request.session_hash for run in ctx.training.unfinished_runs())
        return gr.skip() if going else left + 1

    training = _wire_start(ctx, start, inputs, outputs, check_start, start_run)
    stopped = stop.click(stop_run, None, outputs[0], api_name="stop_training", concurrency_limit=None)
    # cancels= on a chained (.then/.success) event never fires in Gradio 6.31 (its cancel event gets no
    # trigger), so a Stop that finds no run going bumps a State whose change event cancels the queued run.
    left = gr.State(0)
    stopped.success(leave_queue_if_waiting, left, left, concurrency_limit=None, api_visibility="private")
    left.change(None, None, None, cancels=[training])


def _wire_start(ctx: AppContext, start, inputs: list, outputs: list, check_start, start_run):
    """Start's chain: the unqueued check, the gate it may close, then the queued training run (returned,
    for Stop to cancel while it waits)."""
    placed = gr.State(False)
    checked = start.click(
        check_start,
        inputs,
        [outputs[0], placed],
        api_name="train_check",
        concurrency_limit=None,
        show_progress="hidden",
    )
    # a refusal is a calm notice (a warning toast, the status line), not an error; the gate stops the chain
    gate = checked.success(
        go_on_if_placed,
        placed,
        None,
        concurrency_limit=None,
        show_progress="hidden",
        api_visibility="private",
    )
    return gate.success(
        start_run,
        inputs,
        outputs,
        api_name="train",
        concurrency_id="training",
        concurrency_limit=ctx.settings.max_concurrent_runs,
        show_progress="minimal",
        show_progress_on=[outputs[0]],
    )


def on_system(chosen: str):
    system = get_system(chosen)
    knobs = profile_of(system).knobs
    return (
        gr.Dropdown(choices=list(system.presets), value=next(iter(system.presets))),
        gr.Number(value=knobs.default_budget, label=knobs.budget_label, info=knobs.budget_info),
        gr.Number(value=getattr(system.Config(), knobs.lr_field)),
        *plot_updates(chosen, []),
    )


def preset_choices(chosen: str, current: str):
    # Filled when the tab opens, not when the page is built: listing them imports the system.
    choices = list(get_system(chosen).presets)
    return gr.Dropdown(choices=choices, value=current if current in choices else choices[0])


def stop_training(ctx: AppContext, request: gr.Request) -> str:
    asked = ctx.training.stop_runs_of(request.session_hash)
    if asked:
        return "Stopping: the run saves its checkpoint and ends."
    if ctx.training.stop_waiting(request.session_hash):
        return "You have no run going: you left the queue, no run was started."
    return "You have no run going."


def stop_when_the_page_closes(ctx: AppContext) -> Callable[[gr.Request], None]:
    """For `Blocks.unload`: when a tab closes or reloads (its Gradio heartbeat connection ends), the run it
    started saves and stops at once, and its place in the queue is given up."""

    def page_closed(request: gr.Request) -> None:
        for run in ctx.training.unfinished_runs():
            if run.owner == request.session_hash:
                run.request_stop(PAGE_WENT_AWAY)
        ctx.training.stop_waiting(request.session_hash)

    return page_closed


def check_before_queueing(
    ctx: AppContext,
    namespace: str | None,
    chosen: str,
    values: tuple,
    push_value: bool,
    request: gr.Request,
    start: tuple = (),
) -> tuple[Any, bool]:
    """The unqueued first half of Start: (status, whether the session got its place). A refusal is a warning
    toast and, unless the session's run is going or waiting (its status stays), the status line; the chain
    stops at `go_on_if_placed`, so nobody queues for it."""
    owner = request.session_hash
    try:
        refuse_to_start(ctx, namespace, chosen, values, push_value, owner, start)
    except EXPECTED_ERRORS as err:
        runs = ctx.training.unfinished_runs()
        if ctx.training.is_waiting(owner) or any(run.owner == owner for run in runs):
            gr.Warning(one_line(err))
            return gr.skip(), False
        return refusal(err), False
    ctx.training.mark_waiting(owner)  # a second Start meanwhile is told so (see refuse_to_start)
    return WAITING, True


def go_on_if_placed(placed: bool) -> None:
    """Stops Start's chain after a refusal: an error without a toast (the refusal was said already)."""
    if not placed:
        raise gr.Error("refused", visible=False, print_exception=False)


def refuse_to_start(
    ctx: AppContext,
    namespace: str | None,
    chosen: str,
    values: tuple,
    push_value: bool,
    owner: str,
    start: tuple = (),
) -> dict[str, Any]:
    """The run's config, after the checks that refuse a run before it is queued (ValueError: why).
    `start`: the "Start from" choice, then the task knobs' values (demo/finetune.py)."""
    config = run_config(chosen, *values, *finetune.start_and_task(ctx, chosen, start))
    if push_value and namespace is None:
        raise ValueError("pushing to the Hub is off in this app (its owner has set no namespace for pushes)")
    if any(run.owner == owner for run in ctx.training.unfinished_runs()):
        raise ValueError("you already have a run going: Stop it first (one run per visitor)")
    if ctx.training.is_waiting(owner):
        raise ValueError(
            "your run is already waiting in the queue for a training slot: it starts when one is "
            "free (Stop gives up your place)"
        )
    return config


def new_run_folder(ctx: AppContext, chosen: str, owner: str) -> Path:
    """A fresh folder under runs/, after pruning old runs and zips (a public app's disk must not fill up)."""
    settings = ctx.settings
    busy = {run.out_dir for run in ctx.training.unfinished_runs()}
    prune_oldest([p for p in settings.runs_dir.iterdir() if p not in busy], settings.max_kept_runs - 1)
    prune_oldest(list(settings.downloads_dir.glob("*.zip")), settings.max_kept_runs)
    return settings.runs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{chosen}-{owner[:6]}"


def follow(run: Run, system: System) -> Iterator[tuple]:
    """Status and plot updates while the run trains (each poll is the page's heartbeat)."""
    shown = 0
    while not run.done:
        run.heartbeat()
        # the records plotted are counted before the yield: records that arrive while Gradio sends this
        # update are plotted by the next one (counting after would skip them until another record comes);
        # run.records only grows, so its first `count` are the ones plotted (no copy on polls that skip)
        count = len(run.records)
        plots = plot_updates(system.name, run.records[:count]) if count != shown else [gr.skip()] * MAX_PLOTS
        shown = count
        yield run_status(run, system), *plots, None, None
        time.sleep(POLL_SECONDS)
    run.heartbeat()


def train(
    ctx: AppContext,
    namespace: str | None,
    chosen,
    preset_name,
    steps_value,
    lr_value,
    seed_value,
    push_value,
    request: gr.Request,
    start: tuple = (),
):
    """The queued half of Start: train in a child process, stream its metrics, then show the new agent."""
    system = get_system(chosen)
    placed = ctx.training.stop_waiting(request.session_hash)  # its turn came: the place is used up either way
    try:
        config = refuse_to_start(
            ctx,
            namespace,
            chosen,
            (preset_name, steps_value, lr_value, seed_value),
            push_value,
            request.session_hash,
            start,
        )
        if not placed:  # a /train queued beside the session's one run (a direct API call): never a second run
            raise ValueError(NO_PLACE)
    except EXPECTED_ERRORS as err:
        yield refusal(err), *plot_updates(chosen, []), None, None
        return
    start_folder, task = finetune.start_and_task(ctx, chosen, start)
    options = {"seed": finetune.episode_seed(system, start_folder, int(seed_value)), **task}  # its episode
    practice = None
    if start_folder is not None:
        yield f"Playing **{start[0]}** to see where it fails...", *plot_updates(chosen, []), None, None
        config, practice = finetune.with_practice(ctx, system, start_folder, config, options)
    try:
        out_dir = new_run_folder(ctx, chosen, request.session_hash)
        run = ctx.training.start(request.session_hash, chosen, config, out_dir)  # refused once shutting down
    except EXPECTED_ERRORS as err:
        yield refusal(err), *plot_updates(chosen, []), None, None
        return
    try:
        yield from follow(run, system)
    finally:  # Gradio closed the stream (the tab went away): stop at once, not at the heartbeat timeout
        if not run.done and not run.stop_requested:
            run.request_stop(PAGE_WENT_AWAY)
    push_to = new_push_repo(namespace, chosen) if push_value and namespace is not None else None
    before = (start[0], start_folder) if start_folder is not None else None
    yield from outcome(ctx, system, run, out_dir, options, push_to, before, practice)


def outcome(
    ctx: AppContext,
    system: System,
    run: Run,
    out_dir: Path,
    options: dict[str, Any],
    push_to: str | None,
    before: tuple[str, Path] | None,
    practice: Practice | None,
):
    """After the run: its agent evaluated, rendered on `options` and zipped (pushed when asked), then, for a
    run from an agent (`before`: its choice and folder), the before/after."""
    plots_now = plot_updates(system.name, run.records)
    if ctx.training.closed:  # the app is going down: the run saved, nothing more is written into its folder
        yield run_status(run, system), *plots_now, None, None
        return
    if run.state not in (FINISHED, STOPPED) or not (out_dir / CONFIG_FILE).is_file():
        reason = run.message or "it ended before saving a checkpoint"
        yield f"**The run did not produce an agent:** {reason}", *plots_now, None, None
        return
    final = run_status(run, system)
    yield final + "\n\nEvaluating and rendering the new agent...", *plots_now, None, None
    status, video, archive = finish(ctx, system, out_dir, final, options, push_to)
    if before is not None and video is not None:
        yield (
            status + "\n\nPlaying the agent it started from and the trained one...",
            *plots_now,
            video,
            archive,
        )
        status, video = finetune.add_before_after(
            ctx, system, before, out_dir, options, status, video, practice
        )
    yield status, *plots_now, video, archive


def finish(
    ctx: AppContext, system: System, out_dir: Path, final: str, options: dict[str, Any], push_to: str | None
) -> tuple:
    """Evaluate, render and zip the new agent (and push it when asked): (status, video, zip). Its episode
    plays `options`: its seed and the task it trained on (the level, the physics)."""
    seed = options["seed"]
    try:
        record_evaluation(out_dir)  # results.json: for the agents table, the zip and the Hub card
        episode = ctx.renderer.episode(system.name, out_dir, dict(options))
        keep_replay(episode.video, out_dir)
        archive = zip_checkpoint(out_dir, ctx.settings.downloads_dir)
    except EXPECTED_ERRORS as err:
        return final + "\n\n" + refusal(err), None, None
    final += (
        f"\n\nSaved as **trained/{out_dir.name}** (pick it in Watch or Agents). Its episode on seed "
        f"{seed}: {figures_line(episode.summary, hide=option_echoes(system))}."
    )
    if push_to is not None:
        final += "\n\n" + push_to_hub(out_dir, push_to, ctx.settings.hub_endpoint)
    return final, str(episode.video), str(archive)


def push_to_hub(folder: Path, repo_id: str, endpoint: str | None = None) -> str:
    """Push into a new repo `repo_id` (new_push_repo) through rlcore.hub, which never prints the token and
    never commits into a repo that exists; a failure is one line and loses nothing."""
    from rlcore import hub

    try:
        url = hub.push_checkpoint(folder, repo_id, endpoint=endpoint, new_repo=True)
    except EXPECTED_ERRORS as err:
        return f"**Push failed** (the run is kept here): {str(err).splitlines()[0]}"
    return f"Pushed to the Hub, into the new repo **{repo_id}** made for this run: {url}"
