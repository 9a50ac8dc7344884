"""Train tab: a short training run in a child process, live metric plots, Stop, then its video and files."""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from demo.catalog import record_evaluation
from demo.context import AppContext, prune_oldest
from demo.jobs import FINISHED, STOPPED, WAITING, Run
from demo.ui import EXPECTED_ERRORS, OPTION_ECHOES, SYSTEM_LABELS, empty_frame, figures_line, refusal
from rlcore.checkpoint import CONFIG_FILE
from rlcore.config import MAX_SEED, check_bounds, to_dict
from rlcore.systems import get_system

POLL_SECONDS = 0.5
MAX_PLOTS = 5
DOWNLOAD_SUFFIXES = (".safetensors", ".json", ".jsonl", ".png", ".md", ".mp4")


@dataclasses.dataclass(frozen=True)
class TrainKnobs:
    """What the tab lets a visitor change for one system, and the hard caps."""

    steps_field: str        # the Config field that bounds the run's length
    steps_label: str
    steps_info: str
    default_steps: int
    max_steps: int
    metrics: tuple[str, ...]  # the record keys plotted live
    x: str = "step"         # the record key on the x axis
    lr_field: str = "lr"
    seed_field: str = "seed"
    short_run: Callable[[Any, int], dict[str, Any]] | None = None  # config changes a bounded run needs


SHORT_RUN_MEMORY = 1000  # replay rows of the shortest Mario runs (~7 MB; the replay needs a few)


def mario_short_run(config, steps: int) -> dict[str, Any]:
    """A bounded Mario run: a record every episode (live plots), a replay no larger than the run, and
    learning from a quarter of the run on (the tutorial's 10,000-step burn-in would outlast it)."""
    return {"log_every": 1, "memory_size": min(config.memory_size, max(steps, SHORT_RUN_MEMORY)),
            "burnin": min(config.burnin, steps // 4), "checkpoint_every": max(steps, 1)}


KNOBS = {
    "pendulum": TrainKnobs("iterations", "Iterations", "batches of 32 rollouts of 100 steps; at most 2000", 200,
                           2000, metrics=("return", "last_reward")),
    "mario": TrainKnobs("max_steps", "Agent steps", "at most 50,000 (learning starts after a quarter of them)",
                        3000, 50_000, metrics=("reward", "length", "loss", "q", "epsilon"),
                        short_run=mario_short_run),
}


def presets(system_name: str) -> dict[str, Any]:
    """The system's named configs: its PRESETS (overrides of Config's defaults), else just "tutorial"."""
    system = get_system(system_name)
    named = getattr(system, "PRESETS", None) or {"tutorial": {}}
    return {name: dataclasses.replace(system.Config(), **overrides) for name, overrides in named.items()}


def run_config(system_name: str, preset: str, steps: float, lr: float, seed: float) -> dict[str, Any]:
    """The training config the run gets: the preset with the visitor's knobs, checked against the caps."""
    knobs = KNOBS[system_name]
    choices = presets(system_name)
    if preset not in choices:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(choices)}")
    if steps is None or not (1 <= steps <= knobs.max_steps) or int(steps) != steps:
        raise ValueError(f"{knobs.steps_label.lower()} must be a whole number from 1 to {knobs.max_steps}")
    if lr is None or not math.isfinite(lr) or not (0 < lr <= 1):
        raise ValueError("the learning rate must be a number in (0, 1]")
    if seed is None or int(seed) != seed or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"the seed must be a whole number from 0 to {MAX_SEED}")
    config = dataclasses.replace(choices[preset], **{knobs.steps_field: int(steps), knobs.lr_field: float(lr),
                                                     knobs.seed_field: int(seed)})
    if knobs.short_run is not None:
        config = dataclasses.replace(config, **knobs.short_run(config, int(steps)))
    check_bounds(config)  # the system's own limits, before a process is started
    return to_dict(config)


def metric_frames(system_name: str, records: list[dict[str, Any]]) -> list[pd.DataFrame]:
    knobs = KNOBS[system_name]
    frames = []
    for metric in knobs.metrics:
        rows = [(r[knobs.x], r[metric]) for r in records
                if r.get(metric) is not None and r.get(knobs.x) is not None]
        frames.append(pd.DataFrame(rows, columns=["step", "value"]))
    return frames


def plot_updates(system_name: str, records: list[dict[str, Any]]) -> list[Any]:
    knobs = KNOBS[system_name]
    frames = metric_frames(system_name, records)
    updates = []
    for i in range(MAX_PLOTS):
        if i < len(frames):
            updates.append(gr.LinePlot(value=frames[i], visible=True, title=knobs.metrics[i], y_title=knobs.metrics[i]))
        else:
            updates.append(gr.LinePlot(value=empty_frame("step", "value"), visible=False))
    return updates


def zip_checkpoint(folder: Path, downloads_dir: Path) -> Path:
    """The checkpoint's files (weights, config, metrics, plots) as one zip; never anything else in the folder."""
    staging = downloads_dir / f".{folder.name}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / folder.name).mkdir(parents=True)
    for file in folder.iterdir():
        if file.is_file() and file.suffix in DOWNLOAD_SUFFIXES and not file.name.startswith("."):
            shutil.copy2(file, staging / folder.name / file.name)
    archive = shutil.make_archive(str(downloads_dir / folder.name), "zip", root_dir=staging)
    shutil.rmtree(staging, ignore_errors=True)
    return Path(archive)


def hub_token_available() -> bool:
    """Whether this machine has a Hub token (env or login cache); the token itself is never read out."""
    try:
        from huggingface_hub import get_token

        return get_token() is not None
    except Exception:
        return False


def run_status(run: Run, knobs: TrainKnobs) -> str:
    if run.state == WAITING:
        return (f"Waiting for the training slot: you are number **{run.position}** in the queue "
                "(one run at a time on this machine).")
    done = run.records[-1].get(knobs.x, 0) if run.records else 0
    when = "after" if run.done else "for"
    text = (f"Run {run.id}: **{run.state}** {when} {run.elapsed:.0f} s, {done} / {run.config[knobs.steps_field]} "
            f"{knobs.steps_label.lower()}")
    if run.records:
        last = run.records[-1]
        figures = ", ".join(f"{m} {last[m]:.4g}" for m in knobs.metrics if isinstance(last.get(m), (int, float)))
        text += f"; last record: {figures}" if figures else ""
    if run.message:
        text += f" ({run.message})"
    return text


def build(ctx: AppContext) -> None:
    settings = ctx.settings
    can_push = hub_token_available()

    with gr.Tab("Train", id="train") as tab:
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                system = gr.Radio([(SYSTEM_LABELS[s], s) for s in ("pendulum", "mario")], value="pendulum",
                                  label="System", elem_id="train-system")
                # allow_custom_value: API callers may name any preset of the system; run_config checks it.
                preset = gr.Dropdown(["tutorial"], value="tutorial", label="Preset", allow_custom_value=True,
                                     info="A named set of hyperparameters of the system")
                # No minimum/maximum here: run_config checks the caps and says so in a readable line.
                steps = gr.Number(KNOBS["pendulum"].default_steps, precision=0, label=KNOBS["pendulum"].steps_label,
                                  info=KNOBS["pendulum"].steps_info, elem_id="train-steps")
                lr = gr.Number(2e-3, label="Learning rate")
                seed = gr.Number(0, precision=0, label="Seed")
                with gr.Row(visible=can_push):
                    push = gr.Checkbox(False, label="Push to the Hub when done")
                    repo_id = gr.Textbox("", label="Hub repo (owner/name)", placeholder="your-name/pendulum-demo")
                gr.Markdown(f"Runs are capped at {settings.max_train_seconds:.0f} s and stop when this page is "
                            "closed. The GPU is used when there is one.")
                with gr.Row():
                    start = gr.Button("Start training", variant="primary")
                    stop = gr.Button("Stop", variant="stop")
            with gr.Column(scale=2):
                status = gr.Markdown("No run yet.", elem_id="train-status")
                with gr.Row():
                    plots = [gr.LinePlot(empty_frame("step", "value"), x="step", y="value", height=220,
                                         title=m, y_title=m, visible=i < 2, elem_id=f"train-plot-{i}",
                                         min_width=260)
                             for i, m in enumerate([*KNOBS["pendulum"].metrics, "", "", ""])]
                with gr.Row():
                    video = gr.Video(label="The new agent", autoplay=True, loop=True, interactive=False,
                                     elem_id="train-video", height=300, scale=2)
                    download = gr.File(label="Checkpoint (zip)", interactive=False, height=120, scale=1)

        def on_system(chosen):
            knobs, choices = KNOBS[chosen], presets(chosen)
            default = next(iter(choices.values()))
            return (gr.Dropdown(choices=list(choices), value=next(iter(choices))),
                    gr.Number(value=knobs.default_steps, label=knobs.steps_label, info=knobs.steps_info),
                    gr.Number(value=getattr(default, knobs.lr_field)),
                    *plot_updates(chosen, []))

        system.change(on_system, system, [preset, steps, lr, *plots], api_name="train_system")

        def preset_choices(chosen, current):
            # Filled when the tab opens, not when the page is built: listing them imports the system.
            choices = list(presets(chosen))
            return gr.Dropdown(choices=choices, value=current if current in choices else choices[0])

        tab.select(preset_choices, [system, preset], preset, api_name="train_tab")

        def train(chosen, preset_name, steps_value, lr_value, seed_value, push_value, repo_value,
                  request: gr.Request):
            knobs = KNOBS[chosen]
            outputs_tail = [None, None]
            try:
                config = run_config(chosen, preset_name, steps_value, lr_value, seed_value)
                if push_value and not can_push:
                    raise ValueError("this app has no Hub token, so it cannot push")
                if any(run.owner == request.session_hash for run in ctx.training.unfinished_runs()):
                    raise ValueError("you already have a run going or waiting: stop it first (one per visitor)")
            except EXPECTED_ERRORS as err:
                yield refusal(err), *plot_updates(chosen, []), *outputs_tail
                return
            busy = {run.out_dir for run in ctx.training.unfinished_runs()}
            prune_oldest([p for p in settings.runs_dir.iterdir() if p not in busy], settings.max_kept_runs - 1)
            prune_oldest(list(settings.downloads_dir.glob("*.zip")), settings.max_kept_runs)
            out_dir = settings.runs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{chosen}-{request.session_hash[:6]}"
            run = ctx.training.submit(request.session_hash, chosen, config, out_dir)
            shown = 0
            while not run.done:
                run.heartbeat()
                yield run_status(run, knobs), *(plot_updates(chosen, run.records) if len(run.records) != shown
                                                else [gr.skip()] * MAX_PLOTS), *outputs_tail
                shown = len(run.records)
                time.sleep(POLL_SECONDS)
            run.heartbeat()
            final = run_status(run, knobs)
            plots_now = plot_updates(chosen, run.records)
            if run.state not in (FINISHED, STOPPED) or not (out_dir / CONFIG_FILE).is_file():
                reason = run.message or "it ended before saving a checkpoint"
                yield f"**The run did not produce an agent:** {reason}", *plots_now, *outputs_tail
                return
            yield final + "\n\nEvaluating and rendering the new agent...", *plots_now, *outputs_tail
            try:
                record_evaluation(out_dir)  # results.json: for the agents table, the zip and the Hub card
                episode = ctx.renderer.episode(chosen, out_dir, {"seed": int(seed_value)})
                archive = zip_checkpoint(out_dir, settings.downloads_dir)
            except EXPECTED_ERRORS as err:
                yield final + "\n\n" + refusal(err), *plots_now, *outputs_tail
                return
            final += (f"\n\nSaved as **trained/{out_dir.name}** (pick it in Watch or Agents). Its episode on seed "
                      f"{int(seed_value)}: {figures_line(episode.summary, hide=OPTION_ECHOES)}.")
            if push_value:
                final += "\n\n" + push_to_hub(out_dir, repo_value, settings.hub_endpoint)
            yield final, *plots_now, str(episode.video), str(archive)

        start.click(train, [system, preset, steps, lr, seed, push, repo_id], [status, *plots, video, download],
                    api_name="train", concurrency_limit=8, concurrency_id="train",
                    show_progress="minimal", show_progress_on=[status])

        def stop_training(request: gr.Request):
            asked = ctx.training.stop_runs_of(request.session_hash)
            return ("Stopping: the run saves its checkpoint and ends." if asked
                    else "You have no run going.")

        stop.click(stop_training, None, status, api_name="stop_training", concurrency_limit=None)


def push_to_hub(folder: Path, repo_id: str, endpoint: str | None = None) -> str:
    """Push through rlcore.hub (which never prints the token); a failure is one line and loses nothing."""
    from rlcore import hub

    try:
        return f"Pushed to the Hub: {hub.push_checkpoint(folder, (repo_id or '').strip(), endpoint=endpoint)}"
    except EXPECTED_ERRORS as err:
        return f"**Push failed** (the run is kept here): {str(err).splitlines()[0]}"
