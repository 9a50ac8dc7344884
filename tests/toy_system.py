"""A third system defined only here, to prove the System contract: a two-armed Bernoulli bandit whose
softmax policy learns by REINFORCE. rlcore knows it only through an "rlcore.systems" entry point
(test_third_system.py), RLCORE_SYSTEMS="bandit=toy_system" or rlcore.systems.register_system; nothing
in rlcore/ or demo/ names it. How the app shows it is its profile, tests/toy_system_ui.py (the module
beside it named `<module>_ui`, as rlcore.mario.ui is beside rlcore.mario.api)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import torch

from rlcore import checkpoint as ckpt
from rlcore.config import MAX_SEED, option, to_dict
from rlcore.metrics import MetricsFile
from rlcore.systems import Budget, Episode, Figure, System, results_document


# Declared as rlcore declares its own: each field's default, help and bounds (pydantic Field arguments), so
# one pydantic model validates a config.json, the flags and the app's values (rlcore.config)
@dataclasses.dataclass
class BanditConfig:
    probabilities: list[float] = option(
        [0.2, 0.8], "chance of a reward of 1 for each arm", min_length=2, max_length=16
    )
    lr: float = option(0.5, "step size of the policy's logits", ge=0.0, le=100.0)
    episodes: int = option(200, "pulls to learn from (one pull is an episode)", ge=1, le=10**6)
    seed: int = option(0, "seed of the pulls and rewards", ge=0, le=MAX_SEED)


@dataclasses.dataclass
class BanditPlayOptions:
    seed: int = option(0, "seed of the rewards", ge=0, le=MAX_SEED)
    pulls: int = option(8, "pulls to play", ge=1, le=50)  # a frame per pull: a render stays small


def draw(probabilities: torch.Tensor, arm: int, reward: float) -> np.ndarray:
    """A 32x32 frame: one bar per arm (its probability), the pulled one red, green when it paid."""
    frame = np.full((32, 32, 3), 255, np.uint8)
    width = 32 // len(probabilities)
    for i, p in enumerate(probabilities.tolist()):
        colour = ((0, 160, 0) if reward else (200, 0, 0)) if i == arm else (60, 60, 60)
        frame[32 - max(1, int(p * 32)) :, i * width : (i + 1) * width - 2] = colour
    return frame


class Bandit(System):
    name, algorithm, env_id = "bandit", "REINFORCE", "TwoArmedBandit-v0"
    blurb = "a softmax policy over two Bernoulli arms, trained by REINFORCE"
    Config, PlayOptions = BanditConfig, BanditPlayOptions
    presets = {"tutorial": {}, "eager": {"lr": 2.0}}
    budget = Budget("episodes", "step")
    metrics = ("reward", "best_arm_probability")
    figures = (Figure("best_arm_rate", "best arm rate", metric="best_arm_rate", fmt=".0%"),)

    def train(
        self,
        config,
        out_dir,
        *,
        resume=False,
        device="auto",
        stop: threading.Event | None = None,
        progress=None,
    ):
        out_dir = Path(out_dir)
        logits = self.load(out_dir).clone() if resume else torch.zeros(len(config.probabilities))
        generator = torch.Generator().manual_seed(config.seed)
        metrics = MetricsFile(out_dir / ckpt.METRICS_FILE, resume=resume)
        for step in range(1, config.episodes + 1):
            policy = torch.softmax(logits, 0)
            arm = int(torch.multinomial(policy, 1, generator=generator))
            reward = float(torch.rand((), generator=generator) < config.probabilities[arm])
            logits += (
                config.lr
                * (reward - 0.5)
                * (torch.nn.functional.one_hot(torch.tensor(arm), len(policy)) - policy)
            )
            record = {
                "step": step,
                "reward": reward,
                "best_arm_probability": float(torch.softmax(logits, 0)[int(np.argmax(config.probabilities))]),
            }
            metrics.append(record)
            yield record
            if stop is not None and stop.is_set():
                break
        ckpt.save_checkpoint(
            out_dir,
            system=self.name,
            algorithm=self.algorithm,
            env_id=self.env_id,
            config=to_dict(config),
            state_dict={"logits": logits},
        )

    def load(self, checkpoint, device="cpu") -> torch.Tensor:
        config = self.config_of(checkpoint)
        folder = ckpt.checkpoint_dir(checkpoint)
        tensors = ckpt.load_tensors(folder / ckpt.WEIGHTS_FILE)
        ckpt.check_state_dict(
            folder / ckpt.WEIGHTS_FILE, tensors, {"logits": torch.zeros(len(config.probabilities))}
        )
        return tensors["logits"]

    def evaluate(self, checkpoint, episodes=10, seed=0, *, progress=None, **options) -> dict:
        config, arm = self.config_of(checkpoint), int(self.load(checkpoint).argmax())
        rewards = np.random.default_rng(seed).random(episodes) < config.probabilities[arm]
        if progress is not None:
            progress(episodes)
        return results_document(
            [float(r) for r in rewards],
            range(seed, seed + episodes),
            {"first_seed": seed},
            env_id=self.env_id,
            best_arm_rate=float(arm == int(np.argmax(config.probabilities))),
        )

    def play(self, checkpoint, options=None) -> Episode:
        options = options or BanditPlayOptions()
        config, logits = self.config_of(checkpoint), self.load(checkpoint)
        probabilities, arm = torch.softmax(logits, 0), int(logits.argmax())
        rewards = np.random.default_rng(options.seed).random(options.pulls) < config.probabilities[arm]
        frames = [draw(probabilities, arm, float(r)) for r in rewards]
        trace = [{"step": i + 1, "reward": float(r)} for i, r in enumerate(rewards)]
        return Episode(
            frames, {"return": float(rewards.sum()), "steps": options.pulls, "arm": arm}, trace, fps=4
        )


SYSTEM = Bandit()
