"""The model card (README.md) of a published agent, in the Hub's conventions.

The YAML front matter is built with huggingface_hub's own `ModelCardData` / `EvalResult`, so it reads
back through `ModelCard` and `HfApi.model_info(...).card_data` exactly as the RL Zoo's and CleanRL's
cards do: `library_name`, `tags`, and a `model-index` whose `mean_reward` is "mean +/- std" on the
environment (task reinforcement-learning, dataset = env id, `verified: false`), plus the figures
the system declares (rlcore.systems.System.figures: Mario's mean x position and flag rate, ...). The body says what the agent is, its results, the replay video, the
hyperparameters from config.json, training figures, and how to load it with this project.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
from importlib import metadata
from pathlib import Path
from typing import Any

from rlcore.systems import Figure, System, get_system

LIBRARY_NAME = "rlcore"
HUB_TAG = "rlcore"  # every card carries it: `list_models(filter="rlcore")` finds our agents
BASE_TAGS = ("reinforcement-learning", "deep-reinforcement-learning", HUB_TAG)
DEFAULT_HUB_URL = "https://huggingface.co"
CHECKPOINT_KEYS = ("rlcore_format", "system", "algorithm", "env_id", "config")

def format_mean_std(mean: float, std: float) -> str:
    """The RL Zoo / CleanRL convention for model-index values (the leaderboards parse it)."""
    return f"{mean:.2f} +/- {std:.2f}"


def system_named(name: str) -> System | None:
    """The system of a checkpoint, or None when this installation does not know it (the card still renders)."""
    try:
        return get_system(name)
    except (ValueError, TypeError, ImportError):
        return None


def system_figures(document: dict[str, Any], results: dict[str, Any]) -> list[tuple[Figure, float]]:
    """The checkpoint's system's own figures (System.figures) that results.json has."""
    system = system_named(str(document.get("system")))
    found = [(figure, figure.value(results)) for figure in (system.figures if system else ())]
    return [(figure, value) for figure, value in found if value is not None]


def tag_of(text: str) -> str:
    """'Differentiable rollouts (BPTT)' -> 'differentiable-rollouts-bptt'; env ids stay as they are."""
    if re.fullmatch(r"[A-Za-z0-9._-]+", text):
        return text
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def card_tags(document: dict[str, Any]) -> list[str]:
    """BASE_TAGS, then the env id, the algorithm and the system (hub.list_agents reads them in this order)."""
    tags = list(BASE_TAGS)
    for extra in (document.get("env_id"), document.get("algorithm"), document.get("system")):
        if extra and tag_of(str(extra)) not in tags:
            tags.append(tag_of(str(extra)))
    return tags


def card_data(document: dict[str, Any], results: dict[str, Any] | None, repo_id: str):
    """The front matter as a huggingface_hub ModelCardData."""
    from huggingface_hub import EvalResult, ModelCardData

    env_id = document.get("env_id") or "unknown-env"
    eval_results = []
    if results and results.get("mean_reward") is not None:
        def metric(metric_type: str, name: str, value: Any) -> EvalResult:
            return EvalResult(task_type="reinforcement-learning", task_name="reinforcement-learning",
                              dataset_type=env_id, dataset_name=env_id, metric_type=metric_type,
                              metric_name=name, metric_value=value, verified=False)

        eval_results.append(metric("mean_reward", "mean_reward",
                                   format_mean_std(results["mean_reward"], results.get("std_reward", 0.0))))
        for figure, value in system_figures(document, results):
            if not figure.metric:
                continue
            eval_results.append(metric(figure.metric, figure.label, figure.hub_value(value)))
    if not eval_results:
        return ModelCardData(library_name=LIBRARY_NAME, tags=card_tags(document))
    return ModelCardData(library_name=LIBRARY_NAME, tags=card_tags(document), model_name=repo_id,
                         eval_results=eval_results)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return f"`{json.dumps(value)}`"
    return f"`{value}`" if isinstance(value, str) else str(value)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def results_rows(document: dict[str, Any], results: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [("mean reward (+/- std)", format_mean_std(results["mean_reward"], results.get("std_reward", 0.0)))]
    rows += [(figure.label, figure.text(value, results)) for figure, value in system_figures(document, results)]
    for key, label in (("n_eval_episodes", "episodes"), ("seeds", "seeds"), ("date", "evaluated")):
        if results.get(key) is not None:
            value = results[key]
            if isinstance(value, list) and len(value) > 6:
                value = f"{value[0]} ... {value[-1]}"
            rows.append((label, str(value)))
    return rows


def results_table(document: dict[str, Any], results: dict[str, Any]) -> str:
    """The results as a table: one value column, or one column per protocol (greedy, sticky_0.25, ...)
    side by side when results.json holds several."""
    from rlcore.evaluation import protocols_of

    protocols = protocols_of(results)
    if len(protocols) < 2:
        return _table(("metric", "value"), results_rows(document, results))
    columns = {name: dict(results_rows(document, doc)) for name, doc in protocols.items()}
    labels = list(dict.fromkeys(label for rows in columns.values() for label in rows))
    rows = [(label, *(rows.get(label, "") for rows in columns.values())) for label in labels]
    legend = ("Protocols: greedy is the policy's own action at every step; sticky_P: sticky actions per emulator "
              "frame, as ALE v5 (Machado et al. 2018): at every emulator frame the joypad keeps the previous "
              "frame's buttons with probability P; step_sticky_P (older figures, not the standard): the previous "
              "action repeated for a whole agent step with probability P; epsilon_E takes a uniform random action "
              "with probability E; the same seeds give the same starts.")
    return _table(("metric", *protocols), rows) + "\n\n" + legend


def start_window_at(records: list[dict[str, Any]], step: int) -> str:
    """Where a backward-curriculum run (`train --starts`) started its episodes at `step`: the start window's
    x from the last log record up to it ("" for runs that always started at the level's start)."""
    logged = [r for r in records if isinstance(r.get("start_x"), int) and r.get("step", 0) <= step]
    return f"x {logged[-1]['start_x']:,}" if logged else ""


def snapshot_section(folder: Path, records: list[dict[str, Any]] | None = None) -> list[str]:
    """The learning curve from snapshot evaluations (`rlcore evaluate-snapshots`): one row per snapshot,
    one column per protocol (success count and mean return, or the return alone for systems without
    successes)."""
    from rlcore.snapshots import SNAPSHOT_EVALS_FILE, read_evaluations

    try:
        evaluations = read_evaluations(folder)
    except ValueError:  # an unreadable file is left out of the card, not fatal to a push
        return []
    if not evaluations:
        return []
    protocols = list(dict.fromkeys(e["protocol"]["name"] for e in evaluations))
    cells: dict[int, dict[str, str]] = {}
    for e in evaluations:
        rate = next(iter(e.get("rates", {}).values()), None)
        cells.setdefault(e["step"], {})[e["protocol"]["name"]] = (
            f"{rate['count']}/{e['n_eval_episodes']} (return {e['mean_reward']:,.1f})" if rate
            else f"{e['mean_reward']:.1f}")
    rows = [(str(step), *(row.get(name, "") for name in protocols)) for step, row in sorted(cells.items())]
    header = ("training steps", *protocols)
    if any(start_window_at(records or [], step) for step in cells):  # trained from a route's save states
        rows = [(*row, start_window_at(records or [], int(row[0]))) for row in rows]
        header += ("training episodes started at",)
    return ["## Learning curve (snapshot evaluations)",
            f"Every kept snapshot evaluated from the level's start with `python -m rlcore evaluate-snapshots` "
            f"(`{SNAPSHOT_EVALS_FILE}`).", _table(header, rows)]


def training_rows(document: dict[str, Any], records: list[dict[str, Any]],
                  results: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """Steps, throughput and time, from the last metrics record (and config.json's extras when present)."""
    rows = []
    last = records[-1] if records else {}
    if results and isinstance(results.get("training_steps"), int):  # counted by the evaluated agent itself
        rows.append(("training steps", str(results["training_steps"])))
    elif "step" in last:
        rows.append(("training steps (last logged)", str(last["step"])))
    for key, value in sorted(last.items()):  # throughput and elapsed time, when the trainer logs them
        if isinstance(value, (int, float)) and (key.endswith("_per_s") or "elapsed" in key or "wall" in key):
            rows.append((key, f"{value:.1f}"))
    for key, value in document.items():  # what the trainer recorded beside the config (iterations_done ...)
        if key not in CHECKPOINT_KEYS and isinstance(value, (int, float, str)):
            rows.append((key, _value(value)))
    rows.append(("logged records", str(len(records))))
    return rows


def train_command(document: dict[str, Any]) -> str:
    """The `rlcore train` command line that reproduces the checkpoint's config (only non-default flags)."""
    system = document["system"]
    config = document.get("config", {})
    known = system_named(system)
    defaults = dataclasses.asdict(known.Config()) if known else {}  # unknown here: spell out every field
    words = ["python", "-m", "rlcore", "train", system]
    for name, value in config.items():
        if name in defaults and defaults[name] == value:
            continue
        # a run from a trained agent (the contract's init_from field) is started with `--init CHECKPOINT`
        flag = "--init" if name == "init_from" else "--" + name.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + name.replace("_", "-"))
        elif isinstance(value, list):
            words += [flag, *map(str, value)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def package_versions() -> str:
    """Versions of the stack this card was published with (read from the installed metadata)."""
    found = []
    for package in ("rlcore", "torch", "torchrl", "tensordict", "huggingface-hub", "gym-super-mario-bros"):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def build_model_card(checkpoint: str | os.PathLike, repo_id: str, hub_url: str = DEFAULT_HUB_URL) -> str:
    """The README.md text for the checkpoint folder `checkpoint` published as `repo_id`."""
    from huggingface_hub import ModelCard

    from rlcore.checkpoint import RESULTS_FILE, load_config, read_json

    folder = Path(checkpoint)
    document = load_config(folder)
    results = read_json(folder / RESULTS_FILE) if (folder / RESULTS_FILE).is_file() else None
    sections = [*intro_sections(document), *results_sections(document, results),
                *replay_sections(folder, f"{hub_url.rstrip('/')}/{repo_id}/resolve/main"), *map_sections(folder),
                *usage_sections(document["system"], repo_id), *training_sections(folder, document, results)]
    data = card_data(document, results, repo_id)
    text = f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n"
    return str(ModelCard(text))


def intro_sections(document: dict[str, Any]) -> list[str]:
    from rlcore.checkpoint import CONFIG_FILE

    system = document["system"]
    known = system_named(system)
    blurb = known.blurb if known else f"an rlcore {system} agent"
    return [f"# {document.get('algorithm', '?')} agent for {document.get('env_id', '?')} ({system}, rlcore)",
            f"This is {blurb}. Weights are in `model.safetensors` (no pickle), the full configuration in "
            f"`{CONFIG_FILE}`."]


def results_sections(document: dict[str, Any], results: dict[str, Any] | None) -> list[str]:
    from rlcore.checkpoint import RESULTS_FILE

    if not results or results.get("mean_reward") is None:
        return ["## Results", "Not evaluated yet (no results.json)."]
    return ["## Results", results_table(document, results),
            f"Evaluated with `python -m rlcore evaluate` (figures per episode in `{RESULTS_FILE}`)."]


def map_sections(folder: Path) -> list[str]:
    """The generalisation map (map.json, from `rlcore map`) as a table, when the agent has one."""
    from rlcore.genmap import MAP_FILE, map_legend, map_table, read_map

    document = read_map(folder)
    if document is None:
        return []
    return ["## Generalisation map", map_table(document),
            f"{map_legend(document)} In bold: what it was trained on. Made by `python -m rlcore map` "
            f"(`{MAP_FILE}`; the app's Watch tab plays any cell)."]


def replay_sections(folder: Path, file_url: str) -> list[str]:
    from rlcore.checkpoint import REPLAY_FILE

    if not (folder / REPLAY_FILE).is_file():
        return []
    return ["## Replay", f'<video src="{file_url}/{REPLAY_FILE}" controls autoplay loop muted width="480"></video>']


def usage_sections(system: str, repo_id: str) -> list[str]:
    return ["## Usage",
            "With this project (`rlcore`, Python 3.13) installed:",
            "```bash\n"
            f"python -m rlcore play hf://{repo_id} --out replay.mp4\n"
            f"python -m rlcore evaluate hf://{repo_id} --episodes 10\n"
            f"python -m rlcore pull {repo_id}   # prints the local folder in the Hugging Face cache\n"
            "```",
            "From Python:",
            "```python\n"
            "from rlcore.hub import pull_checkpoint\n"
            "from rlcore.systems import get_system\n\n"
            f'folder = pull_checkpoint("{repo_id}")  # cached; works offline with HF_HUB_OFFLINE=1\n'
            f'system = get_system("{system}")\n'
            "agent = system.load(folder)\n"
            "results = system.evaluate(folder, episodes=10, seed=0)\n"
            "episode = system.play(folder, system.PlayOptions())  # frames for rlcore.video.write_mp4\n"
            "```"]


def training_sections(folder: Path, document: dict[str, Any], results: dict[str, Any] | None) -> list[str]:
    from rlcore.checkpoint import METRICS_FILE
    from rlcore.metrics import read_metrics

    sections = []
    hyper = sorted(document.get("config", {}).items())
    if hyper:
        sections += ["## Hyperparameters", _table(("name", "value"), [(k, _value(v)) for k, v in hyper])]
    records = read_metrics(folder / METRICS_FILE)
    sections += ["## Training", _table(("figure", "value"), training_rows(document, records, results)),
                 "To train it again with the same configuration:",
                 f"```bash\n{train_command(document)} --out runs/{document['system']}\n```"]
    versions = package_versions()
    if versions:
        sections += [f"Published with {versions}."]
    sections += snapshot_section(folder, records)
    plots = sorted(p.name for p in folder.glob("*.png"))
    if plots:
        sections += ["\n".join(f"![{Path(name).stem}]({name})" for name in plots)]
    return sections
