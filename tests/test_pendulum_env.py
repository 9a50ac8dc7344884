"""The pendulum env: TorchRL specs, batching, seeding, and the physics against Gymnasium's Pendulum-v1."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from torchrl.envs.utils import check_env_specs

from rlcore.pendulum.env import PendulumEnv, gen_params, pendulum_step
from rlcore.pendulum.transforms import make_env, simple_rollout


def test_check_env_specs_bare_and_transformed():
    check_env_specs(PendulumEnv(seed=0))
    check_env_specs(make_env(seed=0))


def test_observation_is_cos_sin_thdot():
    env = make_env(seed=0)
    td = env.reset()
    th, thdot = td["th"].squeeze(-1), td["thdot"].squeeze(-1)
    torch.testing.assert_close(td["observation"], torch.stack([th.cos(), th.sin(), thdot]))


def test_batched_shapes_like_the_tutorial():
    env = make_env(seed=0)
    td = env.reset(env.gen_params(batch_size=[10]))
    assert td.shape == (10,) and td["observation"].shape == (10, 3)
    td = env.rand_step(td)
    assert td["next", "observation"].shape == (10, 3)
    rollout = env.rollout(3, auto_reset=False, tensordict=env.reset(env.gen_params(batch_size=[10])))
    assert rollout.shape == (10, 3)
    assert rollout["next", "reward"].shape == (10, 3, 1)
    # the same env takes another batch size on the fly (not batch-locked)
    rollout = env.rollout(5, auto_reset=False, tensordict=env.reset(env.gen_params(batch_size=[4])))
    assert rollout.shape == (4, 5)
    data = simple_rollout(env, 100)
    assert data.shape == (100,) and data["next", "th"].shape == (100, 1)


def test_reset_uses_the_env_generator_only():
    env = PendulumEnv(seed=0)
    global_state = torch.get_rng_state()
    env.set_seed(123)
    first = env.reset(env.gen_params(batch_size=[6]))
    env.set_seed(123)
    second = env.reset(env.gen_params(batch_size=[6]))
    assert torch.equal(torch.get_rng_state(), global_state)
    torch.testing.assert_close(first["th"], second["th"], rtol=0, atol=0)
    assert first["th"].abs().max() <= torch.pi and first["thdot"].abs().max() <= 1.0
    assert not torch.equal(first["th"], env.reset(env.gen_params(batch_size=[6]))["th"])


@pytest.mark.parametrize("g, m, l", [(10.0, 1.0, 1.0), (9.81, 1.7, 0.6)])  # noqa: E741
def test_env_step_matches_gymnasium_pendulum(g, m, l):  # noqa: E741
    """Many random states (near the speed limit too) and torques (beyond the torque limit too)."""
    rng = np.random.default_rng(0)
    n = 300
    th = rng.uniform(-3 * np.pi, 3 * np.pi, n)
    thdot = rng.uniform(-8.5, 8.5, n)
    u = rng.uniform(-3.0, 3.0, n)
    gym_env = gym.make("Pendulum-v1", g=g).unwrapped
    gym_env.m, gym_env.l = m, l
    gym_env.reset(seed=0)
    expected_obs, expected_reward = [], []
    for i in range(n):
        gym_env.state = np.array([th[i], thdot[i]])
        obs, reward, *_ = gym_env.step(np.array([u[i]], dtype=np.float32))
        expected_obs.append(obs)
        expected_reward.append(reward)
    expected_obs, expected_reward = np.array(expected_obs), np.array(expected_reward)

    # through the TorchRL env, all states in one batched step
    env = PendulumEnv(seed=0)
    td = gen_params(g=g, m=m, l=l, batch_size=[n])
    td["th"] = torch.tensor(th, dtype=torch.float32)
    td["thdot"] = torch.tensor(thdot, dtype=torch.float32)
    td["action"] = torch.tensor(u, dtype=torch.float32)[:, None]
    out = env.step(td)["next"]
    new_th = out["th"].double().numpy()
    np.testing.assert_allclose(np.cos(new_th), expected_obs[:, 0], atol=2e-5)
    np.testing.assert_allclose(np.sin(new_th), expected_obs[:, 1], atol=2e-5)
    np.testing.assert_allclose(out["thdot"].numpy(), expected_obs[:, 2], rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(out["reward"].squeeze(-1).numpy(), expected_reward, rtol=1e-5, atol=1e-4)
    assert (np.abs(expected_obs[:, 2]) == 8.0).any(), "the speed clamp was exercised"

    # the physics function itself, with the float params the fast path uses
    params = {"g": g, "m": m, "l": l, "dt": 0.05, "max_speed": 8.0, "max_torque": 2.0}
    new_th, new_thdot, reward = pendulum_step(td["th"], td["thdot"], td["action"].squeeze(-1), params)
    np.testing.assert_allclose(new_thdot.numpy(), expected_obs[:, 2], rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(reward.numpy(), expected_reward, rtol=1e-5, atol=1e-4)


def test_random_starts_match_gymnasium_ranges():
    env = PendulumEnv(seed=0)
    td = env.reset(env.gen_params(batch_size=[4000]))
    gym_low, gym_high = -np.pi, np.pi  # Gymnasium: th ~ U(-pi, pi), thdot ~ U(-1, 1)
    assert gym_low <= td["th"].min() < -3.0 and 3.0 < td["th"].max() <= gym_high
    assert -1.0 <= td["thdot"].min() < -0.99 and 0.99 < td["thdot"].max() <= 1.0
