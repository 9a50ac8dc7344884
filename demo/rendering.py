"""Episodes rendered to mp4 once, then served from a cache keyed on the weights' hash and the options.

A repeat of (weights, play options) costs a file lookup, not an episode. Two visitors asking for the
same uncached episode at once share one rendering (a lock per key). Plays take one of the renderer's
`slots` (a wait bounded by `max_waiting`); a cache hit takes none, so it never waits behind a render.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.checkpoint import WEIGHTS_FILE, CheckpointError, atomic_write_json
from rlcore.config import check_bounds
from rlcore.systems import Episode, FrameSink, get_system
from rlcore.video import Mp4Sink, mp4_fps, mp4_frames, side_by_side, write_mp4

CACHE_VERSION = (
    3  # bump when the rendering or an episode's summary changes (3: swung_up), so old ones are not served
)


def play_streamed(system_name: str, checkpoint: Path, options: Mapping[str, Any], sink: FrameSink) -> Episode:
    """The episode's figures; its frames go to `sink` as they are made (System.play_streamed)."""
    system = get_system(system_name)
    return system.play_streamed(checkpoint, system.PlayOptions(**options), sink)


def play_options(system_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """All fields of the system's PlayOptions, from the UI's values where given (others: defaults).

    Fields this system does not have (Mario's level for Pendulum) are left out, so they never split the
    cache, and the defaults are spelled out, so an option left unset and one set to its default share it.
    """
    play_options_class = get_system(system_name).PlayOptions
    names = {f.name for f in dataclasses.fields(play_options_class)}
    chosen = play_options_class(**{k: v for k, v in values.items() if k in names and v is not None})
    check_bounds(chosen, "play options")  # before the cache key and any rendering
    return dataclasses.asdict(chosen)


@dataclasses.dataclass
class RenderedEpisode:
    video: Path
    summary: dict[str, Any]
    trace: list[dict[str, Any]]
    frames: int
    cached: bool
    series: dict[str, list[float]] = dataclasses.field(default_factory=dict)  # Episode.series


@dataclasses.dataclass
class RenderedComparison:
    video: Path
    left: RenderedEpisode
    right: RenderedEpisode
    cached: bool


@dataclasses.dataclass
class RenderedLineup:
    video: Path
    episodes: list[RenderedEpisode]  # in the order of the panels, left to right
    cached: bool


CAPTION_HEIGHT = 22


def caption_strip(width: int, text: str) -> np.ndarray:
    """A white strip with one line of black text, to put above a panel of a lineup."""
    import cv2

    strip = np.full((CAPTION_HEIGHT, width, 3), 255, np.uint8)
    cv2.putText(strip, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return strip


def captioned_side_by_side(
    videos: Sequence[Iterable[np.ndarray]], captions: Sequence[str]
) -> Iterator[np.ndarray]:
    """The videos side by side with each one's caption above it, read a frame at a time (as side_by_side)."""
    streams = [iter(video) for video in videos]
    firsts = [next(stream) for stream in streams]
    header = next(
        side_by_side([[caption_strip(first.shape[1], text)] for first, text in zip(firsts, captions)])
    )
    for frame in side_by_side([itertools.chain([first], stream) for first, stream in zip(firsts, streams)]):
        yield np.concatenate([header, frame], axis=0)


def _jsonable_trace(trace: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Keep the numeric figures of each step (what plots need), as plain Python numbers."""
    rows = []
    for step in trace:
        row = {}
        for key, value in step.items():
            if hasattr(value, "item") and getattr(value, "size", 1) == 1:
                value = value.item()
            if isinstance(value, (bool, int, float)):
                row[key] = value
        rows.append(row)
    return rows


def _jsonable_series(series: Mapping[str, Any]) -> dict[str, list[float]]:
    return {str(name): [float(v) for v in values] for name, values in series.items()}


def _jsonable(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (v.item() if hasattr(v, "item") and getattr(v, "size", 1) == 1 else v) for k, v in summary.items()
    }


class RenderBusy(ValueError):
    """Too many episodes already wait for a render slot (a refusal, said in one line)."""


class RenderClosed(ValueError):
    """The app is shutting down: no new play starts, and a play in progress stops at its next frame."""


class Renderer:
    def __init__(
        self,
        cache_dir: Path,
        max_entries: int = 500,
        while_playing: Callable[[], contextlib.AbstractContextManager] | None = None,
        slots: int = 2,
        max_waiting: int = 8,
        after_store: Callable[[], Any] | None = None,
    ):
        """`while_playing`: entered around each play of an episode (the app pauses training runs in it).
        `after_store`: called after each video stored (the app bounds Gradio's copies of served files).
        `slots`: episodes played (and encoded) at once; `max_waiting`: plays that may wait for a slot (more
        are refused: each waiting one holds a server thread)."""
        self.cache_dir = Path(cache_dir)
        self.max_waiting, self.slots = max_waiting, slots
        self._slots = threading.BoundedSemaphore(slots)
        self._waiting = 0
        self.while_playing = while_playing or contextlib.nullcontext
        self.after_store = after_store or (lambda: None)
        self.max_entries = max_entries
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.episodes_played = 0  # counts real plays (not cache hits): the tests read it
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._closing = threading.Event()
        self._playing = threading.Condition(self._lock)
        self._plays = 0  # plays in progress (close waits for them)

    # ------------------------------------------------------------------------------ keys
    def weights_hash(self, checkpoint: Path) -> str:
        """sha256 of model.safetensors, remembered per (path, size, mtime)."""
        file = Path(checkpoint) / WEIGHTS_FILE
        try:
            stat = file.stat()
        except FileNotFoundError:
            raise CheckpointError(f"{file}: missing") from None
        memo = (str(file), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if memo in self._hashes:
                return self._hashes[memo]
        digest = hashlib.sha256()
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        with self._lock:
            self._hashes[memo] = digest.hexdigest()
        return digest.hexdigest()

    def _key(self, system: str, hashes: list[str], options: Mapping[str, Any]) -> str:
        options = play_options(system, options)
        document = json.dumps(
            {
                "v": CACHE_VERSION,
                "system": system,
                "weights": hashes,
                "options": dict(sorted(options.items())),
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(document.encode()).hexdigest()[:32]

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    # ----------------------------------------------------------------------------- cache
    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.cache_dir / f"{key}.mp4", self.cache_dir / f"{key}.json"

    def _read(self, key: str) -> dict[str, Any] | None:
        video, meta = self._paths(key)
        if video.is_file() and meta.is_file():  # meta is written last: its presence marks a complete entry
            try:
                document = json.loads(meta.read_text())
                os.utime(meta)  # recently served: pruned last
                return document
            except (OSError, json.JSONDecodeError):
                return None
        return None

    def _prune(self) -> None:
        """Keep the cache to max_entries episodes, dropping the least recently served (after each video
        stored: `after_store` too)."""
        self.after_store()
        metas = list(self.cache_dir.glob("*.json"))
        if len(metas) > self.max_entries:
            metas.sort(key=lambda p: p.stat().st_mtime if p.exists() else 0.0)
            for meta in metas[: len(metas) - self.max_entries]:
                meta.unlink(missing_ok=True)  # first: an entry without its JSON is never served
                meta.with_suffix(".mp4").unlink(missing_ok=True)

    def _store_figures(self, key: str, episode: Episode, frames: int) -> RenderedEpisode:
        """The figures of an episode whose video is written, stored beside it: the entry is now complete."""
        video, meta = self._paths(key)
        document = {
            "summary": _jsonable(episode.summary),
            "trace": _jsonable_trace(episode.trace),
            "frames": frames,
            "series": _jsonable_series(episode.series),
        }
        atomic_write_json(meta, document)
        self._prune()
        return RenderedEpisode(
            video,
            document["summary"],
            document["trace"],
            document["frames"],
            cached=False,
            series=document["series"],
        )

    # ---------------------------------------------------------------------------- public
    def cached_episode(
        self, system: str, checkpoint: Path, options: Mapping[str, Any]
    ) -> RenderedEpisode | None:
        key = self._key(system, [self.weights_hash(checkpoint)], options)
        document = self._read(key)
        if document is None:
            return None
        return RenderedEpisode(
            self._paths(key)[0],
            document["summary"],
            document["trace"],
            document["frames"],
            cached=True,
            series=document.get("series", {}),
        )

    def episode(self, system: str, checkpoint: Path, options: Mapping[str, Any]) -> RenderedEpisode:
        """The episode's mp4 and figures: from the cache when this (weights, options) was rendered before."""
        key = self._key(system, [self.weights_hash(checkpoint)], options)
        with self._key_lock(key):
            hit = self.cached_episode(system, checkpoint, options)
            if hit is not None:
                return hit
            return self._render(key, system, checkpoint, options)

    def comparison(
        self, system: str, left: Path, right: Path, options: Mapping[str, Any]
    ) -> RenderedComparison:
        """Two agents on the same options, side by side in one video, with both agents' figures (the same
        weights twice: one episode, play is deterministic)."""
        key = self._key(system, [self.weights_hash(left), self.weights_hash(right)], options)
        with self._key_lock(key):
            cached = self._read(key) is not None
            episodes = self._episodes(system, [left, right], options)
            if not cached:
                self._combine(key, episodes, side_by_side)
        return RenderedComparison(self._paths(key)[0], *episodes, cached=cached)

    def lineup(
        self, system: str, checkpoints: Sequence[Path], captions: Sequence[str], options: Mapping[str, Any]
    ) -> RenderedLineup:
        """Several agents (an agent's snapshots) on the same options, side by side in one video with a caption
        above each; each agent's own episode is cached as usual (the same weights twice play once)."""
        hashes = [self.weights_hash(checkpoint) for checkpoint in checkpoints]
        key = self._key(system, [*hashes, *captions], options)
        with self._key_lock(key):
            cached = self._read(key) is not None
            episodes = self._episodes(system, checkpoints, options)
            if not cached:
                self._combine(key, episodes, lambda videos: captioned_side_by_side(videos, captions))
        return RenderedLineup(self._paths(key)[0], episodes, cached)

    def _episodes(
        self, system: str, checkpoints: Sequence[Path], options: Mapping[str, Any]
    ) -> list[RenderedEpisode]:
        """Each agent's episode (self.episode), played at once in threads, as many as the renderer's slots
        (the emulator, PyTorch and the encoder's pipe release the GIL), so a Compare takes about as long as
        its longer episode, not both; in the order of `checkpoints`. The first error raised is raised."""
        if len(checkpoints) < 2:
            return [self.episode(system, checkpoint, options) for checkpoint in checkpoints]
        with concurrent.futures.ThreadPoolExecutor(
            min(len(checkpoints), self.slots), thread_name_prefix="render"
        ) as pool:
            return list(pool.map(lambda checkpoint: self.episode(system, checkpoint, options), checkpoints))

    def _combine(self, key: str, episodes: list[RenderedEpisode], layout) -> None:
        """The episodes' cached videos combined by `layout` into the video of `key`. Streamed: each video is
        decoded a frame at a time and each combined frame goes to the encoder as it is made, so this holds a
        few frames, not the episodes' frames (their plays streamed theirs to the encoder too: _render)."""
        video, meta = self._paths(key)
        with self._render_slot():  # encoding costs what a play does: it takes a slot as well
            write_mp4(
                video,
                layout([mp4_frames(episode.video) for episode in episodes]),
                fps=mp4_fps(episodes[0].video),
            )
        atomic_write_json(meta, {"frames": max(episode.frames for episode in episodes)})
        self._prune()

    @contextlib.contextmanager
    def _render_slot(self) -> Iterator[None]:
        """One of the `slots` for a play and its encoding; RenderBusy when `max_waiting` already wait."""
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise RenderBusy(
                    f"{self._waiting} episodes are already waiting to be rendered: try again "
                    "in a minute (episodes played before are served at once)"
                )
            self._waiting += 1
        try:
            self._slots.acquire()
        finally:
            with self._lock:
                self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()

    def _render(self, key: str, system: str, checkpoint: Path, options: Mapping[str, Any]) -> RenderedEpisode:
        """Play the episode in a render slot, each frame going to the encoder as it is made (a render holds
        O(1) frames, however long the episode), and store it in the cache under `key`."""
        sink = Mp4Sink(self._paths(key)[0])
        with self._render_slot():
            return self._store_figures(key, self._play(system, checkpoint, options, sink), sink.frames)

    def _play(self, system: str, checkpoint: Path, options: Mapping[str, Any], sink: FrameSink) -> Episode:
        with self._lock:
            if self._closing.is_set():
                raise RenderClosed("the app is shutting down: no new episode is played")
            self.episodes_played += 1
            self._plays += 1
        try:
            with self.while_playing():
                return play_streamed(
                    system,
                    Path(checkpoint),
                    play_options(system, options),
                    lambda frames, fps: sink(self._until_closed(frames), fps),
                )
        finally:
            with self._lock:
                self._plays -= 1
                self._playing.notify_all()

    def _until_closed(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The frames, until close(): a play is stopped between frames, in Python, so no thread is left inside
        the emulator or PyTorch when the process exits (a daemon thread stopped there aborts the interpreter
        at exit: "terminate called without an active exception")."""
        for frame in frames:
            if self._closing.is_set():
                raise RenderClosed("the app is shutting down: the episode was stopped")
            yield frame

    def close(self, timeout: float = 10.0) -> bool:
        """No new play starts and those in progress stop at their next frame; True once none is left (waits up
        to `timeout` seconds)."""
        self._closing.set()
        with self._lock:
            return self._playing.wait_for(lambda: self._plays == 0, timeout)
