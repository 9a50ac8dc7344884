"""Differentiable rollouts of the policy written directly on tensors (the fast training path).

The tutorial's training loop rolls the policy out through `env.rollout` (TensorDict and transform
bookkeeping at every step: most of an iteration, see bench/README.md) and lets autograd record
tens of tiny ops per step. The same rollout can be computed from the same physics functions
(rlcore.pendulum.env) on plain (batch,) tensors:

- `tensor_rollout`: a plain loop under autograd; the readable reference.
- `fast_rollout`: the same forward loop inside one autograd.Function whose backward is written out
  (backpropagation through time by hand): no autograd graph of ~4,000 nodes per iteration, the
  weight gradients of all steps in a few large matmuls instead of 400 small ones, and optionally
  the forward and backward loops compiled by torch.compile in chunks of 10 steps. The physics'
  derivatives are not written out again: the backward differentiates pendulum_dynamics and
  clip_torque themselves (autograd, once for all steps).

tests/test_pendulum_rollout.py proves both give the EnvBase rollout's actions, states and rewards,
and that fast_rollout's gradients equal autograd's.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

import torch
from torch import nn

from rlcore.pendulum.env import (
    GRAVITY,
    LENGTH,
    MASS,
    angle_normalize,
    clip_torque,
    gen_params,
    initial_state_of_seed,
    params_as_floats,
    pendulum_dynamics,
    pendulum_reward,
)
from rlcore.pendulum.policy import OBSERVATION_SIZE, TorqueSquash, observation


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


def tensor_rollout(
    net: nn.Module, th: torch.Tensor, thdot: torch.Tensor, params: Mapping, steps: int
) -> Trajectory:
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
    return Trajectory(
        torch.stack(ths), torch.stack(thdots), torch.stack(actions), torch.stack(rewards), th, thdot
    )


UPRIGHT_RAD = 0.3  # "upright": within about 17 degrees of the top
SETTLED_STEPS = 20  # the episode's last second (dt 0.05 s)
# Where only the last step's reward is known (evaluate's last_rewards): -(th^2 + 0.1 thdot^2 + 0.001 u^2)
# above this says upright and nearly still (|th| < 0.1 rad), a stricter reading of swung_up
UPRIGHT_REWARD = -0.01


@torch.no_grad()
def episode_rollout(
    net: nn.Module,
    seed: int,
    *,
    g: float = GRAVITY,
    m: float = MASS,
    l: float = LENGTH,  # noqa: E741
    steps: int = 200,
) -> tuple[Trajectory, dict[str, float]]:
    """One episode of `net` from the random start of `seed` under physics gen_params(g, m, l): (trajectory,
    the physical constants). What play() renders and the generalisation map scores."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    params = params_as_floats(gen_params(g=g, m=m, l=l))
    th, thdot = initial_state_of_seed(seed, next(net.parameters()).device)
    return tensor_rollout(net, th, thdot, params, steps), params


def swung_up(traj: Trajectory) -> bool:
    """Whether an (unbatched) episode ends balanced: upright through its last SETTLED_STEPS states."""
    ths = torch.cat([traj.th, traj.final_th[None]])[-SETTLED_STEPS:]
    return bool((angle_normalize(ths).abs() < UPRIGHT_RAD).all())


def episode_summary(traj: Trajectory, seed: int, *, g: float, m: float, l: float) -> dict:  # noqa: E741
    """An episode's figures, as Watch shows them and the generalisation map scores them."""
    return {
        "return": traj.reward.sum().item(),
        "last_reward": traj.reward[-1].item(),
        "swung_up": swung_up(traj),
        "seed": seed,
        "steps": len(traj.reward),
        "g": g,
        "m": m,
        "l": l,
    }


def mlp_layers(net: nn.Module) -> tuple[list[nn.Linear], float]:
    """The Linear layers of a Tanh MLP built by make_policy_net, and its TorqueSquash scale (0: none)."""
    modules = list(net)
    squash = modules.pop().max_torque if modules and isinstance(modules[-1], TorqueSquash) else 0.0
    linears = modules[0::2]
    if not (
        all(isinstance(m, nn.Linear) for m in linears)
        and all(isinstance(m, nn.Tanh) for m in modules[1::2])
        and len(modules) % 2 == 1
        and linears[-1].out_features == 1
    ):
        raise ValueError(
            "fast_rollout needs a Sequential of Linear/Tanh layers ending in Linear(..., 1) "
            "(and optionally TorqueSquash)"
        )
    return linears, float(squash)


def fast_rollout(
    net: nn.Module,
    th: torch.Tensor,
    thdot: torch.Tensor,
    params: Mapping[str, float],
    steps: int,
    compiled: bool = False,
    gradient_decay: float = 1.0,
) -> Trajectory:
    """tensor_rollout's result and gradients, several times faster. `params` must be floats
    (one physics for the whole batch: rlcore.pendulum.env.params_as_floats). gradient_decay < 1
    shrinks the gradient by that factor per step it travels back in time (1: exact gradients)."""
    linears, squash = mlp_layers(net)
    weights = [t for layer in linears for t in (layer.weight, layer.bias)]
    ths, thdots, actions, final_th, final_thdot = _BackpropThroughTime.apply(
        th, thdot, dict(params), steps, compiled, squash, gradient_decay, *weights
    )
    reward = pendulum_reward(ths, thdots, clip_torque(actions, params))
    return Trajectory(ths, thdots, actions, reward, final_th, final_thdot)


def _policy_steps(th, thdot, params, steps, squash, weights):
    """The forward rollout (no autograd): final state, then per step (time first) th, thdot, action,
    observation and each hidden layer's activation (what the backward needs)."""
    *hidden_layers, (last_weight, last_bias) = zip(weights[0::2], weights[1::2])
    # tanh(z) = 2 sigmoid(2z) - 1, and ATen's CPU sigmoid is several times cheaper than its tanh (the
    # costliest op of the loop). The loop keeps s = sigmoid(2z) and folds "2 s - 1" into the weights
    # that read it (W h + b = 2W s + b - W 1): two ops per layer; h = 2 s - 1 for all steps at the end.
    folded = []
    for layer, (w, b) in enumerate(hidden_layers):
        if layer > 0:  # reads the previous layer's s
            w, b = 2 * w, b - w.sum(1)
        folded.append((2 * w.t(), 2 * b))
    last_weight, last_bias = 2 * last_weight[0], last_bias - last_weight[0].sum()
    batch = th.shape[0]
    # per-step outputs preallocated and written in place (out=, sigmoid_): no allocations, no final stacks
    actions, inputs = th.new_empty(steps, batch), th.new_empty(steps, batch, OBSERVATION_SIZE)
    hiddens = [th.new_empty(steps, batch, b.shape[0]) for _, b in folded]
    ths, thdots = [], []
    per_step = zip(actions.unbind(0), inputs.unbind(0), *[h.unbind(0) for h in hiddens])
    for action, h, *hidden_outs in per_step:
        sin_th = th.sin()  # shared by the observation and the dynamics
        observation(th, thdot, out=h, sin_th=sin_th)
        for (w_t, b), out in zip(folded, hidden_outs):
            h = torch.addmm(b, h, w_t, out=out).sigmoid_()  # (1 + tanh(W h + b)) / 2
        torch.addmv(last_bias, h, last_weight, out=action)
        if squash:
            action.tanh_().mul_(squash)
        ths.append(th)
        thdots.append(thdot)
        th, thdot = pendulum_dynamics(th, thdot, clip_torque(action, params), params, sin_th=sin_th)
    for s in hiddens:
        s.mul_(2).sub_(1)  # the activations tanh(W h + b)
    return th, thdot, torch.stack(ths), torch.stack(thdots), actions, inputs, *hiddens


COMPILED_CHUNK = 10  # steps per compiled call: one compile (seconds with a warm cache, longer cold)


@functools.cache
def _compiled_policy_steps():
    return torch.compile(_policy_steps, fullgraph=True, dynamic=False)


def _backward_steps(g_th, g_thdot, m_th_th, m_th_thdot, m_thdot_th, m_thdot_thdot, th_input, thdot_input):
    """The state-gradient recurrence through steps T-1 .. 0 (every per-step input is (T, batch)).

    v_t = (g_th_t, g_thdot_t), the gradient reaching the state at which step t acts, is
        g_th_t    = m_th_th_t g_th_{t+1} + m_th_thdot_t g_thdot_{t+1} + th_input_t
        g_thdot_t = m_thdot_th_t g_th_{t+1} + m_thdot_thdot_t g_thdot_{t+1} + thdot_input_t
    (M_t: how the next state depends on this one, through the dynamics and the policy's action;
    the inputs: what the step's own reward/action gradients add). Returns the gradient w.r.t. the
    first state and v_{t+1} for every step t, (T, batch, 2).
    """
    steps, batch = th_input.shape
    # One batched 2x2 matmul (baddbmm) per step instead of several element-wise ops (each op costs a
    # dispatch of a few microseconds on these tiny tensors).
    matrices = (
        torch.stack([m_th_th, m_th_thdot, m_thdot_th, m_thdot_thdot], -1).view(steps, batch, 2, 2).unbind(0)
    )
    inputs = torch.stack([th_input, thdot_input], -1).unsqueeze(-1).unbind(0)  # (batch, 2, 1) each
    v = th_input.new_empty(steps + 1, batch, 2, 1)
    v[steps] = torch.stack([g_th, g_thdot], -1).unsqueeze(-1)
    v_steps = v.unbind(0)
    for t in range(steps - 1, -1, -1):
        torch.baddbmm(inputs[t], matrices[t], v_steps[t + 1], out=v_steps[t])
    return v[0, :, 0, 0], v[0, :, 1, 0], v[1:, :, :, 0]


def _step_jacobian(ths, thdots, actions, params):
    """d(th', thdot') / d(th, thdot, action) of every step, elementwise, by autograd through the same
    clip_torque and pendulum_dynamics the rollout ran (the physics has one definition): two
    vector-Jacobian products over all steps at once. Returns (d th'/d ..., d thdot'/d ...), each a
    tuple (d/d th, d/d thdot, d/d action) of (steps, batch) tensors."""
    with torch.enable_grad():
        inputs = [x.detach().requires_grad_() for x in (ths, thdots, actions)]
        th, thdot, action = inputs
        new_th, new_thdot = pendulum_dynamics(th, thdot, clip_torque(action, params), params)
        ones = torch.ones_like(new_th)
        d_new_th = torch.autograd.grad(new_th, inputs, ones, retain_graph=True)
        d_new_thdot = torch.autograd.grad(new_thdot, inputs, ones)
    return d_new_th, d_new_thdot


@functools.cache
def _compiled_backward_steps():
    return torch.compile(_backward_steps, fullgraph=True, dynamic=False)


class _BackpropThroughTime(torch.autograd.Function):
    """(th0, thdot0, weights) -> states, actions and final state of a rollout, with a hand-written BPTT.

    Why it is fast: the action is one number per pendulum, so the sensitivity of the action to each
    layer's pre-activation, S_l = d action / d z_l, does not depend on the gradient flowing back.
    All S_l (and d action / d state) are computed for every step at once in a few large batched
    matmuls; the step-by-step backward loop is then one batched 2x2 matmul per step (_backward_steps).
    """

    @staticmethod
    def forward(ctx, th, thdot, params, steps, compiled, squash, gradient_decay, *weights):
        if compiled:  # the same function, compiled for chunks of COMPILED_CHUNK steps
            outs = []  # each chunk starts where the previous one ended
            for _ in range(steps // COMPILED_CHUNK):
                out = _compiled_policy_steps()(th, thdot, params, COMPILED_CHUNK, squash, weights)
                th, thdot = out[0], out[1]
                outs.append(out)
            if steps % COMPILED_CHUNK:
                outs.append(_policy_steps(th, thdot, params, steps % COMPILED_CHUNK, squash, weights))
            th, thdot = outs[-1][0], outs[-1][1]
            ths, thdots, actions, inputs, *hiddens = [
                torch.cat(parts) for parts in zip(*[o[2:] for o in outs])
            ]
        else:
            th, thdot, ths, thdots, actions, inputs, *hiddens = _policy_steps(
                th, thdot, params, steps, squash, weights
            )
        ctx.params, ctx.n_hidden, ctx.compiled, ctx.squash = params, len(hiddens), compiled, squash
        ctx.gradient_decay = gradient_decay
        ctx.save_for_backward(ths, thdots, inputs, actions, *hiddens, *weights)
        return ths, thdots, actions, th, thdot

    @staticmethod
    def backward(ctx, grad_th, grad_thdot, grad_action, grad_final_th, grad_final_thdot):
        ths, thdots, inputs, actions, *rest = ctx.saved_tensors
        hiddens, weights = rest[: ctx.n_hidden], rest[ctx.n_hidden :]
        zeros = actions.new_zeros(actions.shape)
        sensitivities, d_action_d_out, d_action_d_state = _policy_sensitivities(
            inputs, actions, hiddens, weights[0::2], ctx.squash
        )
        grad_action = grad_action if grad_action is not None else zeros
        g_th, g_thdot, g_actions = _through_time(
            ctx,
            ths,
            thdots,
            actions,
            d_action_d_state,
            grad_th if grad_th is not None else zeros,
            grad_thdot if grad_thdot is not None else zeros,
            grad_action,
            grad_final_th if grad_final_th is not None else zeros[0],
            grad_final_thdot if grad_final_thdot is not None else zeros[0],
        )
        grads = _weight_gradients(g_actions, inputs, hiddens, sensitivities, d_action_d_out)
        return (g_th, g_thdot, None, None, None, None, None, *[g for pair in grads for g in pair])


def _policy_sensitivities(inputs, actions, hiddens, layer_weights, squash):
    """1. d action / d (every layer's pre-activation and the observation), all steps at once:
    S_last = w_out * tanh'(z) [* d action/d out],  S_l = (S_{l+1} @ W_{l+1}) * tanh'(z_l),
    tanh' = 1 - h^2; d action/d out (the last linear's output) is 1, or squash * tanh' with TorqueSquash.
    Returns (S_l last layer first, d action/d out or None, (d action/d th, d action/d thdot))."""
    one = actions.new_ones(())
    d_action_d_out = (squash - actions * actions / squash) if squash else None
    sensitivities = []  # last hidden layer first, each (steps, batch, hidden)
    s = torch.addcmul(one, hiddens[-1], hiddens[-1], value=-1).mul_(layer_weights[-1][0])
    if d_action_d_out is not None:
        s.mul_(d_action_d_out[..., None])
    sensitivities.append(s)
    for layer in range(len(hiddens) - 2, -1, -1):
        s = (s @ layer_weights[layer + 1]).mul_(torch.addcmul(one, hiddens[layer], hiddens[layer], value=-1))
        sensitivities.append(s)
    d_action_d_obs = s @ layer_weights[0]  # (steps, batch, 3): observation = [cos th, sin th, thdot]
    cos_th, sin_th = inputs[..., 0], inputs[..., 1]
    d_action_d_th = d_action_d_obs[..., 1] * cos_th - d_action_d_obs[..., 0] * sin_th
    return sensitivities, d_action_d_out, (d_action_d_th, d_action_d_obs[..., 2])


def _through_time(
    ctx, ths, thdots, actions, d_action_d_state, grad_th, grad_thdot, grad_action, g_th, g_thdot
):
    """2.-3. Backward through time. The action depends on the state through the policy, so the state's
    total effect on the next state is d next/d state + d next/d action * d action/d state: M_t.
    gradient_decay < 1 scales the gradient coming back from step t+1 (truncated credit assignment).
    Returns the gradients of the initial state and of every action."""
    d_action_d_th, d_action_d_thdot = d_action_d_state
    # how each step's next state depends on its state and action (the physics' own derivatives)
    (th_th, th_thdot, th_action), (thdot_th, thdot_thdot, thdot_action) = _step_jacobian(
        ths, thdots, actions, ctx.params
    )
    decay = ctx.gradient_decay
    per_step = [
        torch.addcmul(th_th, th_action, d_action_d_th),  # d th' / d th (total)
        torch.addcmul(thdot_th, thdot_action, d_action_d_th),  # d thdot' / d th
        torch.addcmul(th_thdot, th_action, d_action_d_thdot),  # d th' / d thdot
        torch.addcmul(thdot_thdot, thdot_action, d_action_d_thdot),
    ]  # d thdot' / d thdot
    if decay != 1:
        per_step = [m.mul_(decay) for m in per_step]
    per_step += [
        grad_th + grad_action * d_action_d_th,  # th_input
        grad_thdot + grad_action * d_action_d_thdot,
    ]  # thdot_input
    if ctx.compiled:
        chunks = []
        for end in range(actions.shape[0], 0, -COMPILED_CHUNK):
            begin = max(end - COMPILED_CHUNK, 0)
            through = _compiled_backward_steps() if end - begin == COMPILED_CHUNK else _backward_steps
            g_th, g_thdot, chunk = through(g_th, g_thdot, *[x[begin:end] for x in per_step])
            chunks.insert(0, chunk)
        v_next = torch.cat(chunks)
    else:
        g_th, g_thdot, v_next = _backward_steps(g_th, g_thdot, *per_step)
    # the gradient reaching each action: its own, plus through the next state
    through_next_state = torch.addcmul(th_action * v_next[..., 0], thdot_action, v_next[..., 1])
    return g_th, g_thdot, torch.add(grad_action, through_next_state, alpha=decay)


def _weight_gradients(g_actions, inputs, hiddens, sensitivities, d_action_d_out):
    """4. Weight gradients of all steps at once: dL/dz_l = dL/daction * S_l; (weight, bias) per layer."""
    steps, batch = g_actions.shape
    g_action = g_actions.reshape(steps * batch, 1)
    layer_inputs = [inputs, *hiddens]
    grads = []
    for layer, s in zip(range(len(hiddens) - 1, -1, -1), sensitivities):
        g_z = s.reshape(steps * batch, -1).mul_(g_action)  # S_l is not needed any more: in place
        grads.append((g_z.t() @ layer_inputs[layer].reshape(steps * batch, -1), g_z.sum(0)))
    grads.reverse()
    g_out = g_action if d_action_d_out is None else g_action * d_action_d_out.reshape(steps * batch, 1)
    grads.append((g_out.t() @ hiddens[-1].reshape(steps * batch, -1), g_out.sum(0)))
    return grads
