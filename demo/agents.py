"""Agents tab: every known agent with its evaluated figures; upload a checkpoint to add one."""

from __future__ import annotations

import html
import math
from typing import Any

import gradio as gr
import pandas as pd

from demo.catalog import Agent, record_evaluation
from demo.context import AppContext
from demo.housekeeping import prune_oldest
from demo.ui import EXPECTED_ERRORS, format_value, refusal
from demo.uploads import receive_upload
from rlcore.profile import profile_of
from rlcore.systems import Figure, all_systems, finite_number, get_system

# Short headers: the table must fit a laptop screen. "mean return" is results.json's mean_reward; "trained on"
# the task of its config (System.task_text: Mario's level, the Pendulum's physics).
BASE_COLUMNS = ["agent", "system", "trained on", "source", "algorithm", "mean return", "std", "episodes"]
# results.json's core figures, as the table heads them (the upload's message uses the same words)
CORE_LABELS = {"mean_reward": "mean return", "std_reward": "std", "n_eval_episodes": "episodes"}


def figure_columns() -> list[str]:
    """One column per figure label of every system (System.figures), and per other protocol it is shown
    for ("sticky flag (per frame, ALE v5)": the flag rate under sticky actions, when evaluated),
    in the systems' order."""
    return list(figure_formats())


def protocol_results(results: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The results of the protocol whose name starts with `prefix` (sticky_...) in a results document
    ({} when it has none)."""
    from rlcore.evaluation import protocols_of

    return next((doc for name, doc in protocols_of(results).items() if name.startswith(prefix)), {})


def trained_on(agent: Agent) -> str:
    """The task the agent's config trains on, in a few words ("—" when its config cannot say)."""
    system = get_system(agent.system)
    try:
        return system.task_text(system.config_of(agent.path))
    except EXPECTED_ERRORS:
        return "—"


def agent_row(agent: Agent, results: dict[str, Any] | None) -> dict[str, Any]:
    results = results if isinstance(results, dict) else {}
    row = {
        "agent": agent.ref,
        "system": agent.system,
        "trained on": trained_on(agent),
        "source": agent.source,
        "algorithm": agent.algorithm,
        **{label: finite_number(results.get(key)) for key, label in CORE_LABELS.items()},
    }
    for figure in get_system(agent.system).figures:
        row[figure.label] = figure.value(results)
        for prefix, label in figure.other_protocols:
            row[label] = figure.value(protocol_results(results, prefix))
    return row


def newest_first(agents: list[Agent]) -> list[Agent]:
    """Agents added while the app runs (trained, uploaded) first, the newest at the top, then the bundled
    ones: a new row is the first row, never hidden in the table's scroll."""

    def added_at(agent: Agent) -> float:
        try:
            return agent.path.stat().st_mtime
        except OSError:
            return 0.0

    added = sorted((a for a in agents if a.source != "bundled"), key=added_at, reverse=True)
    return added + [a for a in agents if a.source == "bundled"]


def agents_table(ctx: AppContext, include_hub: bool) -> tuple[pd.DataFrame, str]:
    rows = [agent_row(a, a.results()) for a in newest_first(ctx.catalog.local_agents())]
    note = f"{len(rows)} local agent(s)."
    if include_hub:
        try:
            hub_agents = ctx.catalog.hub_agents()
        except EXPECTED_ERRORS as err:  # offline, DNS, HTTP errors: the table still shows the local agents
            note += f" The Hub could not be listed, showing local agents only ({str(err).splitlines()[0]})."
        else:
            rows += [
                {
                    "agent": a["repo_id"],
                    "system": a["system"],
                    "source": "hub",
                    "algorithm": a["algorithm"],
                    "mean return": a["mean_reward"],
                }
                for a in hub_agents
            ]
            note += f" {len(hub_agents)} found on the Hub (pick them in Watch by repo id)."
    return formatted_table(rows), note


def formatted_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The table of agent rows: returns to 1 decimal as the model cards write them (3 decimals made a
    std such as 615.648 wrap its column), figures as the cards show them (a flag rate of 1 reads 100%)."""
    frame = pd.DataFrame(rows, columns=BASE_COLUMNS + figure_columns())
    for label, figure in figure_formats().items():
        frame[label] = [None if finite_number(v) is None else figure.text(v) for v in frame[label]]
    return frame.round(1)


def figure_formats() -> dict[str, Figure]:
    """Each figure column's label -> the Figure whose format it is shown in (the first system's)."""
    formats: dict[str, Figure] = {}
    for figure in (figure for system in all_systems() for figure in system.figures):
        for label in (figure.label, *(label for _, label in figure.other_protocols)):
            formats.setdefault(label, figure)
    return formats


def agent_cards(frame: pd.DataFrame) -> str:
    """The table as one card per agent (what phones show: the table's columns do not fit 390 px)."""
    cards = []
    for row in frame.to_dict("records"):
        shown = [(key, value) for key, value in row.items() if key != "agent" and _shown(value)]
        fields = "".join(
            f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(format_value(v))}</dd>" for k, v in shown
        )
        title = html.escape(str(row["agent"]))
        cards.append(f'<article class="agent-card"><h4>{title}</h4><dl>{fields}</dl></article>')
    return f'<div class="agent-cards">{"".join(cards)}</div>'


def _shown(value: Any) -> bool:
    return value is not None and value != "" and not (isinstance(value, float) and math.isnan(value))


def column_widths(columns: int) -> list[str]:
    """The base columns' widths, the rest of the row shared by the figure columns."""
    figures = max(columns - len(BASE_COLUMNS), 1)
    return ["15%", "7%", "8%", "8%", "12%", "8%", "6%", "7%"] + [f"{29 / figures:.1f}%"] * (
        columns - len(BASE_COLUMNS)
    )


def build(ctx: AppContext) -> None:
    with gr.Tab("Agents", id="agents") as tab:
        with gr.Row():
            include_hub = gr.Checkbox(False, label="Also look on the Hugging Face Hub (our tag)")
            refresh = gr.Button("Refresh", size="sm")
        first = agents_table(ctx, False)[0]
        table = gr.Dataframe(
            first,
            interactive=False,
            wrap=True,
            label="Known agents",
            column_widths=column_widths(len(first.columns)),
            elem_id="agents-table",
        )
        cards = gr.HTML(agent_cards(first), elem_id="agents-cards")
        table_note = gr.Markdown()
        gr.Markdown(
            f"### Add your agent\nUpload `model.safetensors` + `config.json` (or one zip of them, up to "
            f"{ctx.settings.max_upload_mb:.0f} MB). Pickle files are refused. The agent is checked against "
            "its config, evaluated on fixed seeds and added to the table with a video."
        )
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(
                    file_count="multiple", label="Checkpoint files or a zip", elem_id="agents-upload"
                )
                add = gr.Button("Check, evaluate and add", variant="primary")
                upload_status = gr.Markdown(elem_id="agents-upload-status")
            with gr.Column(scale=1):
                upload_video = gr.Video(label="Its episode (seed 0)", autoplay=True, interactive=False)

    def refresh_table(with_hub):  # adapters: Gradio reads gr.Progress from the handler's own signature
        return agents_table(ctx, bool(with_hub))

    def add_agent(files, with_hub, progress=gr.Progress()):
        return add_uploaded_agent(ctx, files, with_hub, progress)

    table.change(agent_cards, table, cards, api_name=False)  # the cards follow the table, whatever changed it
    refresh.click(refresh_table, include_hub, [table, table_note], api_name="agents")
    include_hub.change(refresh_table, include_hub, [table, table_note], api_name="agents_include_hub")
    tab.select(refresh_table, include_hub, [table, table_note], api_name="agents_tab")  # new runs, uploads
    add.click(
        add_agent,
        [upload, include_hub],
        [upload_status, table, table_note, upload_video],
        api_name="upload_agent",
        concurrency_id="render",
        concurrency_limit=ctx.settings.render_concurrency,
    )


def add_uploaded_agent(ctx: AppContext, files, with_hub, progress) -> tuple:
    """Check an upload, evaluate and render it in staging, then keep it: (status, table, note, video)."""
    paths = [f if isinstance(f, str) else getattr(f, "name", f) for f in (files or [])]

    def evaluate_and_render(folder):  # on the staging folder: the upload is kept only if this succeeds
        progress(0.3, desc="Evaluating on fixed seeds...")
        results = record_evaluation(folder)
        progress(0.8, desc="Rendering an episode...")
        return results, ctx.renderer.episode(results["system"], folder, {"seed": 0})

    try:
        progress(0.1, desc="Checking the files...")
        folder, (results, episode) = receive_upload(
            paths, ctx.settings.uploads_dir, int(ctx.settings.max_upload_mb * 2**20), evaluate_and_render
        )
        prune_oldest(
            [p for p in ctx.settings.uploads_dir.iterdir() if not p.name.startswith(".")],
            ctx.settings.max_kept_uploads,
        )
    except EXPECTED_ERRORS as err:
        return refusal(err), *agents_table(ctx, bool(with_hub)), None
    agent = ctx.catalog.resolve(f"uploaded/{folder.name}")
    label = profile_of(get_system(agent.system)).label
    message = (
        f"Added **{agent.ref}**: a {label} agent trained on {trained_on(agent)}, now the table's "
        f"first row; pick it in Watch to compare it. {evaluated_text(agent.system, results)}."
    )
    return message, *agents_table(ctx, bool(with_hub)), str(episode.video)


def evaluated_text(system_name: str, results: dict[str, Any]) -> str:
    """The evaluation in the table's words: "Evaluated over 10 episodes: mean return **-148** (std 86.9),
    last reward **-7.09e-07**" (the core figures, then the system's Figures with their labels and formats)."""
    core = {label: finite_number(results.get(key)) for key, label in CORE_LABELS.items()}
    text = (
        f"Evaluated over {format_value(core['episodes'])} episodes: "
        f"mean return **{format_value(core['mean return'])}**"
    )
    text += f" (std {format_value(core['std'])})" if core["std"] is not None else ""
    for figure in get_system(system_name).figures:
        value = figure.value(results)
        if value is not None:
            text += f", {figure.label} **{figure.text(value, results)}**"
    return text
