"""Mario training with the emulators in Ray workers: TorchRL's RayCollector feeds the local learner.

`--collector ray` moves only the acting. Each Ray worker runs a TorchRL `Collector` over one emulator
(rlcore's preprocessed env in TorchRL's `GymWrapper`) and an epsilon-greedy copy of Q_online
(`ExplorationPolicy`). The learner stays in this process (on the GPU when there is one) and is
TrainingRun's own: Q_online, Q_target, Adam, the compact replay memory, the schedules, checkpoints,
metrics and snapshots. RayCollector hands it one worker's batch of `worker_batch` steps at a time
(first ready, first served; the other workers keep collecting meanwhile) and, right after, sends that
worker the learner's current weights and epsilon (a buffer of the policy, so it travels with the
weights) through TorchRL's `RayWeightUpdater`, over Ray's object store: the workers act with weights
at most one batch old, far fresher than Q_target.

For a batch of n steps the learner does what the local loop does for n agent steps: the step counter
and epsilon advance by n, the updates due run (one per `learn_every` steps counted over all workers,
Q_target synced every `sync_every`), then each transition is cached under its worker's episode and
logged. A worker that dies stops the run with a one-line error (ChildProcessError) after the usual
final checkpoint, from which `--resume` continues.

Ray binds to 127.0.0.1 (a private instance gets fixed small resources: one CPU per worker and a
200 MB object store) and is shut down when the run ends; usage statistics are off.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torchrl.modules import NoisyLinear, reset_noise

from rlcore.config import check_bounds
from rlcore.mario.agent import hold_lengths
from rlcore.mario.config import MarioConfig
from rlcore.mario.net import float_input
from rlcore.mario.train import TrainingRun, open_run_folder, route_of_resumed_run, worker_env_factory

OBJECT_STORE_BYTES = 200 * 1024**2  # a private instance: batches of ~0.5 MB and 7 MB of weights in flight
CONNECT_TIMEOUT_S = 5.0  # an unreachable --ray-address fails within this
LOOPBACK = ("127.0.0.1", "localhost", "::1")
INFO_KEYS = ("x_pos", "flag_get")  # what the learner logs at the end of an episode
ROUTE_KEY = "route_start"  # with --starts: where the episode started (rlcore/mario/curriculum.py)


class WorkerLost(ChildProcessError):
    """A Ray worker (or its node) died: the run stops after its final checkpoint (resume with --resume)."""


class ExplorationPolicy(nn.Module):
    """The workers' epsilon-greedy policy over a copy of Q_online (float32, batch 1, as `Mario.act`).
    `epsilon` is a buffer, so TorchRL's weight updater sends the learner's epsilon with the weights.
    NoisyNet layers (`--noisy`) act on the worker's own noise sample, drawn at every step (noise samples
    are not part of the weights that are sent)."""

    def __init__(
        self, online: nn.Module, action_dim: int, channels_last: bool, epsilon: float, repeat: float = 0.0
    ):
        super().__init__()
        self.online = online
        self.action_dim = action_dim
        self.channels_last = channels_last
        self.noisy = any(isinstance(layer, NoisyLinear) for layer in online.modules())
        self.register_buffer("epsilon", torch.tensor(epsilon, dtype=torch.float64))
        # ez-greedy (--exploration-repeat), as Mario.act: how long a random action is held, and the hold
        self.hold_probs = torch.from_numpy(hold_lengths(repeat)) if repeat else None
        self.held_action, self.hold_left = torch.tensor(0), 0

    @torch.no_grad()
    def forward(self, observation: torch.Tensor, is_init: torch.Tensor | None = None) -> torch.Tensor:
        if is_init is not None and bool(is_init.any()):  # a new episode: the last one's hold ends with it
            self.hold_left = 0
        if self.hold_left:
            self.hold_left -= 1
            return self.held_action
        if torch.rand(()) < self.epsilon:  # EXPLORE (the worker's torch generator, seeded per worker)
            self.held_action = torch.randint(self.action_dim, ())
            if self.hold_probs is not None:
                self.hold_left = int(torch.multinomial(self.hold_probs, 1)[0])  # held n = 1 + this steps
            return self.held_action
        if self.noisy:
            self.online.train(True).apply(reset_noise)
        return self.online(float_input(observation.unsqueeze(0), self.channels_last)).argmax(dim=1)[0]


def episode_info_reader(keys: tuple[str, ...] = INFO_KEYS):
    """TorchRL's info reader for x_pos and flag_get, and route_start with --starts (it expects NumPy
    values; the emulator gives ints)."""
    from torchrl.data import Unbounded
    from torchrl.envs.libs.gym import default_info_dict_reader

    class EpisodeInfo(default_info_dict_reader):
        def __call__(self, info_dict, tensordict):
            return super().__call__({k: np.asarray(info_dict[k]) for k in keys if k in info_dict}, tensordict)

    specs = {"x_pos": torch.int64, "flag_get": torch.bool, ROUTE_KEY: torch.int64}
    return EpisodeInfo(list(keys), spec={k: Unbounded((), dtype=specs[k]) for k in keys})


def worker_env(env_fn: Callable[[], Any], seed: int, info_keys: tuple[str, ...] = INFO_KEYS):
    """Runs in a Ray worker: the emulator as a TorchRL env, its episodes and the worker's exploration
    seeded from `seed`, one torch thread (batch-1 forwards gain nothing from more); InitTracker marks
    each episode's first step ("is_init") for the policy's holds."""
    from torchrl.envs import GymWrapper, InitTracker, TransformedEnv

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    env = env_fn()
    env.reset(seed=seed)  # later resets continue the env's seeded generator
    wrapped = GymWrapper(env, categorical_action_encoding=True, device="cpu")
    return TransformedEnv(wrapped.set_info_dict_reader(episode_info_reader(info_keys)), InitTracker())


class WorkerBatch:
    """Runs in a Ray worker on each collected batch: keeps what the replay memory stores (the newest
    frame of each state and next state, not the 4-frame stacks: 14 KB instead of 56 KB a step) and
    tags it with the worker, whose episodes the learner keeps apart."""

    def __init__(self, worker: int):
        self.worker = worker

    def __call__(self, data):
        from tensordict import TensorDict

        following = data["next"]
        batch = TensorDict(
            {
                "frame": data["observation"][:, -1],
                "next_frame": following["observation"][:, -1],
                "action": data["action"],
                "reward": following["reward"].reshape(-1),
                "terminated": following["terminated"].reshape(-1),
                "done": following["done"].reshape(-1),
                "x_pos": following["x_pos"].reshape(-1),
                "flag_get": following["flag_get"].reshape(-1),
                "worker": torch.full((data.numel(),), self.worker, dtype=torch.int16),
            },
            batch_size=[data.numel()],
        )
        if ROUTE_KEY in following.keys():
            batch[ROUTE_KEY] = following[ROUTE_KEY].reshape(-1)
        return batch


def route_collector_class():
    """TorchRL's Collector with one more remote method: the learner moves the backward curriculum's start
    window of the worker's env (RouteStarts, under TorchRL's GymWrapper and InitTracker) between two batches."""
    from torchrl.collectors import Collector

    class RouteCollector(Collector):
        def set_start_window(self, lo: int, hi: int) -> None:
            self.env.base_env._env.set_start_window(lo, hi)

    return RouteCollector


def prepare_ray_environment(config: MarioConfig) -> None:
    """Before ray.init (Ray's processes inherit the variables): no usage statistics, and unless the
    cluster is on another host, every Ray server of this process and of a private instance listens on
    127.0.0.1 only. ray.init turns _node_ip_address="127.0.0.1" into this host's external address and
    Ray 2.60's gRPC servers then bind to all interfaces; Ray's switch for single-host clusters
    (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) keeps them on loopback."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if config.ray_address and split_address(config.ray_address)[0] not in LOOPBACK:
        return
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants

    # torchrl.data imports Ray when it is installed, so this process read the variable already
    ray_constants.ENABLE_RAY_CLUSTER = False


def ray_init_config(config: MarioConfig) -> dict[str, Any]:
    """ray.init's arguments: join `ray_address`, or start a private instance on 127.0.0.1."""
    common = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning"}
    if config.ray_address:
        return {"address": config.ray_address, **common}
    return {
        "address": "local",
        "num_cpus": config.num_envs,
        "num_gpus": 0,
        "object_store_memory": OBJECT_STORE_BYTES,
        **common,
    }


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(
            f"--ray-address {address!r}: expected HOST:PORT of a Ray cluster's head (ray start --head)"
        )
    return host, int(port)


# HTTP/2's client connection preface and an empty SETTINGS frame: a gRPC server (Ray's GCS, the head's
# port) answers with a SETTINGS frame (frame type 4 in byte 3 of its 9-byte header)
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A clear error within `timeout` s instead of ray.init's long retries when nothing answers there, or
    its hang when something that is not Ray does: the head's GCS must answer HTTP/2's preface as gRPC does."""
    host, port = split_address(address)
    deadline = time.monotonic() + timeout
    try:
        conn = socket.create_connection((host, port), timeout=timeout)
    except OSError as err:
        raise ConnectionError(
            f"--ray-address {address}: no Ray cluster answers there ({err}); start one with "
            "`ray start --head` or leave --ray-address empty for a private one"
        ) from None
    with conn:
        reply = _first_frame_header(conn, deadline)
    if len(reply) < 9 or reply[3] != 4:
        raise ConnectionError(
            f"--ray-address {address}: no Ray cluster answers there (something accepts "
            f"connections but gave no gRPC answer within {timeout:g} s); give the address "
            "`ray start --head` printed"
        )


def _first_frame_header(conn: socket.socket, deadline: float) -> bytes:
    """The first 9 bytes the peer sends after HTTP2_PREFACE, or fewer if it closes, fails or waits past
    `deadline`."""
    reply = b""
    try:
        conn.sendall(HTTP2_PREFACE)
        while len(reply) < 9 and (left := deadline - time.monotonic()) > 0:
            conn.settimeout(left)
            chunk = conn.recv(9 - len(reply))
            if not chunk:
                break
            reply += chunk
    except OSError:
        pass
    return reply


def make_weight_updater():
    """TorchRL's RayWeightUpdater (weights through Ray's object store, no other socket), bound to its
    RayCollector when the collector registers it: the remote workers exist only then. TorchRL deprecates it
    for weight sync schemes, but those coordinate through a torch.distributed TCPStore, which listens on
    every interface (docs/training.md)."""
    from torchrl.collectors.weight_update import RayWeightUpdater

    class CollectorWeights(RayWeightUpdater):
        def __init__(self):
            super().__init__(policy_weights=None, remote_collectors=[])

        def register_collector(self, collector):
            super().register_collector(collector)
            self.policy_weights = collector.policy_weights
            self.remote_collectors = collector.remote_collectors
            self._batches_since_weight_update = [0] * len(self.remote_collectors)

    return CollectorWeights


def start_collector(config: MarioConfig, policy: nn.Module, env_fn: Callable[[], Any], first_seed: int):
    """RayCollector: `num_envs` workers, each one emulator (seeded first_seed + i) and a policy copy."""
    from functools import partial

    from tensordict.nn import TensorDictModule
    from torchrl.collectors import Collector
    from torchrl.collectors.distributed import RayCollector

    n = config.num_envs
    keys = INFO_KEYS + (ROUTE_KEY,) if config.starts else INFO_KEYS
    return RayCollector(
        [partial(worker_env, env_fn, first_seed + i, keys) for i in range(n)],
        TensorDictModule(policy, in_keys=["observation", "is_init"], out_keys=["action"]),
        collector_class=route_collector_class() if config.starts else Collector,
        collector_kwargs=[{"postproc": WorkerBatch(i)} for i in range(n)],
        frames_per_batch=config.worker_batch,
        total_frames=sys.maxsize,
        sync=False,
        ray_init_config=ray_init_config(config),
        remote_configs={"num_cpus": 1, "num_gpus": 0},
        update_after_each_batch=True,
        weight_updater=make_weight_updater(),
    )


class RayTrainingRun(TrainingRun):
    """TrainingRun's learner and bookkeeping, fed by RayCollector's batches instead of local envs."""

    def __init__(
        self,
        config: MarioConfig,
        out_dir: str | os.PathLike,
        *,
        resume: bool = False,
        device: str = "auto",
        env_fn: Callable[[], Any] | None = None,
    ):
        """`env_fn` replaces the emulator (tests use a fake image env); it must be picklable for Ray."""
        check_bounds(config)
        self.out_dir = open_run_folder(out_dir, resume)
        self.config = config = route_of_resumed_run(config, self.out_dir, resume)
        self.collector = None
        self.curriculum = self._curriculum(config)
        if config.ray_address:
            check_reachable(config.ray_address)
        prepare_ray_environment(config)
        try:
            if config.torch_threads > 0:
                torch.set_num_threads(config.torch_threads)
            self._start_learner(resume, device)
            online = self.agent.net.online
            shared = online if self.agent.device.type == "cpu" else _cpu_copy(online)
            self.policy = ExplorationPolicy(
                shared,
                self.agent.action_dim,
                config.channels_last,
                self.agent.exploration_rate,
                repeat=config.exploration_repeat,
            )
            env_fn = env_fn or worker_env_factory(config)
            # a resumed run reseeds its envs from the episode count, as the local path does
            self.collector = start_collector(config, self.policy, env_fn, config.seed + 1000 * self.episode)
            self._send_start_window()
            self._batches: Iterator = self.collector.iterator()
        except BaseException:
            self.close(save=False)
            raise

    def step(self) -> list[dict[str, Any]]:
        """One worker's batch: the learning due for its steps, then its transitions cached and logged."""
        agent, config = self.agent, self.config
        batch = self._next_batch()
        n = len(batch) if not config.max_steps else min(len(batch), config.max_steps - agent.curr_step)
        agent.count_steps(n)
        q_loss = agent.learn(new_steps=n)
        worker = int(batch["worker"][0])
        columns = {k: v.numpy() for k, v in batch.items()}
        records = []
        for i in range(n):
            ended = (int(columns["x_pos"][i]), bool(columns["flag_get"][i])) if columns["done"][i] else None
            if ended and self.curriculum is not None:
                self._curriculum_episode(int(columns[ROUTE_KEY][i]), ended[1])
            records += self._remember(
                worker,
                columns["frame"][i : i + 1],
                columns["next_frame"][i : i + 1],
                int(columns["action"][i]),
                float(columns["reward"][i]),
                bool(columns["terminated"][i]),
                ended,
                q_loss,
            )
        self._publish()
        self._checkpoint_if_due()
        return records

    def _send_start_window(self) -> None:
        """The curriculum's window to every worker, queued behind the batch it is collecting (no wait)."""
        if self.curriculum is not None:
            for worker in self.collector.remote_collectors:
                worker.set_start_window.remote(*self.curriculum.window)

    def _next_batch(self):
        import ray

        try:
            return next(self._batches)
        except ray.exceptions.RayError as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise WorkerLost(
                f"a Ray worker was lost ({type(err).__name__}: {reason}); the run stopped at step "
                f"{self.agent.curr_step} after saving it: continue with --resume"
            ) from None

    def _publish(self) -> None:
        """What the next weight sync sends: the learner's epsilon,
        and its weights when they live elsewhere."""
        self.policy.epsilon.fill_(self.agent.exploration_rate)
        if self.policy.online is not self.agent.net.online:
            self.policy.online.load_state_dict(self.agent.net.online.state_dict())

    def close(self, save: bool = True) -> None:
        import ray

        try:
            if self.collector is not None:
                self.collector.shutdown(shutdown_ray=True)
                self.collector = None
        finally:
            if ray.is_initialized():
                ray.shutdown()
            if save and getattr(self, "agent", None) is not None:
                self.save()


def _cpu_copy(module: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(module).cpu()
