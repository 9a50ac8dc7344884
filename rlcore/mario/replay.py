"""Compact replay memory: one uint8 84x84 frame per transition, stacks rebuilt at sample time.

The tutorial stores two float32 (4, 84, 84) stacks per transition (225,792 bytes). Consecutive
stacks share 3 of their 4 frames, so here each stored row holds only the NEWEST frame of the next
state plus the action, reward, done flag and links to its neighbours in the same episode:

    row = frame (84x84 uint8) | action (uint8) | reward (float32) | done (bool) | prev (int32)
          [| next (int32), only with n-step returns]          -> 7,066 bytes (7,070 with n-step)

Per transition, counting the reset rows below: 7,066 x (1 + 1/episode length), e.g. 7,097 for the
~230-step episodes of early training (the tutorial: 225,813).

An episode of n transitions takes n + 1 rows: a "reset row" (its `prev` points to itself) holds
the first frame; transition row j's next state is [prev^3(j), prev^2(j), prev(j), j] and its state
is [prev^4(j) .. prev(j)]. Following `prev` stops at the reset row, so the first stacks repeat the
first frame: exactly gym's FrameStack reset semantics, which `MarioPreprocessing` also uses.
Links rather than "the previous slot" let several envs write interleaved episodes into one ring.

Rows live in a torchrl `TensorDictReplayBuffer` over a `TensorStorage` of a preallocated
TensorDict (torchrl's round-robin writer fills the ring). Sampling is index arithmetic in NumPy:
one `np.take` of 5 frames per transition (state = frames 0-3, next state = frames 1-4).

Why not torchrl's own route (checked on torchrl 0.14.1): `CatFrames.make_rb_transform_and_sampler`
pairs CatFrames with `SliceSampler(slice_len=4, strict_length=True)`, so the first 3 transitions
of every episode are never sampled, and its documented layout stores both `pixels` and
`("next", "pixels")` per row (2 frames, ~14 KB per transition); on our layout its unfolding also
failed (AttributeError in CatFrames.unfolding). Frames are gathered with `np.take`, far quicker
than torch fancy indexing on busy cores (figures in bench/README.md).

Prioritized replay (Schaul et al. 2016), optional: torchrl's `PrioritizedSampler` (C++ sum and min
trees) picks rows with probability ~ priority^alpha; a new row gets the highest priority seen so far
(it is replayed soon at least once), reset rows and unwritten slots get priority 0 (never a
transition), and `update_priorities` sets |TD error| after each update. The importance weights
(p / p_min)^-beta are normalised by the batch's largest, as in the paper.
"""

from __future__ import annotations

import numpy as np
import torch
from tensordict import TensorDict
from torchrl.data import PrioritizedSampler, TensorDictReplayBuffer, TensorStorage

NO_LINK = -1


def random_shift(stacks: torch.Tensor, pad: int, rng: np.random.Generator) -> torch.Tensor:
    """DrQ's image augmentation (Kostrikov et al. 2021) of a (B, C, H, W) batch: each stack moved by up to
    `pad` pixels each way at random, the same for its C frames, edges repeated (as padding by `pad`
    edge pixels and cropping back would). Slices, not fancy indexing: under 0.5 ms for 32 stacks."""
    if pad <= 0:
        return stacks
    frames = stacks.numpy()
    batch, _, height, width = frames.shape
    out = np.empty_like(frames)
    for i, (dy, dx) in enumerate(rng.integers(-pad, pad + 1, (batch, 2)).tolist()):
        o = out[i]  # o[:, r, q] = frames[i, :, clip(r + dy), clip(q + dx)]
        o[:, max(0, -dy) : height - max(0, dy), max(0, -dx) : width - max(0, dx)] = frames[
            i, :, max(0, dy) : height + min(0, dy), max(0, dx) : width + min(0, dx)
        ]
        if dy > 0:
            o[:, height - dy :] = o[:, height - dy - 1 : height - dy]
        elif dy < 0:
            o[:, :-dy] = o[:, -dy : 1 - dy]
        if dx > 0:
            o[:, :, width - dx :] = o[:, :, width - dx - 1 : width - dx]
        elif dx < 0:
            o[:, :, :-dx] = o[:, :, -dx : 1 - dx]
    return torch.from_numpy(out)


class ReplayMemory:
    """Ring of single frames with episode links; `cache` a step, `sample` a batch of stacks."""

    def __init__(
        self,
        capacity: int,
        *,
        frame_shape: tuple[int, int] = (84, 84),
        stack: int = 4,
        n_step: int = 1,
        num_envs: int = 1,
        seed: int | None = None,
        alpha: float = 0.0,
        beta: float = 0.4,
    ):
        """alpha > 0: prioritized replay with priority exponent alpha and importance-sampling exponent
        beta (settable later: `set_beta`); alpha 0: uniform sampling (the tutorial's)."""
        if capacity < 8:
            raise ValueError(f"replay capacity must be at least 8, got {capacity}")
        if n_step < 1 or stack < 1:
            raise ValueError(f"n_step and stack must be >= 1, got {n_step}, {stack}")
        if not (0.0 <= alpha <= 1.0 and 0.0 <= beta <= 1.0):
            raise ValueError(f"prioritized replay needs alpha and beta in [0, 1], got {alpha}, {beta}")
        self.capacity, self.stack, self.n_step = int(capacity), stack, n_step
        fields = {
            "frame": torch.zeros((capacity, *frame_shape), dtype=torch.uint8),
            "action": torch.zeros(capacity, dtype=torch.uint8),
            "reward": torch.zeros(capacity, dtype=torch.float32),
            "done": torch.zeros(capacity, dtype=torch.bool),
            "prev": torch.full((capacity,), NO_LINK, dtype=torch.int32),
        }
        if n_step > 1:
            fields["next"] = torch.full((capacity,), NO_LINK, dtype=torch.int32)
        self._rows = TensorDict(fields, batch_size=[capacity])
        self._storage = TensorStorage(self._rows, max_size=capacity)
        self.sampler = PrioritizedSampler(capacity, alpha=alpha, beta=beta) if alpha > 0 else None
        self.buffer = TensorDictReplayBuffer(
            storage=self._storage, **({} if self.sampler is None else {"sampler": self.sampler})
        )
        if self.sampler is not None:
            self.buffer.set_rng(torch.Generator().manual_seed(0 if seed is None else seed))
            # the preallocated storage counts every slot as written: none is a transition yet
            self.sampler.update_priority(torch.arange(capacity), 0.0)
        # NumPy views of the same memory, for fast gathers
        self._np = {k: v.numpy() for k, v in self._rows.items()}
        self._last_row: list[int | None] = [None] * num_envs  # each env's latest row in its episode
        self._rng = np.random.default_rng(seed)
        self.transitions_added = 0
        self._writes = 0  # rows written so far (the ring cursor is this modulo capacity)

    # ------------------------------------------------------------------------------- writing
    def __len__(self) -> int:
        """Rows written so far (the storage, preallocated, reports its full capacity)."""
        return min(self._writes, self.capacity)

    @property
    def bytes_per_row(self) -> int:
        return sum(v[0].numel() * v.element_size() for v in self._rows.values())

    def nbytes(self) -> int:
        return self.bytes_per_row * self.capacity

    def _write(self, frame: np.ndarray, action: int, reward: float, done: bool, prev: int | None) -> int:
        data = {
            "frame": torch.from_numpy(np.ascontiguousarray(frame)),
            "action": torch.tensor(action, dtype=torch.uint8),
            "reward": torch.tensor(reward, dtype=torch.float32),
            "done": torch.tensor(done, dtype=torch.bool),
            "prev": torch.tensor(NO_LINK, dtype=torch.int32),
        }
        if self.n_step > 1:
            data["next"] = torch.tensor(NO_LINK, dtype=torch.int32)
        index = int(self.buffer.add(TensorDict(data, batch_size=[])))
        if index != self._writes % self.capacity:
            raise RuntimeError(f"replay writer wrote row {index}, expected {self._writes % self.capacity}")
        self._writes += 1
        self._np["prev"][index] = index if prev is None else prev  # a reset row links to itself
        if prev is None and self.sampler is not None:
            self.sampler.update_priority(index, 0.0)  # a reset row holds a first frame, not a transition
        if self.n_step > 1 and prev is not None:
            self._np["next"][prev] = index
        return index

    def cache(
        self,
        state: np.ndarray,
        next_state: np.ndarray,
        action: int,
        reward: float,
        done: bool,
        *,
        end: bool | None = None,
        env_index: int = 0,
    ) -> int:
        """Store one step of env `env_index`. `done` stops bootstrapping (terminated); `end`
        (default: done) closes the episode, e.g. on truncation, so the next call starts a new one."""
        last = self._last_row[env_index]
        if last is None:
            last = self._write(state[-1], 0, 0.0, False, None)
        row = self._write(next_state[-1], int(action), float(reward), bool(done), last)
        self._last_row[env_index] = None if (done if end is None else end) else row
        self.transitions_added += 1
        return row

    # ------------------------------------------------------------------------------- reading
    def _age(self, rows: np.ndarray) -> np.ndarray:
        """0 for the newest row, growing with age (ring order from the write cursor)."""
        cursor = self._writes % self.capacity  # the round-robin writer's next slot
        return (cursor - 1 - rows) % self.capacity

    def _history(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """rows -> (stack + 1 row indices oldest..newest along `prev`, whether all are intact)."""
        prev = self._np["prev"]
        chain = [rows]
        ok = np.ones(rows.shape, bool)
        age = self._age(rows)
        for _ in range(self.stack):
            before = prev[chain[-1]]
            moved = before != chain[-1]
            before_age = self._age(before)
            ok &= (before >= 0) & (~moved | (before_age > age))  # an overwritten link points to a newer row
            chain.append(np.where(ok, before, chain[-1]))
            age = before_age
        return np.stack(chain[::-1], axis=1), ok

    def _future(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Follow `next` up to n steps: rewards (B, n) (0 after the episode ended), whether it ended
        (done), the row whose next state bootstraps (last), and whether the whole window is stored (ok)."""
        nxt, done_col, reward_col = self._np.get("next"), self._np["done"], self._np["reward"]
        rewards = np.zeros((len(rows), self.n_step), np.float32)
        alive = np.ones(len(rows), bool)  # still inside the episode
        ok = np.ones(len(rows), bool)
        done = np.zeros(len(rows), bool)
        last = rows.copy()
        current = rows.copy()
        age = self._age(current)
        for k in range(self.n_step):
            if k > 0:
                step = nxt[current]
                step_age = self._age(np.maximum(step, 0))
                broken = alive & ((step < 0) | (step_age >= age))
                ok &= ~broken
                alive &= ~broken
                current = np.where(alive, step, current)
                age = np.where(alive, step_age, age)
                last = np.where(alive, current, last)
            rewards[:, k] = np.where(alive, reward_col[current], 0.0)
            ended = alive & done_col[current]
            done |= ended
            alive &= ~ended
        return rewards, done, last, ok

    def transitions(self, rows: np.ndarray, gamma: float = 0.9) -> dict[str, torch.Tensor]:
        """The transitions stored at transition rows `rows` (B,): state, next_state (B, 4, 84, 84)
        uint8, action (B,), reward (B,) (n-step discounted sum), done (B,)."""
        rows = np.asarray(rows, dtype=np.int64)
        frames = self._np["frame"]
        chain, _ = self._history(rows)
        window = np.take(frames, chain.reshape(-1), axis=0).reshape(
            len(rows), self.stack + 1, *frames.shape[1:]
        )
        state = torch.from_numpy(window[:, :-1])
        if self.n_step == 1:
            next_state = torch.from_numpy(window[:, 1:])
            reward = torch.from_numpy(self._np["reward"][rows].copy())
            done = torch.from_numpy(self._np["done"][rows].copy())
        else:
            rewards, done_np, last, _ = self._future(rows)
            reward = torch.from_numpy(rewards @ (gamma ** np.arange(self.n_step, dtype=np.float32)))
            next_chain, _ = self._history(last)
            next_state = torch.from_numpy(
                np.take(frames, next_chain[:, 1:].reshape(-1), axis=0).reshape(state.shape)
            )
            done = torch.from_numpy(done_np)
        action = torch.from_numpy(self._np["action"][rows].astype(np.int64))
        return {"state": state, "next_state": next_state, "action": action, "reward": reward, "done": done}

    def valid(self, rows: np.ndarray) -> np.ndarray:
        """Which rows are transitions whose whole history (and n-step future) is still stored."""
        rows = np.asarray(rows, dtype=np.int64)
        is_transition = self._np["prev"][rows] != rows
        _, ok = self._history(rows)
        ok &= is_transition
        if self.n_step > 1:
            ok &= self._future(rows)[3]
        return ok

    def sample_rows(self, batch_size: int) -> np.ndarray:
        """Rows of `batch_size` complete transitions: uniformly, or by priority."""
        return self.sample_weighted_rows(batch_size)[0]

    def sample_weighted_rows(self, batch_size: int) -> tuple[np.ndarray, torch.Tensor | None]:
        """(rows, importance weights): weights are None for uniform sampling, else (p / p_min)^-beta
        divided by the batch's largest."""
        size = len(self)
        if size == 0:
            raise ValueError("cannot sample from an empty replay memory")
        picked: list[np.ndarray] = []
        weights: list[torch.Tensor] = []
        count = 0
        for _ in range(100):
            if self.sampler is None:
                candidates = self._rng.integers(0, size, 2 * batch_size)
            else:
                index, info = self.sampler.sample(self._storage, 2 * batch_size)
                candidates = index.numpy()
            good = self.valid(candidates)
            picked.append(candidates[good])
            if self.sampler is not None:
                weights.append(info["priority_weight"][torch.from_numpy(good)])
            count += int(good.sum())
            if count >= batch_size:
                rows = np.concatenate(picked)[:batch_size]
                if self.sampler is None:
                    return rows, None
                weight = torch.cat(weights)[:batch_size].float()
                return rows, weight / weight.max()
        raise ValueError("the replay memory holds too few complete transitions to sample a batch")

    def set_beta(self, beta: float) -> None:
        """Prioritized replay: the importance-sampling exponent (annealed towards 1 during training)."""
        if self.sampler is not None:
            self.sampler.beta = min(1.0, max(0.0, float(beta)))

    def update_priorities(self, rows: np.ndarray, td_errors: torch.Tensor) -> None:
        """Prioritized replay: the rows just learned from get priority |TD error|."""
        if self.sampler is not None:
            priorities = td_errors.detach().abs().float().cpu()
            self.sampler.update_priority(torch.as_tensor(rows, dtype=torch.long), priorities)

    def sample(self, batch_size: int, gamma: float = 0.9) -> dict[str, torch.Tensor]:
        """A batch of transitions (see `transitions`) plus "rows" and, with priorities, "weight"."""
        rows, weight = self.sample_weighted_rows(batch_size)
        batch = self.transitions(rows, gamma)
        batch["rows"] = torch.from_numpy(rows)
        if weight is not None:
            batch["weight"] = weight
        return batch
