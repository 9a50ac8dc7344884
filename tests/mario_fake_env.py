"""A tiny stand-in for the NES emulator: same spaces and screen API, no ROM, microseconds per frame.

Every frame is distinct (the frame counter is written into pixel blocks), so tests can check that
stacks are rebuilt from exactly the right frames. Episodes end after a random number of frames.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Box, Discrete

from rlcore.mario.env import MarioPreprocessing


class FakeNES(gym.Env):
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, n_actions: int = 2, min_frames: int = 8, max_frames: int = 120, goal_x: int = 0):
        self.observation_space = Box(0, 255, (240, 256, 3), np.uint8)
        self.action_space = Discrete(n_actions)
        self.min_frames, self.max_frames = min_frames, max_frames
        self.goal_x = goal_x  # > 0: an episode reaching this x ends at the flag
        self.screen = np.zeros((240, 256, 3), np.uint8)  # one buffer, rewritten in place like nes-py's
        self.frame_count = 0
        self.joypad: list[int] = []  # the action of every frame stepped (what sticky actions change)

    def _draw(self) -> None:
        t = self.frame_count
        for block, value in enumerate((t % 256, (t // 256) % 256, (t * 7) % 256)):
            self.screen[:, block * 80 : (block + 1) * 80] = value

    def observation(self, mode: str = "rgb_array"):
        if mode == "grayscale":
            return self.screen[..., 0].copy()
        return self.screen

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.frame_count += 1
        self.x_pos = 40
        self.length = int(self.np_random.integers(self.min_frames, self.max_frames + 1))
        self.t = 0
        self._draw()
        return self.screen, {"x_pos": self.x_pos, "flag_get": False, "y_pos": 79, "time": 400, "score": 0}

    def step(self, action):
        self.frame_count += 1
        self.t += 1
        self.joypad.append(int(action))
        self.x_pos += 1 + int(action)
        self._draw()
        flag = bool(self.goal_x and self.x_pos >= self.goal_x)
        terminated = flag or self.t >= self.length
        reward = float(1 + int(action)) - (15.0 if terminated and not flag else 0.0)
        return self.screen, reward, terminated, False, {**self._get_info(), "flag_get": flag}

    # the emulator's save states (nes-py dump_state / load_state), what route starts restore
    def dump_state(self):
        return (self.frame_count, self.x_pos, self.t, self.length)

    def load_state(self, state) -> None:
        self.frame_count, self.x_pos, self.t, self.length = state
        self._draw()

    def _did_reset(self) -> None:
        pass

    def _get_info(self):
        return {"x_pos": self.x_pos, "flag_get": False, "y_pos": 79, "time": 400 - self.t // 24, "score": 0}


def fake_route(steps: int):
    """A route of `steps` "right A" steps on the fake level (8 pixels each from x 40), marked as reaching the
    flag (the fake level's flag is where a test puts its goal_x)."""
    from rlcore.mario.explore import Route

    xs = [40 + 8 * i for i in range(1, steps + 1)]
    return Route(world=1, stage=1, actions="right_jump", steps=[1] * steps, x_pos=xs, flag=True)


def make_fake_route_env(route_dir: str, share: float, **kwargs):
    """The fake emulator with the backward curriculum's route starts (what a training worker runs)."""
    from rlcore.mario.curriculum import RouteStarts
    from rlcore.mario.explore import Route

    return RouteStarts(make_fake_env(**kwargs), Route.load(route_dir), share)


def make_fake_env(
    noop_max: int = 0, seed: int | None = None, sticky: float = 0.0, sticky_share: float = 1.0, **kwargs
) -> MarioPreprocessing:
    env = MarioPreprocessing(FakeNES(**kwargs), noop_max=noop_max, sticky=sticky, sticky_share=sticky_share)
    if seed is not None:
        env.reset(seed=seed)
    return env
