"""The tutorial's Mario agent on a fake image env: acting, the learning schedule, the Double DQN
target, save/load and clear errors for checkpoints that do not match."""

import json

import numpy as np
import pytest
import torch
from mario_fake_env import make_fake_env

from rlcore.checkpoint import CheckpointError
from rlcore.mario.agent import Mario
from rlcore.mario.config import MarioConfig, preset
from rlcore.mario.env import SKIP
from rlcore.mario.replay import random_shift


@pytest.fixture(autouse=True)
def one_torch_thread():
    """As the trainer does: 2 OpenMP threads on 2 shared, busy cores are many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _agent(**overrides):
    config = MarioConfig(**{"memory_size": 2000, "burnin": 50, **overrides})
    return Mario(config=config)


def _fill(agent, steps, seed=0):
    env = make_fake_env(min_frames=10, max_frames=80)
    state = env.reset(seed=seed)[0]
    for _ in range(steps):
        action = agent.act(state)
        next_state, reward, terminated, truncated, _ = env.step(action)
        agent.cache(state, next_state, action, reward, terminated)
        state = env.reset()[0] if terminated else next_state


def _constant_q(sequential, values):
    """Make a Q head output `values` for every input: zero last-layer weights, bias = values."""
    last = sequential[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor(values))


def test_defaults_are_the_tutorials():
    c = MarioConfig()
    assert (c.exploration_rate, c.exploration_rate_decay, c.exploration_rate_min) == (1.0, 0.99999975, 0.1)
    assert (c.gamma, c.lr, c.batch_size, c.burnin, c.learn_every, c.sync_every) == (
        0.9,
        0.00025,
        32,
        10_000,
        3,
        10_000,
    )
    assert (c.n_step, c.dueling, c.memory_size, c.actions) == (1, False, 100_000, "right_jump")
    fast = preset("fast")
    assert fast.n_step == 3 and fast.dueling and fast.exploration_rate_decay < c.exploration_rate_decay
    with pytest.raises(ValueError, match="unknown Mario preset"):
        preset("turbo")


def test_reward_scale_applies_to_what_is_learned_only():
    agent = _agent(reward_scale=0.1)
    state = np.zeros((4, 84, 84), np.uint8)
    agent.cache(state, state, 1, 15.0, False)
    agent.cache(state, state, 0, -4.0, True)
    batch = agent.memory.transitions(np.array([1, 2]))
    assert batch["reward"].tolist() == pytest.approx([1.5, -0.4])
    assert MarioConfig().reward_scale == 1.0 and preset("fast").reward_scale == 0.1


def test_bfloat16_target_copy_gives_autocasts_q_values_and_follows_syncs():
    """Q_target's weights are cast to bfloat16 once per sync, not once per forward: same Q values."""
    from rlcore.mario.net import MarioNet

    torch.manual_seed(0)
    net = MarioNet((4, 84, 84), 2, dueling=True).use_channels_last().use_bf16()
    states = torch.randint(0, 256, (6, 4, 84, 84), dtype=torch.uint8)

    def autocast_target():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            return net.target(net.prepare(states))

    autocast_target()  # oneDNN's first call may pick another kernel: compare warm calls
    with torch.no_grad(), net.autocast():  # the learner's region
        before = net(states, model="target")
    assert torch.equal(before, autocast_target()) and before.dtype == torch.float32
    with torch.no_grad():
        for p in net.online.parameters():
            p.add_(0.01)
    net.target.load_state_dict(net.online.state_dict())  # the sync
    with torch.no_grad(), net.autocast():
        after = net(states, model="target")
    assert torch.equal(after, autocast_target()) and not torch.equal(after, before)
    assert all(t.dtype == torch.float32 for t in net.state_dict().values())  # the cast copy is not saved
    assert net.state_dict().keys() == MarioNet((4, 84, 84), 2, dueling=True).state_dict().keys()


def test_bfloat16_runs_only_in_the_learners_region():
    """Acting, evaluation and play-back run in float32 (exact, and faster on small batches); a
    learning update's forwards run in bfloat16."""
    torch.manual_seed(0)
    agent = _agent(precision="bfloat16")
    fp32 = _agent(precision="float32")
    fp32.net.load_state_dict(agent.net.state_dict())
    states = torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8)
    with torch.no_grad():
        outside = agent.net(states, model="online")
        assert torch.equal(outside, fp32.net(states, model="online"))
        with agent.net.autocast():
            inside = agent.net(states, model="online")
    assert not torch.equal(inside, outside)  # bfloat16 hidden layers: close, not equal
    torch.testing.assert_close(inside, outside, rtol=0.05, atol=0.05)
    assert agent.net.prepare(states).dtype == torch.float32
    with agent.net.autocast():
        assert agent.net.prepare(states).dtype == torch.bfloat16


def test_act_decays_epsilon_per_step_down_to_its_minimum():
    agent = _agent(exploration_rate_decay=0.9, exploration_rate_min=0.2)
    state = np.zeros((4, 84, 84), np.uint8)
    actions = {agent.act(state) for _ in range(40)}
    assert agent.curr_step == 40 and agent.exploration_rate == pytest.approx(0.2)
    assert actions <= {0, 1}
    agent.exploration_rate = agent.exploration_rate_min = 0.0  # greedy: the online network's argmax
    _constant_q(agent.net.online, [0.0, 3.0])
    assert agent.act(state) == 1
    batch = agent.act(np.zeros((3, 4, 84, 84), np.uint8))  # vector envs: one action per state
    assert list(batch) == [1, 1, 1] and agent.curr_step == 44


def _repeat_rate(actions: np.ndarray) -> float:
    """How often an env's action is the one it took the step before (actions: steps x envs)."""
    return float(np.mean(actions[1:] == actions[:-1]))


def test_ez_greedy_holds_a_random_action_for_zeta_distributed_steps_reproducibly():
    from rlcore.mario.agent import hold_lengths

    probs = hold_lengths(2.0)
    assert (
        len(probs) == 100
        and probs.sum() == pytest.approx(1.0)
        and probs[0] == pytest.approx(0.6116, abs=1e-4)
    )
    states = np.zeros((3, 4, 84, 84), np.uint8)
    runs = {}
    for repeat in (0.0, 2.0, 2.0):
        agent = _agent(
            actions="right_only", exploration_rate=1.0, exploration_rate_min=1.0, exploration_repeat=repeat
        )
        runs.setdefault(repeat, []).append(np.array([agent.act(states) for _ in range(2000)]))
    assert _repeat_rate(runs[0.0][0]) < 0.25  # one step each: 5 actions, the same again 1 time in 5
    assert _repeat_rate(runs[2.0][0]) > 0.6  # held: P(n > 1) = 0.39 of the holds, and every held step repeats
    assert (runs[2.0][0] == runs[2.0][1]).all()  # the same seed, the same holds
    greedy = _agent(exploration_rate=0.0, exploration_rate_min=0.0, exploration_repeat=2.0)
    _constant_q(greedy.net.online, [0.0, 3.0])
    assert {greedy.act(states[0]) for _ in range(50)} == {1}  # epsilon 0: no hold ever starts


def test_the_ray_workers_policy_holds_random_actions_as_the_learner_does():
    from rlcore.mario.distributed import ExplorationPolicy

    agent = _agent(actions="right_only")
    state = torch.zeros((4, 84, 84), dtype=torch.uint8)
    rates = []
    for repeat in (0.0, 2.0):
        policy = ExplorationPolicy(agent.net.online, agent.action_dim, True, epsilon=1.0, repeat=repeat)
        torch.manual_seed(0)
        rates.append(_repeat_rate(np.array([int(policy(state)) for _ in range(1000)])))
    assert rates[0] < 0.25 < 0.6 < rates[1], rates


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_td_target_is_double_dqn_by_hand(precision):
    agent = _agent(gamma=0.9, precision=precision)  # bfloat16: the output layer stays float32
    _constant_q(agent.net.online, [0.0, 5.0])  # online picks action 1 ...
    _constant_q(agent.net.target, [10.0, 2.0])  # ... and the target values it (2), not its own max (10)
    reward = torch.tensor([1.0, -2.0, 0.5])
    done = torch.tensor([False, True, False])
    next_state = torch.zeros((3, 4, 84, 84), dtype=torch.uint8)
    with agent.net.autocast():  # the learner's region (bfloat16 runs only there)
        target = agent.td_target(reward, next_state, done)
    torch.testing.assert_close(target, torch.tensor([1.0 + 0.9 * 2.0, -2.0, 0.5 + 0.9 * 2.0]))
    agent3 = _agent(
        gamma=0.9, n_step=3, precision=precision
    )  # n-step: the bootstrap is discounted by gamma^n
    _constant_q(agent3.net.online, [0.0, 5.0])
    _constant_q(agent3.net.target, [10.0, 2.0])
    with agent3.net.autocast():
        torch.testing.assert_close(
            agent3.td_target(reward, next_state, done),
            torch.tensor([1.0 + 0.729 * 2.0, -2.0, 0.5 + 0.729 * 2.0]),
        )
    action = torch.tensor([1, 0, 1])
    with agent.net.autocast():
        estimate = agent.td_estimate(next_state, action)
    assert estimate.dtype == torch.float32 and estimate.requires_grad
    torch.testing.assert_close(estimate, torch.tensor([5.0, 0.0, 5.0]))


def test_learn_follows_the_tutorial_schedule(monkeypatch):
    agent = _agent(burnin=12, learn_every=3, sync_every=7)
    _fill(agent, 5)  # enough transitions for a batch
    agent.curr_step = 0
    updates, syncs = [], []
    monkeypatch.setattr(agent, "learn_step", lambda: (updates.append(agent.curr_step), (1.0, 0.5))[1])
    monkeypatch.setattr(agent, "sync_Q_target", lambda: syncs.append(agent.curr_step))
    for _ in range(30):
        agent.curr_step += 1
        q, loss = agent.learn()
        assert (loss is not None) == (agent.curr_step >= 12 and agent.curr_step % 3 == 0)
    assert updates == [12, 15, 18, 21, 24, 27, 30] and syncs == [7, 14, 21, 28]
    updates.clear()
    agent.curr_step += 6  # a vector step of 6 envs: the same updates as 6 single steps
    agent.learn(new_steps=6)
    assert len(updates) == 2


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_learning_updates_only_the_online_network_and_reduces_the_loss(precision):
    torch.manual_seed(0)
    agent = _agent(batch_size=16, lr=1e-3, precision=precision)
    _fill(agent, 300)
    target_before = {k: v.clone() for k, v in agent.net.target.state_dict().items()}
    online_before = agent.net.online[0].weight.detach().clone()
    losses = [agent.learn_step()[1] for _ in range(30)]
    assert all(np.isfinite(losses))
    assert not torch.equal(online_before, agent.net.online[0].weight)
    for k, v in agent.net.target.state_dict().items():
        torch.testing.assert_close(v, target_before[k])
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    agent.sync_Q_target()
    for (k, v), w in zip(agent.net.target.state_dict().items(), agent.net.online.state_dict().values()):
        torch.testing.assert_close(v, w)


def test_save_load_round_trip(tmp_path):
    agent = _agent(dueling=True)
    _fill(agent, 100)
    agent.exploration_rate = 0.4321
    agent.save(tmp_path / "ckpt")
    loaded = Mario.load(tmp_path / "ckpt")
    assert loaded.config == agent.config and loaded.curr_step == 100
    assert loaded.exploration_rate == pytest.approx(0.4321)
    states = torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8)
    torch.testing.assert_close(loaded.net(states, "online"), agent.net(states, "online"))
    torch.testing.assert_close(loaded.net(states, "target"), agent.net(states, "online"))
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]


@pytest.mark.parametrize(
    "change, expect",
    [
        ({"dueling": True}, "weights do not match"),
        ({"actions": "simple"}, "has shape"),
    ],
)
def test_checkpoint_not_matching_its_config_is_a_one_line_error(tmp_path, change, expect):
    _agent().save(tmp_path / "ckpt")
    config_file = tmp_path / "ckpt" / "config.json"
    document = json.loads(config_file.read_text())
    document["config"].update(change)
    document.pop("action_dim")
    config_file.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match=expect) as err:
        Mario.load(tmp_path / "ckpt")
    assert "\n" not in str(err.value) and "model.safetensors" in str(err.value)


def test_unknown_config_field_is_a_one_line_error(tmp_path):
    _agent().save(tmp_path / "ckpt")
    config_file = tmp_path / "ckpt" / "config.json"
    document = json.loads(config_file.read_text())
    document["config"]["warp_zone"] = 4
    config_file.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="warp_zone"):
        Mario.load(tmp_path / "ckpt")


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_q_target_on_the_helper_thread_gives_the_same_updates(precision):
    """The trainer's helper thread (TrainingRun.target_thread) only moves Q_target's forward to another
    thread: the same losses, Q estimates and weights, bit for bit."""
    from concurrent.futures import ThreadPoolExecutor

    agents = []
    for _ in range(2):
        torch.manual_seed(0)
        agent = _agent(batch_size=16, lr=1e-3, precision=precision, seed=3)
        _fill(agent, 200)
        agent.net.target[0].weight.data.mul_(0.5)  # a target that differs from the online network
        agents.append(agent)
    helper = ThreadPoolExecutor(1)
    calls = []
    submit = helper.submit
    helper.submit = lambda *args: (calls.append(args[0].__name__), submit(*args))[1]
    agents[1].target_thread = helper
    try:
        results = [[a.learn_step() for _ in range(4)] for a in agents]
    finally:
        helper.shutdown()
    assert calls == ["prepare_and_target_values"] * 4  # the helper did run Q_target
    assert results[0] == results[1]
    for p, q in zip(agents[0].net.online.parameters(), agents[1].net.online.parameters()):
        assert torch.equal(p, q)


def _joypad(sticky: float, seed: int, chosen: list[int]) -> list[list[int]]:
    """The action of every emulator frame, step by step, when `chosen` is asked for."""
    env = make_fake_env(sticky=sticky, min_frames=100_000, max_frames=100_000)
    env.reset(seed=seed)
    frames = []
    for action in chosen:
        env.unwrapped.joypad.clear()
        env.step(action)
        frames.append(list(env.unwrapped.joypad))
        assert env.last_action == frames[-1][-1] and env.delayed_frames == sum(
            a != action for a in frames[-1]
        )
    return frames


def test_sticky_actions_delay_each_new_action_per_frame_as_ale_v5_reproducibly_per_seed():
    chosen = [i % 2 for i in range(4000)]  # alternating: every delayed frame is visible
    assert _joypad(0.0, 0, chosen) == [[a] * SKIP for a in chosen]
    frames = _joypad(0.25, 0, chosen)
    assert frames[0] == [chosen[0]] * SKIP  # no previous buttons after a reset: nothing to keep
    delays = []
    for previous, step, action in zip(frames, frames[1:], chosen[1:]):
        late = next((k for k, a in enumerate(step) if a == action), SKIP)
        assert step[:late] == [previous[-1]] * late  # the previous frame's buttons, then the new action
        assert step[late:] == [action] * (SKIP - late)  # once it starts it holds (it is the previous then)
        delays.append(late)
    counts = np.bincount(delays, minlength=SKIP + 1) / len(delays)
    expected = [0.75 * 0.25**k for k in range(SKIP)] + [0.25**SKIP]  # ALE v5: late by k with (1 - p) p^k
    np.testing.assert_allclose(counts, expected, atol=0.025)
    assert _joypad(0.25, 0, chosen[:200]) == frames[:200]  # same seed, same frames
    assert _joypad(0.25, 1, chosen[:200]) != frames[:200]


def test_sticky_share_plays_that_share_of_training_episodes_with_sticky_actions():
    from rlcore.mario.config import MarioConfig
    from rlcore.mario.train import worker_env_factory

    env = make_fake_env(sticky=0.5, sticky_share=0.3, min_frames=100_000, max_frames=100_000)
    env.reset(seed=0)
    delayed = []  # per episode: frames that kept the previous buttons in 20 alternating steps
    for _ in range(200):
        late = 0
        for i in range(20):
            env.step(i % 2)
            late += env.delayed_frames
        delayed.append(late)
        env.reset()
    share = np.mean(np.array(delayed) > 0)
    # 20 steps at p 0.5: a sticky episode has late frames (but 1 in 2^19), the others none
    assert 0.2 < share < 0.4
    config = MarioConfig(sticky=0.25, sticky_share=0.3)
    worker = worker_env_factory(config)()  # what a training run's workers play
    try:
        assert (worker.sticky, worker.sticky_share) == (0.25, 0.3)
    finally:
        worker.close()
    with pytest.raises(ValueError, match="sticky_share must be a share in"):
        make_fake_env(sticky=0.25, sticky_share=1.5)
    with pytest.raises(ValueError, match="sticky"):
        make_fake_env(sticky=1.0)


def test_prioritized_replay_weights_the_loss_and_stores_td_errors_as_priorities():
    torch.manual_seed(0)
    agent = _agent(batch_size=16, prioritized=True, priority_alpha=1.0, priority_beta=0.4, max_steps=1000)
    _fill(agent, 500)
    assert agent.curr_step == 500
    seen = {}
    sample, update = agent.memory.sample, agent.update_Q_online

    def spy_sample(*args):
        seen["batch"] = sample(*args)
        return seen["batch"]

    def spy_update(td_est, td_tgt, weight=None, extra=None):
        seen.update(td_est=td_est.detach().clone(), td_tgt=td_tgt.clone(), weight=weight)
        return update(td_est, td_tgt, weight, extra)

    agent.memory.sample, agent.update_Q_online = spy_sample, spy_update
    _, loss = agent.learn_step()
    rows, weight = seen["batch"]["rows"], seen["batch"]["weight"]
    assert agent.memory.sampler.beta == pytest.approx(0.4 + 0.6 * 500 / 1000)  # annealed towards 1
    assert seen["weight"] is weight and weight.max() == 1 and weight.min() > 0
    td_error = seen["td_tgt"] - seen["td_est"]
    per_sample = torch.nn.functional.smooth_l1_loss(seen["td_est"], seen["td_tgt"], reduction="none")
    assert loss == pytest.approx(float((weight * per_sample).mean()), rel=1e-5)
    # alpha 1: the sum tree holds |TD error| + eps for each row just learned from (the last write wins)
    last = {int(r): float(abs(e)) for r, e in zip(rows, td_error)}
    stored = agent.memory.sampler._sum_tree[torch.tensor(list(last))]
    np.testing.assert_allclose(np.asarray(stored), list(last.values()), rtol=1e-4, atol=1e-6)


def test_random_shift_augments_the_learners_states_only():
    plain, shifted = _agent(batch_size=8), _agent(batch_size=8, random_shift=4)
    for agent in (plain, shifted):
        _fill(agent, 200)
    original, augmented = plain._recall_batch(), shifted._recall_batch()
    assert torch.equal(original["rows"], augmented["rows"]) and torch.equal(
        original["action"], augmented["action"]
    )
    assert not torch.equal(original["state"], augmented["state"])
    rng = np.random.default_rng([0, 1])  # the agent's augmentation stream
    assert torch.equal(augmented["state"], random_shift(original["state"], 4, rng))
    assert torch.equal(augmented["next_state"], random_shift(original["next_state"], 4, rng))


def test_noisy_nets_explore_in_training_and_play_their_mean_weights_elsewhere():
    torch.manual_seed(0)
    agent = _agent(noisy=True, dueling=True, exploration_rate=0.0, exploration_rate_min=0.0, batch_size=8)
    layer = agent.net.online[-1].advantage[2]  # the action outputs, a NoisyNet layer
    states = np.random.default_rng(0).integers(0, 256, (16, 4, 84, 84), dtype=np.uint8)
    mean_q = agent.q_values(states)
    expected = agent.net.online[:-1](agent.net.prepare(torch.as_tensor(states)))  # by hand, from the means
    head = agent.net.online[-1]
    with torch.no_grad():
        advantage = torch.nn.functional.linear(
            torch.relu(
                torch.nn.functional.linear(expected, head.advantage[0].weight_mu, head.advantage[0].bias_mu)
            ),
            layer.weight_mu,
            layer.bias_mu,
        )
        value = torch.nn.functional.linear(
            torch.relu(torch.nn.functional.linear(expected, head.value[0].weight_mu, head.value[0].bias_mu)),
            head.value[2].weight_mu,
            head.value[2].bias_mu,
        )
    torch.testing.assert_close(torch.tensor(mean_q), value + advantage - advantage.mean(1, keepdim=True))
    greedy = agent.greedy_actions(states)
    chosen = []
    for _ in range(10):  # epsilon 0: only the noise makes acting differ from the mean's greedy choice
        agent.net.resample_noise()
        chosen.append(agent.act(states))
    assert any((actions != greedy).any() for actions in chosen)
    assert (
        np.array_equal(agent.q_values(states), mean_q) and not agent.net.training
    )  # acting left no noise on

    _fill(agent, 200)
    sample, sigma = layer.weight_epsilon.clone(), layer.weight_sigma.detach().clone()
    agent.learn_step()
    assert not torch.equal(layer.weight_epsilon, sample)  # a new noise sample after the update
    assert not torch.equal(layer.weight_sigma, sigma)  # the noise scale is learnt

    plain = _agent(exploration_rate=0.0, exploration_rate_min=0.0)
    assert all(np.array_equal(plain.act(states), plain.greedy_actions(states)) for _ in range(3))


def test_a_noisy_checkpoint_holds_means_and_scales_but_no_noise_sample_and_loads_the_same_policy(tmp_path):
    from safetensors import safe_open

    torch.manual_seed(0)
    agent = _agent(noisy=True)
    _fill(agent, 200)
    agent.learn_step()  # sigmas moved from their initial values
    agent.save(tmp_path / "ckpt")
    with safe_open(str(tmp_path / "ckpt" / "model.safetensors"), "pt") as weights:
        names = set(weights.keys())
    assert {"7.weight_mu", "7.weight_sigma", "9.bias_mu", "9.bias_sigma"} <= names
    assert not any("epsilon" in name for name in names)
    loaded = Mario.load(tmp_path / "ckpt")
    assert loaded.config.noisy and not loaded.net.training
    torch.testing.assert_close(
        loaded.net.online.state_dict()["9.weight_sigma"], agent.net.online.state_dict()["9.weight_sigma"]
    )
    states = np.random.default_rng(1).integers(0, 256, (8, 4, 84, 84), dtype=np.uint8)
    np.testing.assert_array_equal(loaded.q_values(states), agent.q_values(states))  # the same mean weights


def test_the_ray_workers_policy_drops_its_hold_when_a_new_episode_starts():
    from rlcore.mario.distributed import ExplorationPolicy

    agent = _agent()
    _constant_q(agent.net.online, [0.0, 3.0])  # greedy: action 1
    state = torch.zeros((4, 84, 84), dtype=torch.uint8)
    policy = ExplorationPolicy(agent.net.online, agent.action_dim, True, epsilon=1.0, repeat=1.01)
    torch.manual_seed(0)
    while not (policy.hold_left > 5 and int(policy.held_action) == 0):  # a long hold of action 0
        policy(state)
    policy.epsilon.fill_(0.0)
    assert int(policy(state, torch.tensor([False]))) == 0  # the episode goes on: the hold too
    assert int(policy(state, torch.tensor([True]))) == 1  # its first step ("is_init"): the policy's own
    assert policy.hold_left == 0
