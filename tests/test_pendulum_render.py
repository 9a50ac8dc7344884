"""Pendulum frames and the mp4 written from them."""

import imageio.v2 as imageio
import numpy as np
import torch

from rlcore.pendulum.policy import make_policy_net
from rlcore.pendulum.render import BOB, FRAME_SIZE, draw_pendulum, render_episode
from rlcore.video import write_mp4


def _bob_centre(frame: np.ndarray) -> tuple[float, float]:
    mask = np.abs(frame.astype(int) - np.array(BOB)).sum(-1) < 40
    ys, xs = np.nonzero(mask)
    assert len(ys) > 50, "the bob is drawn"
    return xs.mean(), ys.mean()


def test_bob_follows_the_angle():
    size = FRAME_SIZE
    up = _bob_centre(draw_pendulum(0.0, 0.0))
    down = _bob_centre(draw_pendulum(np.pi, 0.0))
    left = _bob_centre(draw_pendulum(np.pi / 2, 0.0))  # positive th is anticlockwise: upright -> left
    assert up[1] < size / 2 < down[1]
    assert left[0] < size / 2 - 40 and abs(left[1] - size * 0.53) < 10
    short = _bob_centre(draw_pendulum(0.0, 0.0, length=0.5))
    assert up[1] < short[1] < size / 2  # a shorter rod puts the bob nearer the pivot


def test_torque_arrow_is_drawn_only_when_torque_is_applied():
    still, pushed = draw_pendulum(np.pi, 0.0), draw_pendulum(np.pi, 2.0)
    orange = np.array([230, 150, 20])
    count = lambda f: int((np.abs(f.astype(int) - orange).sum(-1) < 40).sum())  # noqa: E731
    assert count(still) == 0 and count(pushed) > 200


def test_episode_mp4_decodes_to_the_frames(tmp_path):
    torch.manual_seed(0)
    episode = render_episode(make_policy_net(), seed=5, steps=24)
    assert len(episode.frames) == 25 and episode.frames[0].shape == (FRAME_SIZE, FRAME_SIZE, 3)
    assert len(episode.trace) == 24 and episode.summary["seed"] == 5
    path = write_mp4(tmp_path / "replay.mp4", episode.frames, fps=episode.fps)
    decoded = imageio.mimread(path, memtest=False)
    assert len(decoded) == 25 and decoded[0].shape == (FRAME_SIZE, FRAME_SIZE, 3)
    # lossy, but the picture is the same: the bob is where it was drawn
    for i in (0, 24):
        assert np.allclose(_bob_centre(decoded[i]), _bob_centre(episode.frames[i]), atol=3)
