"""The Watch tab's "inside the agent" plot through gradio_client: after Play, the episode's per-step series
(Episode.series) are offered and plotted on numeric axes, and the Q overlay checkbox reaches the video."""

from __future__ import annotations

import pytest
from app_support import agent_checkpoints, bundled_agent, running_app
from gradio_client import Client

from rlcore.systems import get_system

PENDULUM = bundled_agent("pendulum")


def _watch_and_inside(client, *args):
    """/watch, then /watch_inside with the same inputs and /watch_inside_plot (what the page chains after
    Play): (the watch outputs, the series picker, the plot: its title from the second call,
    its points from the third)."""
    shown = client.predict(*args, api_name="/watch")
    picker, titled = client.predict(*args, api_name="/watch_inside")
    points = client.predict(picker["value"], api_name="/watch_inside_plot")
    return shown, picker, {**titled, "value": points}


@pytest.fixture(scope="module")
def pendulum_app(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "rlcore-app"  # shared with test_app.py: one agent
    checkpoints, agent = agent_checkpoints(root, "pendulum")
    with running_app(checkpoints, root / "work-inside") as (url, context):
        yield Client(url, verbose=False), agent, context


def test_after_play_the_pendulum_torque_is_plotted_per_step_on_numeric_axes(pendulum_app):
    client, agent, context = pendulum_app
    # the API's positional arguments as before the Q checkbox: toggles come after every other control
    (video, status, figures, trace), picker, plot = _watch_and_inside(
        client, "pendulum", agent, "(none)", 3, 1, 1, 10.0, 1.0, 1.0
    )
    assert picker["choices"] == [["torque", "torque"]] and picker["value"] == "torque" and picker["visible"]
    episode = context.renderer.cached_episode(
        "pendulum",
        context.catalog.resolve(agent, "pendulum").path,
        {"seed": 3, "g": 10.0, "m": 1.0, "l": 1.0},
    )
    # the plot carries float32 torques (6-7 significant digits): equal to that precision
    assert [row[1] for row in plot["value"]["data"]] == pytest.approx(episode.series["torque"], rel=1e-5)
    assert [row[0] for row in plot["value"]["data"]] == list(range(len(episode.series["torque"])))
    types = plot["value"]["datatypes"]
    assert types["step"] == types["value"] == "quantitative"  # numeric axes, not categories
    assert plot["y_title"] == "torque" and len(plot["value"]["data"]) == len(trace["data"]) == 200

    # a comparison: both agents' series, left and right
    _, picker, plot = _watch_and_inside(client, "pendulum", agent, agent, 3, 1, 1, 10.0, 1.0, 1.0)
    assert {row[2] for row in plot["value"]["data"]} == {"left", "right"}
    # a bad agent: Play refuses, and the plot is cleared rather than left showing the previous episode
    _, picker, plot = _watch_and_inside(
        client, "pendulum", "no-such-agent", "(none)", 3, 1, 1, 10.0, 1.0, 1.0
    )
    assert picker["choices"] == [] and not picker["visible"]
    assert sorted(row[2] for row in plot["value"]["data"]) == ["left", "right"]  # a point each: no line drawn
    assert plot["value"]["datatypes"]["step"] == "quantitative"  # still numeric when empty


def test_a_system_without_series_leaves_the_picker_hidden():
    from demo.watch import series_view

    picker, plot, kept = series_view([{}, {}])
    assert not picker.visible and kept == [{}, {}]
    picker, plot, _ = series_view([{"max Q": [1.0, 2.0]}, {"max Q": [3.0]}], name="no such series")
    assert picker.value == "max Q" and plot.y_title == "max Q"


@pytest.mark.slow
def test_mario_q_values_are_plotted_and_the_checkbox_draws_them_into_the_video(tmp_path_factory):
    import numpy as np
    from test_app import decoded_frames

    root = tmp_path_factory.getbasetemp() / "rlcore-app-mario"
    checkpoints, agent = agent_checkpoints(root, "mario")
    mario = get_system("mario")
    with running_app(checkpoints, root / "work-inside") as (url, context):
        client = Client(url, verbose=False)
        plain = "mario", agent, "(none)", 1, 1, 1, 10.0, 1.0, 1.0, False
        (video, _, figures, _), picker, plot = _watch_and_inside(client, *plain)
        assert [label for label, _ in picker["choices"]] == ["max Q", "Q of the chosen action"]
        path = context.catalog.resolve(agent, "mario").path
        episode = context.renderer.cached_episode("mario", path, {"seed": 1})
        assert [row[1] for row in plot["value"]["data"]] == pytest.approx(episode.series["max Q"])
        chosen = client.predict("Q of the chosen action", api_name="/watch_series")
        assert [row[1] for row in chosen["data"]] == pytest.approx(episode.series["Q of the chosen action"])
        with_q = client.predict(*plain[:-1], True, api_name="/watch")[0]
        before, after = decoded_frames(video), decoded_frames(with_q)
        assert len(before) == len(after) == episode.summary["steps"] + 1
        # the panel's rows changed, the ground below it did not (compared through H.264, so loosely)
        panel = np.abs(after[5][34:70].astype(int) - before[5][34:70]).mean()
        ground = np.abs(after[5][200:].astype(int) - before[5][200:]).mean()
        assert panel > 20 and ground < 3
    assert mario.PlayOptions().show_q is False
