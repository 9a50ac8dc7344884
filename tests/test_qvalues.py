"""Looking inside the agent: the Q-values a Mario episode records (the network's output on the frames it
acted on), the overlay that draws them into the video (only when asked), and the per-step series an
Episode offers to plots."""

import numpy as np
import pytest
import torch
from app_support import bundled_agent
from mario_fake_env import FakeNES

from rlcore.mario import api
from rlcore.mario.agent import Mario
from rlcore.mario.env import SKIP, MarioPreprocessing, action_labels
from rlcore.mario.play import run_episode
from rlcore.video import ValueBars

MARIO = bundled_agent("mario")


class RecordingPreprocessing(MarioPreprocessing):
    """The fake emulator's preprocessing, keeping every observation it hands out."""

    def reset(self, **kwargs):
        state, info = super().reset(**kwargs)
        self.observed = [state.copy()]
        return state, info

    def step(self, action):
        state, *rest = super().step(action)
        self.observed.append(state.copy())
        return (state, *rest)


def _agent() -> Mario:
    """The bundled agent's trained network when the repo has one, else a freshly initialised one."""
    if MARIO is not None:
        return Mario.load(MARIO)
    from rlcore.mario.config import MarioConfig

    return Mario(config=MarioConfig(seed=5), memory=False)


@pytest.fixture(scope="module")
def agent():
    torch.manual_seed(0)
    return _agent()


@pytest.mark.parametrize("protocol", [{}, {"sticky": 0.4, "epsilon": 0.3}])
def test_recorded_q_values_are_the_networks_output_on_the_frames_it_acted_on(agent, protocol):
    env = RecordingPreprocessing(FakeNES(min_frames=148, max_frames=148), sticky=protocol.get("sticky", 0.0))
    run = run_episode(agent, seed=3, env=env, epsilon=protocol.get("epsilon", 0.0))
    trace = run["trace"]
    assert len(trace) == len(env.observed) - 1 > 20
    with torch.no_grad():  # one batched forward of Q_online over every observation acted on
        expected = agent.net(torch.as_tensor(np.stack(env.observed[:-1])), model="online").numpy()
    recorded = np.array([step["q"] for step in trace])
    np.testing.assert_allclose(recorded, expected, rtol=1e-5, atol=1e-5)
    assert [s["q_max"] for s in trace] == [max(s["q"]) for s in trace]
    assert [s["q_chosen"] for s in trace] == [s["q"][s["action"]] for s in trace]
    greedy = [s for s in trace if not s["random"]]
    assert all(s["action"] == int(np.argmax(s["q"])) for s in greedy)
    # The fake emulator moves x by 1 + action each frame: what it performed, seen from outside.
    # A step's first `delayed_frames` frames keep the previous step's last buttons (sticky, per frame).
    x = [40] + [s["x_pos"] for s in trace]
    before = [trace[0]["action"]] + [s["performed"] for s in trace[:-1]]
    assert [b - a - SKIP for a, b in zip(x, x[1:])] == [
        s["delayed_frames"] * kept + (SKIP - s["delayed_frames"]) * s["action"]
        for s, kept in zip(trace, before)
    ]
    assert all(s["sticky"] == (s["delayed_frames"] > 0) for s in trace)
    assert all(s["performed"] == s["action"] for s in trace if s["delayed_frames"] < SKIP)
    if protocol:
        assert any(s["random"] for s in trace) and any(s["sticky"] for s in trace)
    else:
        assert not any(s["random"] or s["sticky"] for s in trace)


def test_value_bars_draw_a_panel_and_leave_the_rest_of_the_frame_alone():
    frame = np.full((240, 256, 3), (92, 148, 252), np.uint8)
    bars = ValueBars(["right", "right A"], 0.0, 10.0, note_row=True)
    drawn = bars(frame, [2.0, 9.0], highlight=1, note="random (epsilon)")
    assert (frame == (92, 148, 252)).all()  # the input is untouched
    width, height = bars.size
    changed = np.argwhere((drawn != frame).any(axis=2))
    assert changed[:, 0].min() >= ValueBars.TOP and changed[:, 0].max() < ValueBars.TOP + height
    assert changed[:, 1].min() >= 256 - width - ValueBars.PAD
    highlight = (drawn == ValueBars.HIGHLIGHT).all(axis=2)
    dim = (drawn == ValueBars.DIM).all(axis=2)
    row_of = lambda mask: set((np.argwhere(mask)[:, 0] - ValueBars.TOP - ValueBars.PAD) // ValueBars.ROW)  # noqa: E731
    assert row_of(highlight) == {1} and 0 in row_of(dim)
    assert highlight.sum(axis=1).max() > dim.sum(axis=1).max()  # 9 is a longer bar than 2
    assert (drawn[:, :, 0] > 240).sum() > 0  # the yellow note is written
    with pytest.raises(ValueError, match="at least one label"):
        ValueBars([], 0.0, 1.0)


@pytest.mark.skipif(MARIO is None, reason="needs a bundled Mario agent")
def test_the_q_overlay_changes_the_frames_only_when_it_is_on():
    options = dict(seed=2, max_steps=25)
    plain = api.play(MARIO, api.PlayOptions(**options))
    again = api.play(MARIO, api.PlayOptions(**options, show_q=False))
    shown = api.play(MARIO, api.PlayOptions(**options, show_q=True))
    assert len(plain.frames) == len(shown.frames) == 26
    assert all((a == b).all() for a, b in zip(plain.frames, again.frames))  # off: the game's own pixels
    assert plain.series == shown.series and plain.trace == shown.trace  # the same episode either way
    width, height = ValueBars(action_labels("right_jump"), 0, 1).size
    for before, after in zip(plain.frames[:-1], shown.frames[:-1]):
        changed = np.argwhere((before != after).any(axis=2))
        assert len(changed) > 500  # a panel, not a speck
        assert changed[:, 0].min() >= ValueBars.TOP and changed[:, 0].max() < ValueBars.TOP + height
    assert (plain.frames[-1] == shown.frames[-1]).all()  # after the last step there is no decision to show
    assert set(plain.series) == {"max Q", "Q of the chosen action"}
    assert plain.series["max Q"] == [s["q_max"] for s in plain.trace] and len(plain.series["max Q"]) == 25


def test_the_pendulum_offers_its_torque_as_a_series():
    from rlcore.pendulum import api as pendulum

    agent = bundled_agent("pendulum")
    if agent is None:
        pytest.skip("needs a bundled Pendulum agent")
    episode = pendulum.play(agent, pendulum.PlayOptions(seed=3, steps=40))
    assert (
        episode.series["torque"] == [s["torque"] for s in episode.trace]
        and len(episode.series["torque"]) == 40
    )


@pytest.mark.skipif(MARIO is None, reason="needs a bundled Mario agent")
def test_rlcore_play_show_q_writes_the_overlay_into_the_mp4(tmp_path, capsys):
    from rlcore import cli
    from rlcore.video import read_mp4

    for name, flags in (("plain", []), ("q", ["--show-q"])):
        assert (
            cli.main(
                [
                    "play",
                    str(MARIO),
                    "--max-steps",
                    "8",
                    "--seed",
                    "1",
                    "--out",
                    str(tmp_path / f"{name}.mp4"),
                    *flags,
                ]
            )
            == 0
        )
    (plain, _), (shown, _) = read_mp4(tmp_path / "plain.mp4"), read_mp4(tmp_path / "q.mp4")
    assert len(plain) == len(shown) == 9
    top, height = ValueBars.TOP, ValueBars(action_labels("right_jump"), 0, 1).size[1]
    panel = np.abs(shown[3][top : top + height].astype(int) - plain[3][top : top + height]).mean()
    ground = np.abs(shown[3][200:].astype(int) - plain[3][200:]).mean()  # H.264 both times: compared loosely
    assert panel > 20 and ground < 3
    capsys.readouterr()
    assert cli.main(["play", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--show-q, --no-show-q [mario] draw the agent's Q-value of each action into the video" in help_text
