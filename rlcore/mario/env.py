"""Super Mario Bros. with the tutorial's preprocessing, fast: skip 4, grayscale, 84x84, stack 4.

The tutorial builds the state with four wrappers (SkipFrame, GrayScaleObservation,
ResizeObservation, FrameStack) working on float tensors through torchvision. `MarioPreprocessing`
keeps the same semantics in one wrapper and stays uint8 end to end:

- repeat the action `skip` frames, summing the reward, stopping early when the episode ends;
- take only the LAST frame of the skip, as the tutorial does, in the emulator's native grayscale
  (no RGB copy, no float conversion), and resize it to 84x84 with area interpolation (the
  antialiased downscale the tutorial asks torchvision for);
- stack the last 4 frames -> (4, 84, 84) uint8; after a reset the stack holds 4 copies of the
  first frame (gym's FrameStack semantics). Normalising to [0, 1] is the network's job.

The emulator returns its own screen buffer (the same array every step): every frame kept here is
a copy. Optional random no-op frames after a reset (`noop_max`) make greedy episodes differ, and
sticky actions (`sticky`, Machado et al. 2018, as ALE v5 draws them) make the game stochastic: at
every emulator frame inside the skip, with probability `sticky` the joypad keeps the buttons of the
previous frame instead of the chosen action's, so a new action starts k frames late with probability
(1 - p) p^k (and not at all within the 4 frames with p^4). Both draw from the env's own generator,
seeded by `reset(seed=...)`, so an episode is reproducible from its seed.

`restore(snapshot)` starts an episode from an emulator save state (nes-py `dump_state()`): the
Go-Explore routes and the backward curriculum start training episodes along a level this way.
"""

from __future__ import annotations

from typing import Any

import cv2
import gymnasium as gym
import numpy as np
from gymnasium.spaces import Box

ACTION_SETS: dict[str, list[list[str]]] = {}


def _load_action_sets() -> None:
    from gym_super_mario_bros import actions

    ACTION_SETS.update(
        {
            "right_jump": [["right"], ["right", "A"]],  # the tutorial's two actions
            "right_only": actions.RIGHT_ONLY,
            "simple": actions.SIMPLE_MOVEMENT,
            "complex": actions.COMPLEX_MOVEMENT,
        }
    )


_load_action_sets()
TUTORIAL_ACTIONS = ACTION_SETS["right_jump"]
# what training and evaluation read from `info` (the emulator's has 42 keys: trimming them makes
# vector envs cheaper, since every worker sends its info through a pipe each step)
INFO_KEYS = ("x_pos", "y_pos", "flag_get", "world", "stage", "time", "score", "coins", "life")
FRAME_SIZE = 84
STACK = 4
SKIP = 4


def env_id(world: int = 1, stage: int = 1) -> str:
    if not (1 <= int(world) <= 8 and 1 <= int(stage) <= 4):
        raise ValueError(f"world must be 1-8 and stage 1-4, got world={world} stage={stage}")
    return f"SuperMarioBros-{int(world)}-{int(stage)}-v0"


def resolve_actions(actions: str | list[list[str]]) -> list[list[str]]:
    """A named action set ('right_jump', 'right_only', 'simple', 'complex') or an explicit list."""
    if isinstance(actions, str):
        if actions not in ACTION_SETS:
            raise ValueError(f"unknown action set {actions!r}: choose one of {', '.join(ACTION_SETS)}")
        return [list(a) for a in ACTION_SETS[actions]]
    if not actions or not all(isinstance(a, (list, tuple)) for a in actions):
        raise ValueError(f"actions must be a non-empty list of button lists, got {actions!r}")
    return [list(a) for a in actions]


def action_labels(actions: str | list[list[str]]) -> list[str]:
    """Each action's buttons as a short label ("right A"), for overlays and logs."""
    return [" ".join(buttons) for buttons in resolve_actions(actions)]


def source_rows(source: list[list[str]], target: list[list[str]]) -> list[int | None]:
    """For each action of `target`, the index of the same action (the same buttons, in any order) in
    `source`, or None for a new one: how an agent's outputs carry over to another action set."""
    index = {frozenset(buttons): row for row, buttons in enumerate(source)}
    return [index.get(frozenset(buttons)) for buttons in target]


def preprocess_frame(gray: np.ndarray, size: int = FRAME_SIZE) -> np.ndarray:
    """(240, 256) uint8 grayscale -> (size, size) uint8 (area interpolation: an antialiased downscale)."""
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)


class MarioPreprocessing(gym.Wrapper):
    """Skip + grayscale + resize + stack in one wrapper; observations are (stack, size, size) uint8."""

    def __init__(
        self,
        env: gym.Env,
        skip: int = SKIP,
        size: int = FRAME_SIZE,
        stack: int = STACK,
        noop_max: int = 0,
        info_keys: tuple[str, ...] | None = None,
        sticky: float = 0.0,
        sticky_share: float = 1.0,
    ):
        super().__init__(env)
        self.info_keys = info_keys
        if skip < 1 or stack < 1 or noop_max < 0:
            raise ValueError(
                f"skip and stack must be >= 1 and noop_max >= 0, got {skip}, {stack}, {noop_max}"
            )
        if not 0.0 <= sticky < 1.0:
            raise ValueError(f"sticky must be a probability in [0, 1), got {sticky}")
        if not 0.0 <= sticky_share <= 1.0:
            raise ValueError(f"sticky_share must be a share in [0, 1], got {sticky_share}")
        self.skip, self.size, self.stack, self.noop_max, self.sticky = skip, size, stack, noop_max, sticky
        # sticky actions in a share of the episodes only, drawn at each reset: whether this one has them
        self.sticky_share, self.sticky_episode = sticky_share, True
        self.last_action: int | None = None  # the action the emulator last performed (None after a reset)
        self.delayed_frames = (
            0  # frames of the last step that kept other buttons than chosen (sticky actions)
        )
        self.start_snapshot = (
            None  # a save state every reset starts from (a practice spot), else the level's start
        )
        self.observation_space = Box(0, 255, (stack, size, size), np.uint8)
        self._frames = np.zeros((stack, size, size), np.uint8)
        self._nes = env.unwrapped  # the emulator: native grayscale and RGB screen copies
        # one 84x84 resize gains nothing from threads, and a thread pool would not survive the
        # fork() that starts vector-env workers
        cv2.setNumThreads(1)

    def _frame(self) -> np.ndarray:
        return preprocess_frame(self._nes.observation(mode="grayscale"), self.size)

    def rgb_frame(self) -> np.ndarray:
        """The current full-colour screen, (240, 256, 3) uint8, as a copy (for play-back videos)."""
        return np.array(self._nes.screen, copy=True)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        _, info = self.env.reset(seed=seed, options=options)
        if self.sticky_share < 1.0:  # drawn only then: with every episode sticky, the draws stay as they were
            self.sticky_episode = bool(self.np_random.random() < self.sticky_share)
        if (
            self.start_snapshot is not None
        ):  # a practice spot (rlcore.mario.curriculum.start_at): no no-op start
            return self.restore(self.start_snapshot)
        noops = int(self.np_random.integers(0, self.noop_max + 1)) if self.noop_max else 0
        for _ in range(noops):  # random no-op frames: a different start for each episode
            _, _, terminated, truncated, info = self._nes.step(0)
            if terminated or truncated:
                _, info = self.env.reset(options=options)
        return self._first_observation(info)

    def _first_observation(self, info: dict[str, Any]):
        self._frames[:] = self._frame()  # gym FrameStack: the first frame repeated
        self.last_action = None
        self.delayed_frames = 0
        return self._frames.copy(), self._trim(info)

    def snapshot(self):
        """The emulator's whole state now (nes-py's native snapshot: in memory only, it does not pickle)."""
        return self._nes.dump_state()

    def restore(self, snapshot):
        """Start an episode from `snapshot` (after `reset`, so the wrappers' counters are fresh): the
        emulator state, the reward's bookkeeping read from it as a reset does, and a fresh frame stack."""
        self._nes.load_state(snapshot)
        self._nes._did_reset()  # time, score, coins, best x: read from RAM, so the first reward is right
        return self._first_observation(self._nes._get_info())

    def _trim(self, info: dict[str, Any]) -> dict[str, Any]:
        return info if self.info_keys is None else {k: info[k] for k in self.info_keys if k in info}

    def step(self, action):
        action, total_reward, self.delayed_frames = int(action), 0.0, 0
        for _ in range(self.skip):
            performed = action
            sticky = self.sticky if self.sticky_episode else 0.0
            if sticky and self.last_action is not None and self.np_random.random() < sticky:
                performed = self.last_action  # sticky, per frame as ALE v5: the joypad keeps its buttons
            self.delayed_frames += performed != action
            self.last_action = performed
            _, reward, terminated, truncated, info = self.env.step(performed)
            total_reward += reward
            if terminated or truncated:
                break
        # single-stage envs already end on the flag; the tutorial's loop also stops on flag_get
        terminated = bool(terminated or info.get("flag_get", False))
        self._frames[:-1] = self._frames[1:]
        self._frames[-1] = self._frame()
        return self._frames.copy(), total_reward, terminated, bool(truncated), self._trim(info)


def make_raw_env(world: int = 1, stage: int = 1, actions: str | list[list[str]] = "right_jump") -> gym.Env:
    """The emulator with a reduced joypad, no preprocessing (240x256 RGB observations)."""
    import gym_super_mario_bros
    from nes_py.wrappers import JoypadSpace

    env = gym_super_mario_bros.make(env_id(world, stage), render_mode="rgb_array")
    return JoypadSpace(env, resolve_actions(actions))


def make_env(
    world: int = 1,
    stage: int = 1,
    actions: str | list[list[str]] = "right_jump",
    *,
    skip: int = SKIP,
    size: int = FRAME_SIZE,
    stack: int = STACK,
    noop_max: int = 0,
    seed: int | None = None,
    info_keys: tuple[str, ...] | None = None,
    sticky: float = 0.0,
    sticky_share: float = 1.0,
) -> MarioPreprocessing:
    """The tutorial's preprocessed env: states (4, 84, 84) uint8, 4 frames per action.

    `seed` seeds the first reset (no-op counts); `noop_max` > 0 adds 0..noop_max random no-op
    frames after every reset; `info_keys` keeps only those keys of `info` (None: all 42);
    `sticky` is the probability, at each emulator frame, that the joypad keeps the previous frame's buttons,
    in a `sticky_share` of the episodes.
    """
    env = MarioPreprocessing(
        make_raw_env(world, stage, actions),
        skip=skip,
        size=size,
        stack=stack,
        noop_max=noop_max,
        info_keys=info_keys,
        sticky=sticky,
        sticky_share=sticky_share,
    )
    if seed is not None:
        env.reset(seed=seed)
    return env


def make_worker_env(
    world: int,
    stage: int,
    actions: str | list[list[str]],
    noop_max: int = 0,
    owner_pid: int | None = None,
    sticky: float = 0.0,
    sticky_share: float = 1.0,
) -> MarioPreprocessing:
    """The env of a vector-env worker process. Ctrl-C is left to the training process (`owner_pid`),
    which saves and then closes its workers: a forked worker would otherwise run the owner's SIGINT
    handler too. AsyncVectorEnv also calls this once in the owner (to read the spaces): no change there."""
    import os
    import signal

    if owner_pid is not None and os.getpid() != owner_pid:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return make_env(
        world,
        stage,
        actions,
        noop_max=noop_max,
        info_keys=INFO_KEYS,
        sticky=sticky,
        sticky_share=sticky_share,
    )


def env_thunk(
    world: int,
    stage: int,
    actions: str | list[list[str]],
    noop_max: int = 0,
    sticky: float = 0.0,
    sticky_share: float = 1.0,
):
    """A picklable factory for gymnasium's vector envs (one emulator per worker process)."""
    import functools
    import os

    return functools.partial(
        make_worker_env,
        world,
        stage,
        actions,
        noop_max,
        owner_pid=os.getpid(),
        sticky=sticky,
        sticky_share=sticky_share,
    )
