"""The generalisation map in a real browser (Debian's chromium, Python Playwright): the Watch tab shows the
agent's map.json as a coloured grid, and clicking a cell plays that cell's episode in the Watch video with
its level note. Screenshots at 1280x900 and 390x844 go to /tmp/shots-map/ for a person to look at."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from app_support import agent_checkpoints, bundled_agent, running_app
from test_browser import CHROMIUM, browser  # noqa: F401 (browser: the fixture)

from rlcore.genmap import MAP_FILE

SHOTS = Path("/tmp/shots-map")
BUNDLED = {name: bundled_agent(name) for name in ("mario", "pendulum")}
LABELS = {"mario": "Super Mario Bros", "pendulum": "Pendulum"}
MAPPED = {
    name: folder for name, folder in BUNDLED.items() if folder is not None and (folder / MAP_FILE).is_file()
}

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not MAPPED, reason="no bundled agent has a map.json"),
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("rlcore-map-app")
    checkpoints = None
    for name in MAPPED:
        checkpoints, _ = agent_checkpoints(root, name)
    with running_app(checkpoints, root / "work") as (url, _):
        yield url


def watch_page(browser, url: str, system: str, width: int = 1280, height: int = 900):
    """The Watch tab on `system`, once the map of its bundled agent is shown."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(90_000)
    page.goto(url)
    page.get_by_role("tab", name="Watch").click()
    page.locator("#watch-system").get_by_label(re.compile(LABELS[system])).check()
    legend = f"Generalisation map of {MAPPED[system].name}"
    page.wait_for_function(
        f"document.querySelector('#watch-map-legend').innerText.includes({json.dumps(legend)})"
    )
    page.wait_for_selector("#watch-map [data-testid='cell-0-1']")
    return page


def click_cell_and_wait(page, row: int, column: int, status: str) -> None:
    """Click cell (row, column) of the map (column 0 holds the row values) and wait for its episode."""
    before = page.evaluate("document.querySelector('#watch-video video')?.src ?? null")
    page.locator(f"#watch-map [data-testid='cell-{row}-{column}']").click()
    page.wait_for_function(
        f"{json.dumps(status)}.split('|').every(s => "
        "document.querySelector('#watch-status').innerText.includes(s))"
    )
    page.wait_for_function(f"document.querySelector('#watch-video video')?.src !== {json.dumps(before)}")
    page.wait_for_function("document.querySelector('#watch-video video').currentTime > 0.1")


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#watch-map-box").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.skipif("mario" not in MAPPED, reason="no bundled Mario map")
def test_clicking_a_mario_level_plays_it_with_the_note_that_it_was_never_seen(app_url, browser):
    page = watch_page(browser, app_url, "mario")
    rows = page.locator("#watch-map [role=row].virtual-row")
    assert (
        rows.count() == 8 and rows.first.locator("[role=gridcell]").count() == 5
    )  # worlds x (world, 4 stages)
    outline = page.evaluate(
        "[...document.querySelectorAll('#watch-map [role=gridcell]')]"
        ".filter(td => getComputedStyle(td).outlineStyle === 'solid').length"
    )
    assert outline == 1  # the level it was trained on
    click_cell_and_wait(page, 0, 2, "World 1-2: a level it never saw|on seed 0")
    shipped = json.loads((MAPPED["mario"] / MAP_FILE).read_text())["cells"][0][1]["summary"]
    assert f"x pos\t{shipped['x_pos']}\n" in page.locator("#watch-status").inner_text()  # the map's episode
    world, stage = (page.locator("#watch-options-mario input").nth(i).input_value() for i in (0, 1))
    assert (world, stage) == ("1", "2")  # the form shows the level played
    shoot(page, "watch-map-mario-1280x900")
    page.close()


@pytest.mark.skipif("pendulum" not in MAPPED, reason="no bundled Pendulum map")
def test_clicking_a_pendulum_cell_plays_that_gravity_and_mass(app_url, browser):
    page = watch_page(browser, app_url, "pendulum")
    click_cell_and_wait(page, 4, 4, "Physics g 15, m 2, l 1: not what it trained on|on seed 3")
    shoot(page, "watch-map-pendulum-1280x900")
    page.close()


@pytest.mark.parametrize("name", ["mario", "pendulum"])
def test_the_map_reads_at_phone_width(app_url, browser, name):
    if name not in MAPPED:
        pytest.skip(f"no bundled {name} map")
    page = watch_page(browser, app_url, name, 390, 844)
    shoot(page, f"watch-map-{name}-390x844")
    box = page.locator("#watch-map [role=grid]").bounding_box()
    page_width = page.evaluate("document.documentElement.clientWidth")
    assert box["x"] >= 0 and box["x"] + box["width"] <= page_width  # the whole grid is on screen
    last = page.locator("#watch-map [role=gridcell]").last.bounding_box()
    assert last["x"] + last["width"] <= box["x"] + box["width"] + 1  # the last column too: no sideways scroll
    page.close()


@pytest.mark.skipif(len(MAPPED) < 2, reason="needs the bundled Mario and Pendulum maps")
def test_a_slow_update_of_the_shown_tab_never_lands_after_the_system_picked_next(
    browser, tmp_path, monkeypatch
):
    """The CI failure of stop 40: the Watch tab shown (its pickers refreshed for Mario, slowly on a busy
    machine), then Pendulum picked: the tab's update ended last and put a Mario agent back in the picker, so
    the map said "No map: mario-1-1 ... pendulum is selected". The form's updates now run in order."""
    import time

    import demo.watch

    refreshed = demo.watch.agent_choices

    def slowly_for_mario(ctx, systems, system, current=None):
        if system == "mario":
            time.sleep(3.0)  # a busy machine
        return refreshed(ctx, systems, system, current)

    monkeypatch.setattr(demo.watch, "agent_choices", slowly_for_mario)  # before the app wires it
    for name in MAPPED:
        checkpoints, _ = agent_checkpoints(tmp_path, name)
    with running_app(checkpoints, tmp_path / "work") as (url, _):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.get_by_role("tab", name="Watch").click()  # its update asks for Mario's agents, slowly
        page.locator("#watch-system").get_by_label(re.compile(LABELS["pendulum"])).check()
        legend = f"Generalisation map of {MAPPED['pendulum'].name}"
        page.wait_for_function(
            f"document.querySelector('#watch-map-legend').innerText.includes({json.dumps(legend)})",
            timeout=60_000,
        )
        time.sleep(4.0)  # past the slow update's end
        assert legend in page.inner_text("#watch-map-legend")
        page.close()
