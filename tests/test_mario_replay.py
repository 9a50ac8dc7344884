"""Compact replay memory: sampled stacks are exactly the env's stacks, across episode boundaries,
ring wrap-around and interleaved envs; n-step returns; bytes per transition."""

import numpy as np
import pytest
import torch
from mario_fake_env import make_fake_env

from rlcore.mario.replay import ReplayMemory, random_shift


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
            ret += gamma**k * reward
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


def _filled_prioritized(seed=0, **kwargs):
    memory = ReplayMemory(2000, seed=seed, alpha=1.0, beta=0.5, **kwargs)
    stored = _play(memory, [make_fake_env(min_frames=6, max_frames=60)], 400, seed=0)
    rows = np.array(sorted(stored))
    return memory, rows[memory.valid(rows)]


def test_prioritized_sampling_follows_the_priorities_and_weights_undo_them():
    memory, rows = _filled_prioritized()
    hot, cold = rows[:10], rows[10:]
    memory.update_priorities(cold, torch.full((len(cold),), 0.01))
    memory.update_priorities(hot, torch.full((len(hot),), 1.0))
    # alpha 1: each hot row is 100x as likely as a cold one -> hot share 10*100 / (10*100 + n_cold)
    expected = 1000 / (1000 + len(cold))
    samples, weights = zip(*(memory.sample_weighted_rows(64) for _ in range(100)))
    samples, weights = np.concatenate(samples), torch.cat(weights).numpy()
    is_hot = np.isin(samples, hot)
    assert is_hot.mean() == pytest.approx(expected, abs=0.05)
    assert memory.valid(samples).all()  # never a reset row or an unwritten slot
    # importance weights (p / p_min)^-beta, normalised per batch: hot rows 100^-0.5 of cold ones
    assert weights.max() == pytest.approx(1.0) and weights.min() > 0
    assert np.median(weights[is_hot]) / np.median(weights[~is_hot]) == pytest.approx(0.1, rel=0.01)


def test_prioritized_new_rows_come_first_and_sampling_is_reproducible_per_seed():
    memory, rows = _filled_prioritized()
    memory.update_priorities(rows, torch.full((len(rows),), 0.001))  # all learned from, low error
    fresh = _play(memory, [make_fake_env(min_frames=200, max_frames=300)], 20, seed=1)
    new_rows = np.array(sorted(fresh))[memory.valid(np.array(sorted(fresh)))]
    assert len(new_rows) > 5
    assert np.isin(memory.sample_rows(64), new_rows).mean() > 0.9  # the highest priority seen so far

    def draws(seed):
        memory, _ = _filled_prioritized(seed=seed)
        return np.concatenate([memory.sample_rows(32) for _ in range(5)])

    np.testing.assert_array_equal(draws(3), draws(3))
    assert not np.array_equal(draws(3), draws(4))


def test_uniform_sampling_has_no_weights_and_ignores_priority_updates():
    memory = ReplayMemory(2000, seed=0)
    _play(memory, [make_fake_env()], 300)
    rows, weight = memory.sample_weighted_rows(32)
    assert weight is None and "weight" not in memory.sample(8)
    memory.update_priorities(rows, torch.ones(32))  # a no-op, not an error
    with pytest.raises(ValueError, match="alpha and beta"):
        ReplayMemory(100, alpha=1.5)


def test_random_shift_moves_each_stack_as_edge_padding_and_cropping_would():
    rng = np.random.default_rng(0)
    stacks = torch.from_numpy(rng.integers(0, 256, (64, 4, 84, 84), dtype=np.uint8))
    shifted = random_shift(stacks, 4, np.random.default_rng(1))
    padded = np.pad(stacks.numpy(), ((0, 0), (0, 0), (4, 4), (4, 4)), mode="edge")
    offsets = set()
    for i in range(64):  # each result is one of the 81 crops of its padded stack, all 4 frames alike
        crops = [
            (dy, dx)
            for dy in range(9)
            for dx in range(9)
            if np.array_equal(padded[i, :, dy : dy + 84, dx : dx + 84], shifted[i].numpy())
        ]
        assert len(crops) == 1
        offsets.add(crops[0])
    assert len(offsets) > 30  # offsets spread over the window
    assert random_shift(stacks, 0, rng) is stacks and shifted.dtype == torch.uint8
