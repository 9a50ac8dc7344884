"""A visitor's rough edges in a real browser (issue 30; Debian's chromium through Playwright), on the bundled
Pendulum agent (its map.json, and two snapshots added here): a negative seed is one readable refusal that
clears the previous episode; the per-step plots show the episode of a map click and of a snapshot lineup,
never the previous one; after Play on a phone, and after a map click, the video is in view. Screenshots go
to /tmp/shots-visitor/ for a person to look at."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from app_support import agent_checkpoints, running_app
from test_browser import CHROMIUM, browser, open_page, wait_for_a_drawn_line  # noqa: F401 (browser: the fixture)

SHOTS = Path("/tmp/shots-visitor")
LINES = "{plot} svg path[aria-roledescription='line mark']"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/setup.sh --test installs it)"
)


def with_snapshots(agent: Path) -> None:
    """Two snapshots of the agent (snapshots/step-<N>/): its own weights, and the first one slightly changed
    (so the lineup's first and last episodes differ, as a real run's)."""
    from rlcore.checkpoint import WEIGHTS_FILE, atomic_save_tensors, load_tensors

    weights = load_tensors(agent / WEIGHTS_FILE)
    for step, scale in ((1000, 0.8), (2000, 1.0)):
        folder = agent / "snapshots" / f"step-{step:08d}"
        if not folder.is_dir():
            folder.mkdir(parents=True)
            shutil.copy(agent / "config.json", folder / "config.json")
            atomic_save_tensors(folder / WEIGHTS_FILE, {k: v * scale for k, v in weights.items()})


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-visitor")
    checkpoints, name = agent_checkpoints(root, "pendulum")
    if not (checkpoints / name / "map.json").is_file():
        pytest.skip("the bundled Pendulum agent has no map.json")
    with_snapshots(checkpoints / name)
    with running_app(checkpoints, root / "work") as (url, _):
        yield url


def pendulum_page(browser, url: str, width: int = 1280, height: int = 900):
    page = open_page(browser, url, width, height)
    page.set_default_timeout(120_000)
    page.locator("#watch-system").get_by_label(re.compile("Pendulum")).check()
    page.wait_for_selector("#watch-options-pendulum", state="visible")
    page.wait_for_selector("#watch-map [data-testid='cell-0-1']")
    return page


def lines(page, plot: str) -> list[str]:
    """The path of each line the plot draws (one a side)."""
    return page.eval_on_selector_all(LINES.format(plot=plot), "ls => ls.map(l => l.getAttribute('d') || '')")


def play(page, seed: int) -> None:
    page.locator("#watch-seed input").fill(str(seed))
    page.get_by_role("button", name="Play", exact=True).click()


def wait_for_new_lines(page, plot: str, before: list[str]) -> None:
    """Until `plot` draws a line through points that differs from what it drew before."""
    page.wait_for_function(f"""[...document.querySelectorAll("{LINES.format(plot=plot)}")]
        .some(l => /L/.test(l.getAttribute('d') || '') && !{json.dumps(before)}.includes(l.getAttribute('d')))""")


def played(page, seed: int) -> tuple[list[str], list[str]]:
    """Play `seed`; (the trace plot's lines, the inside plot's lines) once both are drawn."""
    play(page, seed)
    page.wait_for_function(f"document.querySelector('#watch-status').innerText.includes('on seed {seed} (')")
    wait_for_a_drawn_line(page, "#watch-trace", timeout=120_000)
    wait_for_a_drawn_line(page, "#watch-inside", timeout=120_000)
    return lines(page, "#watch-trace"), lines(page, "#watch-inside")


def in_view(page, selector: str) -> bool:
    return page.eval_on_selector(
        selector,
        """e => { const r = e.getBoundingClientRect();
        return r.top >= -2 && r.bottom <= window.innerHeight + 2; }""",
    )


def test_a_negative_seed_is_one_readable_refusal_and_clears_the_previous_episode(app_url, browser):
    page = pendulum_page(browser, app_url)
    try:
        played(page, 4)
        play(page, -1)
        page.wait_for_function("document.querySelector('#watch-status').innerText.includes('Refused:')")
        page.wait_for_function(
            "!document.querySelector('#watch-video video')"
        )  # the previous episode is gone
        page.wait_for_selector("#watch-series", state="hidden")  # and its "inside the agent" series
        status = page.locator("#watch-status").inner_text()
        assert "seed" in status and "-1" in status, status
        page.wait_for_timeout(1500)  # any late toast or badge would be there by now
        toasts = page.locator("[data-testid='toast-body']").all_inner_texts()
        assert len(toasts) == 1 and "seed" in toasts[0], toasts  # one toast, not two identical ones
        badges = page.evaluate(
            "[...document.querySelectorAll('.error')].map(e => e.innerText).filter(t => t)"
        )
        assert not [b for b in badges if b.strip() == "Error"], badges  # no red "Error" badges
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "negative-seed-1280x900.png"), full_page=True)
    finally:
        page.close()


def test_a_map_click_redraws_both_per_step_plots_and_shows_the_video(app_url, browser):
    page = pendulum_page(browser, app_url)
    try:
        trace, inside = played(page, 5)
        page.locator("#watch-map [data-testid='cell-0-1']").click()  # seed 3, g 5, m 0.5: another episode
        page.wait_for_function("document.querySelector('#watch-status').innerText.includes('on seed 3 (')")
        wait_for_new_lines(page, "#watch-trace", trace)
        wait_for_new_lines(page, "#watch-inside", inside)  # "Inside the agent" is the cell's episode too
        SHOTS.mkdir(parents=True, exist_ok=True)
        try:
            page.wait_for_function(
                "(() => { const r = document.querySelector('#watch-video')"
                ".getBoundingClientRect(); return r.top >= -2 && r.bottom <= window.innerHeight + 2; })()",
                timeout=30_000,
            )
        finally:
            page.screenshot(path=str(SHOTS / "map-click-1280x900.png"))
        assert in_view(page, "#watch-video")  # the episode plays where the visitor sees it
        focused = page.evaluate("!!document.activeElement?.closest('#watch-map')")
        editors = page.eval_on_selector_all(
            "#watch-map input, #watch-map textarea",
            """boxes => boxes
            .filter(b => b.getBoundingClientRect().width > 0 && getComputedStyle(b).visibility !== 'hidden')
            .map(b => b.outerHTML.slice(0, 200))""",
        )
        assert not focused and editors == [], editors  # no cell left in an edit box
    finally:
        page.close()


def test_a_snapshot_lineup_redraws_both_per_step_plots(app_url, browser):
    page = pendulum_page(browser, app_url)
    try:
        trace, inside = played(page, 6)
        page.locator("#watch-snapshots").click()
        page.wait_for_function("document.querySelector('#watch-status').innerText.includes('How it learned')")
        wait_for_new_lines(page, "#watch-trace", trace)  # the first and the last snapshots' episodes
        wait_for_new_lines(page, "#watch-inside", inside)
        assert len([d for d in lines(page, "#watch-trace") if "L" in d]) == 2  # one line a side
        assert "the first snapshot (1,000 steps) in orange" in page.locator("#watch-status").inner_text()
    finally:
        page.close()


def test_on_a_phone_the_video_is_in_view_after_play(app_url, browser):
    page = pendulum_page(browser, app_url, 390, 844)
    try:
        button = page.get_by_role("button", name="Play", exact=True)
        # the visitor filled the form: Play at the bottom of the screen, the video below it
        button.evaluate("b => b.scrollIntoView({block: 'end'})")
        assert not in_view(page, "#watch-video")
        play(page, 7)
        page.wait_for_function("document.querySelector('#watch-status').innerText.includes('on seed 7 (')")
        page.wait_for_function(
            "(() => { const r = document.querySelector('#watch-video').getBoundingClientRect();"
            " return r.top >= -2 && r.bottom <= window.innerHeight + 2; })()",
            timeout=30_000,
        )
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "play-390x844.png"))
    finally:
        page.close()
