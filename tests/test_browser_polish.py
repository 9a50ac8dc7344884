"""The rest of a visitor's rough edges in a real browser (issue 30; Debian's chromium through Playwright),
on the bundled Pendulum agent (two snapshots and a recorded playthrough added here, and twelve copies of it,
so the agents table scrolls): refusals in the Train tab are calm notices, not red errors; a queued status is
legible in both themes; on a phone each panel of a side-by-side video keeps its size; the Agents tab puts a
new upload in view with what it was trained on and readable figures; the buttons under the video look like
buttons. Screenshots go to /tmp/shots-polish/ for a person to look at."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
from app_support import agent_checkpoints, running_app, runs_can_be_held, training_run
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_browser import CHROMIUM, CONTRAST, browser, open_page  # noqa: F401 (browser: the fixture)
from test_browser_visitor import pendulum_page, with_snapshots

SHOTS = Path("/tmp/shots-polish")
COPIES = 12  # more rows than the agents table shows without scrolling
# Visible elements with Gradio's error styling (an error toast, an output's red "Error" badge)
ERRORS = """[...document.querySelectorAll('[class~=error], .toast-body.error')]
    .filter(e => e.getBoundingClientRect().width > 0)
    .map(e => e.className + ': ' + e.innerText.slice(0, 80))"""
TOASTS = """[...document.querySelectorAll('[data-testid=toast-body]')]
    .map(t => t.className + ': ' + t.innerText)"""
# The product of the opacities of an element and its ancestors (Gradio fades a pending output)
OPACITY = """(e) => { let o = 1;
    for (; e; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity);
    return o; }"""

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/setup.sh --test installs it)"
)


def with_playthrough(agent: Path) -> None:
    """A recorded playthrough beside the agent (its replay as the video), so the World button shows."""
    if not (agent / "playthrough.json").is_file():
        shutil.copy(agent / "replay.mp4", agent / "playthrough.mp4")
        figures = {
            "stages": [{"level": "1-1", "flag_get": True}],
            "summary": {"flags": 1, "levels": 1},
            "agents": [agent.name],
            "options": {"seed": 0},
        }
        (agent / "playthrough.json").write_text(json.dumps(figures))


def with_copies(checkpoints: Path, agent: Path) -> None:
    """COPIES more bundled agents (its weights, config and figures), listed after it."""
    for i in range(COPIES):
        copy = checkpoints / f"zz-copy-{i:02d}"
        if not copy.is_dir():
            copy.mkdir()
            for name in ("config.json", "model.safetensors", "results.json"):
                shutil.copy(agent / name, copy / name)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-polish")
    checkpoints, name = agent_checkpoints(root, "pendulum")
    if not (checkpoints / name / "replay.mp4").is_file():
        pytest.skip("the bundled Pendulum agent has no replay.mp4")
    with_snapshots(checkpoints / name)
    with_playthrough(checkpoints / name)
    with_copies(checkpoints, checkpoints / name)
    with running_app(checkpoints, root / "work") as (url, context):
        yield url, context, checkpoints / name


# Records the text of every toast shown from now on: a toast lasts ~10 s, and a loaded machine may not
# let a test look at the right moment
RECORD_TOASTS = """window.__toasts = [];
    new MutationObserver(() => document.querySelectorAll('[data-testid=toast-body]').forEach(t => {
        if (!window.__toasts.includes(t.innerText)) window.__toasts.push(t.innerText); }))
    .observe(document.body, {childList: true, subtree: true, characterData: true});"""


def toast_shown(page, words: str, context=None) -> None:
    """Wait until a toast saying `words` was shown (RECORD_TOASTS first); else fail saying what was shown,
    what the status line says and, given the app's context, which runs the server has going."""
    try:
        page.wait_for_function(f"(window.__toasts || []).some(t => t.includes({json.dumps(words)}))")
    except Exception:
        runs = [] if context is None else [(r.owner[:6], r.done) for r in context.training.unfinished_runs()]
        shown = page.evaluate("window.__toasts || []")
        raise AssertionError(
            f"no toast saying {words!r}; toasts {shown}, status {page.inner_text('#train-status')!r}, runs {runs}"
        ) from None


def train_page(browser, url: str, steps: int, width: int = 1280, height: int = 900):
    page = open_page(browser, url, width, height)
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-system").get_by_label(re.compile("Pendulum")).check()
    page.wait_for_function("/here is about/.test(document.querySelector('#train-cap-note').innerText)")
    time.sleep(1)  # the tab's own updates (its preset list, the budget) settle before the form is filled
    page.locator("#train-steps input").fill(str(steps))
    return page


def status_has(page, pattern: str, timeout: float = 90_000) -> None:
    page.wait_for_function(
        f"/{pattern}/.test(document.querySelector('#train-status').innerText)", timeout=timeout
    )


def test_a_budget_over_the_limit_is_a_calm_notice_not_an_error(app, browser):
    page = train_page(browser, app[0], 999_999)
    try:
        page.get_by_role("button", name="Start training").click()
        status_has(page, "Refused:.*from 1 to")  # the refusal, in the status line
        page.wait_for_timeout(1500)  # any late toast or badge would be there by now
        toasts = page.evaluate(TOASTS)
        assert len(toasts) == 1 and "warning" in toasts[0] and "from 1 to" in toasts[0], toasts
        assert page.evaluate(ERRORS) == []  # no red "Error" toast or badge
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "over-the-limit-1280x900.png"))
    finally:
        page.close()


def settled(locator, script: str) -> float:
    """`script`'s number for the element, measured again while the page replaces it (the status line is
    re-rendered when the queue moves: a detached element has no computed style, NaN)."""
    for _ in range(20):
        value = locator.evaluate(script)
        if value == value:  # not NaN
            return value
        time.sleep(0.25)
    return value


def queued_legibly(page, theme: str) -> None:
    """Start while the slot is busy: the waiting status reads at full opacity and >= 4.5:1 contrast."""
    page.get_by_role("button", name="Start training").click()
    status_has(page, "Waiting for a training slot")
    page.wait_for_timeout(1000)  # Gradio marks the pending output once the queued event is sent
    text = page.locator("#train-status p", has_text="Waiting for a training slot")
    assert "⏳" in text.inner_text()
    assert settled(text, OPACITY) == 1.0, theme  # Gradio fades it to 0.2
    assert settled(text, CONTRAST) >= 4.5, theme
    page.screenshot(path=str(SHOTS / f"queued-{theme}-390x844.png"))
    page.evaluate(RECORD_TOASTS)
    page.get_by_role("button", name="Start training").click()  # again: a warning; the status keeps its place
    toast_shown(page, "your run is already waiting in the queue")
    page.wait_for_timeout(1000)
    assert "Waiting for a training slot" in page.inner_text("#train-status"), theme
    assert page.evaluate(ERRORS) == [], theme


def test_while_a_run_goes_a_second_start_is_a_notice_and_a_queued_status_is_legible(app, browser):
    url, context, _ = app
    SHOTS.mkdir(parents=True, exist_ok=True)
    with runs_can_be_held(context):
        held_through_a_second_start_and_the_queue(browser, url, context)


def held_through_a_second_start_and_the_queue(browser, url: str, context) -> None:
    first = train_page(browser, url, 2000)
    light = train_page(browser, url, 10, 390, 844)
    dark = train_page(browser, url + "?__theme=dark", 10, 390, 844)
    try:
        first.get_by_role("button", name="Start training").click()
        run = training_run(context)
        # held still (the replays' pause, with a bank that outlasts the test) while the second Start and the
        # queue are tried: on a loaded machine the page may show the run's first iterations only when its 2000
        # are nearly done, and a run that has ended refuses nothing and keeps nobody waiting
        assert run.pause(), "the run could not be paused"
        try:
            status_has(first, ", [1-9]\\d* \\/ 2000 iterations")
            first.evaluate(RECORD_TOASTS)
            first.get_by_role("button", name="Start training").click()  # a second Start: refused, calmly
            toast_shown(first, "you already have a run going: Stop it first", context)
            first.wait_for_timeout(1500)
            assert first.evaluate(ERRORS) == [], first.evaluate(TOASTS)
            queued_legibly(light, "light")
            queued_legibly(dark, "dark")
            assert dark.evaluate("document.body.classList.contains('dark')")
        finally:
            run.resume()
    finally:
        for page in (light, dark, first):
            try:  # on a loaded machine a click can hang past its checks; closing the page stops its runs too
                page.get_by_role("button", name="Stop").click(timeout=15_000)
            except PlaywrightTimeout:
                pass
        for page in (light, dark, first):
            page.close()
        deadline = time.monotonic() + 90
        while context.training.unfinished_runs() and time.monotonic() < deadline:
            time.sleep(0.5)
    assert not context.training.unfinished_runs(), "Stop and closing the pages left a run going"


# The shown width of the video, its natural width, and whether its box scrolls sideways within the page
VIDEO_SIZE = """(() => { const v = document.querySelector('#watch-video video');
    const box = v.closest('.mirror-wrap');
    return {shown: v.getBoundingClientRect().width, natural: v.videoWidth,
            scrolls: box.scrollWidth > box.clientWidth,
            page: document.documentElement.scrollWidth, top: v.getBoundingClientRect().top,
            label: document.querySelector('#watch-video label').getBoundingClientRect().bottom}; })()"""


def video_after(page, click, status: str) -> dict:
    """Click, wait for `status` and a new video; its VIDEO_SIZE."""
    shown = page.evaluate("document.querySelector('#watch-video video')?.src ?? null")
    click()
    page.wait_for_function(
        f"document.querySelector('#watch-status').innerText.includes({json.dumps(status)})"
    )
    page.wait_for_function(
        f"(v => v && v.src !== {json.dumps(shown)} && v.videoWidth > 0)"
        "(document.querySelector('#watch-video video'))"
    )
    page.wait_for_timeout(500)
    return page.evaluate(VIDEO_SIZE)


def test_on_a_phone_each_panel_of_a_side_by_side_video_keeps_its_size(app, browser):
    page = pendulum_page(browser, app[0], 390, 844)
    play = page.get_by_role("button", name="Play", exact=True)
    try:
        single = video_after(page, play.click, "on seed 3 (")
        assert single["shown"] >= 300 and not single["scrolls"], single  # one panel: the page's width
        lineup = video_after(page, page.locator("#watch-snapshots").click, "How it learned")
        page.get_by_label("Compare with").click()
        page.get_by_role("option", name="zz-copy-00").click()
        pair = video_after(page, play.click, "vs zz-copy-00")
        for panels, size in ((2, lineup), (2, pair)):
            panel = size["shown"] * single["natural"] / size["natural"]  # panels as wide as a single episode
            assert size["natural"] > panels * single["natural"] - 1 and panel >= 300, size  # was 160 px
            assert size["scrolls"] and size["page"] <= 390, size  # the video scrolls sideways, not the page
            assert size["top"] >= size["label"] - 1, size  # the label does not cover the panels' captions
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#watch-video").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "compare-390x844.png"))
    finally:
        page.close()


# Whether the table's row of `ref` is drawn inside the table's scrolled box ("missing": not drawn at all)
ROW_IN_VIEW = """(ref) => { const cell = [...document.querySelectorAll('#agents-table [role=gridcell]')]
      .find(cell => cell.innerText.trim() === ref);
    if (!cell) return 'missing';
    let box = cell.parentElement;
    while (box && !/(auto|scroll)/.test(getComputedStyle(box).overflowY)) box = box.parentElement;
    const c = cell.getBoundingClientRect(), b = (box || document.documentElement).getBoundingClientRect();
    return c.height > 0 && c.top >= b.top - 1 && c.bottom <= b.bottom + 1; }"""


def test_an_upload_is_the_first_row_with_what_it_trained_on_and_readable_figures(app, browser):
    from rlcore.systems import get_system

    agent = app[2]
    page = open_page(browser, app[0])
    page.set_default_timeout(120_000)
    try:
        page.get_by_role("tab", name="Agents").click()
        page.wait_for_function("document.querySelector('#agents-table').innerText.includes('zz-copy-00')")
        headers = page.eval_on_selector_all(
            "#agents-table thead span.header", "hs => hs.map(h => h.innerText)"
        )
        assert "trained on" in headers, headers
        system = get_system("pendulum")
        task = system.task_text(system.config_of(agent))  # "g 10, m 1, l 1"
        assert page.evaluate(ROW_IN_VIEW, agent.name) is True  # bundled rows first while nothing was added
        page.locator("#agents-upload input[type=file]").set_input_files(
            [str(agent / "config.json"), str(agent / "model.safetensors")]
        )
        page.get_by_role("button", name="Check, evaluate and add").click()
        page.wait_for_function("document.querySelector('#agents-upload-status').innerText.includes('Added')")
        message = page.locator("#agents-upload-status").inner_text()
        ref = re.search(r"Added (uploaded/[\w-]+)", message).group(1)
        assert f"trained on {task}" in message, message
        assert "mean return" in message and "last reward" in message, message
        assert not re.findall(r"\b[a-z]+_[a-z_]+\b", message), message  # no raw keys (mean_reward, noop_max)
        page.wait_for_function(
            f"document.querySelector('#agents-table').innerText.includes({json.dumps(ref)})"
        )
        assert page.evaluate(ROW_IN_VIEW, ref) is True  # the new row is in view, not at the end of the scroll
        rows = page.eval_on_selector_all(
            "#agents-table [role=row].virtual-row", "rows => rows.map(r => r.innerText)"
        )
        row = next(text for text in rows if ref in text)
        assert task in row, row  # its "trained on" cell
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "agents-upload-1280x900.png"), full_page=True)
    finally:
        page.close()


# A button's look: its corner radius and border, its width against its parent's, its background's alpha
BUTTON_LOOK = """(b) => { const s = getComputedStyle(b);
    return {radius: parseFloat(s.borderTopLeftRadius), border: parseFloat(s.borderTopWidth),
            width: b.getBoundingClientRect().width, room: b.parentElement.getBoundingClientRect().width}; }"""


def test_the_lineup_and_world_buttons_look_like_buttons(app, browser):
    page = pendulum_page(browser, app[0])
    try:
        for button in ("#watch-snapshots", "#watch-playthrough"):
            page.wait_for_selector(button, state="visible")
            look = page.eval_on_selector(button, BUTTON_LOOK)
            # rounded, outlined, as wide as its label: not a square grey bar across the column
            assert look["radius"] >= 4 and look["border"] >= 1, (button, look)
            assert look["width"] < 0.8 * look["room"], (button, look)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#watch-snapshots").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "buttons-1280x900.png"))
    finally:
        page.close()
