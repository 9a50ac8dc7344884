"""The fast training path gives the EnvBase rollout's trajectories and autograd's gradients."""

import functools

import pytest
import torch

from rlcore.pendulum.env import gen_params, params_as_floats
from rlcore.pendulum.policy import make_policy, make_policy_net
from rlcore.pendulum.rollout import fast_rollout, tensor_rollout
from rlcore.pendulum.transforms import make_env


def _policy_net(seed=0, scale=1.0, dtype=torch.float32, squash=False):
    torch.manual_seed(seed)
    net = make_policy_net(squash=squash).to(dtype)
    with torch.no_grad():
        for p in net[-2 if squash else -1].parameters():
            p.mul_(scale)  # scale > 1: torques beyond max_torque, so the clip is exercised
    return net


@pytest.mark.parametrize("scale, squash", [(1.0, False), (30.0, False), (30.0, True)])
def test_fast_rollout_equals_the_env_rollout(scale, squash):
    net = _policy_net(scale=scale, squash=squash)
    env = make_env(seed=7)
    init = env.reset(env.gen_params(batch_size=[16]))
    with torch.no_grad():
        rollout = env.rollout(40, make_policy(net), tensordict=init.clone(), auto_reset=False)
        th0, thdot0 = init["th"].squeeze(-1), init["thdot"].squeeze(-1)
        params = params_as_floats(gen_params())
        fast = fast_rollout(net, th0, thdot0, params, 40)
        plain = tensor_rollout(net, th0, thdot0, params, 40)
    expected = {
        "th": rollout["th"].squeeze(-1).T,
        "thdot": rollout["thdot"].squeeze(-1).T,
        "action": rollout["action"].squeeze(-1).T,
        "reward": rollout["next", "reward"].squeeze(-1).T,
    }
    for traj in (fast, plain):
        for key, value in expected.items():
            torch.testing.assert_close(getattr(traj, key), value, rtol=1e-4, atol=1e-4, msg=key)
        torch.testing.assert_close(traj.final_th, rollout["next", "th"][:, -1, 0], rtol=1e-4, atol=1e-4)
    if scale > 1 and not squash:
        assert (expected["action"].abs() > 2.0).any(), "the torque clip was exercised"
    if squash:
        assert expected["action"].abs().max() <= 2.0


def _gradients(rollout_fn, net, th, thdot, params, steps):
    net.zero_grad()
    th, thdot = th.clone().requires_grad_(), thdot.clone().requires_grad_()
    traj = rollout_fn(net, th, thdot, params, steps)
    # every output of the rollout takes part in the loss
    loss = (
        -traj.reward.mean()
        + 0.3 * traj.final_th.sum()
        - 0.2 * traj.final_thdot.sum()
        + 0.05 * traj.action.square().mean()
        + 0.1 * traj.th.sin().sum()
        + 0.01 * traj.thdot.sum()
    )
    loss.backward()
    return [p.grad.clone() for p in net.parameters()] + [th.grad, thdot.grad]


@pytest.mark.parametrize("scale, squash", [(1.0, False), (30.0, False), (3.0, True)])
def test_fast_rollout_gradients_equal_autograd(scale, squash):
    net = _policy_net(seed=1, scale=scale, dtype=torch.float64, squash=squash)
    generator = torch.Generator().manual_seed(0)
    th = (torch.rand(12, generator=generator, dtype=torch.float64) * 2 - 1) * torch.pi
    thdot = (torch.rand(12, generator=generator, dtype=torch.float64) * 2 - 1) * 7.5
    params = params_as_floats(gen_params())
    expected = _gradients(tensor_rollout, net, th, thdot, params, 25)
    got = _gradients(fast_rollout, net, th, thdot, params, 25)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-10)


def test_gradients_reach_every_policy_parameter_through_the_env():
    net = _policy_net()
    env = make_env(seed=0)
    rollout = env.rollout(
        20, make_policy(net), tensordict=env.reset(env.gen_params(batch_size=[8])), auto_reset=False
    )
    (-rollout["next", "reward"].mean()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_fast_rollout_rejects_other_networks():
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    with pytest.raises(ValueError, match="Linear/Tanh"):
        fast_rollout(net, torch.zeros(2), torch.zeros(2), params_as_floats(gen_params()), 3)


@pytest.mark.slow
def test_compiled_fast_rollout_matches_eager():
    """torch.compile (inductor) of the same chunks: same trajectory and gradients (slow: compiles)."""
    net = _policy_net(seed=2, scale=30.0, dtype=torch.float64)
    th = torch.linspace(-3, 3, 8, dtype=torch.float64)
    thdot = torch.linspace(-1, 1, 8, dtype=torch.float64)
    params = params_as_floats(gen_params())
    expected = _gradients(tensor_rollout, net, th, thdot, params, 25)
    got = _gradients(functools.partial(fast_rollout, compiled=True), net, th, thdot, params, 25)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-7, atol=1e-9)


def test_gradient_decay_scales_the_gradient_per_step_back_in_time():
    """Reference: autograd through a rollout whose state passes an identity with gradient x decay."""
    from rlcore.pendulum.env import clip_torque, pendulum_dynamics, pendulum_reward
    from rlcore.pendulum.policy import observation
    from rlcore.pendulum.rollout import Trajectory

    decay = 0.9

    def decayed_reference(net, th, thdot, params, steps):
        ths, thdots, actions, rewards = [], [], [], []
        for _ in range(steps):
            action = net(observation(th, thdot)).squeeze(-1)
            u = clip_torque(action, params)
            ths.append(th), thdots.append(thdot), actions.append(action)
            rewards.append(pendulum_reward(th, thdot, u))
            th, thdot = pendulum_dynamics(th, thdot, u, params)
            th, thdot = [
                x * decay + x.detach() * (1 - decay) for x in (th, thdot)
            ]  # value x, gradient x decay
        return Trajectory(*[torch.stack(v) for v in (ths, thdots, actions, rewards)], th, thdot)

    net = _policy_net(seed=3, scale=30.0, dtype=torch.float64)
    th = torch.linspace(-3, 3, 10, dtype=torch.float64)
    thdot = torch.linspace(-7.9, 7.9, 10, dtype=torch.float64)
    params = params_as_floats(gen_params())
    expected = _gradients(decayed_reference, net, th, thdot, params, 25)
    got = _gradients(functools.partial(fast_rollout, gradient_decay=decay), net, th, thdot, params, 25)
    exact = _gradients(fast_rollout, net, th, thdot, params, 25)
    for e, g, x in zip(expected, got, exact):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-10)
    assert not torch.allclose(got[0], exact[0])


@pytest.mark.parametrize("g", [10.0, 3.5])
def test_float_params_dynamics_equal_tensor_params_dynamics(g):
    """pendulum_dynamics' fused path for Python-float params (the fast path's) and its general path
    for per-pendulum tensor params (the EnvBase env's) agree, clamp at max_speed included."""
    from rlcore.pendulum.env import pendulum_dynamics

    generator = torch.Generator().manual_seed(0)
    th = torch.rand(1000, generator=generator, dtype=torch.float64) * 8 - 4
    thdot = torch.rand(1000, generator=generator, dtype=torch.float64) * 20 - 10  # beyond max_speed too
    u = torch.rand(1000, generator=generator, dtype=torch.float64) * 4 - 2
    floats = params_as_floats(gen_params(g=g))
    tensors = {key: torch.full_like(th, value) for key, value in floats.items()}
    got = pendulum_dynamics(th, thdot, u, floats, sin_th=th.sin())
    expected = pendulum_dynamics(th, thdot, u, tensors)
    assert (got[1].abs() == floats["max_speed"]).any()
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
