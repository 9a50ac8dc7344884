"""Learning curves from a run's snapshots: each snapshots/step-<N>/ evaluated under a few protocols.

`evaluate_snapshots` writes RUN/snapshot_evals.json after every evaluation (so an interrupted run
resumes where it stopped: a snapshot already evaluated under the same protocol, episodes and seeds is
skipped) and redraws RUN/snapshot_evals.png, the success rate (or the return, for a system without
successes) against training steps with one line per protocol and its 95% Wilson band. The card
shows that plot beside the training curves.

    {"evaluations": [{"snapshot": "step-00025000", "step": 25000, "protocol": {...},
                      "mean_reward": ..., "std_reward": ..., "rates": {"flag_get": {"count", "rate", "ci95"}},
                      ...}, ...]}
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NotRequired, TypedDict

from annotated_types import Len

from rlcore.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    atomic_save_tensors,
    atomic_write_bytes,
    atomic_write_json,
    load_config,
    load_tensors,
    read_json,
)
from rlcore.evaluation import protocol_name, rate_summary

if TYPE_CHECKING:
    from rlcore.systems import System

SNAPSHOTS_DIR = "snapshots"
SNAPSHOT_EVALS_FILE = "snapshot_evals.json"
SNAPSHOT_PLOT_FILE = "snapshot_evals.png"
_STEP = re.compile(r"step-(\d+)")


class _Protocol(TypedDict):
    name: str


class _Rate(TypedDict):
    count: int
    rate: float
    ci95: Annotated[list[float], Len(2, 2)]


class _Evaluation(TypedDict):
    """What the readers of snapshot_evals.json use of each entry (other keys are kept, unchecked)."""

    snapshot: str
    step: int
    protocol: _Protocol
    mean_reward: float
    std_reward: NotRequired[float]
    n_eval_episodes: int
    rates: dict[str, _Rate]


def snapshot_folders(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every snapshots/step-<N>/ of a run, by step."""
    root = Path(run_dir) / SNAPSHOTS_DIR
    found = sorted(
        (int(m.group(1)), p) for p in root.glob("step-*") if p.is_dir() and (m := _STEP.fullmatch(p.name))
    )
    if not found:
        raise CheckpointError(f"{root}: no snapshots/step-<N>/ folders (train with --keep-snapshots)")
    return found


def bundle_snapshots(run_dir: Path, agent_dir: Path, steps: Sequence[int]) -> list[Path]:
    """Copy a run's snapshots at `steps` into an agent's snapshots/step-<N>/ to ship with it: float32
    weights stored as float16 (half the size; loaded back to float32, see checkpoint.STORED_NARROWER), the
    config as it is, and the run's snapshot_evals.json and .png (the learning curve, each snapshot's rates).
    Every snapshot is checked (system, weights fitting float16) before the first file is written."""
    run_dir, agent_dir = Path(run_dir), Path(agent_dir)
    if run_dir.resolve() == agent_dir.resolve():
        raise CheckpointError(
            f"{agent_dir}: bundling a run into itself would overwrite its own snapshots "
            "with float16 copies; bundle into the agent's folder"
        )
    sources = _snapshots_to_bundle(run_dir, load_config(agent_dir)["system"], steps)
    for source in sources:  # all checked: a refusal leaves the agent as it was
        half_precision(source / WEIGHTS_FILE)
    written = []
    for source in sources:
        target = agent_dir / SNAPSHOTS_DIR / source.name
        atomic_save_tensors(target / WEIGHTS_FILE, half_precision(source / WEIGHTS_FILE))
        atomic_write_bytes(
            target / CONFIG_FILE, (source / CONFIG_FILE).read_bytes()
        )  # last: marks it complete
        written.append(target)
    for name in (SNAPSHOT_EVALS_FILE, SNAPSHOT_PLOT_FILE):
        if (run_dir / name).is_file():
            atomic_write_bytes(agent_dir / name, (run_dir / name).read_bytes())
    return written


def _snapshots_to_bundle(run_dir: Path, system: str, steps: Sequence[int]) -> list[Path]:
    """The snapshot folders at `steps`, each one of `system`, and the run's evaluations readable."""
    available = dict(snapshot_folders(run_dir))
    missing = [step for step in steps if step not in available]
    if missing:
        raise CheckpointError(
            f"{run_dir / SNAPSHOTS_DIR}: no snapshot at step "
            f"{', '.join(map(str, missing))} (it has {', '.join(map(str, available))})"
        )
    sources = [available[step] for step in sorted(set(steps))]
    for source in sources:
        if (theirs := load_config(source)["system"]) != system:
            raise CheckpointError(f"{source}: a {theirs} snapshot, not one of this {system} agent")
    read_evaluations(run_dir)
    return sources


def half_precision(file: Path) -> dict[str, Any]:
    """A weights file's tensors with float32 ones as float16; a value float16 cannot hold is refused."""
    import torch

    tensors = load_tensors(file)
    half = {name: t.half() if t.dtype == torch.float32 else t for name, t in tensors.items()}
    overflow = next(
        (name for name, t in half.items() if t.is_floating_point() and not torch.isfinite(t).all()), None
    )
    if overflow is not None:
        raise CheckpointError(f"{file}: tensor '{overflow}' does not fit in float16 (or holds NaN/infinity)")
    return half


def snapshot_rates(agent_dir: Path, protocol: str = "greedy") -> dict[str, dict[str, Any]]:
    """snapshot name -> its evaluation under `protocol` (snapshot_evals.json; {} when it has none)."""
    try:
        evaluations = read_evaluations(agent_dir)
    except CheckpointError:
        return {}
    return {
        e["snapshot"]: e
        for e in evaluations
        if isinstance(e, dict) and "snapshot" in e and e.get("protocol", {}).get("name") == protocol
    }


def read_evaluations(run_dir: Path) -> list[dict[str, Any]]:
    """The entries of a run's snapshot_evals.json ([] without one), each checked against `_Evaluation`:
    a malformed file is one CheckpointError line naming it and the first bad entry."""
    import pydantic

    from rlcore.config import validation_message

    file = Path(run_dir) / SNAPSHOT_EVALS_FILE
    if not file.is_file():
        return []
    document = read_json(file)
    evaluations = document.get("evaluations") if isinstance(document, dict) else None
    if not isinstance(evaluations, list):
        raise CheckpointError(f"{file}: no 'evaluations' list")
    try:
        _evaluations_schema().validate_python(evaluations, strict=True)
    except pydantic.ValidationError as err:
        raise CheckpointError(validation_message(err, f"{file}: malformed, ")) from None
    return evaluations


@functools.cache
def _evaluations_schema():
    import pydantic

    return pydantic.TypeAdapter(list[_Evaluation])


def curve_entry(step: int, snapshot: str, results: Mapping[str, Any]) -> dict[str, Any]:
    """One point of the curve: the results' scalars, the protocol, and a rate per success field."""
    episodes = results.get("episodes") or []
    successes = [k for k, v in (episodes[0].items() if episodes else ()) if isinstance(v, bool)]
    scalars = {
        k: v for k, v in results.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)
    }
    return {
        "snapshot": snapshot,
        "step": step,
        "protocol": results["protocol"],
        **scalars,
        "rates": {key: rate_summary([e[key] for e in episodes]) for key in successes},
    }


def every_kth(snapshots: Sequence[tuple[int, Path]], every: int) -> list[tuple[int, Path]]:
    """The first snapshot, every `every`-th after it, and the last: counted from the first, so a run that
    keeps training adds points without moving the ones already evaluated."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    chosen = list(snapshots[::every])
    return chosen if not snapshots or chosen[-1] == snapshots[-1] else [*chosen, snapshots[-1]]


def evaluate_snapshots(
    run_dir: Path,
    system: System,
    protocols: list[dict[str, float]],
    *,
    episodes: int,
    seed: int,
    progress: bool = True,
    every: int = 1,
) -> Iterator[str]:
    """Evaluate every snapshot (or every `every`-th, see every_kth) under every protocol (options for
    system.evaluate) not yet in the file; yields one line per evaluation, writing the file and the plot
    after each."""
    from tqdm import tqdm

    run_dir = Path(run_dir)
    evaluations = read_evaluations(run_dir)
    for step, folder in every_kth(snapshot_folders(run_dir), every):
        for options in protocols:
            if any(
                e["snapshot"] == folder.name and _same_protocol(e, options, episodes, seed)
                for e in evaluations
            ):
                continue
            with tqdm(
                total=episodes,
                desc=f"{folder.name} {options or 'greedy'}",
                unit="episode",
                disable=None if progress else True,
                leave=False,
            ) as bar:
                results = system.evaluate(
                    folder, episodes=episodes, seed=seed, progress=bar.update, **options
                )
            entry = curve_entry(step, folder.name, results)
            evaluations = sorted([*evaluations, entry], key=lambda e: (e["step"], e["protocol"]["name"]))
            atomic_write_json(run_dir / SNAPSHOT_EVALS_FILE, {"evaluations": evaluations})
            plot_curve(evaluations, run_dir / SNAPSHOT_PLOT_FILE)
            yield f"{folder.name} {entry['protocol']['name']}: {_headline(entry)}"


def _same_protocol(entry: Mapping[str, Any], options: Mapping[str, float], episodes: int, seed: int) -> bool:
    protocol = entry.get("protocol", {})
    return (
        protocol.get("name") == protocol_name(options)
        and protocol.get("episodes") == episodes
        and protocol.get("first_seed") == seed
    )


def _headline(entry: Mapping[str, Any]) -> str:
    parts = [f"return {entry['mean_reward']:.1f} +/- {entry.get('std_reward', 0):.1f}"]
    parts += [f"{key} {rate['count']}/{entry['n_eval_episodes']}" for key, rate in entry["rates"].items()]
    return ", ".join(parts)


def plot_curve(evaluations: list[Mapping[str, Any]], path: Path) -> Path:
    """One line per protocol against steps: the success rate with its Wilson band and, beside it, the mean
    return (+/- std), which still tells the learning story while the rate stays at 0 (a level not yet
    cleared); systems without a success field get the return alone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    from rlcore.metrics import save_figure

    rate_key = next((k for e in evaluations for k in e.get("rates", {})), None)
    fig, axes = plt.subplots(
        1, 2 if rate_key else 1, figsize=(10 if rate_key else 6, 3.5), dpi=100, squeeze=False
    )
    rate_ax, return_ax = (axes[0][0], axes[0][1]) if rate_key else (None, axes[0][0])
    for name in dict.fromkeys(e["protocol"]["name"] for e in evaluations):
        points = [e for e in evaluations if e["protocol"]["name"] == name]
        steps = [e["step"] for e in points]
        means = [e["mean_reward"] for e in points]
        stds = [e.get("std_reward", 0.0) for e in points]
        return_ax.plot(steps, means, marker="o", label=name)
        return_ax.fill_between(
            steps, [m - d for m, d in zip(means, stds)], [m + d for m, d in zip(means, stds)], alpha=0.15
        )
        if rate_ax is not None:
            rates = [e["rates"][rate_key] for e in points]
            rate_ax.plot(steps, [r["rate"] for r in rates], marker="o", label=name)
            rate_ax.fill_between(
                steps, [r["ci95"][0] for r in rates], [r["ci95"][1] for r in rates], alpha=0.2
            )
    return_ax.set_ylabel("mean return (+/- std)")
    if rate_ax is not None:
        rate_ax.set_ylabel(f"{rate_key} rate (95% Wilson band)")
        rate_ax.set_ylim(-0.03, 1.03)
    for ax in axes[0]:
        ax.set_xlabel("training steps")
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"Snapshot evaluations ({evaluations[-1]['n_eval_episodes']} episodes each)")
    fig.tight_layout()
    return save_figure(fig, path)
