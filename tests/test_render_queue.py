"""Renders and what waits for them (issue 30): a cached episode is served at once whatever renders are going
(D7). Uses the paced toy system (tests/paced_system.py: each pull of a played episode takes 0.4 s) through
RLCORE_SYSTEMS, and the real app through gradio_client."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from app_support import running_app
from gradio_client import Client

PACED = "paced=paced_system"


def paced_agent(monkeypatch, tmp_path: Path) -> Path:
    """The checkpoints folder of a trained paced agent, "paced-agent"
    (the system known through RLCORE_SYSTEMS)."""
    monkeypatch.setenv("RLCORE_SYSTEMS", PACED)
    from rlcore.systems import get_system

    system = get_system("paced")
    agent = tmp_path / "checkpoints" / "paced-agent"
    for _ in system.train(system.Config(episodes=20, pull_seconds=0.0), agent):
        pass
    return agent.parent


@pytest.fixture
def paced_app(monkeypatch, tmp_path):
    with running_app(paced_agent(monkeypatch, tmp_path), tmp_path / "work") as (url, context):
        yield url, context


def watch(client: Client, seed: int, pulls: int):
    """/watch of the paced agent: system, agent, compare, seed, then every system's controls (Mario's level,
    the Pendulum's physics, the paced bandit's pulls) as the Watch tab lays them out."""
    return client.submit(
        "paced", "paced-agent", "(none)", seed, 1, 1, 10.0, 1.0, 1.0, pulls, api_name="/watch"
    )


def test_a_cached_episode_is_served_at_once_while_renders_fill_every_slot(paced_app):
    served_at_once_behind_slow_renders(*paced_app, watch, "episode", finish_timeout=180)


def served_at_once_behind_slow_renders(url: str, context, request, what: str, finish_timeout: float) -> None:
    """`request(client, seed, pulls)` once (now in the cache), then four slow ones (25 pulls, ~10 s each) from
    other visitors (two play, two wait for a slot): the cached answer comes within 3 s while they still
    render, and every slow one gets its turn."""
    client = Client(url, verbose=False)
    assert request(client, 1, 1).result(timeout=120)[2]["cached"] is False  # now in the cache
    slow = [request(Client(url, verbose=False), seed, 25) for seed in (2, 3, 4, 5)]
    deadline = time.monotonic() + 120
    while context.renderer.episodes_played < 1 + context.settings.render_concurrency:  # every slot playing
        assert time.monotonic() < deadline, f"the slow {what}s never started"
        time.sleep(0.1)
    start = time.monotonic()
    video, status, figures, _ = request(client, 1, 1).result(timeout=120)
    elapsed = time.monotonic() - start
    assert figures["cached"] is True and "served from the cache" in status
    assert elapsed < 3, f"a cached {what} took {elapsed:.1f} s behind renders"
    assert not any(job.done() for job in slow)  # the renders were still going while it was served
    assert all(job.result(timeout=finish_timeout)[2]["cached"] is False for job in slow)  # each got its turn


def snapshots_of(agent: Path, steps=(10, 20)) -> None:
    """The agent's own weights as its bundled snapshots/step-<N>/ (one episode plays for all of them)."""
    import shutil

    for step in steps:
        folder = agent / "snapshots" / f"step-{step:08d}"
        folder.mkdir(parents=True)
        for name in ("model.safetensors", "config.json"):
            shutil.copy(agent / name, folder / name)


def lineup(client: Client, seed: int, pulls: int):
    """/watch_snapshots of the paced agent: the Watch tab's inputs, as watch()."""
    return client.submit(
        "paced", "paced-agent", "(none)", seed, 1, 1, 10.0, 1.0, 1.0, pulls, api_name="/watch_snapshots"
    )


@pytest.mark.extended
def test_a_cached_lineup_is_served_at_once_behind_other_visitors_lineups(paced_app, tmp_path):
    """D7 for snapshot lineups: behind four slow lineups of other visitors (two rendering, two waiting), a
    lineup played before comes from the cache at once."""
    snapshots_of(tmp_path / "checkpoints" / "paced-agent")
    served_at_once_behind_slow_renders(*paced_app, lineup, "lineup", finish_timeout=240)


def test_plays_waiting_for_a_slot_are_bounded_and_the_rest_refused_in_one_line(tmp_path):
    from demo.rendering import RenderBusy, Renderer

    renderer = Renderer(tmp_path, slots=1, max_waiting=1)
    waited = threading.Event()

    def wait_for_the_slot():
        with renderer._render_slot():
            waited.set()

    with renderer._render_slot():  # the only slot, playing
        waiting = threading.Thread(target=wait_for_the_slot)
        waiting.start()
        deadline = time.monotonic() + 30
        while renderer._waiting < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(RenderBusy, match="1 episodes are already waiting"):
            with renderer._render_slot():
                pass
        assert not waited.is_set()
    waiting.join(timeout=30)
    assert waited.is_set() and renderer._waiting == 0


def traced_peak(action) -> tuple[object, int]:
    """(what `action()` returned, the peak of Python's traced memory while it ran, in bytes; NumPy's arrays
    and the bytes decoded from ffmpeg are traced)."""
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = action()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_comparison_and_a_lineup_stream_frames_to_the_encoder_holding_one_episode_at_most(tmp_path):
    """D6: two uncached agents compared cost what one episode's render costs (not both episodes plus the
    side-by-side frames); a lineup of cached episodes holds a few frames, not their decoded videos."""
    import shutil

    from app_support import agent_checkpoints

    from demo.rendering import Renderer
    from rlcore.checkpoint import WEIGHTS_FILE, atomic_save_tensors, load_tensors
    from rlcore.video import mp4_frames

    checkpoints, name = agent_checkpoints(tmp_path, "pendulum")
    first, second = checkpoints / name, tmp_path / "other-agent"
    shutil.copytree(first, second)
    weights = load_tensors(first / WEIGHTS_FILE)
    atomic_save_tensors(second / WEIGHTS_FILE, {k: v * 1.01 for k, v in weights.items()})  # other weights
    renderer = Renderer(tmp_path / "cache")
    steps = 300  # a 10 s episode: 301 frames of 320x320, 92 MB
    episode_bytes = (steps + 1) * 320 * 320 * 3
    one, one_peak = traced_peak(lambda: renderer.episode("pendulum", first, {"seed": 1, "steps": steps}))
    assert one.frames == steps + 1 and one_peak > episode_bytes  # one episode's frames (and first imports)
    options = {"seed": 2, "steps": steps}
    compared, compared_peak = traced_peak(lambda: renderer.comparison("pendulum", first, second, options))
    assert compared.cached is False and renderer.episodes_played == 3
    # measured: 93 MB (1.0 episode); before streaming 373 MB (both episodes and the side-by-side frames)
    assert compared_peak < 1.5 * episode_bytes, (compared_peak / 1e6, episode_bytes / 1e6)
    panels = [first, second]
    lineup, lineup_peak = traced_peak(lambda: renderer.lineup("pendulum", panels, ["a", "b"], options))
    assert lineup.cached is False and renderer.episodes_played == 3  # both episodes came from the cache
    assert lineup_peak < 0.2 * episode_bytes, (lineup_peak / 1e6, episode_bytes / 1e6)  # measured: 6 MB
    shapes = [{frame.shape for frame in mp4_frames(video)} for video in (compared.video, lineup.video)]
    assert [len(list(mp4_frames(video))) for video in (compared.video, lineup.video)] == [steps + 1] * 2
    assert shapes == [{(320, 648, 3)}, {(342, 648, 3)}]  # two panels and a gap; captions above them


# ------------------------------------------------------------------ Gradio's copies of served files


def served_copies(folder: Path) -> list[Path]:
    return [entry for entry in folder.iterdir() if not entry.name.startswith(".")] if folder.is_dir() else []


def test_gradios_copies_of_served_videos_are_bounded_after_each_render(monkeypatch, tmp_path):
    """Carried over to issue 30: Gradio copies each served file into GRADIO_TEMP_DIR (deleted by age only: 12
    renders in 20 s left 13 copies). After each render the app keeps the max_served_copies
    most recently served."""
    gradio_copies = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(gradio_copies))  # read when the app's Blocks are made
    checkpoints = paced_agent(monkeypatch, tmp_path)
    with running_app(checkpoints, tmp_path / "work", max_served_copies=3, served_copies_min_age=0.0) as (
        url,
        _,
    ):
        client = Client(url, verbose=False)
        for seed in range(1, 9):
            video, *_ = watch(client, seed, 1).result(timeout=120)
            # pruned before the copy of this render's video was made: the bound, and that copy
            assert len(served_copies(gradio_copies)) <= 3 + 1, sorted(served_copies(gradio_copies))
        kept = {file.name for entry in served_copies(gradio_copies) for file in entry.iterdir()}
        assert Path(video).name in kept  # the client's download of the last video bears the name of its copy


def test_the_pruning_keeps_the_most_recently_served_copies_within_a_count_and_a_size(tmp_path):
    import os

    from demo.housekeeping import prune_served_copies

    now = time.time()
    for i in range(10):  # copy 9 was served last
        folder = tmp_path / f"hash{i}"
        folder.mkdir()
        (folder / "video.mp4").write_bytes(b"x" * 1000)
        os.utime(folder / "video.mp4", (now - 1000 + i, now - 1000 + i))
    assert prune_served_copies(tmp_path, max_files=6, max_bytes=1e9) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"hash{i}" for i in range(4, 10)]
    assert prune_served_copies(tmp_path, max_files=6, max_bytes=2500) == 4  # two of 1,000 bytes fit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hash8", "hash9"]
    os.utime(tmp_path / "hash8" / "video.mp4")  # served again just now
    assert prune_served_copies(tmp_path, max_files=0, max_bytes=0, min_age=60) == 1  # never a fresh one
    assert [p.name for p in tmp_path.iterdir()] == ["hash8"]
