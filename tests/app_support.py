"""Helpers shared by the app's tests (test_app.py, test_browser.py): real checkpoints and a launched app."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO_CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bundled_agent(system: str) -> Path | None:
    """The repo's bundled checkpoint of `system` (checkpoints/<name>/), if there is one."""
    from rlcore.checkpoint import CheckpointError, load_config

    for folder in sorted(REPO_CHECKPOINTS.glob("*/")):
        try:
            if load_config(folder)["system"] == system:
                return folder
        except CheckpointError:
            continue
    return None


def small_agent(system: str, folder: Path) -> None:
    """A few steps of the real trainer: a valid checkpoint, not a good agent."""
    from rlcore.systems import get_system

    module = get_system(system)
    config = (
        module.Config(iterations=3)
        if system == "pendulum"
        else module.preset("fast", max_steps=200, memory_size=500, burnin=50, log_every=1)
    )
    for _ in module.train(config, folder):
        pass


def agent_checkpoints(root: Path, system: str) -> tuple[Path, str]:
    """(a checkpoints folder, the name of its `system` agent): a copy of the bundled agent when the repo
    has one, else a small one trained here with the real trainer. Built once per `root`."""
    folder = root / "checkpoints"
    source = bundled_agent(system)
    name = source.name if source is not None else f"{system}-small"
    agent = folder / name
    if not (agent / "config.json").is_file():
        partial = folder / f".{name}-partial"  # hidden from the app until complete
        shutil.rmtree(partial, ignore_errors=True)
        if source is not None:
            shutil.copytree(source, partial, ignore=shutil.ignore_patterns("training_state.*"))
        else:
            small_agent(system, partial)
        partial.rename(agent)
    return folder, name


@contextlib.contextmanager
def running_app(checkpoints_dir: Path, work_dir: Path, **settings) -> Iterator[tuple[str, object]]:
    """The app launched on a free local port: yields (url, its AppContext); closed afterwards."""
    from demo import build_app
    from demo.context import AppContext, AppSettings

    context = AppContext(AppSettings.from_env(checkpoints_dir=checkpoints_dir, work_dir=work_dir, **settings))
    app = build_app(context=context)
    port = free_port()
    app.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **context.settings.launch_options(),
    )
    try:
        yield f"http://127.0.0.1:{port}/", context
    finally:
        app.close()
        context.close()


def start_training(client, *inputs):
    """Start a run as the Train tab's Start does: /train_check gives the session its one place in the queue,
    then /train trains on it (a /train without a place is refused). Returns /train's job."""
    client.predict(*inputs, api_name="/train_check")
    return client.submit(*inputs, api_name="/train")


SNAPSHOT_STEPS = (100_000, 300_000, 700_000)
SNAPSHOT_FLAGS = (0, 10, 20)  # made-up evaluations: flags out of 20 greedy episodes at each step


def fake_run_with_snapshots(run: Path, agent: Path, steps=SNAPSHOT_STEPS, flags=SNAPSHOT_FLAGS) -> Path:
    """A training run folder as `--keep-snapshots` leaves it, made from an agent: its weights at each of
    `steps` (the first slightly perturbed, so it plays as an episode of its own), and a snapshot_evals.json
    with `flags` successes out of 20 greedy episodes (no episode is played here)."""
    import torch

    from rlcore.checkpoint import (
        CONFIG_FILE,
        WEIGHTS_FILE,
        atomic_save_tensors,
        atomic_write_json,
        load_tensors,
    )
    from rlcore.evaluation import rate_summary

    # float32, as training writes them (a bundled agent's weights may be stored in float16)
    weights = {
        k: v.float() if v.is_floating_point() else v for k, v in load_tensors(agent / WEIGHTS_FILE).items()
    }
    generator = torch.Generator().manual_seed(0)
    evaluations = []
    for i, (step, count) in enumerate(zip(steps, flags)):
        folder = run / "snapshots" / f"step-{step:08d}"
        noisy = {
            k: v + 1e-3 * v.std() * torch.randn(v.shape, generator=generator)
            if i == 0 and v.numel() > 1
            else v
            for k, v in weights.items()
        }
        atomic_save_tensors(folder / WEIGHTS_FILE, noisy)
        shutil.copy(agent / CONFIG_FILE, folder / CONFIG_FILE)
        evaluations.append(
            {
                "snapshot": folder.name,
                "step": step,
                "protocol": {"name": "greedy", "episodes": 20},
                "mean_reward": 100.0 * count,
                "n_eval_episodes": 20,
                "rates": {"flag_get": rate_summary([True] * count + [False] * (20 - count))},
            }
        )
    atomic_write_json(run / "snapshot_evals.json", {"evaluations": evaluations})
    return run


def agent_with_snapshots(root: Path) -> tuple[Path, str]:
    """(a checkpoints folder, the name of its Mario agent): a copy of the bundled Mario agent shipping three
    snapshots, bundled from a fake run by the project's own `bundle_snapshots`. Built once per `root`."""
    from rlcore.snapshots import bundle_snapshots

    checkpoints, name = agent_checkpoints(root, "mario")
    if not (checkpoints / name / "snapshots").is_dir():
        run = fake_run_with_snapshots(root / "run-with-snapshots", checkpoints / name)
        bundle_snapshots(run, checkpoints / name, SNAPSHOT_STEPS)
    return checkpoints, name


def agent_with_playthrough(root: Path) -> tuple[Path, str]:
    """agent_with_snapshots's checkpoints, its Mario agent's folder also holding a recorded World playthrough
    (`rlcore playthrough` of that agent alone, 20 steps on the real emulator). Built once per `root`."""
    from rlcore import cli
    from rlcore.checkpoint import PLAYTHROUGH_FILE

    checkpoints, name = agent_with_snapshots(root)
    video = checkpoints / name / PLAYTHROUGH_FILE
    if not video.with_suffix(".json").is_file():
        assert (
            cli.main(["playthrough", str(checkpoints / name), "--max-steps", "20", "--out", str(video)]) == 0
        )
    return checkpoints, name


def answers(url: str) -> bool:
    """Whether `url` answers HTTP 200 (an app process that is up)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def runs_can_be_held(context) -> Iterator[None]:
    """Runs started inside may be paused (`Run.pause`, the replays' SIGSTOP) for as long as a test needs:
    on a loaded machine a page may show a 2000-iteration Pendulum run's progress only when it has nearly
    ended, and an ended run refuses nothing, keeps nobody waiting and cannot be stopped. On the way out no run
    stays held; after a failure the runs still going are stopped too, so the module's next tests find the
    training slot free (in stop 40's CI a held run left by a failed test kept the next test's run queued)."""
    limits = context.training.limits
    context.training.limits = dataclasses.replace(limits, max_pause_bank=600.0)
    failed = True
    try:
        yield
        failed = False
    finally:
        context.training.limits = limits
        for run in context.training.unfinished_runs():
            run.resume()
            if failed:
                run.request_stop("the test failed")


def training_run(context, timeout: float = 90):
    """The app's run, once it trains (its first budget units reported)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        going = [run for run in context.training.unfinished_runs() if run.progress or run.records]
        if going:
            return going[0]
        time.sleep(0.1)
    raise AssertionError(f"no run trained within {timeout} s")
