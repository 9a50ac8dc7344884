"""The real emulator with the tutorial's preprocessing: shapes, dtypes, stacking, reward summing."""

import numpy as np
import pytest

from rlcore.mario.env import ACTION_SETS, env_id, make_env, make_raw_env, preprocess_frame, resolve_actions


@pytest.fixture(scope="module")
def env():
    env = make_env()
    yield env
    env.close()


def test_spaces_shapes_and_dtypes(env):
    assert env.observation_space.shape == (4, 84, 84) and env.observation_space.dtype == np.uint8
    assert env.action_space.n == 2
    state, info = env.reset(seed=0)
    assert state.shape == (4, 84, 84) and state.dtype == np.uint8
    assert all(np.array_equal(state[0], frame) for frame in state)  # reset: the first frame 4 times
    assert info["x_pos"] == 40 and info["world"] == 1 and info["stage"] == 1
    next_state, reward, terminated, truncated, info = env.step(0)
    assert next_state.shape == (4, 84, 84) and next_state.dtype == np.uint8
    assert isinstance(reward, float) and not terminated and not truncated
    np.testing.assert_array_equal(next_state[:3], state[1:])  # the stack shifts by one frame
    rgb = env.rgb_frame()
    assert rgb.shape == (240, 256, 3) and rgb.dtype == np.uint8


def test_states_are_copies_not_the_emulator_buffer(env):
    state, _ = env.reset(seed=0)
    kept = state.copy()
    rgb = env.rgb_frame()
    rgb_kept = rgb.copy()
    for _ in range(10):
        env.step(1)
    np.testing.assert_array_equal(state, kept)
    np.testing.assert_array_equal(rgb, rgb_kept)
    assert not np.array_equal(env.rgb_frame(), rgb_kept)


def test_one_step_is_four_emulator_frames_with_summed_reward():
    wrapped, raw = make_env(), make_raw_env()
    wrapped.reset(seed=0)
    raw.reset(seed=0)
    actions = [0, 1, 1, 0, 1] * 12
    for action in actions:
        state, reward, terminated, _, info = wrapped.step(action)
        total = 0.0
        for _ in range(4):
            _, r, raw_terminated, _, raw_info = raw.step(action)
            total += r
            if raw_terminated:
                break
        assert reward == pytest.approx(total)
        assert info["x_pos"] == raw_info["x_pos"]
        expected = preprocess_frame(raw.unwrapped.observation(mode="grayscale"))
        np.testing.assert_array_equal(state[-1], expected)
        if terminated:
            break
    wrapped.close()
    raw.close()


def test_grayscale_matches_the_rgb_screen():
    env = make_env()
    env.reset(seed=0)
    for _ in range(5):
        env.step(1)
    gray = env.unwrapped.observation(mode="grayscale").astype(float)
    rgb = env.rgb_frame().astype(float)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    assert np.abs(gray - luma).mean() < 2.0  # the emulator's grayscale is the usual luma
    env.close()


def test_noop_starts_are_seeded_and_vary():
    env = make_env(noop_max=30)
    starts = [env.reset(seed=s)[0] for s in range(8)]
    np.testing.assert_array_equal(env.reset(seed=3)[0], starts[3])  # same seed, same start
    assert len({s.tobytes() for s in starts}) > 1  # random no-op frames: starts differ across seeds
    env.close()


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="world must be 1-8"):
        env_id(9, 1)
    with pytest.raises(ValueError, match="unknown action set"):
        resolve_actions("left_only")
    assert len(resolve_actions("simple")) == 7 and set(ACTION_SETS) >= {"right_jump", "right_only", "complex"}
    assert make_raw_env(1, 2, "right_only").action_space.n == len(ACTION_SETS["right_only"])
