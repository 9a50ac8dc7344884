"""The Watch tab's "inside the agent" plot in a real browser (Debian's chromium through Playwright): after
Play the series picker appears and the plot draws its line on numeric (linear) axes; with the bundled
Mario and "Show Q-values" ticked, screenshots at 1280x900 and 390x844 go to /tmp/shots-q/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_browser import BUNDLED_MARIO, CHROMIUM, app_url, browser, open_page, wait_for_a_drawn_line  # noqa: F401 (fixtures)

SHOTS = Path("/tmp/shots-q")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/setup.sh --test installs it)"
)


def axis_labels(page, plot: str) -> list[str]:
    """Vega's own descriptions of the plot's axes,
    e.g. "X-axis titled 'step of the episode' for a linear scale ..."."""
    return page.eval_on_selector_all(
        f"{plot} svg [aria-roledescription='axis']", "axes => axes.map(a => a.getAttribute('aria-label'))"
    )


def choose_system(page, system: str, name: str) -> None:
    """Pick a system and wait for its controls (its agents are in the picker then). A radio checked while the
    page's Gradio client is still connecting sends no change event (seen once in ten runs): pick again."""
    radios = page.locator("#watch-system")
    for _ in range(3):
        radios.get_by_label(re.compile(system)).check()
        try:
            page.wait_for_selector(f"#watch-options-{name}", state="visible", timeout=20_000)
            return
        except PlaywrightTimeout:
            radios.locator("input[type=radio]:not(:checked)").first.check()  # away, then back next round
    raise AssertionError(f"the Watch tab never showed {system}'s controls")


def play_and_wait_for_the_inside_plot(page, system: str, name: str) -> None:
    choose_system(page, system, name)
    page.get_by_role("button", name="Play", exact=True).click()
    page.wait_for_selector("#watch-series input[type=radio]", timeout=180_000)
    wait_for_a_drawn_line(page, "#watch-inside", timeout=120_000)


def test_after_play_the_inside_plot_draws_the_torque_on_numeric_axes(app_url, browser):  # noqa: F811
    page = open_page(browser, app_url[0])
    try:
        play_and_wait_for_the_inside_plot(page, "Pendulum", "pendulum")
        assert page.locator("#watch-series").get_by_label("torque").is_checked()
        axes = axis_labels(page, "#watch-inside")
        x_axis = r"X-axis titled 'step of the episode' for a linear scale"
        assert any(re.match(x_axis, label or "") for label in axes), axes
        assert any(re.match(r"Y-axis titled 'torque' for a linear scale", label or "") for label in axes), (
            axes
        )
    finally:
        page.close()


@pytest.mark.slow
@pytest.mark.skipif(BUNDLED_MARIO is None, reason="needs the bundled Mario agent")
@pytest.mark.parametrize("width, height", [(1280, 900), (390, 844)])
def test_mario_q_values_in_the_video_and_the_inside_plot(app_url, browser, width, height):  # noqa: F811
    page = open_page(browser, app_url[0], width, height)
    try:
        page.locator("#watch-system").get_by_label(re.compile("Super Mario Bros")).check()
        page.locator("#watch-options-mario").get_by_label("Show Q-values in the video").check()
        play_and_wait_for_the_inside_plot(page, "Super Mario Bros", "mario")
        page.wait_for_function(
            "document.querySelector('#watch-video video')?.currentTime > 1.0", timeout=120_000
        )
        assert page.locator("#watch-series").get_by_label("max Q").is_checked()
        axes = axis_labels(page, "#watch-inside")
        assert any(re.match(r"Y-axis titled 'max Q' for a linear scale", label or "") for label in axes), axes
        page.locator("#watch-series").get_by_label("Q of the chosen action").check()
        page.wait_for_function(
            "[...document.querySelectorAll('#watch-inside svg [aria-roledescription=axis]')]"
            ".some(a => /Y-axis titled 'Q of the chosen action' for a linear/"
            ".test(a.getAttribute('aria-label')))"
        )
        SHOTS.mkdir(exist_ok=True)
        page.locator("#watch-video").scroll_into_view_if_needed()
        page.evaluate("document.querySelector('#watch-video video').pause()")
        page.screenshot(path=str(SHOTS / f"watch-q-{width}x{height}.png"))
        page.screenshot(path=str(SHOTS / f"watch-q-{width}x{height}-full.png"), full_page=True)
    finally:
        page.close()
