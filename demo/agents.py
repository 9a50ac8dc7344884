"""Agents tab: every known agent with its evaluated figures; upload a checkpoint to add one."""

from __future__ import annotations

import math
from statistics import fmean
from typing import Any

import gradio as gr
import pandas as pd

from demo.catalog import Agent, record_evaluation
from demo.context import AppContext, prune_oldest
from demo.ui import EXPECTED_ERRORS, figures_line, refusal
from demo.uploads import receive_upload

# Short headers: the table must fit a laptop screen. "mean return" is results.json's mean_reward.
# "flag rate" is the headline (greedy) evaluation's; "sticky flag" the sticky-actions protocol's, when evaluated.
COLUMNS = ["agent", "system", "source", "algorithm", "mean return", "std", "episodes", "flag rate", "sticky flag",
           "mean x", "last reward"]


def _mean_of(results: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = results.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
            return fmean(float(v) for v in value)
    episodes = results.get("episodes")
    if isinstance(episodes, list) and episodes and isinstance(episodes[0], dict):
        for key in keys:
            values = [e[key] for e in episodes if isinstance(e.get(key), (int, float))]
            if values:
                return fmean(float(v) for v in values)
    return None


def _number(value: Any) -> float | None:
    """A finite number of a results.json, else None (the table shows figures, nothing else)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def sticky_results(results: dict[str, Any]) -> dict[str, Any]:
    """The results of the sticky-actions protocol in a results document ({} when it has none)."""
    from rlcore.evaluation import protocols_of

    return next((doc for name, doc in protocols_of(results).items() if name.startswith("sticky_")), {})


def agent_row(agent: Agent, results: dict[str, Any] | None) -> dict[str, Any]:
    results = results if isinstance(results, dict) else {}
    mario = agent.system == "mario"
    return {
        "agent": agent.ref, "system": agent.system, "source": agent.source, "algorithm": agent.algorithm,
        "mean return": _number(results.get("mean_reward")), "std": _number(results.get("std_reward")),
        "episodes": _number(results.get("n_eval_episodes")),
        "flag rate": _mean_of(results, "flag_rate", "flag_get") if mario else None,
        "sticky flag": _mean_of(sticky_results(results), "flag_rate", "flag_get") if mario else None,
        "mean x": _mean_of(results, "mean_x_pos", "x_pos") if mario else None,
        "last reward": _mean_of(results, "mean_last_reward", "last_reward") if agent.system == "pendulum"
        else None,
    }


def agents_table(ctx: AppContext, include_hub: bool) -> tuple[pd.DataFrame, str]:
    rows = [agent_row(a, a.results()) for a in ctx.catalog.local_agents()]
    note = f"{len(rows)} local agent(s)."
    if include_hub:
        try:
            hub_agents = ctx.catalog.hub_agents()
        except EXPECTED_ERRORS as err:  # offline, DNS, HTTP errors: the table still shows the local agents
            note += f" The Hub could not be listed, showing local agents only ({str(err).splitlines()[0]})."
        else:
            rows += [{"agent": a["repo_id"], "system": a["system"], "source": "hub", "algorithm": a["algorithm"],
                      "mean return": a["mean_reward"]} for a in hub_agents]
            note += f" {len(hub_agents)} found on the Hub (pick them in Watch by repo id)."
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.round(3), note


def build(ctx: AppContext) -> None:
    max_bytes = int(ctx.settings.max_upload_mb * 2**20)
    render_queue = dict(concurrency_id="render", concurrency_limit=ctx.settings.render_concurrency)

    with gr.Tab("Agents", id="agents") as tab:
        with gr.Row():
            include_hub = gr.Checkbox(False, label="Also look on the Hugging Face Hub (our tag)")
            refresh = gr.Button("Refresh", size="sm")
        table = gr.Dataframe(agents_table(ctx, False)[0], interactive=False, wrap=True, label="Known agents",
                             column_widths=["22%", "7%", "9%", "15%", "9%", "6%", "7%", "6%", "6%", "6%", "7%"],
                             elem_id="agents-table")
        table_note = gr.Markdown()
        gr.Markdown(f"### Add your agent\nUpload `model.safetensors` + `config.json` (or one zip of them, up to "
                    f"{ctx.settings.max_upload_mb:.0f} MB). Pickle files are refused. The agent is checked against "
                    "its config, evaluated on fixed seeds and added to the table with a video.")
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(file_count="multiple", label="Checkpoint files or a zip", elem_id="agents-upload")
                add = gr.Button("Check, evaluate and add", variant="primary")
                upload_status = gr.Markdown(elem_id="agents-upload-status")
            with gr.Column(scale=1):
                upload_video = gr.Video(label="Its episode (seed 0)", autoplay=True, interactive=False)

        def refresh_table(with_hub):
            return agents_table(ctx, bool(with_hub))

        refresh.click(refresh_table, include_hub, [table, table_note], api_name="agents")
        include_hub.change(refresh_table, include_hub, [table, table_note], api_name="agents_include_hub")
        tab.select(refresh_table, include_hub, [table, table_note], api_name="agents_tab")  # new runs, uploads

        def add_agent(files, with_hub, progress=gr.Progress()):
            paths = [f if isinstance(f, str) else getattr(f, "name", f) for f in (files or [])]

            def evaluate_and_render(folder):  # on the staging folder: the upload is kept only if this succeeds
                progress(0.3, desc="Evaluating on fixed seeds...")
                results = record_evaluation(folder)
                progress(0.8, desc="Rendering an episode...")
                return results, ctx.renderer.episode(results["system"], folder, {"seed": 0})

            try:
                progress(0.1, desc="Checking the files...")
                folder, (results, episode) = receive_upload(paths, ctx.settings.uploads_dir, max_bytes,
                                                            evaluate_and_render)
                prune_oldest([p for p in ctx.settings.uploads_dir.iterdir() if not p.name.startswith(".")],
                             ctx.settings.max_kept_uploads)
            except EXPECTED_ERRORS as err:
                frame, note = agents_table(ctx, bool(with_hub))
                return refusal(err), frame, note, None
            frame, note = agents_table(ctx, bool(with_hub))
            figures = {k: v for k, v in results.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            message = (f"Added **uploaded/{folder.name}** ({results['system']}); pick it in Watch to compare it. "
                       f"Evaluated: {figures_line(figures)}.")
            return message, frame, note, str(episode.video)

        add.click(add_agent, [upload, include_hub], [upload_status, table, table_note, upload_video],
                  api_name="upload_agent", **render_queue)
