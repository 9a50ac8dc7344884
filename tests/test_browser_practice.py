"""The Train tab's Mario default in a real browser (Debian's chromium, Python Playwright): it proposes the
bundled agent that fails on its own level (mario-1-3-treetop, at the treetop jump), and a short run from it practises
where it fails, from the level's bundled route, and ends with a before/after from that spot and the figures of
both agents from the level's start. Screenshots go to /tmp/shots-practice/ for a person to look at."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from app_support import running_app
from test_browser import CHROMIUM, browser  # noqa: F401 (browser: the fixture)

AGENT = Path(__file__).resolve().parent.parent / "checkpoints" / "mario-1-3-treetop"
SHOTS = Path("/tmp/shots-practice")

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.skipif(
        not (AGENT / "model.safetensors").is_file(), reason="mario-1-3-treetop is not bundled"
    ),
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("rlcore-practice-app")
    shutil.copytree(
        AGENT,
        root / "checkpoints" / AGENT.name,
        ignore=shutil.ignore_patterns("training_state.*", "snapshots", "*.mp4"),
    )
    with running_app(root / "checkpoints", root / "work") as (url, _):
        yield url


@pytest.mark.extended
def test_the_mario_default_practises_where_the_agent_fails_and_shows_it_from_there(app_url, browser):
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    page.goto(app_url)
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-system").get_by_label(re.compile("Super Mario Bros")).check()
    page.wait_for_function(
        "/practises where the agent fails/.test(document.querySelector('#train-cap-note').innerText)"
    )
    assert "mario-1-3-treetop" in page.input_value("#train-start input")
    assert page.input_value("#train-task-stage input") == "3"  # its own level, where it fails
    page.locator("#train-steps input").fill("300")
    page.get_by_role("button", name="Start training").click()
    try:
        page.wait_for_function(
            "/Before \\/ after|did not produce/.test(document.querySelector('#train-status').innerText)",
            timeout=400_000,
        )
    finally:
        status = page.inner_text("#train-status")
        page.screenshot(path=str(SHOTS / "train-practice-1280x900.png"), full_page=True)
    assert "Before / after" in status, status
    assert re.search(r"Practice.*ends at x 725.*from x [\d,]+", status), status
    spot = int(re.search(r"from x ([\d,]+)", status).group(1).replace(",", ""))
    assert 300 < spot < 725 and f"start_x {spot}" in status, status  # the video starts at the practice spot
    assert (
        "before (mario-1-3-treetop)" in status and "after (this run)" in status and "From the start" in status
    ), status
    page.wait_for_function("document.querySelector('#train-video video')?.videoWidth > 0")
    width, height = page.evaluate(
        "[document.querySelector('#train-video video').videoWidth, "
        "document.querySelector('#train-video video').videoHeight]"
    )
    assert width >= 2 * height - 16, (width, height)  # both agents side by side
    page.close()
