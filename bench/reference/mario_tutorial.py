"""PyTorch's Mario Double DQN tutorial ("Train a Mario-playing RL agent", seed
/work/shared/seeds/000_*.txt), as written, on today's stack, instrumented for benchmarks.

The tutorial targets gym 0.26 + nes-py 8 + gym-super-mario-bros 7.4 + torchrl 0.3. Changes forced by
gymnasium 1.4 / nes-py 9 / gym-super-mario-bros 9 / torchrl 0.14 (each marked `# stack:` below):
- `import gym` -> `import gymnasium as gym` (gym is dead and crashes under NumPy 2); `Box` from
  `gymnasium.spaces`. The tutorial's wrappers keep their code and subclass the gymnasium classes.
- `gym_super_mario_bros.make(..., render_mode='rgb', apply_api_compatibility=True)` ->
  `make(..., render_mode="rgb_array")`: the env is natively Gymnasium (5-tuple step, (obs, info) reset).
- `FrameStack(env, num_stack=4)` (removed, it returned LazyFrames) -> `FrameStackObservation(env,
  stack_size=4)`, which returns one float32 ndarray (4, 84, 84) (`.__array__()` still works on it).
- FrameStackObservation writes the frames into a buffer of the inner observation space's dtype, so
  the tutorial's `Box(..., dtype=np.uint8)` in ResizeObservation would truncate the [0, 1] floats to
  0: that Box now says `np.float32` (LazyFrames ignored the declared dtype).
- Nothing else: the torchvision float-tensor transforms, SkipFrame, MarioNet, the Mario agent with
  its constants, `TensorDictReplayBuffer(LazyMemmapStorage(100000))` of float32 stacks, MetricLogger
  with its matplotlib plots, and the episode loop (which still unpacks `env.reset()`'s tuple through
  the tutorial's own `isinstance(state, tuple)` checks) are the tutorial's code.

Added for benchmarking only (tutorial values as defaults): `Mario(..., burnin=, capacity=,
scratch_dir=)`; the `measure_*` functions and `bytes_per_transition` at the bottom. Every measurement
keeps its memmap files and logs in a temporary directory that it removes. (The tutorial's unused
imports of PIL.Image, deque and random are left out.)

Timing caveat: torch's intra-op pool (2 threads here) stalls badly when the 2 cores are shared with
other busy processes: with load ~5, `measure_learner` gave 1.4 updates/s at 2 threads vs 9-13 at 1
thread, in one process. The functions leave torch's thread count as the caller set it; compare ours
and the tutorial's at the same setting, in one process, and print the load with the figures.
"""

import contextlib
import datetime
import io
import itertools
import tempfile
import time
from pathlib import Path

import gym_super_mario_bros
import gymnasium as gym  # stack: was `import gym` (gym 0.26)
import matplotlib.pyplot as plt
import numpy as np
import torch
from gymnasium.spaces import Box  # stack: was gym.spaces
from gymnasium.wrappers import FrameStackObservation  # stack: replaces gym.wrappers.FrameStack
from nes_py.wrappers import JoypadSpace
from tensordict import TensorDict
from torch import nn
from torchrl.data import LazyMemmapStorage, TensorDictReplayBuffer
from torchvision import transforms as T

STATE_DIM = (4, 84, 84)
ACTIONS = [["right"], ["right", "A"]]  # 0. walk right  1. jump right


# ---------------------------------------------------------------------------------------------
# Environment preprocessing (the tutorial's wrappers)
# ---------------------------------------------------------------------------------------------
class SkipFrame(gym.Wrapper):
    def __init__(self, env, skip):
        """Return only every `skip`-th frame"""
        super().__init__(env)
        self._skip = skip

    def step(self, action):
        """Repeat action, and sum reward"""
        total_reward = 0.0
        for i in range(self._skip):
            # Accumulate reward and repeat the same action
            obs, reward, done, trunk, info = self.env.step(action)
            total_reward += reward
            if done:
                break
        return obs, total_reward, done, trunk, info


class GrayScaleObservation(gym.ObservationWrapper):
    def __init__(self, env):
        super().__init__(env)
        obs_shape = self.observation_space.shape[:2]
        self.observation_space = Box(low=0, high=255, shape=obs_shape, dtype=np.uint8)

    def permute_orientation(self, observation):
        # permute [H, W, C] array to [C, H, W] tensor
        observation = np.transpose(observation, (2, 0, 1))
        observation = torch.tensor(observation.copy(), dtype=torch.float)
        return observation

    def observation(self, observation):
        observation = self.permute_orientation(observation)
        transform = T.Grayscale()
        observation = transform(observation)
        return observation


class ResizeObservation(gym.ObservationWrapper):
    def __init__(self, env, shape):
        super().__init__(env)
        if isinstance(shape, int):
            self.shape = (shape, shape)
        else:
            self.shape = tuple(shape)

        obs_shape = self.shape + self.observation_space.shape[2:]
        # stack: was dtype=np.uint8; FrameStackObservation stacks into this dtype (see docstring)
        self.observation_space = Box(low=0, high=255, shape=obs_shape, dtype=np.float32)

    def observation(self, observation):
        transforms = T.Compose(
            [T.Resize(self.shape, antialias=True), T.Normalize(0, 255)]
        )
        observation = transforms(observation).squeeze(0)
        return observation


def make_raw_env():
    """The bare emulator with the tutorial's two-action JoypadSpace (no preprocessing)."""
    # stack: was make(..., render_mode='rgb', apply_api_compatibility=True) on gym 0.26
    env = gym_super_mario_bros.make("SuperMarioBros-1-1-v0", render_mode="rgb_array")
    # Limit the action-space to
    #   0. walk right
    #   1. jump right
    env = JoypadSpace(env, ACTIONS)
    return env


def make_tutorial_env():
    """The tutorial's env: JoypadSpace, SkipFrame(4), GrayScale, Resize(84) + /255, stack 4 -> float32 (4, 84, 84)."""
    env = make_raw_env()
    # Apply Wrappers to environment
    env = SkipFrame(env, skip=4)
    env = GrayScaleObservation(env)
    env = ResizeObservation(env, shape=84)
    env = FrameStackObservation(env, stack_size=4)  # stack: was FrameStack(env, num_stack=4)
    return env


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------
class MarioNet(nn.Module):
    """mini CNN structure
    input -> (conv2d + relu) x 3 -> flatten -> (dense + relu) x 2 -> output
    """

    def __init__(self, input_dim, output_dim):
        super().__init__()
        c, h, w = input_dim

        if h != 84:
            raise ValueError(f"Expecting input height: 84, got: {h}")
        if w != 84:
            raise ValueError(f"Expecting input width: 84, got: {w}")

        self.online = self.__build_cnn(c, output_dim)

        self.target = self.__build_cnn(c, output_dim)
        self.target.load_state_dict(self.online.state_dict())

        # Q_target parameters are frozen.
        for p in self.target.parameters():
            p.requires_grad = False

    def forward(self, input, model):
        if model == "online":
            return self.online(input)
        elif model == "target":
            return self.target(input)

    def __build_cnn(self, c, output_dim):
        return nn.Sequential(
            nn.Conv2d(in_channels=c, out_channels=32, kernel_size=8, stride=4),
            nn.ReLU(),
            nn.Conv2d(in_channels=32, out_channels=64, kernel_size=4, stride=2),
            nn.ReLU(),
            nn.Conv2d(in_channels=64, out_channels=64, kernel_size=3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(3136, 512),
            nn.ReLU(),
            nn.Linear(512, output_dim),
        )


# ---------------------------------------------------------------------------------------------
# The agent: the tutorial's five `class Mario(Mario)` steps folded into one class, same code.
# ---------------------------------------------------------------------------------------------
class Mario:
    def __init__(
        self,
        state_dim,
        action_dim,
        save_dir,
        *,
        burnin=1e4,
        capacity=100000,
        scratch_dir=None,
    ):
        """`burnin`, `capacity` (replay size) and `scratch_dir` (memmap folder) are benchmark
        overrides; their defaults are the tutorial's values (scratch_dir=None is torchrl's default)."""
        # -- Act
        self.state_dim = state_dim
        self.action_dim = action_dim
        self.save_dir = save_dir

        self.device = "cuda" if torch.cuda.is_available() else "cpu"

        # Mario's DNN to predict the most optimal action - we implement this in the Learn section
        self.net = MarioNet(self.state_dim, self.action_dim).float()
        self.net = self.net.to(device=self.device)

        self.exploration_rate = 1
        self.exploration_rate_decay = 0.99999975
        self.exploration_rate_min = 0.1
        self.curr_step = 0

        self.save_every = 5e5  # no. of experiences between saving Mario Net

        # -- Cache and recall
        self.memory = TensorDictReplayBuffer(
            storage=LazyMemmapStorage(capacity, scratch_dir=scratch_dir, device=torch.device("cpu"))
        )
        self.batch_size = 32

        # -- TD estimate & TD target
        self.gamma = 0.9

        # -- Updating the model
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=0.00025)
        self.loss_fn = torch.nn.SmoothL1Loss()

        # -- All together
        self.burnin = burnin  # min. experiences before training
        self.learn_every = 3  # no. of experiences between updates to Q_online
        self.sync_every = 1e4  # no. of experiences between Q_target & Q_online sync

    def act(self, state):
        """
        Given a state, choose an epsilon-greedy action and update value of step.

        Inputs:
        state(``LazyFrame``): A single observation of the current state, dimension is (state_dim)
        Outputs:
        ``action_idx`` (``int``): An integer representing which action Mario will perform
        """
        # EXPLORE
        if np.random.rand() < self.exploration_rate:
            action_idx = np.random.randint(self.action_dim)

        # EXPLOIT
        else:
            state = state[0].__array__() if isinstance(state, tuple) else state.__array__()
            state = torch.tensor(state, device=self.device).unsqueeze(0)
            action_values = self.net(state, model="online")
            action_idx = torch.argmax(action_values, axis=1).item()

        # decrease exploration_rate
        self.exploration_rate *= self.exploration_rate_decay
        self.exploration_rate = max(self.exploration_rate_min, self.exploration_rate)

        # increment step
        self.curr_step += 1
        return action_idx

    def cache(self, state, next_state, action, reward, done):
        """
        Store the experience to self.memory (replay buffer)

        Inputs:
        state (``LazyFrame``),
        next_state (``LazyFrame``),
        action (``int``),
        reward (``float``),
        done(``bool``))
        """

        def first_if_tuple(x):
            return x[0] if isinstance(x, tuple) else x

        state = first_if_tuple(state).__array__()
        next_state = first_if_tuple(next_state).__array__()

        state = torch.tensor(state)
        next_state = torch.tensor(next_state)
        action = torch.tensor([action])
        reward = torch.tensor([reward])
        done = torch.tensor([done])

        # self.memory.append((state, next_state, action, reward, done,))
        self.memory.add(
            TensorDict(
                {"state": state, "next_state": next_state, "action": action, "reward": reward, "done": done},
                batch_size=[],
            )
        )

    def recall(self):
        """
        Retrieve a batch of experiences from memory
        """
        batch = self.memory.sample(self.batch_size).to(self.device)
        state, next_state, action, reward, done = (
            batch.get(key) for key in ("state", "next_state", "action", "reward", "done")
        )
        return state, next_state, action.squeeze(), reward.squeeze(), done.squeeze()

    def td_estimate(self, state, action):
        current_Q = self.net(state, model="online")[
            np.arange(0, self.batch_size), action
        ]  # Q_online(s,a)
        return current_Q

    @torch.no_grad()
    def td_target(self, reward, next_state, done):
        next_state_Q = self.net(next_state, model="online")
        best_action = torch.argmax(next_state_Q, axis=1)
        next_Q = self.net(next_state, model="target")[
            np.arange(0, self.batch_size), best_action
        ]
        return (reward + (1 - done.float()) * self.gamma * next_Q).float()

    def update_Q_online(self, td_estimate, td_target):
        loss = self.loss_fn(td_estimate, td_target)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def sync_Q_target(self):
        self.net.target.load_state_dict(self.net.online.state_dict())

    def save(self):
        save_path = (
            self.save_dir / f"mario_net_{int(self.curr_step // self.save_every)}.chkpt"
        )
        torch.save(
            dict(model=self.net.state_dict(), exploration_rate=self.exploration_rate),
            save_path,
        )
        print(f"MarioNet saved to {save_path} at step {self.curr_step}")

    def learn(self):
        if self.curr_step % self.sync_every == 0:
            self.sync_Q_target()

        if self.curr_step % self.save_every == 0:
            self.save()

        if self.curr_step < self.burnin:
            return None, None

        if self.curr_step % self.learn_every != 0:
            return None, None

        # Sample from memory
        state, next_state, action, reward, done = self.recall()

        # Get TD Estimate
        td_est = self.td_estimate(state, action)

        # Get TD Target
        td_tgt = self.td_target(reward, next_state, done)

        # Backpropagate loss through Q_online
        loss = self.update_Q_online(td_est, td_tgt)

        return (td_est.mean().item(), loss)


# ---------------------------------------------------------------------------------------------
# Logging (the tutorial's MetricLogger)
# ---------------------------------------------------------------------------------------------
class MetricLogger:
    def __init__(self, save_dir):
        self.save_log = save_dir / "log"
        with open(self.save_log, "w") as f:
            f.write(
                f"{'Episode':>8}{'Step':>8}{'Epsilon':>10}{'MeanReward':>15}"
                f"{'MeanLength':>15}{'MeanLoss':>15}{'MeanQValue':>15}"
                f"{'TimeDelta':>15}{'Time':>20}\n"
            )
        self.ep_rewards_plot = save_dir / "reward_plot.jpg"
        self.ep_lengths_plot = save_dir / "length_plot.jpg"
        self.ep_avg_losses_plot = save_dir / "loss_plot.jpg"
        self.ep_avg_qs_plot = save_dir / "q_plot.jpg"

        # History metrics
        self.ep_rewards = []
        self.ep_lengths = []
        self.ep_avg_losses = []
        self.ep_avg_qs = []

        # Moving averages, added for every call to record()
        self.moving_avg_ep_rewards = []
        self.moving_avg_ep_lengths = []
        self.moving_avg_ep_avg_losses = []
        self.moving_avg_ep_avg_qs = []

        # Current episode metric
        self.init_episode()

        # Timing
        self.record_time = time.time()

    def log_step(self, reward, loss, q):
        self.curr_ep_reward += reward
        self.curr_ep_length += 1
        if loss:
            self.curr_ep_loss += loss
            self.curr_ep_q += q
            self.curr_ep_loss_length += 1

    def log_episode(self):
        "Mark end of episode"
        self.ep_rewards.append(self.curr_ep_reward)
        self.ep_lengths.append(self.curr_ep_length)
        if self.curr_ep_loss_length == 0:
            ep_avg_loss = 0
            ep_avg_q = 0
        else:
            ep_avg_loss = np.round(self.curr_ep_loss / self.curr_ep_loss_length, 5)
            ep_avg_q = np.round(self.curr_ep_q / self.curr_ep_loss_length, 5)
        self.ep_avg_losses.append(ep_avg_loss)
        self.ep_avg_qs.append(ep_avg_q)

        self.init_episode()

    def init_episode(self):
        self.curr_ep_reward = 0.0
        self.curr_ep_length = 0
        self.curr_ep_loss = 0.0
        self.curr_ep_q = 0.0
        self.curr_ep_loss_length = 0

    def record(self, episode, epsilon, step):
        mean_ep_reward = np.round(np.mean(self.ep_rewards[-100:]), 3)
        mean_ep_length = np.round(np.mean(self.ep_lengths[-100:]), 3)
        mean_ep_loss = np.round(np.mean(self.ep_avg_losses[-100:]), 3)
        mean_ep_q = np.round(np.mean(self.ep_avg_qs[-100:]), 3)
        self.moving_avg_ep_rewards.append(mean_ep_reward)
        self.moving_avg_ep_lengths.append(mean_ep_length)
        self.moving_avg_ep_avg_losses.append(mean_ep_loss)
        self.moving_avg_ep_avg_qs.append(mean_ep_q)

        last_record_time = self.record_time
        self.record_time = time.time()
        time_since_last_record = np.round(self.record_time - last_record_time, 3)

        print(
            f"Episode {episode} - "
            f"Step {step} - "
            f"Epsilon {epsilon} - "
            f"Mean Reward {mean_ep_reward} - "
            f"Mean Length {mean_ep_length} - "
            f"Mean Loss {mean_ep_loss} - "
            f"Mean Q Value {mean_ep_q} - "
            f"Time Delta {time_since_last_record} - "
            f"Time {datetime.datetime.now().strftime('%Y-%m-%dT%H:%M:%S')}"
        )

        with open(self.save_log, "a") as f:
            f.write(
                f"{episode:8d}{step:8d}{epsilon:10.3f}"
                f"{mean_ep_reward:15.3f}{mean_ep_length:15.3f}{mean_ep_loss:15.3f}{mean_ep_q:15.3f}"
                f"{time_since_last_record:15.3f}"
                f"{datetime.datetime.now().strftime('%Y-%m-%dT%H:%M:%S'):>20}\n"
            )

        for metric in ["ep_lengths", "ep_avg_losses", "ep_avg_qs", "ep_rewards"]:
            plt.clf()
            plt.plot(getattr(self, f"moving_avg_{metric}"), label=f"moving_avg_{metric}")
            plt.legend()
            plt.savefig(getattr(self, f"{metric}_plot"))


# ---------------------------------------------------------------------------------------------
# Measurements for bench/ (not tutorial code)
# ---------------------------------------------------------------------------------------------
def _seed(seed):
    np.random.seed(seed)
    torch.manual_seed(seed)


def _random_steps_per_s(env, steps, seed):
    """Step `env` with uniformly random actions; time `steps` steps, resets at episode ends included."""
    env.action_space.seed(seed)
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    seconds = time.perf_counter() - start
    env.close()
    return steps / seconds


def measure_raw_env(steps: int = 1000, seed: int = 0) -> float:
    """Emulator frames/s: bare env + JoypadSpace, random actions (make and first reset not timed)."""
    return _random_steps_per_s(make_raw_env(), steps, seed)


def measure_env(steps: int = 300, seed: int = 0) -> float:
    """Agent steps/s of the tutorial's wrapped env (4 frames + preprocessing + stacking per step),
    random actions (make and first reset not timed)."""
    return _random_steps_per_s(make_tutorial_env(), steps, seed)


def bytes_per_transition() -> int:
    """Bytes one `Mario.cache()` takes in the tutorial's LazyMemmapStorage, read from the storage itself.

    That is 2 float32 (4, 84, 84) stacks (225,792) + action int64 + reward float32 + done bool +
    the int64 "index" TensorDictReplayBuffer adds = 225,813.
    """
    with tempfile.TemporaryDirectory(prefix="mario_tutorial_") as tmp:
        env = make_tutorial_env()
        mario = Mario(STATE_DIM, env.action_space.n, Path(tmp), capacity=10, scratch_dir=Path(tmp) / "memmap")
        state = env.reset(seed=0)
        next_state, reward, done, trunc, info = env.step(0)
        mario.cache(state, next_state, 0, reward, done)
        env.close()
        stored = mario.memory.storage._storage  # the memmapped TensorDict, leading dim = capacity
        return sum(t[0].numel() * t.element_size() for t in stored.values(True, True))


def measure_training(
    steps: int = 300,
    burnin: int = 100,
    capacity: int = 100000,
    seed: int = 0,
    verbose: bool = False,
) -> dict:
    """The tutorial's training loop as written (act, step, cache, learn, log; log_episode and the
    every-20-episodes record() with its plots), with a `burnin` small enough that learning happens.

    Timed: exactly `steps` agent steps starting at the top of the first loop iteration where
    `mario.curr_step >= burnin` (so learning, one update every 3 steps, runs for the whole window);
    episode resets, log_episode and record() falling inside the window are included. Not timed: env
    and agent construction and the burn-in steps. Memmap files and logs live in a temp directory
    that is removed afterwards. The tutorial's prints are swallowed unless `verbose`.
    """
    _seed(seed)
    with tempfile.TemporaryDirectory(prefix="mario_tutorial_") as tmp:
        save_dir = Path(tmp) / "checkpoints"
        save_dir.mkdir(parents=True)
        env = make_tutorial_env()
        mario = Mario(
            state_dim=STATE_DIM,
            action_dim=env.action_space.n,
            save_dir=save_dir,
            burnin=burnin,
            capacity=capacity,
            scratch_dir=Path(tmp) / "memmap",
        )
        logger = MetricLogger(save_dir)
        start = None  # perf_counter() when the timed window opened
        first_timed_step = None
        learn_steps = 0
        losses = []
        episodes_finished = 0
        out = io.StringIO() if not verbose else None
        with contextlib.redirect_stdout(out) if out is not None else contextlib.nullcontext():
            for e in itertools.count():  # the tutorial: `for e in range(episodes)`
                state = env.reset()

                # Play the game!
                while True:
                    # -- instrumentation: open / close the timed window
                    if start is None and mario.curr_step >= burnin:
                        start, first_timed_step = time.perf_counter(), mario.curr_step
                    if start is not None and mario.curr_step - first_timed_step >= steps:
                        break

                    # Run agent on the state
                    action = mario.act(state)

                    # Agent performs action
                    next_state, reward, done, trunc, info = env.step(action)

                    # Remember
                    mario.cache(state, next_state, action, reward, done)

                    # Learn
                    q, loss = mario.learn()

                    # Logging
                    logger.log_step(reward, loss, q)

                    if start is not None and loss is not None:  # instrumentation
                        learn_steps += 1
                        losses.append(loss)

                    # Update state
                    state = next_state

                    # Check if end of game
                    if done or info["flag_get"]:
                        break

                if start is not None and mario.curr_step - first_timed_step >= steps:
                    break
                logger.log_episode()
                if start is not None:
                    episodes_finished += 1

                if e % 20 == 0:  # the tutorial also records at its last episode
                    logger.record(episode=e, epsilon=mario.exploration_rate, step=mario.curr_step)
        seconds = time.perf_counter() - start
        env.close()
        plt.close("all")
    return {
        "agent_steps": steps,
        "seconds": seconds,
        "agent_steps_per_s": steps / seconds,
        "learn_steps": learn_steps,
        "learn_steps_per_s": learn_steps / seconds,
        "episodes_finished": episodes_finished,
        "burnin": burnin,
        "mean_loss": float(np.mean(losses)) if losses else float("nan"),
        "final_loss": losses[-1] if losses else float("nan"),
        "epsilon": mario.exploration_rate,
    }


def measure_learner(updates: int = 30, fill: int = 1000, warmup: int = 3, seed: int = 0) -> float:
    """Updates/s of the tutorial's `Mario.learn()` (sample 32 from the memmap buffer, TD estimate,
    Double DQN target, SmoothL1 + Adam step) on a buffer holding `fill` transitions.

    The buffer is filled through `Mario.cache()` with random float32 (4, 84, 84) stacks (content
    does not change the cost). Each timed call advances `curr_step` by `learn_every` so that every
    `learn()` call learns; `warmup` calls run first, untimed.
    """
    _seed(seed)
    with tempfile.TemporaryDirectory(prefix="mario_tutorial_") as tmp:
        mario = Mario(STATE_DIM, len(ACTIONS), Path(tmp), burnin=0, capacity=max(fill, 32),
                      scratch_dir=Path(tmp) / "memmap")
        for _ in range(fill):
            mario.cache(torch.rand(STATE_DIM), torch.rand(STATE_DIM), np.random.randint(len(ACTIONS)),
                        float(np.random.rand()), bool(np.random.rand() < 0.01))
        for i in range(warmup + updates):
            if i == warmup:
                start = time.perf_counter()
            mario.curr_step += mario.learn_every
            q, loss = mario.learn()
            assert loss is not None
        return updates / (time.perf_counter() - start)


__all__ = [
    "SkipFrame",
    "GrayScaleObservation",
    "ResizeObservation",
    "MarioNet",
    "Mario",
    "MetricLogger",
    "make_raw_env",
    "make_tutorial_env",
    "measure_raw_env",
    "measure_env",
    "bytes_per_transition",
    "measure_training",
    "measure_learner",
    "STATE_DIM",
    "ACTIONS",
]


def main():
    """`python -m bench.reference.mario_tutorial [--threads N]`: every figure once, as `name: value` lines."""
    import argparse
    import os

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--training-steps", type=int, default=900)
    parser.add_argument("--burnin", type=int, default=300)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    raw = measure_raw_env(3000)
    env_rate = measure_env(600)
    stored = bytes_per_transition()
    learner = measure_learner(60)
    training = measure_training(steps=args.training_steps, burnin=args.burnin)
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"load average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}")
    print(f"tutorial raw env frames/s: {raw:.1f}")
    print(f"tutorial env agent steps/s: {env_rate:.1f}")
    print(f"tutorial bytes per transition: {stored}")
    print(f"tutorial learner updates/s: {learner:.2f}")
    print(f"tutorial training agent steps/s: {training['agent_steps_per_s']:.2f}")
    print(f"tutorial training learn steps: {training['learn_steps']}")


if __name__ == "__main__":
    main()
