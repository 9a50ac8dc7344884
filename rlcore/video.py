"""Frames -> browser-playable H.264 (yuv420p) mp4. Every video rlcore writes goes through here."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import imageio.v2 as imageio
import numpy as np

from rlcore.checkpoint import atomic_path

DEFAULT_FPS = 30


def pad_to_even(frame: np.ndarray) -> np.ndarray:
    """yuv420p needs even width and height: pad the bottom/right edge by repeating it."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def write_mp4(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: int = DEFAULT_FPS) -> Path:
    """Write RGB uint8 frames (H, W, 3) as an H.264 yuv420p mp4 that Chromium and gr.Video play as is.

    The file appears atomically (temporary file, then rename). Raises ValueError on no frames or on
    frames that are not (H, W, 3) uint8 of one size.
    """
    count, size = 0, None
    with atomic_path(path, suffix=".mp4") as tmp:
        # macro_block_size=2: keep the true size (only evenness matters for yuv420p), no rescaling.
        with imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                pixelformat="yuv420p", macro_block_size=2,
                                # veryfast: quicker than x264's default preset on our frames, and no bigger
                                # (flat-coloured renders and NES screens)
                                output_params=["-preset", "veryfast", "-movflags", "+faststart"]) as writer:
            for frame in frames:
                frame = np.asarray(frame)
                if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                    raise ValueError(f"frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
                if size is None:
                    size = frame.shape
                elif frame.shape != size:
                    raise ValueError(f"frame {count} has shape {frame.shape}, the first had {size}")
                writer.append_data(pad_to_even(frame))
                count += 1
        if count == 0:
            raise ValueError("no frames to write")
    return Path(path)


def read_mp4(path: str | os.PathLike) -> tuple[list[np.ndarray], int]:
    """(RGB uint8 frames, fps) of an mp4 that write_mp4 wrote: a cached episode's frames without replaying it."""
    with imageio.get_reader(path, format="FFMPEG") as reader:
        fps = round(reader.get_meta_data().get("fps", DEFAULT_FPS))
        return [np.asarray(frame) for frame in reader], fps


def side_by_side(videos: Sequence[Sequence[np.ndarray]], gap: int = 8) -> Iterator[np.ndarray]:
    """Frame sequences side by side, one frame at a time (a shorter one holds its last frame), with white
    gaps between them; a generator, so N episodes never hold a second copy of their frames."""
    n = max(len(video) for video in videos)
    h = max(video[0].shape[0] for video in videos)
    spacer = np.full((h, gap, 3), 255, np.uint8)
    for i in range(n):
        parts = []
        for j, video in enumerate(videos):
            frame = video[min(i, len(video) - 1)]
            parts += [spacer] * (j > 0) + [np.pad(frame, ((0, h - frame.shape[0]), (0, 0), (0, 0)))]
        yield np.concatenate(parts, axis=1)


def hstack_videos(left: list[np.ndarray], right: list[np.ndarray], gap: int = 8) -> list[np.ndarray]:
    """Two frame sequences side by side (for comparisons); the shorter one holds its last frame."""
    return list(side_by_side([left, right], gap))
