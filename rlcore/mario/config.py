"""Hyperparameters of the Mario Double DQN: the tutorial's values are the defaults.

`MarioConfig()` is the tutorial exactly (plus engineering knobs that do not change the algorithm:
vector envs, threads, checkpoint interval). `preset("fast")` is a documented variant for learning
on a small step budget; each change says why.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Literal

from rlcore.config import MAX_SEED, apply_preset, option


@dataclass
class MarioConfig:
    # the bounds (ge, le): what a config (a checkpoint's, a visitor's) may ask for, checked before anything
    # is built
    # --- environment (the tutorial: World 1-1, walk right / jump right, skip 4, 84x84, stack 4)
    world: int = option(1, "world 1-8 of SuperMarioBros-<world>-<stage>-v0", ge=1, le=8)
    stage: int = option(1, "stage 1-4 of SuperMarioBros-<world>-<stage>-v0", ge=1, le=4)
    actions: str = option(
        "right_jump",
        "action set: right_jump (the tutorial's [right], [right, A]), "
        "right_only (+ NOOP, right B, right A B: wait and run), simple (+ A, "
        "left), complex (12). With --init, a new set keeps the trained "
        "actions' outputs and learns the others",
    )
    noop_max: int = option(
        0, "random no-op frames (0..noop_max) after each reset; the tutorial uses none", ge=0, le=1000
    )
    sticky: float = option(
        0.0,
        "sticky actions, drawn per emulator frame as ALE v5: at each of the 4 frames of "
        "an agent step the joypad keeps the previous frame's buttons with this "
        "probability (0.25 is the robustness protocol of Machado et al. 2018; the "
        "tutorial uses none)",
        ge=0.0,
        le=1.0,
    )
    sticky_share: float = option(
        1.0,
        "share of training episodes played with --sticky, drawn at each reset (the others without): a "
        "policy trained only under sticky actions learns to expect its actions late and loses some "
        "exact greedy play; 1: every episode",
        ge=0.0,
        le=1.0,
    )
    # --- where training episodes start (rlcore/mario/curriculum.py; evaluation always starts at the
    # level's start)
    starts: str = option(
        "",
        "a route folder of `rlcore explore mario` for this level and action set: training "
        "episodes start from save states along it, first near the flag, the start window "
        "moving back to the level's start as the agent succeeds (the Backward Algorithm); "
        "empty: every episode starts at the level's start, as in the tutorial",
    )
    start_share: float = option(
        0.25,
        "with --starts: the share of training episodes that start at the level's "
        "own start (with its no-op start) instead of the window",
        ge=0.0,
        le=1.0,
    )
    start_behind: float = option(
        0.0,
        "with --starts: the share of training episodes that start at a route point behind the "
        "window, chosen uniformly (the part the window has left behind is practised from its own "
        "save states, not only from the level's start); start_share + start_behind <= 1",
        ge=0.0,
        le=1.0,
    )
    start_failed: float = option(
        0.0,
        "with --starts: the share of training episodes that start 4-32 agent steps before where a "
        "recent episode from the level's start died, from that episode's save state (the spot where "
        "the agent fails, reached as it reaches it); start_share + start_behind + start_failed <= 1",
        ge=0.0,
        le=1.0,
    )
    demo_weight: float = option(
        0.0,
        "with --starts: the weight of DQfD's large-margin loss (Hester et al. 2018) on the route's own "
        "states, replayed once: max_a [Q(s,a) + 0.8 if a is not the route's] - Q(s, route's action), on 8 "
        "route states beside each batch, so Q_online ranks the route's action first where the route went "
        "(1.0 in the paper); 0: off",
        ge=0.0,
        le=100.0,
    )
    start_window: int = option(
        8, "with --starts: route points (one every 4 agent steps) in the start window", ge=1, le=10**6
    )
    start_threshold: float = option(
        0.5,
        "with --starts: the flag rate of the last 20 episodes started in the "
        "window that moves it back by half its width",
        ge=0.0,
        le=1.0,
    )
    start_x: int = option(
        0,
        "with --starts: the start window first ends at the route's last point before this x "
        "(where an agent being fine-tuned fails) instead of just before the flag; it moves "
        "back from there",
        ge=0,
        le=10**5,
    )
    # --- exploration (Mario.act)
    exploration_rate: float = option(1.0, "initial epsilon of the epsilon-greedy policy", ge=0.0, le=1.0)
    exploration_rate_decay: float = option(
        0.99999975, "epsilon is multiplied by this after every agent step", ge=0.0, le=1.0
    )
    exploration_rate_min: float = option(0.1, "epsilon never falls below this", ge=0.0, le=1.0)
    exploration_repeat: float = option(
        0.0,
        "temporally extended epsilon-greedy (ez-greedy, Dabney et al. 2021): an exploring step's random "
        "action is held for n agent steps, P(n) proportional to n^-MU for n = 1..100 (MU 2 in the paper), "
        "so a random jump can be held long enough to clear a gap; 0: one step, the tutorial's epsilon-greedy",
        ge=0.0,
        le=10.0,
    )
    # --- memory (Mario.cache / recall)
    memory_size: int = option(
        100_000, "replay capacity in transitions (about 7 KB each: 100k is ~0.7 GB)", ge=8, le=10**8
    )
    batch_size: int = option(32, "transitions per learning update", ge=1, le=4096)
    prioritized: bool = option(
        False,
        "prioritized replay (Schaul et al. 2016, TorchRL's PrioritizedSampler): "
        "transitions are replayed in proportion to |TD error|^alpha, new ones first, "
        "and the loss is importance-weighted; the tutorial samples uniformly",
    )
    priority_alpha: float = option(
        0.6, "with --prioritized: how strongly priorities skew sampling (0 = uniform)", ge=0.0, le=1.0
    )
    priority_beta: float = option(
        0.4,
        "with --prioritized: the importance-sampling exponent at the start, "
        "raised linearly to 1 at max_steps (kept as is without a step limit)",
        ge=0.0,
        le=1.0,
    )
    random_shift: int = option(
        0,
        "data augmentation (DrQ, Kostrikov et al. 2021: 4): each sampled state and next "
        "state is moved by up to this many pixels each way at random, edges repeated, "
        "before the update; 0 = none, as in the tutorial",
        ge=0,
        le=16,
    )
    # --- learning (Mario.learn)
    gamma: float = option(0.9, "discount factor of the TD target", ge=0.0, le=1.0)
    lr: float = option(0.00025, "Adam learning rate of Q_online", ge=0.0, le=1.0)
    burnin: int = option(10_000, "agent steps before learning starts", ge=0, le=10**12)
    learn_every: int = option(3, "agent steps between updates of Q_online", ge=1, le=10**9)
    sync_every: int = option(10_000, "agent steps between copies of Q_online into Q_target", ge=1, le=10**12)
    n_step: int = option(1, "n-step returns (1 = the tutorial's one-step TD target)", ge=1, le=100)
    reward_scale: float = option(
        1.0,
        "rewards are multiplied by this when cached for learning (1 = the "
        "tutorial); logs, plots and evaluation report the game's own rewards",
        ge=-1e6,
        le=1e6,
    )
    death_penalty: float = option(
        0.0,
        "subtracted from the cached reward of a step where Mario dies (an episode terminated short of "
        "the flag), before --reward-scale: losing a life costs more than the progress it forgoes, so "
        "Q prefers a slower safe jump to a fast risky one (the game's own: -25); logs and "
        "evaluation keep the game's rewards; 0: off (the tutorial)",
        ge=0.0,
        le=1e6,
    )
    flag_bonus: float = option(
        0.0,
        "added to the cached reward of the step that reaches the flag (the axe in X-4), before "
        "--reward-scale (the game's own: +50); logs and evaluation keep the game's rewards; 0: off",
        ge=0.0,
        le=1e6,
    )
    dueling: bool = option(False, "dueling head Q = V + A - mean(A) instead of the tutorial's MLP head")
    noisy: bool = option(
        False,
        "NoisyNet exploration (Fortunato et al. 2018, TorchRL's NoisyLinear): the head's "
        "linear layers learn the scale of factorised Gaussian noise on their weights, "
        "resampled after every update; training acts with the noisy weights, evaluation "
        "and play-back with their means. Usually with --exploration-rate 0 (no epsilon)",
    )
    # --- the run
    episodes: int = option(
        40_000, "training episodes (the tutorial suggests at least 40,000)", ge=1, le=10**12
    )
    max_steps: int = option(0, "stop after this many agent steps (0 = no limit)", ge=0, le=10**12)
    log_every: int = option(
        20, "episodes between log records (the tutorial records every 20)", ge=1, le=10**9
    )
    checkpoint_every: int = option(
        25_000, "agent steps between resumable checkpoints (atomic writes)", ge=1, le=10**12
    )
    keep_snapshots: bool = option(
        False,
        "also keep each checkpoint's playable weights in snapshots/step-<N>/ "
        "(7 MB each, 13 MB with the dueling head), to evaluate and pick the "
        "best one later",
    )
    seed: int = option(
        0, "seed of the envs, exploration, replay sampling and network initialisation", ge=0, le=MAX_SEED
    )
    init_from: str = option(
        "",
        "start from the weights of this checkpoint folder (Q_online, and Q_target synced "
        "to it; a fresh Adam, replay and step count): fine-tune an agent on another level",
    )
    # --- speed (same algorithm, different engineering)
    num_envs: int = option(
        1,
        "emulators stepped in worker processes (gymnasium AsyncVectorEnv, or Ray workers "
        "with --collector ray) while the learner updates",
        aliases=("--workers",),
        ge=1,
        le=64,
    )
    collector: Literal["local", "ray"] = option(
        "local",
        "where the emulators run: local (AsyncVectorEnv workers on this machine) or ray (TorchRL's "
        "RayCollector: Ray workers on this machine or a cluster; the learner stays in this process)",
    )
    ray_address: str = option(
        "",
        "with --collector ray: ADDRESS (host:port) of a running Ray cluster to join; "
        "empty starts a private Ray instance on 127.0.0.1",
    )
    worker_batch: int = option(
        32,
        "with --collector ray: agent steps a Ray worker collects per batch it sends; "
        "after each batch it gets the learner's weights and epsilon",
        ge=1,
        le=10**6,
    )
    torch_threads: int = option(
        1,
        "torch CPU threads of the learner (0 = torch's default). 1: the emulator "
        "worker needs the other core, and OpenMP threads sharing a busy core "
        "stall each other",
        ge=0,
        le=1024,
    )
    pin_cpus: bool = option(
        True,
        "pin the learner to its own CPU(s) (torch_threads of them) and the emulator "
        "workers to the others, when there are enough: otherwise the scheduler "
        "time-slices a worker with the learner (a faster loop: bench/README.md)",
    )
    target_thread: bool = option(
        True,
        "with pin_cpus (and a CPU learner): Q_target's forward of each update "
        "runs on a helper thread on the workers' CPU(s), the workers niced below it, "
        "while the learner runs Q_online's (same values; a faster loop: "
        "bench/README.md)",
    )
    channels_last: bool = option(True, "NHWC convolutions (faster oneDNN kernels on CPU, same maths)")
    precision: Literal["float32", "bfloat16", "auto"] = option(
        "float32",
        "learning updates' hidden layers in float32, or in bfloat16 autocast (weights, Adam, the "
        "output layer and so the Q values stay float32; faster updates on CPUs with AVX-512 BF16 or "
        "AMX, much slower on CPUs without), or auto: bfloat16 where the CPU (or GPU) computes it "
        "natively, else float32, chosen at train start and saved in config.json. Acting, evaluation "
        "and play-back always run in float32",
    )

    # Where and how a run computes, not what the agent is: a run from a checkpoint (--init) takes these
    # from the command line or the defaults, never from the checkpoint (rlcore.config.learned_part)
    RUNTIME: ClassVar[frozenset[str]] = frozenset(
        {
            "memory_size",
            "log_every",
            "checkpoint_every",
            "keep_snapshots",
            "num_envs",
            "collector",
            "ray_address",
            "worker_batch",
            "torch_threads",
            "pin_cpus",
            "target_thread",
            "channels_last",
            "precision",
            # a route folder on the disk of whoever trained it: never where a new run reads from; and how
            # that run's episodes started from it (they need --starts: a run from a checkpoint trained
            # from a route starts at the level's start unless it names a route itself)
            "starts",
            "start_share",
            "start_behind",
            "start_failed",
            "start_window",
            "start_threshold",
            "start_x",
            "demo_weight",
        }
    )


# Why each change of the fast preset (a small step budget on a 2-core CPU):
FAST_CHANGES = {
    # the tutorial's epsilon reaches 0.1 only after ~9.2M steps: explore for ~150k steps instead
    "exploration_rate_decay": 0.99998,
    # act greedily more often once the agent knows the level
    "exploration_rate_min": 0.05,
    # 3-step returns propagate the flag and death signals 3x faster (Rainbow's n=3)
    "n_step": 3,
    # the tutorial's gamma 0.9 is kept: a first run with gamma 0.99 (213k steps) never got its Q values
    # to scale (mean Q still climbing at ~205, loss ~17) and did not beat its own random-exploration start
    # rewards are +-15 per frame, summed over 4: scaled by 0.1 the TD errors stay in SmoothL1's quadratic
    # range (DQN on Atari clips rewards to [-1, 1] for the same reason)
    "reward_scale": 0.1,
    # a dueling head learns state values shared by both actions (fewer samples needed)
    "dueling": True,
    # fresher targets: the target network lags half as long
    "sync_every": 5_000,
    # random no-op starts so the agent does not memorise one frame-exact run
    "noop_max": 30,
    # speed, same algorithm: on CPUs with native bfloat16 (AVX-512 BF16 / AMX) its hidden layers make
    # updates faster and Q values stay close (the same greedy actions); without it bfloat16 is emulated
    # and much slower: auto picks (figures in bench/README.md)
    "precision": "auto",
    # speed: 3 emulator workers step while the learner updates (one update per 3 agent steps)
    "num_envs": 3,
    # keep every checkpoint's weights: the best one is picked by evaluation, not the last one
    "keep_snapshots": True,
}

PRESETS = {"tutorial": {}, "fast": FAST_CHANGES}


def resolve_precision(config: MarioConfig, device) -> tuple[MarioConfig, str | None]:
    """precision 'auto' -> bfloat16 where `device` computes it natively, else float32; returns the config
    with the choice and a sentence saying why (None when nothing was chosen)."""
    if config.precision != "auto":
        return config, None
    from rlcore.runtime import fast_bfloat16

    native, reason = fast_bfloat16(device)
    chosen = "bfloat16" if native else "float32"
    return dataclasses.replace(config, precision=chosen), f"precision auto -> {chosen}: {reason}"


def preset(name: str = "tutorial", **overrides) -> MarioConfig:
    """A named configuration ('tutorial' or 'fast'), with optional field overrides (the preset step of
    rlcore.resolve.resolve_config, without its bounds check)."""
    return apply_preset(MarioConfig, PRESETS, name, "Mario", **overrides)
