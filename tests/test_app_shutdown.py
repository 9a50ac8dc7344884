"""Stopping `python app.py` (issue 30, D13): SIGINT or SIGTERM end the app within seconds, and a training run
going at that moment saves its checkpoint first. The real app in a subprocess (as a Space or a terminal
runs it), a real Pendulum run started through gradio_client, the signal sent to the app's process alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app_support import agent_checkpoints, answers, free_port, start_training

ROOT = Path(__file__).resolve().parent.parent
EXIT_WITHIN_SECONDS = (
    45.0  # the app waits for a run at most its stop grace (30 s); measured 14.7-17.7 s here,
)
# on 2 cores shared with a Mario training run (load 7; the training process runs at nice 19)


def launched_app(tmp_path: Path, system: str = "pendulum") -> tuple[subprocess.Popen, str, Path]:
    """(the process, its URL, its log) of `python app.py` on 127.0.0.1 with a `system` agent, once it answers."""
    checkpoints, _ = agent_checkpoints(tmp_path, system)
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "RLCORE_CHECKPOINTS": str(checkpoints),
        "RLCORE_APP_DIR": str(tmp_path / "work"),
    }
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 240
    while not answers(url):
        assert process.poll() is None, f"app.py exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no answer from app.py:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)
    return process, url, log


def children_of(pid: int) -> list[int]:
    found = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout
    return bool(state.strip()) and not state.strip().startswith("Z")


@pytest.mark.parametrize(
    "sig",
    [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.extended)],
    ids=["SIGTERM", "SIGINT"],
)
def test_a_signal_stops_the_app_within_seconds_and_its_running_run_saves(tmp_path, sig):
    from gradio_client import Client

    process, url, log = launched_app(tmp_path)
    try:
        client = Client(url, verbose=False)
        job = start_training(client, "pendulum", "tutorial", 2000, 0.002, 0, False)
        deadline = time.monotonic() + 120
        while not any("latest:" in str(o[0]) for o in job.outputs()):  # it trains: metrics came
            assert time.monotonic() < deadline and not job.done(), job.outputs()[-1:]
            time.sleep(0.2)
        trainers = children_of(process.pid)
        assert trainers, "no training process found"
        signalled = time.monotonic()
        process.send_signal(sig)  # to the app alone, as `docker stop` or a Space's restart does
        process.wait(timeout=EXIT_WITHIN_SECONDS)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, log.read_text()[-3000:]
    print(f"exited {took:.1f} s after {sig.name}")
    # the training process ended with the app (its children, such as multiprocessing's resource tracker,
    # notice the app is gone a moment later: a busy machine may take a few seconds to schedule them)
    gone_by = time.monotonic() + 10
    while any(alive(pid) for pid in trainers) and time.monotonic() < gone_by:
        time.sleep(0.2)
    assert not [pid for pid in trainers if alive(pid)], [
        subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True).stdout
        for pid in trainers
        if alive(pid)
    ]
    runs = list((tmp_path / "work" / "runs").iterdir())
    assert len(runs) == 1
    saved = {p.name for p in runs[0].iterdir()}
    assert {"model.safetensors", "config.json", "metrics.jsonl"} <= saved, saved
    assert not [p for p in runs[0].rglob("*") if ".tmp" in p.name or p.name.endswith(".part")]


def test_no_run_starts_once_the_app_is_shutting_down(tmp_path):
    from demo.jobs import RunLimits, TrainingRuns

    runs = TrainingRuns(RunLimits(max_seconds=60, heartbeat_timeout=60))
    runs.shutdown()
    with pytest.raises(ValueError, match="the app is shutting down"):
        runs.start("visitor", "pendulum", {}, tmp_path / "run")
    assert not (tmp_path / "run").exists() and runs.unfinished_runs() == []


@pytest.mark.extended
def test_a_signal_during_the_warm_up_of_a_mario_agent_ends_the_app_cleanly(tmp_path):
    """The warm-up renders each bundled agent's first episode in a background thread as the app starts; a
    signal then stops that play at its next frame (Renderer.close), where the thread used to be cut off
    inside the emulator or PyTorch at exit and the interpreter aborted ("terminate called without an active
    exception", exit status 134, in 2 of 3 tries)."""
    process, url, log = launched_app(tmp_path, "mario")
    try:
        time.sleep(1.0)  # the warm-up's Mario episode is being played (several seconds)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=EXIT_WITHIN_SECONDS)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    text = log.read_text()
    assert process.returncode == 0 and "terminate called" not in text, text[-3000:]
    assert not list((tmp_path / "work" / "videos").glob("*.json")), "a stopped episode was cached"
