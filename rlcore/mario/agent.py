"""The tutorial's `Mario` agent: act, cache, recall, td_estimate, td_target, learn, save, load.

Same algorithm and defaults as the tutorial's Double DQN; the differences are engineering:
uint8 states (the network normalises), a compact replay memory, NHWC convolutions, batched acting
for vector envs, and safetensors checkpoints instead of torch.save pickles.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlcore import checkpoint as ckpt
from rlcore.config import to_dict
from rlcore.mario.config import MarioConfig, resolve_precision
from rlcore.mario.env import env_id, resolve_actions
from rlcore.mario.net import MarioNet
from rlcore.mario.replay import ReplayMemory, random_shift

SYSTEM = "mario"
ALGORITHM = "Double DQN"
STATE_DIM = (4, 84, 84)
TRANSITION = ("state", "next_state", "action", "reward", "done")  # recall's order
DEMO_BATCH, DEMO_MARGIN = 8, 0.8  # DQfD's margin loss: demonstration states per update, the margin
HOLD_MAX = 100  # ez-greedy's longest hold of a random action, agent steps (its zeta is truncated here)


def hold_lengths(mu: float, longest: int = HOLD_MAX) -> np.ndarray:
    """ez-greedy's distribution of how long a random action is held: P(n) ~ n^-mu for n = 1..longest
    (index n - 1), a truncated zeta (Dabney, Ostrovski & Barreto 2021, "Temporally-extended epsilon-greedy
    exploration")."""
    weights = np.arange(1, longest + 1, dtype=np.float64) ** -mu
    return weights / weights.sum()


class Mario:
    def __init__(
        self,
        state_dim: tuple[int, int, int] = STATE_DIM,
        action_dim: int | None = None,
        save_dir: str | os.PathLike | None = None,
        config: MarioConfig | None = None,
        device: str | torch.device = "cpu",
        memory: bool = True,
    ):
        self.device = torch.device(device)
        # precision "auto" is decided here, for this device, and saved resolved (with why) in config.json
        config, self.precision_choice = resolve_precision(config or MarioConfig(), self.device)
        self.config = config
        self.state_dim = tuple(state_dim)
        self.action_dim = action_dim or len(resolve_actions(config.actions))
        self.save_dir = Path(save_dir) if save_dir is not None else None

        # Mario's DNN to predict the most optimal action
        self.net = self._make_net(config)

        self.exploration_rate = config.exploration_rate
        self.exploration_rate_decay = config.exploration_rate_decay
        self.exploration_rate_min = config.exploration_rate_min
        self.curr_step = 0
        self.rng = np.random.default_rng(config.seed)
        # ez-greedy (config.exploration_repeat): per env, the random action held and the steps it has left
        self.hold_probs = hold_lengths(config.exploration_repeat) if config.exploration_repeat else None
        self.held_action = np.zeros(0, np.int64)
        self.hold_left = np.zeros(0, np.int64)

        self.memory = self._make_memory(config) if memory else None
        self.batch_size = config.batch_size
        # its own stream: acting draws stay the same
        self.augment_rng = np.random.default_rng([config.seed, 1])
        self.gamma = config.gamma

        # fused: the same Adam update in one kernel (several times quicker on CPU: bench/README.md)
        self.optimizer = torch.optim.Adam(self.net.online.parameters(), lr=config.lr, fused=True)
        self.loss_fn = torch.nn.SmoothL1Loss()

        # an executor whose one thread runs Q_target's forward of each update while this thread runs
        # Q_online's (TrainingRun sets it up, on the CPU of the emulator workers; None: all here)
        self.target_thread: Executor | None = None

        # a demonstration's (states, actions) for DQfD's margin loss (config.demo_weight; TrainingRun sets it)
        self.demo: tuple[torch.Tensor, torch.Tensor] | None = None

        self.burnin = config.burnin  # min. experiences before training
        self.learn_every = config.learn_every  # no. of experiences between updates to Q_online
        self.sync_every = config.sync_every  # no. of experiences between Q_target & Q_online sync

    def _make_net(self, config: MarioConfig) -> MarioNet:
        """The online and target networks, on this agent's device, in the config's layout and precision."""
        net = (
            MarioNet(self.state_dim, self.action_dim, dueling=config.dueling, noisy=config.noisy)
            .float()
            .to(self.device)
        )
        if config.channels_last:
            net.use_channels_last()
        if config.precision not in ("float32", "bfloat16"):
            raise ValueError(f"precision must be float32, bfloat16 or auto, got {config.precision!r}")
        net.use_bf16(config.precision == "bfloat16")
        return net

    def _make_memory(self, config: MarioConfig) -> ReplayMemory:
        """The replay memory of `config`'s size, n-step returns and priorities, for this agent's frames."""
        return ReplayMemory(
            config.memory_size,
            frame_shape=self.state_dim[1:],
            stack=self.state_dim[0],
            n_step=config.n_step,
            num_envs=config.num_envs,
            seed=config.seed,
            alpha=config.priority_alpha if config.prioritized else 0.0,
            beta=config.priority_beta,
        )

    # ------------------------------------------------------------------------------------ act
    def _as_batch(self, state: Any) -> torch.Tensor:
        state = torch.as_tensor(np.asarray(state))
        if state.dim() == len(self.state_dim):
            state = state.unsqueeze(0)
        return state.to(self.device)

    @torch.no_grad()
    def q_values(self, states: Any) -> np.ndarray:
        """Q_online(s, a) of every action, (batch, actions) float32, for a batch (or a single state) of uint8
        stacks (a noisy network's mean weights, except inside `act`)."""
        return self.net(self._as_batch(states), model="online").float().cpu().numpy()

    def greedy_actions(self, states: Any) -> np.ndarray:
        """argmax_a Q_online(s, a) for a batch (or a single state) of uint8 stacks."""
        return self.q_values(states).argmax(axis=1)

    def act(self, state: Any) -> int | np.ndarray:
        """Given a state (or a batch of states from vector envs), choose epsilon-greedy action(s)
        and advance the step counter (by one per state)."""
        single = np.asarray(state).ndim == len(self.state_dim)
        n = 1 if single else len(state)
        explore = self.rng.random(n) < self.exploration_rate
        actions = self.rng.integers(self.action_dim, size=n)
        if self.hold_probs is not None:
            explore, actions = self._hold(explore, actions)
        if not explore.all():  # EXPLOIT (with NoisyNet layers: greedy on this update's noise sample)
            with self.net.exploring():
                greedy = self.greedy_actions(state)
            actions = np.where(explore, actions, greedy)
        self.count_steps(n)
        return int(actions[0]) if single else actions

    def _hold(self, explore: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ez-greedy: an env holding a random action goes on with it; one that explores afresh draws how
        long it will hold its new random action -> (which envs act at random, their actions)."""
        n = len(explore)
        if len(self.hold_left) != n:
            self.held_action, self.hold_left = np.zeros(n, np.int64), np.zeros(n, np.int64)
        holding = self.hold_left > 0
        fresh = explore & ~holding
        self.held_action[fresh] = actions[fresh]
        self.hold_left[fresh] = (
            self.rng.choice(len(self.hold_probs), size=int(fresh.sum()), p=self.hold_probs) + 1
        )
        explore = holding | fresh
        self.hold_left[explore] -= 1
        return explore, np.where(explore, self.held_action, actions)

    def end_holds(self, ended: np.ndarray) -> None:
        """The envs whose episode just ended drop the random action they held (a hold belongs to its
        episode: the next one starts on the policy's own actions)."""
        if len(self.hold_left) == len(ended):
            self.hold_left[np.asarray(ended, bool)] = 0

    def count_steps(self, n: int) -> None:
        """Advance the schedules by `n` agent steps (taken here by `act`, or by remote workers)."""
        # decrease exploration_rate
        self.exploration_rate *= self.exploration_rate_decay**n
        self.exploration_rate = max(self.exploration_rate_min, self.exploration_rate)
        # increment step
        self.curr_step += n

    # ---------------------------------------------------------------------------- memory
    def cache(self, state, next_state, action, reward, done, *, end: bool | None = None, env_index: int = 0):
        """Store the experience to self.memory (one new frame; see replay.py),
        reward scaled by `reward_scale`."""
        self.memory.cache(
            state,
            next_state,
            action,
            float(reward) * self.config.reward_scale,
            done,
            end=end,
            env_index=env_index,
        )

    def recall(self):
        """Retrieve a batch of experiences from memory."""
        batch = self._recall_batch()
        return tuple(batch[k] for k in TRANSITION)

    def _recall_batch(self) -> dict[str, torch.Tensor]:
        """recall's batch as a dict, with its replay "rows" and, with prioritized replay, the "weight"s;
        states shifted at random with `random_shift`."""
        if self.config.prioritized and self.config.max_steps:  # set_beta keeps it at 1 past max_steps
            progress = self.curr_step / self.config.max_steps
            self.memory.set_beta(self.config.priority_beta + (1.0 - self.config.priority_beta) * progress)
        batch = self.memory.sample(self.batch_size, self.gamma)
        for key in ("state", "next_state"):  # DrQ shifts each independently
            batch[key] = random_shift(batch[key], self.config.random_shift, self.augment_rng)
        return {k: v if k == "rows" else v.to(self.device) for k, v in batch.items()}

    # ---------------------------------------------------------------------------- learn
    def td_estimate(self, state, action):
        current_Q = self.net(state, model="online")[torch.arange(len(action), device=action.device), action]
        return current_Q  # Q_online(s,a)

    @torch.no_grad()
    def td_target(self, reward, next_state, done, next_target_Q: torch.Tensor | None = None):
        """r + gamma^n * Q_target(s', argmax_a Q_online(s', a)), no bootstrap when done.
        `next_target_Q`: Q_target(s') when already computed (on the helper thread, see learn_step)."""
        next_state = self.net.prepare(next_state)  # once for both networks
        next_state_Q = self.net(next_state, model="online")
        best_action = torch.argmax(next_state_Q, dim=1)
        all_target_Q = next_target_Q if next_target_Q is not None else self.net(next_state, model="target")
        next_Q = all_target_Q[torch.arange(len(best_action), device=best_action.device), best_action]
        discount = self.gamma**self.config.n_step
        return (reward + (1 - done.float()) * discount * next_Q).float()

    def demo_margin_loss(self) -> torch.Tensor:
        """DQfD's large-margin loss on DEMO_BATCH demonstration states: max_a [Q(s,a) + l(a_E, a)] - Q(s,a_E),
        l = DEMO_MARGIN for every action but the demonstrated a_E (Hester et al. 2018, eq. 2)."""
        states, actions = self.demo
        rows = torch.from_numpy(self.augment_rng.integers(len(actions), size=DEMO_BATCH))
        q = self.net(states[rows].to(self.device), model="online").float()
        chosen = actions[rows].to(self.device)
        margin = torch.full_like(q, DEMO_MARGIN)
        margin[torch.arange(len(chosen), device=q.device), chosen] = 0.0
        return ((q + margin).max(dim=1).values - q.gather(1, chosen[:, None])[:, 0]).mean()

    def update_Q_online(
        self, td_estimate, td_target, weight: torch.Tensor | None = None, extra: torch.Tensor | None = None
    ):
        """One Adam step on the SmoothL1 TD loss (plus `extra`, a loss term such as DQfD's margin);
        `weight`: prioritized replay's importance weights."""
        if weight is None:
            loss = self.loss_fn(td_estimate, td_target)
        else:
            loss = (
                weight * torch.nn.functional.smooth_l1_loss(td_estimate, td_target, reduction="none")
            ).mean()
        if extra is not None:
            loss = loss + extra
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def sync_Q_target(self):
        self.net.target.load_state_dict(self.net.online.state_dict())

    def learn_step(self):
        """One Double DQN update from a sampled batch -> (mean Q estimate, loss)."""
        batch = self._recall_batch()
        state, next_state, action, reward, done = (batch[k] for k in TRANSITION)
        with self.net.exploring(), self.net.autocast(self.device.type):  # bfloat16 option: weights cast once
            pending = (
                None
                if self.target_thread is None  # s' prepared and Q_target(s') on the helper meanwhile
                else self.target_thread.submit(
                    self.net.prepare_and_target_values, next_state, self.device.type
                )
            )
            td_est = self.td_estimate(state, action)  # Get TD Estimate
            next_state, next_target_Q = (next_state, None) if pending is None else pending.result()
            td_tgt = self.td_target(reward, next_state, done, next_target_Q)  # Get TD Target
            margin = self.demo_margin_loss() if self.demo is not None and self.config.demo_weight else None
        loss = self.update_Q_online(
            td_est,
            td_tgt,
            batch.get("weight"),
            extra=None if margin is None else self.config.demo_weight * margin,
        )  # Backpropagate loss through Q_online
        if self.config.noisy:  # NoisyNet: a new sample after every optimisation step (Fortunato et al. 3.1)
            self.net.resample_noise()
        self.memory.update_priorities(batch["rows"].numpy(), td_tgt - td_est.detach())
        return td_est.mean().item(), loss

    def learn(self, new_steps: int = 1):
        """The tutorial's schedule for the `new_steps` agent steps that `act` just counted: sync the
        target every sync_every steps, then after burnin update every learn_every steps.
        Returns (q, loss) of the last update, or (None, None) when none was due."""
        q = loss = None
        for step in range(self.curr_step - new_steps + 1, self.curr_step + 1):
            if step % self.sync_every == 0:
                self.sync_Q_target()
            if step < self.burnin or step % self.learn_every != 0:
                continue
            q, loss = self.learn_step()
        return q, loss

    # ---------------------------------------------------------------------------- save / load
    @property
    def env_id(self) -> str:
        return env_id(self.config.world, self.config.stage)

    def save(self, directory: str | os.PathLike | None = None, extra: dict[str, Any] | None = None) -> Path:
        """Write a checkpoint folder: model.safetensors (Q_online) + config.json (config,
        exploration rate, step)."""
        directory = Path(directory) if directory is not None else self.save_dir
        if directory is None:
            raise ValueError("Mario.save needs a directory (or a save_dir given to Mario)")
        state = {"exploration_rate": self.exploration_rate, "step": self.curr_step, **(extra or {})}
        document = {"action_dim": self.action_dim, "state": state}
        if self.precision_choice:
            document["precision_choice"] = self.precision_choice
        return ckpt.save_checkpoint(
            directory,
            system=SYSTEM,
            algorithm=ALGORITHM,
            env_id=self.env_id,
            config=to_dict(self.config),
            state_dict=self.net.online.state_dict(),
            extra=document,
        )

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike,
        device: str | torch.device = "cpu",
        memory: bool = False,
        **config_overrides,
    ) -> "Mario":
        """Rebuild the agent a checkpoint describes. Its config's bounds, its action count and the
        weights' header are checked before any network is built (a bad checkpoint costs no memory)."""
        config, document = ckpt.load_typed_config(directory, MarioConfig, SYSTEM, **config_overrides)
        file = ckpt.checkpoint_dir(directory) / ckpt.CONFIG_FILE
        try:
            actions = len(resolve_actions(config.actions))
        except ValueError as err:
            raise ckpt.CheckpointError(f"{file}: {err}") from None
        action_dim = document.get("action_dim", actions)
        if action_dim != actions:  # the head must match the joypad: one output per action of the set
            raise ckpt.CheckpointError(
                f"{file}: action_dim {ckpt.one_line(repr(action_dim), 40)}, but the action "
                f"set {config.actions!r} has {actions} actions"
            )
        ckpt.check_weights_file(
            directory,
            ckpt.meta_state_dict(
                lambda: MarioNet(STATE_DIM, action_dim, dueling=config.dueling, noisy=config.noisy).online
            ),
        )
        agent = cls(config=config, device=device, memory=memory, action_dim=action_dim)
        ckpt.load_weights_into(agent.net.online, directory, probe=torch.full((1, *STATE_DIM), 0.5))
        agent.sync_Q_target()
        state = document.get("state", {})
        with ckpt.reading(file):
            agent.exploration_rate = float(state.get("exploration_rate", agent.exploration_rate))
            agent.curr_step = int(state.get("step", 0))
        return agent
