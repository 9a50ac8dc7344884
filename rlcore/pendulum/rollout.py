"""Differentiable rollouts of the policy written directly on tensors (the fast training path).

The tutorial's training loop rolls the policy out through `env.rollout` (TensorDict and transform
bookkeeping at every step, about 60% of an iteration) and lets autograd record ~40 tiny ops per
step. The same rollout can be computed from the same physics functions (rlcore.pendulum.env) on
plain (batch,) tensors:

- `tensor_rollout`: a plain loop under autograd; the readable reference.
- `fast_rollout`: the same forward loop inside one autograd.Function whose backward is written out
  (backpropagation through time by hand): no autograd graph of ~4,000 nodes per iteration, and the
  weight gradients of all steps in four large matmuls instead of 400 small ones.

tests/test_pendulum_rollout.py proves both give the EnvBase rollout's actions, states and rewards,
and that fast_rollout's gradients equal autograd's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
from torch import nn

from rlcore.pendulum.env import clip_torque, pendulum_dynamics, pendulum_reward
from rlcore.pendulum.policy import observation


@dataclasses.dataclass
class Trajectory:
    """A batch of rollouts; every field is (steps, batch), time first.

    th/thdot are the states at which each action was taken, `action` the raw policy output (the env
    clips it to max_torque), `reward` the reward of that step; final_th/final_thdot (batch,) the
    states after the last step.
    """

    th: torch.Tensor
    thdot: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    final_th: torch.Tensor
    final_thdot: torch.Tensor


def tensor_rollout(net: nn.Module, th: torch.Tensor, thdot: torch.Tensor, params: Mapping,
                   steps: int) -> Trajectory:
    """Roll `net` out for `steps` steps from (th, thdot) with plain autograd (the reference)."""
    ths, thdots, actions, rewards = [], [], [], []
    for _ in range(steps):
        action = net(observation(th, thdot)).squeeze(-1)
        u = clip_torque(action, params)
        ths.append(th)
        thdots.append(thdot)
        actions.append(action)
        rewards.append(pendulum_reward(th, thdot, u))
        th, thdot = pendulum_dynamics(th, thdot, u, params)
    return Trajectory(torch.stack(ths), torch.stack(thdots), torch.stack(actions), torch.stack(rewards), th, thdot)


def mlp_layers(net: nn.Module) -> list[nn.Linear]:
    """The Linear layers of a Tanh MLP built by make_policy_net (checked: the fast path assumes it)."""
    modules = list(net)
    linears = modules[0::2]
    if not (all(isinstance(m, nn.Linear) for m in linears) and all(isinstance(m, nn.Tanh) for m in modules[1::2])
            and linears[-1].out_features == 1):
        raise ValueError("fast_rollout needs a Sequential of Linear/Tanh layers ending in Linear(..., 1)")
    return linears


def fast_rollout(net: nn.Module, th: torch.Tensor, thdot: torch.Tensor, params: Mapping[str, float],
                 steps: int) -> Trajectory:
    """tensor_rollout's result and gradients, several times faster. `params` must be floats
    (one physics for the whole batch: rlcore.pendulum.env.params_as_floats)."""
    weights = [t for layer in mlp_layers(net) for t in (layer.weight, layer.bias)]
    ths, thdots, actions, final_th, final_thdot = _BackpropThroughTime.apply(th, thdot, dict(params), steps, *weights)
    reward = pendulum_reward(ths, thdots, clip_torque(actions, params))
    return Trajectory(ths, thdots, actions, reward, final_th, final_thdot)


class _BackpropThroughTime(torch.autograd.Function):
    """(th0, thdot0, weights) -> states, actions and final state of a rollout, with a hand-written BPTT."""

    @staticmethod
    def forward(ctx, th, thdot, params, steps, *weights):
        weight_t = [w.t() for w in weights[0::2]]
        biases = weights[1::2]
        ths, thdots, inputs, hiddens = [], [], [], [[] for _ in weight_t[:-1]]
        actions = []
        for _ in range(steps):
            x = observation(th, thdot)
            inputs.append(x)
            h = x
            for layer, (w_t, b) in enumerate(zip(weight_t[:-1], biases[:-1])):
                h = torch.addmm(b, h, w_t).tanh_()
                hiddens[layer].append(h)
            action = torch.addmm(biases[-1], h, weight_t[-1]).squeeze(-1)
            ths.append(th)
            thdots.append(thdot)
            actions.append(action)
            th, thdot = pendulum_dynamics(th, thdot, clip_torque(action, params), params)
        ths, thdots, actions = torch.stack(ths), torch.stack(thdots), torch.stack(actions)
        next_thdot = torch.cat([thdots[1:], thdot[None]])
        ctx.params, ctx.n_hidden = params, len(hiddens)
        ctx.save_for_backward(torch.stack(inputs), actions, next_thdot, *[torch.stack(h) for h in hiddens], *weights)
        return ths, thdots, actions, th, thdot

    @staticmethod
    def backward(ctx, grad_th, grad_thdot, grad_action, grad_final_th, grad_final_thdot):
        params = ctx.params
        inputs, actions, next_thdot, *rest = ctx.saved_tensors
        n_hidden = ctx.n_hidden
        hiddens, weights = rest[:n_hidden], rest[n_hidden:]
        steps, batch = actions.shape
        dt = float(params["dt"])
        # Derivatives of pendulum_dynamics (see its formula) and of clip/clamp (1 inside the range):
        #   d thdot'/d th = 3g/(2l) cos(th) dt,  d thdot'/d u = 3/(m l^2) dt,  d th'/d thdot' = dt
        gravity_gain = 3 * params["g"] / (2 * params["l"]) * dt
        torque_gain = 3.0 / (params["m"] * params["l"] ** 2) * dt
        cos_th, sin_th = inputs[..., 0], inputs[..., 1]
        speed_free = (next_thdot.abs() < params["max_speed"]).to(actions.dtype)  # thdot' not clamped
        torque_free = (actions.abs() <= params["max_torque"]).to(actions.dtype) * torque_gain
        d_thdot_d_th = gravity_gain * cos_th
        d_obs_d_th = torch.stack([-sin_th, cos_th], dim=-1)  # d[cos th, sin th]/d th
        tanh_grads = [1 - h * h for h in hiddens]
        layer_weights = weights[0::2]

        zero = actions.new_zeros(batch)
        g_th = grad_final_th if grad_final_th is not None else zero
        g_thdot = grad_final_thdot if grad_final_thdot is not None else zero
        grad_th = grad_th if grad_th is not None else actions.new_zeros(steps, batch)
        grad_thdot = grad_thdot if grad_thdot is not None else actions.new_zeros(steps, batch)
        grad_action = grad_action if grad_action is not None else actions.new_zeros(steps, batch)
        # gradients at each layer's pre-activation, for the weight gradients after the loop
        g_pre = [actions.new_empty(steps, batch, w.shape[0]) for w in layer_weights[:-1]]
        g_actions = []
        for t in range(steps - 1, -1, -1):
            # through th' = th + thdot' dt and the speed clamp
            g_new_thdot = torch.add(g_thdot, g_th, alpha=dt).mul_(speed_free[t])
            g_action = torch.addcmul(grad_action[t], g_new_thdot, torque_free[t])
            g_th = torch.addcmul(g_th, g_new_thdot, d_thdot_d_th[t]).add_(grad_th[t])
            g_thdot = g_new_thdot.add_(grad_thdot[t])
            # through the MLP, last layer first
            g_actions.append(g_action)
            g = layer_weights[-1] * g_action[:, None]  # (batch, hidden)
            for layer in range(n_hidden - 1, -1, -1):
                g_z = torch.mul(g, tanh_grads[layer][t], out=g_pre[layer][t])
                g = g_z @ layer_weights[layer]
            # through the observation [cos th, sin th, thdot]
            g_th = g_th + (g[:, :2] * d_obs_d_th[t]).sum(-1)
            g_thdot = g_thdot + g[:, 2]

        g_pre.append(torch.stack(g_actions[::-1])[..., None])
        layer_inputs = [inputs, *hiddens]
        grads = []
        for g_z, x in zip(g_pre, layer_inputs):
            g_z, x = g_z.reshape(steps * batch, -1), x.reshape(steps * batch, -1)
            grads += [g_z.t() @ x, g_z.sum(0)]
        return (g_th, g_thdot, None, None, *grads)
