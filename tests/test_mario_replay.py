"""Compact replay memory: sampled stacks are exactly the env's stacks, across episode boundaries,
ring wrap-around and interleaved envs; n-step returns; bytes per transition."""

import numpy as np
import pytest
import torch
from mario_fake_env import make_fake_env

from rlcore.mario.replay import ReplayMemory


def _play(memory, envs, steps, seed=0):
    """Random actions in `envs` (interleaved), caching every step; returns {row: (s, s', a, r, done)}."""
    rng = np.random.default_rng(seed)
    states = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
    stored = {}
    for t in range(steps):
        i = t % len(envs)
        action = int(rng.integers(2))
        next_state, reward, terminated, truncated, _ = envs[i].step(action)
        row = memory.cache(states[i], next_state, action, reward, terminated, env_index=i)
        stored[row] = (states[i].copy(), next_state.copy(), action, reward, terminated)
        states[i] = envs[i].reset()[0] if terminated else next_state
    return stored


def _check(memory, stored):
    rows = np.array(sorted(stored))
    valid = memory.valid(rows)
    batch = memory.transitions(rows[valid])
    for k, row in enumerate(rows[valid]):
        state, next_state, action, reward, done = stored[row]
        np.testing.assert_array_equal(batch["state"][k].numpy(), state)
        np.testing.assert_array_equal(batch["next_state"][k].numpy(), next_state)
        assert batch["action"][k] == action and batch["reward"][k] == pytest.approx(reward)
        assert bool(batch["done"][k]) == done
    return valid


def test_stacks_equal_the_env_stacks_across_episode_boundaries():
    memory = ReplayMemory(5000, seed=0)
    env = make_fake_env(min_frames=6, max_frames=60)  # short episodes: many boundaries and resets
    stored = _play(memory, [env], 600)
    valid = _check(memory, stored)
    assert valid.all()  # nothing overwritten yet: every transition is sampleable
    assert sum(done for *_, done in stored.values()) > 10


def test_ring_wrap_around_never_returns_a_stack_with_overwritten_frames():
    memory = ReplayMemory(300, seed=0)
    stored = _play(memory, [make_fake_env(min_frames=6, max_frames=200)], 1000)
    live = {row: v for row, v in stored.items()}  # the latest transition written to each row
    valid = _check(memory, live)
    assert 0.9 * 300 < valid.sum() < 300  # the oldest rows lost their history and are not sampled
    for _ in range(20):
        batch_rows = memory.sample_rows(32)
        assert memory.valid(batch_rows).all()


def test_interleaved_envs_keep_their_own_episodes():
    memory = ReplayMemory(5000, num_envs=3, seed=0)
    envs = [make_fake_env(min_frames=6, max_frames=60) for _ in range(3)]
    stored = _play(memory, envs, 900)
    assert _check(memory, stored).all()


def test_sampled_batch_shapes_and_dtypes():
    memory = ReplayMemory(1000, seed=0)
    stored = _play(memory, [make_fake_env()], 200)
    assert len(memory) == max(stored) + 1 < 1000  # a memory not yet full samples written rows only
    assert memory.sample_rows(500).max() < len(memory)
    batch = memory.sample(32)
    assert batch["state"].shape == batch["next_state"].shape == (32, 4, 84, 84)
    assert batch["state"].dtype == batch["next_state"].dtype == torch.uint8
    assert batch["action"].shape == batch["reward"].shape == batch["done"].shape == (32,)


def test_bytes_per_transition_is_one_frame_plus_a_few_bytes():
    memory = ReplayMemory(1000)
    assert memory.bytes_per_row <= 7100  # 84*84 = 7056 + action, reward, done, link
    assert ReplayMemory(1000, n_step=3).bytes_per_row <= 7100
    assert memory.nbytes() == memory.bytes_per_row * 1000


def test_n_step_returns_match_a_hand_computation():
    gamma, n = 0.9, 3
    memory = ReplayMemory(5000, n_step=n, seed=0)
    env = make_fake_env(min_frames=8, max_frames=40)
    rng = np.random.default_rng(1)
    state = env.reset(seed=3)[0]
    episode, rows = [], []
    for _ in range(200):  # several episodes; keep the steps of all of them
        action = int(rng.integers(2))
        next_state, reward, terminated, _, _ = env.step(action)
        rows.append(memory.cache(state, next_state, action, reward, terminated))
        episode.append((next_state.copy(), reward, terminated))
        state = env.reset()[0] if terminated else next_state
    checked = 0
    for j, row in enumerate(rows):
        if not memory.valid(np.array([row]))[0]:
            continue
        ret, k, done = 0.0, 0, False
        while k < n:
            _, reward, terminated = episode[j + k]
            ret += gamma ** k * reward
            k += 1
            if terminated:
                done = True
                break
        batch = memory.transitions(np.array([row]), gamma)
        assert batch["reward"][0].item() == pytest.approx(ret, rel=1e-5)
        assert bool(batch["done"][0]) == done
        np.testing.assert_array_equal(batch["next_state"][0].numpy(), episode[j + k - 1][0])
        checked += 1
    assert checked > 150
    # the last n-1 steps of an unfinished episode have no n-step future yet: never sampled
    assert not memory.valid(np.array(rows[-1:]))[0] or episode[-1][2]


def test_stacks_equal_the_real_emulator_stacks():
    from rlcore.mario.env import make_env

    memory = ReplayMemory(1000, seed=0)
    env = make_env()
    stored = _play(memory, [env], 150)  # real frames; the fake-env tests above cover many boundaries
    env.close()
    assert _check(memory, stored).all()
