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


def other_agent(agent: Path, folder: Path) -> Path:
    """A copy of the agent's checkpoint in `folder` with other weights (each weight x 1.01): its own episodes."""
    import shutil

    from rlcore.checkpoint import WEIGHTS_FILE, atomic_save_tensors, load_tensors

    shutil.copytree(agent, folder)
    weights = load_tensors(agent / WEIGHTS_FILE)
    atomic_save_tensors(folder / WEIGHTS_FILE, {k: v * 1.01 for k, v in weights.items()})
    return folder


def test_a_comparison_and_a_lineup_stream_frames_to_the_encoder_holding_a_few_frames(tmp_path):
    """D6: a render's frames go to the encoder as they are made (System.play_streamed), so an episode, two
    uncached agents compared (played at once) and a lineup of cached episodes each hold a few frames, not
    an episode's frames, nor the side-by-side frames."""
    from app_support import agent_checkpoints

    from demo.rendering import Renderer
    from rlcore.video import mp4_frames

    checkpoints, name = agent_checkpoints(tmp_path, "pendulum")
    first, second = checkpoints / name, other_agent(checkpoints / name, tmp_path / "other-agent")
    renderer = Renderer(tmp_path / "cache")
    renderer.episode("pendulum", first, {"seed": 9, "steps": 2})  # the first imports, not measured
    steps = 300  # a 10 s episode: 301 frames of 320x320, 92 MB
    episode_bytes = (steps + 1) * 320 * 320 * 3
    one, one_peak = traced_peak(lambda: renderer.episode("pendulum", first, {"seed": 1, "steps": steps}))
    # measured: 1.1 MB; 93 MB when an episode's frames were made before they were encoded
    assert one.frames == steps + 1 and one_peak < 0.05 * episode_bytes, (one_peak / 1e6, episode_bytes / 1e6)
    options = {"seed": 2, "steps": steps}
    compared, compared_peak = traced_peak(lambda: renderer.comparison("pendulum", first, second, options))
    assert compared.cached is False and renderer.episodes_played == 4
    # measured: 3.6 MB; 93 MB with one episode's frames in memory, 373 MB before the side-by-side was streamed
    assert compared_peak < 0.1 * episode_bytes, (compared_peak / 1e6, episode_bytes / 1e6)
    panels = [first, second]
    lineup, lineup_peak = traced_peak(lambda: renderer.lineup("pendulum", panels, ["a", "b"], options))
    assert lineup.cached is False and renderer.episodes_played == 4  # both episodes came from the cache
    assert lineup_peak < 0.2 * episode_bytes, (lineup_peak / 1e6, episode_bytes / 1e6)  # measured: 6 MB
    shapes = [{frame.shape for frame in mp4_frames(video)} for video in (compared.video, lineup.video)]
    assert [len(list(mp4_frames(video))) for video in (compared.video, lineup.video)] == [steps + 1] * 2
    assert shapes == [{(320, 648, 3)}, {(342, 648, 3)}]  # two panels and a gap; captions above them


def test_a_renders_memory_does_not_grow_with_its_episodes_length(tmp_path):
    """A Pendulum episode of 1,000 steps (the longest: 1,001 frames, 308 MB) renders within what one of 30
    steps needs, plus its trace's few bytes a step: no frame is kept once encoded."""
    from app_support import agent_checkpoints

    from demo.rendering import Renderer

    checkpoints, name = agent_checkpoints(tmp_path, "pendulum")
    renderer = Renderer(tmp_path / "cache")
    renderer.episode("pendulum", checkpoints / name, {"seed": 9, "steps": 2})  # the first imports
    peaks = {}
    for steps in (30, 1000):
        rendered, peaks[steps] = traced_peak(
            lambda: renderer.episode("pendulum", checkpoints / name, {"seed": 1, "steps": steps})
        )
        assert rendered.frames == steps + 1
    long_bytes = 1001 * 320 * 320 * 3
    # measured: 1.0 MB and 1.4 MB; the long one took 308 MB when its frames were made before being encoded
    assert peaks[1000] < peaks[30] + 0.02 * long_bytes, {k: v / 1e6 for k, v in peaks.items()}


def test_a_comparisons_and_a_lineups_agents_are_played_at_once(monkeypatch, tmp_path):
    """Issue 30: a Compare plays its two agents at the same time (each streaming into its own video), so it
    takes about as long as one of them, not both one after the other; a snapshot lineup too. The paced toy
    system's plays take 0.4 s a pull: each play's start and end are recorded, and they overlap."""
    from demo.rendering import Renderer
    from rlcore.systems import get_system

    first = paced_agent(monkeypatch, tmp_path) / "paced-agent"
    second = other_agent(first, tmp_path / "other-agent")
    system, plays, lock = get_system("paced"), [], threading.Lock()
    play = system.play

    def timed_play(checkpoint, options=None):
        start = time.monotonic()
        episode = play(checkpoint, options)
        with lock:
            plays.append((start, time.monotonic()))
        return episode

    monkeypatch.setattr(system, "play", timed_play)
    renderer = Renderer(tmp_path / "cache")
    pulls = 10  # 4 s a play
    start = time.monotonic()
    compared = renderer.comparison("paced", first, second, {"seed": 1, "pulls": pulls})
    elapsed = time.monotonic() - start
    assert (
        compared.cached is False
        and len(plays) == 2
        and compared.left.frames == compared.right.frames == pulls
    )
    (start_a, end_a), (start_b, end_b) = plays
    assert max(start_a, start_b) < min(end_a, end_b), plays  # the two plays ran at the same time
    assert elapsed < 1.6 * pulls * 0.4, elapsed  # one play's 4 s and the encoding, not 8 s and more
    plays.clear()
    renderer.lineup("paced", [first, second], ["a", "b"], {"seed": 2, "pulls": 5})
    assert len(plays) == 2 and max(s for s, _ in plays) < min(e for _, e in plays), plays


@pytest.mark.extended
def test_a_mario_comparison_on_a_level_where_both_agents_stall_holds_a_few_frames(tmp_path):
    """D6 on Mario: two bundled agents on 6-2, where both stall until the step cap (2,000 steps each, 368 MB
    of frames per episode), compared uncached: frames are streamed to the encoders, not kept."""
    from app_support import bundled_agent

    from demo.rendering import Renderer

    agent = bundled_agent("mario")
    if agent is None:
        pytest.skip("needs a bundled Mario agent")
    other = other_agent(agent, tmp_path / "other-agent")
    renderer = Renderer(tmp_path / "cache")
    renderer.episode("mario", agent, {"seed": 3, "max_steps": 2})  # the first imports and emulator start-up
    options = {"world": 6, "stage": 2, "seed": 3, "max_steps": 2000}
    compared, peak = traced_peak(lambda: renderer.comparison("mario", agent, other, options))
    steps = [compared.left.summary["steps"], compared.right.summary["steps"]]
    assert min(steps) > 1000, steps  # long episodes: where frames held would cost hundreds of MB
    assert peak < 20e6, peak / 1e6  # measured: 6.3 MB; 2 x 368 MB if both episodes' frames were held


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


def test_torch_threads_blocks_running_at_once_restore_the_count_from_before_the_first():
    """A Compare's two plays each run in rlcore.runtime.torch_threads(1), overlapping: the one ending first
    must not restore the count under the other, nor the last one leave the process at 1 thread."""
    import torch

    from rlcore.runtime import torch_threads

    before = torch.get_num_threads()
    first, second = torch_threads(1), torch_threads(1)
    first.__enter__()
    second.__enter__()  # the second play starts while the first plays
    first.__exit__(None, None, None)
    assert torch.get_num_threads() == 1  # the second play still runs with 1 thread
    second.__exit__(None, None, None)
    assert torch.get_num_threads() == before


def test_closing_the_renderer_stops_the_episode_being_played_at_its_next_frame(monkeypatch, tmp_path):
    """`python app.py`'s shutdown (AppContext.close): a play in progress (the warm-up's, a visitor's) stops
    between two frames, in Python, instead of being cut off inside the emulator or PyTorch at exit, which
    aborted the interpreter ("terminate called without an active exception"); no new play starts."""
    import dataclasses

    from paced_system import PLAY_PULL_SECONDS

    from demo.rendering import RenderClosed, Renderer
    from rlcore.systems import get_system

    agent = paced_agent(monkeypatch, tmp_path) / "paced-agent"
    system = get_system("paced")
    unpaced_play = super(type(system), system).play

    def streamed_as_an_emulator(checkpoint, options, sink):  # each frame made as the sink reads it
        episode = unpaced_play(checkpoint, options)
        sink((time.sleep(PLAY_PULL_SECONDS) or frame for frame in episode.frames), episode.fps)
        return dataclasses.replace(episode, frames=[])

    monkeypatch.setattr(system, "play_streamed", streamed_as_an_emulator)
    renderer = Renderer(tmp_path / "cache")
    raised: list[BaseException] = []

    def play():
        try:
            renderer.episode("paced", agent, {"pulls": 50})  # 50 pulls of 0.4 s: 20 s uninterrupted
        except BaseException as err:
            raised.append(err)

    player = threading.Thread(target=play)
    player.start()
    deadline = time.monotonic() + 30
    while renderer.episodes_played == 0:
        assert time.monotonic() < deadline, "the play never started"
        time.sleep(0.05)
    time.sleep(1.0)  # a few frames into it
    began = time.monotonic()
    assert renderer.close(timeout=10) is True
    took = time.monotonic() - began
    player.join(timeout=10)
    assert not player.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], RenderClosed), raised
    assert took < 5, took  # a frame is 0.4 s: the play did not run on to its end (20 s)
    assert renderer.cached_episode("paced", agent, {"pulls": 50}) is None  # nothing half-made is served
    with pytest.raises(RenderClosed, match="shutting down"):
        renderer.episode("paced", agent, {"pulls": 2})
