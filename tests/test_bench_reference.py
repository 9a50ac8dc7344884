"""Smoke tests for bench/reference: the tutorials' own code still runs on today's stack."""

import math

import numpy as np
import torch


def test_seed_pendulum_env_passes_spec_check_and_concatenates_observation():
    from bench.reference.pendulum_seed import check_env_specs, make_seed_env

    env = make_seed_env(seed=0)
    check_env_specs(env)
    td = env.reset(env.gen_params(batch_size=[5]))
    assert td["observation"].shape == (5, 3)
    th = td["th"]  # (5, 1) after the Unsqueeze transform
    # CatTensors sorts its in_keys: [cos, sin, thdot]
    torch.testing.assert_close(td["observation"], torch.cat([th.cos(), th.sin(), td["thdot"]], -1))


def test_seed_pendulum_training_step_changes_weights_and_logs_rewards():
    from bench.reference.pendulum_seed import train_seed

    result = train_seed(iterations=2, batch_size=4, rollout_steps=10, seed=0)
    assert result["iterations"] == 2 and len(result["logs"]["return"]) == 2
    assert result["it_per_s"] > 0 and math.isfinite(result["final_return"])
    # Same seed, one iteration fewer: the second optimizer step must have moved the weights.
    fewer = train_seed(iterations=1, batch_size=4, rollout_steps=10, seed=0)
    assert fewer["logs"]["return"][0] == result["logs"]["return"][0]  # seeded: same first rollout
    after_one = [p.detach() for p in fewer["policy"].parameters()]
    after_two = [p.detach() for p in result["policy"].parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(after_one, after_two))


def test_tutorial_mario_env_yields_float32_frame_stacks_in_unit_range():
    from bench.reference.mario_tutorial import make_tutorial_env

    env = make_tutorial_env()
    state, info = env.reset(seed=0)
    for _ in range(5):
        next_state, reward, done, trunc, info = env.step(1)
    env.close()
    for s in (state, next_state):
        assert s.shape == (4, 84, 84) and s.dtype == np.float32
        assert 0.0 <= s.min() and s.max() <= 1.0 and s.max() > 0.1  # /255 floats, not truncated to 0
    assert np.array_equal(state[0], state[3])  # reset pads the stack with the first frame
    assert not np.array_equal(next_state[0], next_state[3])  # the stack rolls as Mario moves


def test_tutorial_mario_learn_step_returns_finite_loss_and_updates_online_net(tmp_path):
    from bench.reference.mario_tutorial import STATE_DIM, Mario, make_tutorial_env

    env = make_tutorial_env()
    mario = Mario(
        STATE_DIM, env.action_space.n, tmp_path, burnin=0, capacity=64, scratch_dir=tmp_path / "memmap"
    )
    state = env.reset(seed=0)  # (obs, info) tuple: the tutorial's act/cache unpack it themselves
    for _ in range(mario.batch_size):
        action = mario.act(state)
        next_state, reward, done, trunc, info = env.step(action)
        mario.cache(state, next_state, action, reward, done)
        state = next_state
    env.close()
    assert len(mario.memory) == mario.batch_size
    mario.curr_step = 3 * 7  # a learning step (multiple of learn_every), past burnin, not a sync step
    before = [p.detach().clone() for p in mario.net.online.parameters()]
    q, loss = mario.learn()
    assert math.isfinite(q) and math.isfinite(loss) and loss > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, mario.net.online.parameters()))
    # target net frozen and untouched by the update
    assert all(not p.requires_grad for p in mario.net.target.parameters())


def test_tutorial_replay_stores_two_float32_stacks_per_transition():
    from bench.reference.mario_tutorial import bytes_per_transition

    stacks = 2 * 4 * 84 * 84 * 4  # state + next_state, float32
    assert stacks <= bytes_per_transition() <= stacks + 64  # + action, reward, done, buffer index
