"""The app in a real browser: Debian's chromium driven by Python Playwright (never `playwright install`).

Plays a bundled replay and checks that the <video> element's currentTime advances, starts a short
Pendulum training, checks that the live plot draws and extends its line, then closes the page and checks
that the run stops by itself (heartbeat). Saves screenshots to /tmp (rlcore-browser-*.png) for a person
to look at. Uses the bundled Mario agent when checkpoints/ has
one, else the Pendulum agent.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
from app_support import (
    agent_checkpoints,
    agent_with_playthrough,
    bundled_agent,
    running_app,
    runs_can_be_held,
    training_run,
)

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]
BUNDLED_MARIO = bundled_agent("mario")
SCREENSHOTS = Path("/tmp")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/setup.sh --test installs it)"
)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    root = (
        tmp_path_factory.getbasetemp() / "rlcore-app"
    )  # shared with test_app.py (its agent and video cache)
    checkpoints, _ = agent_checkpoints(root, "pendulum")
    if BUNDLED_MARIO is not None:
        agent_with_playthrough(root)  # the bundled Mario agent, shipping three snapshots and a playthrough
    # A short heartbeat timeout: the last test closes the page and its training run must stop soon after.
    with running_app(checkpoints, root / "work", heartbeat_timeout=8) as (url, context):
        yield url, context


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:  # one per module: Playwright's sync API does not nest
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def open_page(browser, url: str, width: int = 1280, height: int = 900):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(60_000)
    page.goto(url)
    return page


def wait_for_a_drawn_line(page, plot: str, timeout: float = 60_000) -> None:
    """Until `plot` draws a line through points (an empty per-step plot has line marks too:
    one point a side)."""
    page.wait_for_function(
        f"""[...document.querySelectorAll("{plot} svg path[aria-roledescription='line mark']")]
        .some(line => /L/.test(line.getAttribute('d') || ''))""",
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def page(app_url, browser):
    return open_page(browser, app_url[0])  # the training test closes it (the visitor goes away)


def test_a_bundled_replay_plays_in_the_video_element(page):
    page.get_by_role("tab", name="Watch").click()
    system = "Super Mario Bros" if BUNDLED_MARIO is not None else "Pendulum"
    page.locator("#watch-system").get_by_label(re.compile(system)).check()
    shown_on_arrival = page.evaluate("document.querySelector('#watch-video video')?.src ?? null")  # a replay
    page.get_by_role("button", name="Play", exact=True).click()
    page.wait_for_function("/on seed 0/.test(document.querySelector('#watch-status').innerText)")
    page.wait_for_function(
        f"document.querySelector('#watch-video video')?.src !== {json.dumps(shown_on_arrival)}"
    )
    page.wait_for_function("document.querySelector('#watch-video video').currentTime > 0.2")
    first = page.evaluate("document.querySelector('#watch-video video').currentTime")
    time.sleep(0.5)
    later = page.evaluate("document.querySelector('#watch-video video').currentTime")
    assert later > first  # it is playing, not just loaded
    assert page.evaluate("document.querySelector('#watch-video video').videoWidth") > 0
    page.wait_for_selector("#watch-status table")  # the episode's figures
    wait_for_a_drawn_line(page, "#watch-trace")  # its per-step plot
    # both axis titles drawn inside the plot's frame (Vega lays the chart out for its first, empty value)
    frame = page.locator("#watch-trace").bounding_box()
    titles = page.eval_on_selector_all(
        "#watch-trace svg text",
        """texts => texts
        .filter(t => ['step of the episode', 'x_pos', 'reward'].includes(t.textContent))
        .map(t => { const r = t.getBoundingClientRect();
                    return [t.textContent, r.left, r.top, r.right, r.bottom]; })""",
    )
    slack = 2  # px: a text's box includes the font's line spacing around the glyphs
    inside = [
        frame["x"] - slack <= left
        and right <= frame["x"] + frame["width"] + slack
        and frame["y"] - slack <= top
        and bottom <= frame["y"] + frame["height"] + slack
        for _, left, top, right, bottom in titles
    ]
    assert len(titles) == 2 and all(inside), (frame, titles)
    page.screenshot(path=str(SCREENSHOTS / "rlcore-browser-watch.png"), full_page=True)
    page.get_by_role("tab", name="Agents").click()
    page.wait_for_function("document.querySelector('#agents-table').innerText.includes('bundled')")
    # each tab's header once (a component loose between the tabs made the browser draw Agents twice)
    assert page.eval_on_selector_all("[role=tab]", "tabs => tabs.map(t => t.textContent)") == [
        "Watch",
        "Train",
        "Agents",
    ]
    page.screenshot(path=str(SCREENSHOTS / "rlcore-browser-agents.png"), full_page=True)


def open_train_tab(page, url: str, steps: int):
    page.goto(url)
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-system").get_by_label(re.compile("Pendulum")).check()
    page.locator("#train-steps input").fill(str(steps))


def test_a_second_visitor_waits_in_gradios_queue_and_stop_there_cancels_its_place(page, app_url):
    url, context = app_url
    with runs_can_be_held(context):
        a_second_visitor_waits(page, url, context)


def a_second_visitor_waits(page, url: str, context) -> None:
    browser = page.context.browser
    first, second = browser.new_page(), browser.new_page()  # two visitors (two sessions)
    try:
        started_before = len(context.training._runs)
        open_train_tab(first, url, 2000)
        open_train_tab(second, url, 10)
        first.get_by_role("button", name="Start training").click()
        # the start-up is said in words while the child process loads (not a bare "0 / 2000" for seconds)
        first.wait_for_function(
            "/0 \\/ 2000 iterations: (starting the training process|loading the trainer)/"
            ".test(document.querySelector('#train-status').innerText)"
        )
        run = training_run(context)
        assert run.pause()  # held still while the second visitor queues behind it (runs_can_be_held)
        first.wait_for_function(
            "/, [1-9]\\d* \\/ 2000 iterations/.test(document.querySelector('#train-status').innerText)"
        )
        second.get_by_role("button", name="Start training").click()
        second.wait_for_function(
            "/Waiting for a training slot/.test(document.querySelector('#train-status').innerText)"
        )
        # a second Start is answered with why, whether the run is going or waiting
        first.get_by_role("button", name="Start training").click()
        first.get_by_text(re.compile("you already have a run going: Stop it first")).wait_for()
        second.get_by_role("button", name="Start training").click()
        second.get_by_text(re.compile("your run is already waiting in the queue")).wait_for()
        time.sleep(2)
        assert len(context.training._runs) == started_before + 1  # one run at a time: the second waits
        second.get_by_role("button", name="Stop").click()  # leaves the queue (cancels=)
        second.wait_for_function(
            "/You have no run going/.test(document.querySelector('#train-status').innerText)"
        )
        run.resume()
        first.get_by_role("button", name="Stop").click()  # the first run saves and delivers its agent
        first.wait_for_function(
            "/Saved as/.test(document.querySelector('#train-status').innerText)", timeout=90_000
        )
        time.sleep(3)  # the slot is free: a second run still queued would start now
        assert len(context.training._runs) == started_before + 1 and not context.training.unfinished_runs()
    finally:
        first.close()
        second.close()


def test_training_draws_its_live_plot_and_closing_the_page_stops_it(page, app_url):
    _, context = app_url
    with runs_can_be_held(context):
        a_live_plot_then_the_page_closes(page, context)


def a_live_plot_then_the_page_closes(page, context) -> None:
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-system").get_by_label(re.compile("Pendulum")).check()
    page.locator("#train-steps input").fill("2000")
    page.get_by_role("button", name="Start training").click()
    run = training_run(context)
    deadline = time.monotonic() + 90
    while sum(isinstance(r.get("return"), float) for r in run.records) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    # held still once the plotted return has two points, while the page shows them: it must still be going
    # when the tab closes
    assert run.pause(), (run.state, len(run.records))
    # The return plot gets a line once the first metric records arrive from the training process.
    line = "#train-plot-0 svg path[aria-roledescription='line mark']"
    page.wait_for_selector(line, timeout=90_000)
    page.wait_for_function(
        "/, [1-9]\\d* \\/ 2000 iterations/.test(document.querySelector('#train-status').innerText)"
    )
    page.wait_for_function(f"/L/.test(document.querySelector(\"{line}\").getAttribute('d'))")  # 2+ points
    page.screenshot(path=str(SCREENSHOTS / "rlcore-browser-train.png"), full_page=True)
    assert not run.done
    run.resume()
    page.close()  # the visitor closes the tab: nobody polls the run any more
    deadline = time.monotonic() + 60
    while not run.done and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.state == "stopped" and "went away" in run.message
    assert 0 < len(run.records) < 2000 and (run.out_dir / "model.safetensors").is_file()


@pytest.mark.skipif(BUNDLED_MARIO is None, reason="needs the bundled Mario agent (trained on 1-1)")
def test_a_level_the_agent_never_saw_is_named_in_the_status(app_url, browser):
    page = open_page(browser, app_url[0])
    page.locator("#watch-system").get_by_label(re.compile("Super Mario Bros")).check()
    stage = page.locator("#watch-options-mario").get_by_label("Stage")
    stage.click()
    page.get_by_role("option", name="2", exact=True).click()
    page.get_by_role("button", name="Play", exact=True).click()
    page.wait_for_function(
        "/World 1-2/.test(document.querySelector('#watch-status').innerText)", timeout=120_000
    )
    status = page.inner_text("#watch-status")
    assert "a level it never saw (it was trained on 1-1 only)" in status, status
    page.screenshot(path=str(SCREENSHOTS / "rlcore-browser-watch-unseen-level.png"), full_page=True)
    page.close()


@pytest.mark.extended
@pytest.mark.skipif(BUNDLED_MARIO is None, reason="needs the bundled Mario agent")
def test_how_it_learned_plays_the_snapshots_side_by_side_with_their_flag_rates(app_url, browser):
    for width, height in ((1280, 900), (390, 844)):
        page = open_page(browser, app_url[0], width, height)
        page.locator("#watch-system").get_by_label(re.compile("Super Mario Bros")).check()
        page.get_by_text(
            re.compile("ships 3 snapshots of its training \\(100k, 300k, 700k steps\\)")
        ).wait_for()
        shown_on_arrival = page.evaluate("document.querySelector('#watch-video video')?.src ?? null")
        page.get_by_role("button", name="Play its snapshots side by side").click()
        page.wait_for_function(
            "/snapshots on seed 0/.test(document.querySelector('#watch-status').innerText)", timeout=180_000
        )
        page.wait_for_function(
            f"document.querySelector('#watch-video video')?.src !== {json.dumps(shown_on_arrival)}"
        )
        page.wait_for_function("document.querySelector('#watch-video video').videoWidth > 0")
        # three 256-pixel panels with 8-pixel gaps, a caption strip above the 240-pixel screens
        assert page.evaluate(
            "[document.querySelector('#watch-video video').videoWidth, "
            "document.querySelector('#watch-video video').videoHeight]"
        ) == [3 * 256 + 2 * 8, 262]
        status = page.inner_text("#watch-status")
        for line in (
            "100k steps: evaluated flag rate 0% (0/20). This episode: return",
            "300k steps: evaluated flag rate 50% (10/20). This episode: return",
            "700k steps: evaluated flag rate 100% (20/20). This episode: return",
        ):
            assert line in status, status
        page.screenshot(path=str(SCREENSHOTS / f"rlcore-browser-watch-snapshots-{width}.png"), full_page=True)
        # the recorded World playthrough shipped in the agent's folder, played as it is
        shown = page.evaluate("document.querySelector('#watch-video video').src")
        page.get_by_role("button", name="Watch World 1 played in a row by its stage agents").click()
        page.wait_for_function(
            "/World 1 in a row \\(recorded, seed 0, greedy\\)/"
            ".test(document.querySelector('#watch-status').innerText)"
        )
        page.wait_for_function(f"document.querySelector('#watch-video video')?.src !== {json.dumps(shown)}")
        page.wait_for_function("document.querySelector('#watch-video video').videoWidth > 0")
        assert "0 of 1 levels cleared" in page.inner_text("#watch-status")
        assert page.evaluate("document.querySelector('#watch-video video').src").endswith("playthrough.mp4")
        page.locator("#watch-system").get_by_label(
            re.compile("Pendulum")
        ).check()  # an agent without snapshots
        page.get_by_text(re.compile("has no bundled snapshots")).wait_for()
        assert not page.get_by_role("button", name="Play its snapshots side by side").is_visible()
        assert not page.locator("#watch-playthrough").is_visible()  # no Pendulum playthrough
        page.close()


# [text, content width, widest word] of the visible elements matching a selector, in their own font
WORD_FIT = """(selector) => {
  const context = document.createElement('canvas').getContext('2d');
  return [...document.querySelectorAll(selector)].filter(e => e.offsetParent !== null).map(e => {
    const style = getComputedStyle(e);
    context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const words = e.innerText.split(/\\s+/).filter(Boolean).map(w => context.measureText(w).width);
    const width = e.getBoundingClientRect().width - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return [e.innerText, width, Math.max(0, ...words)];
  });
}"""


def test_the_agents_table_is_readable_on_a_laptop_and_on_a_phone(app_url, browser):
    for width, height, cells in (
        (1280, 900, "#agents-table thead span.header"),
        (390, 844, "#agents-cards dt, #agents-cards dd"),
    ):
        page = open_page(browser, app_url[0], width, height)
        page.get_by_role("tab", name="Agents").click()
        shown = (
            "#agents-cards" if width < 640 else "#agents-table"
        )  # the (virtual) table draws no rows when hidden
        page.wait_for_function(f"document.querySelector('{shown}')?.innerText.includes('bundled')")
        measured = page.evaluate(WORD_FIT, cells)
        assert len(measured) > 5 and all(text for text, _, _ in measured)
        squeezed = [text for text, room, word in measured if room + 1 < word]
        assert not squeezed, f"{width} px: cells narrower than one of their words: {squeezed}"
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        # agent names are one long token (trained/20261202-...): they wrap inside their card, never out of it
        assert page.evaluate(
            "[...document.querySelectorAll('#agents-cards h4')].every(h => h.scrollWidth <= h.clientWidth)"
        )
        page.screenshot(path=str(SCREENSHOTS / f"rlcore-browser-agents-{width}.png"), full_page=True)
        page.close()


# WCAG contrast ratio of an element's text colour against the first opaque background behind it
CONTRAST = """(element) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => [r, g, b].map(v => v / 255)
    .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  let behind = element;
  while (behind && (getComputedStyle(behind).backgroundColor.match(/[\\d.]+/g) || [0, 0, 0, 0]).length === 4
         && rgb(getComputedStyle(behind).backgroundColor)[3] === 0) behind = behind.parentElement;
  const back = behind ? rgb(getComputedStyle(behind).backgroundColor) : [255, 255, 255];
  const [a, b] = [luminance(rgb(getComputedStyle(element).color)), luminance(back)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def test_on_a_phone_the_video_is_right_under_play_and_info_text_and_favicon_are_ours(app_url, browser):
    page = open_page(browser, app_url[0], 390, 844)
    for system in ("Pendulum", "Super Mario Bros"):  # the Pendulum has the taller form (three sliders)
        page.locator("#watch-system").get_by_label(re.compile(system)).check()
        # the form re-lays itself out after the switch (sliders hide or show): wait for it to settle
        for _ in range(40):
            page.wait_for_timeout(250)
            play = page.get_by_role("button", name="Play", exact=True).bounding_box()
            video = page.locator("#watch-video").bounding_box()
            if 0 < video["y"] - (play["y"] + play["height"]) < 120:
                break
        assert 0 < video["y"] - (play["y"] + play["height"]) < 120, (system, play, video)
    page.screenshot(path=str(SCREENSHOTS / "rlcore-browser-watch-390.png"), full_page=True)
    info = page.get_by_text("A second agent on the same seed, side by side")
    assert info.evaluate(CONTRAST) >= 4.5
    served = page.request.get(app_url[0] + "favicon.ico")  # where browsers look (the page names no other)
    assert served.ok and served.body() == (Path(__file__).parent.parent / "demo" / "favicon.png").read_bytes()
    page.close()


FINETUNE_SHOTS = Path("/tmp/shots-finetune")


def open_pendulum_training(browser, url: str, width: int, height: int):
    page = open_page(browser, url, width, height)
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-system").get_by_label(re.compile("Pendulum")).check()
    page.wait_for_function(
        "/here is about [\\d,]+ iterations/.test(document.querySelector('#train-cap-note').innerText)"
    )
    time.sleep(1.5)  # the tab's own updates (its preset list) settle before the screenshots
    return page


def test_a_run_from_the_bundled_pendulum_ends_with_its_before_after(app_url, browser):
    """The Train tab proposes the bundled agent on a new gravity and says what the cap allows; a short run
    from it ends with both agents on the same episode, side by side, and both agents' figures."""
    FINETUNE_SHOTS.mkdir(exist_ok=True)
    phone = open_pendulum_training(browser, app_url[0], 390, 844)
    phone.screenshot(path=str(FINETUNE_SHOTS / "train-before-start-390x844.png"), full_page=True)
    phone.close()
    page = open_pendulum_training(browser, app_url[0], 1280, 900)
    assert "pendulum-swingup" in page.input_value("#train-start input")
    assert (
        page.input_value("#train-task-g input[type=number]") == "15"
    )  # a gravity the bundled agent fails at
    page.screenshot(path=str(FINETUNE_SHOTS / "train-before-start-1280x900.png"), full_page=True)
    page.locator("#train-steps input").fill("30")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function(
        "/Before \\/ after/.test(document.querySelector('#train-status').innerText)", timeout=150_000
    )
    status = page.inner_text("#train-status")
    assert "before (pendulum-swingup)" in status and "after (this run)" in status, status
    assert re.search(r"swung up\s+no\s+yes", status), status  # it fails at g 15 before, and not after
    page.wait_for_function("document.querySelector('#train-video video')?.videoWidth > 0")
    page.wait_for_function("document.querySelector('#train-video video').currentTime > 0.2")
    size = page.evaluate(
        "[document.querySelector('#train-video video').videoWidth, "
        "document.querySelector('#train-video video').videoHeight]"
    )
    assert size[0] >= 2 * size[1], size  # two square pendulum frames side by side
    page.screenshot(path=str(FINETUNE_SHOTS / "train-after-finetune-1280x900.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(FINETUNE_SHOTS / "train-after-finetune-390x844.png"), full_page=True)
    page.close()
