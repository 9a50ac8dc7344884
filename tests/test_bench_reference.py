"""Smoke tests for bench/reference: the tutorials' own code still runs on today's stack."""

import math

import pytest
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
