"""Renders and what waits for them (issue 30): a cached episode is served at once whatever renders are going
(D7). Uses the paced toy system (tests/paced_system.py: each pull of a played episode takes 0.4 s) through
RLCORE_SYSTEMS, and the real app through gradio_client."""

from __future__ import annotations

import threading
import time

import pytest
from app_support import running_app
from gradio_client import Client

PACED = "paced=paced_system"


@pytest.fixture
def paced_app(monkeypatch, tmp_path):
    monkeypatch.setenv("RLCORE_SYSTEMS", PACED)
    from rlcore.systems import get_system

    system = get_system("paced")
    agent = tmp_path / "checkpoints" / "paced-agent"
    for _ in system.train(system.Config(episodes=20, pull_seconds=0.0), agent):
        pass
    with running_app(tmp_path / "checkpoints", tmp_path / "work") as (url, context):
        yield url, context


def watch(client: Client, seed: int, pulls: int):
    """/watch of the paced agent: system, agent, compare, seed, then every system's controls (Mario's level,
    the Pendulum's physics, the paced bandit's pulls) as the Watch tab lays them out."""
    return client.submit("paced", "paced-agent", "(none)", seed, 1, 1, 10.0, 1.0, 1.0, pulls,
                         api_name="/watch")


def test_a_cached_episode_is_served_at_once_while_renders_fill_every_slot(paced_app):
    url, context = paced_app
    client = Client(url, verbose=False)
    assert watch(client, 1, 1).result(timeout=120)[2]["cached"] is False  # now in the cache
    # four slow renders (25 pulls, ~10 s each) from other visitors: two play, two wait for a slot
    slow = [watch(Client(url, verbose=False), seed, 25) for seed in (2, 3, 4, 5)]
    deadline = time.monotonic() + 120
    while context.renderer.episodes_played < 1 + context.settings.render_concurrency:  # every slot playing
        assert time.monotonic() < deadline, "the slow renders never started"
        time.sleep(0.1)
    start = time.monotonic()
    video, status, figures, _ = watch(client, 1, 1).result(timeout=120)
    elapsed = time.monotonic() - start
    assert figures["cached"] is True and "served from the cache" in status
    assert elapsed < 3, f"a cached episode took {elapsed:.1f} s behind renders"
    assert not any(job.done() for job in slow)  # the renders were still going while it was served
    assert all(job.result(timeout=180)[2]["cached"] is False for job in slow)  # and every render got its turn


def test_plays_waiting_for_a_slot_are_bounded_and_the_rest_refused_in_one_line(tmp_path):
    from demo.rendering import Renderer, RenderBusy

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
