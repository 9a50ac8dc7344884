"""The app's plots as a visitor's browser draws them (Debian's chromium driven by Playwright).

Every plot must have numeric axes from its first frame (Vega-Lite keeps the axis types of the first
data it draws: an untyped empty frame made Mario's plots category axes for good), axis titles that say
what they count and fit inside the chart, and short tick labels even for a one-point plot. Vega writes
each axis's description into the SVG (aria-label "X-axis titled 'agent step' for a linear scale ..."),
which is what these tests read. Screenshots go to /tmp/shots-plots/ for a person to look at.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from app_support import agent_checkpoints, running_app
from test_browser import CHROMIUM, browser, open_page, wait_for_a_drawn_line  # noqa: F401 (browser: the fixture)

SCREENSHOTS = Path("/tmp/shots-plots")
MARIO_METRICS = ("reward", "length", "loss", "q", "epsilon")
PENDULUM_METRICS = ("return", "reward_per_step", "last_reward")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/setup.sh --test installs it)"
)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-plots")
    checkpoints, _ = agent_checkpoints(root, "pendulum")
    with running_app(checkpoints, root / "work") as (url, _context):
        yield url


def axes(page, plot: str) -> list[str]:
    """The aria-labels Vega gives the plot's axes: "X-axis titled 'iteration' for a linear scale ..."."""
    return page.eval_on_selector_all(
        f"{plot} [aria-roledescription='axis']", "axes => axes.map(a => a.getAttribute('aria-label'))"
    )


def tick_labels(page, plot: str, axis: str) -> list[str]:
    return page.eval_on_selector_all(
        f"{plot} g.role-axis-label",
        f"""groups => groups
        .filter(g => g.closest('[aria-roledescription=axis]').getAttribute('aria-label').startsWith('{axis}-axis'))
        .flatMap(g => Array.from(g.querySelectorAll('text')).map(t => t.textContent))""",
    )


def texts_outside_the_chart(page, plot: str) -> list[str]:
    """Texts (titles, tick labels) drawn past the chart's SVG edges, where they are clipped."""
    return page.eval_on_selector(
        f"{plot} svg.marks",
        """svg => {
        const box = svg.getBoundingClientRect();
        return Array.from(svg.querySelectorAll('text')).filter(t => t.textContent.trim()).filter(t => {
            const r = t.getBoundingClientRect();
            return r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1;
        }).map(t => t.textContent);
    }""",
    )


def assert_numeric_axes(page, plot: str, x_title: str, y_title: str) -> None:
    x_axis, y_axis = sorted(axes(page, plot))
    assert x_axis.startswith(f"X-axis titled '{x_title}' for a linear scale"), x_axis
    assert y_axis.startswith(f"Y-axis titled '{y_title}' for a linear scale"), y_axis


def at_both_sizes(page, shot: str):
    """Each viewport size in turn (laptop, phone), the page resized to it; its screenshot saved after."""
    SCREENSHOTS.mkdir(exist_ok=True)
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        time.sleep(1)  # Vega redraws on resize
        yield width, height
        page.screenshot(path=str(SCREENSHOTS / f"{shot}-{width}x{height}.png"), full_page=True)


def select_train_system(page, label: str, plots: int) -> None:
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-system").get_by_label(re.compile(label)).check()
    page.wait_for_selector(f"#train-plot-{plots - 1} svg.marks", state="visible")


def train_to_the_end(page, label: str, plots: int, steps: int, timeout_ms: int) -> None:
    select_train_system(page, label, plots)
    page.locator("#train-steps input").fill(str(steps))
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function(
        "/Saved as/.test(document.querySelector('#train-status').innerText)", timeout=timeout_ms
    )


def each_trained_plot(page, label: str, metrics: tuple[str, ...], steps: int, timeout_ms: int, shot: str):
    """Train to the end, then each (viewport size, plot selector, metric) at both sizes."""
    train_to_the_end(page, label, len(metrics), steps, timeout_ms)
    for size in at_both_sizes(page, shot):
        for i, metric in enumerate(metrics):
            page.wait_for_function(f"""!document.querySelector("#train-plot-{i} [aria-roledescription=axis]")
                                      .getAttribute('aria-label').includes('NaN')""")  # drawn with its data
            yield size, f"#train-plot-{i}", metric


def test_marios_training_plots_are_numeric_from_the_first_frame(app_url, browser):
    page = open_page(browser, app_url)
    try:
        select_train_system(page, "Mario", len(MARIO_METRICS))  # hidden at page load, then shown empty
        for i, metric in enumerate(MARIO_METRICS):
            assert_numeric_axes(page, f"#train-plot-{i}", "agent step", metric)
        page.locator("#train-system").get_by_label(re.compile("Pendulum")).check()  # and back: retitled
        page.wait_for_function("!document.querySelector('#train-plot-4 svg.marks')?.checkVisibility()")
        for i, metric in enumerate(PENDULUM_METRICS):
            page.wait_for_function(f"""document.querySelector('#train-plot-{i} [aria-roledescription=axis]')
                                       ?.getAttribute('aria-label').startsWith("X-axis titled 'iteration'")""")
            assert_numeric_axes(page, f"#train-plot-{i}", "iteration", metric)
    finally:
        page.close()


@pytest.mark.extended
def test_a_one_iteration_run_plots_short_labels_and_titles_that_fit(app_url, browser):
    """One point per plot: the axis domain is a single value, where default formats print "1.000000"."""
    page = open_page(browser, app_url)
    try:
        for size, plot, metric in each_trained_plot(
            page, "Pendulum", PENDULUM_METRICS, 1, 120_000, "train-pendulum-one-point"
        ):
            assert_numeric_axes(page, plot, "iteration", metric)
            assert tick_labels(page, plot, "X") == ["1"]
            values = tick_labels(page, plot, "Y")  # a band around the one value
            assert values and len(set(values)) == len(values), values
            assert all(
                re.fullmatch(r"[−-]?\d+(\.\d+)?", v) and len(v.replace(".", "").lstrip("−-")) <= 6
                for v in values
            ), values
            assert texts_outside_the_chart(page, plot) == [], size
    finally:
        page.close()


def test_the_watch_tabs_per_step_plot_has_numeric_axes(app_url, browser):
    page = open_page(browser, app_url)
    try:
        page.get_by_role("tab", name="Watch").click()
        page.locator("#watch-system").get_by_label(re.compile("Pendulum")).check()
        page.wait_for_function("/Pick an agent/.test(document.querySelector('#watch-status').innerText)")
        page.get_by_role("button", name="Play", exact=True).click()
        page.wait_for_function("/on seed 3/.test(document.querySelector('#watch-status').innerText)")
        wait_for_a_drawn_line(page, "#watch-trace")
        assert_numeric_axes(page, "#watch-trace", "step of the episode", "reward")
        labels = tick_labels(page, "#watch-trace", "X") + tick_labels(page, "#watch-trace", "Y")
        assert labels and all(len(label) <= 6 for label in labels), labels
    finally:
        page.close()


@pytest.mark.slow
def test_a_mario_run_draws_every_plot_on_numeric_axes(app_url, browser):
    """The real emulator for 600 agent steps (minutes on a loaded CPU): every metric gets points."""
    page = open_page(browser, app_url)
    try:
        for size, plot, metric in each_trained_plot(
            page, "Mario", MARIO_METRICS, 600, 900_000, "train-mario"
        ):
            assert_numeric_axes(page, plot, "agent step", metric)
            assert texts_outside_the_chart(page, plot) == [], (metric, size)
            labels = tick_labels(page, plot, "Y")
            assert labels and all(len(label) <= 8 for label in labels), (metric, labels)
    finally:
        page.close()
