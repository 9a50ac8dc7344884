"""Frames -> browser-playable H.264 (yuv420p) mp4. Every video rlcore writes goes through here."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image, ImageDraw, ImageFont

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
        writer = imageio.get_writer(
            tmp,
            format="FFMPEG",
            mode="I",
            fps=fps,
            codec="libx264",
            pixelformat="yuv420p",
            macro_block_size=2,
            # veryfast: quicker than x264's default preset on our frames, and no bigger
            # (flat-coloured renders and NES screens)
            output_params=["-preset", "veryfast", "-movflags", "+faststart"],
        )
        # closed on every path: imageio's own `with` leaves ffmpeg running after an error (a frame source that
        # raised, a render stopped at shutdown) until garbage collection, finishing a file already removed
        try:
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
        finally:
            writer.close()
        if count == 0:
            raise ValueError("no frames to write")
    return Path(path)


class Mp4Sink:
    """A System.play_streamed sink: the episode's frames written to the mp4 at `path` (write_mp4) as they are
    made, so a render holds the frame being made, not the episode's; `frames` counts those written."""

    def __init__(self, path: str | os.PathLike):
        self.path, self.frames = Path(path), 0

    def __call__(self, frames: Iterable[np.ndarray], fps: int) -> None:
        write_mp4(self.path, self._counted(frames), fps=fps)

    def _counted(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for frame in frames:
            self.frames += 1
            yield frame


def read_mp4(path: str | os.PathLike) -> tuple[list[np.ndarray], int]:
    """(RGB uint8 frames, fps) of an mp4 that write_mp4 wrote, all in memory (renders use mp4_frames)."""
    return list(mp4_frames(path)), mp4_fps(path)


def mp4_fps(path: str | os.PathLike) -> int:
    with imageio.get_reader(path, format="FFMPEG") as reader:
        return round(reader.get_meta_data().get("fps", DEFAULT_FPS))


def mp4_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """The RGB uint8 frames of an mp4, decoded one at a time: a cached episode streamed into another video
    holds one of its frames in memory, not all of them."""
    with imageio.get_reader(path, format="FFMPEG") as reader:
        for frame in reader.iter_data():
            yield np.asarray(frame)


def side_by_side(videos: Sequence[Iterable[np.ndarray]], gap: int = 8) -> Iterator[np.ndarray]:
    """Frame sequences side by side, one frame at a time (a shorter one holds its last frame), with white
    gaps between them. Each video is read as the combined frames are taken (lists or streams such as
    mp4_frames), so with streams only the current frame of each is in memory."""
    streams = [iter(video) for video in videos]
    current = [next(stream, None) for stream in streams]
    if any(frame is None for frame in current):
        raise ValueError("a video without frames cannot be put side by side")
    h = max(frame.shape[0] for frame in current)
    spacer = np.full((h, gap, 3), 255, np.uint8)
    while True:
        parts = []
        for j, frame in enumerate(current):
            parts += [spacer] * (j > 0) + [np.pad(frame, ((0, h - frame.shape[0]), (0, 0), (0, 0)))]
        yield np.concatenate(parts, axis=1)
        following = [next(stream, None) for stream in streams]
        if all(frame is None for frame in following):
            return
        current = [old if new is None else new for old, new in zip(current, following)]


def hstack_videos(left: list[np.ndarray], right: list[np.ndarray], gap: int = 8) -> list[np.ndarray]:
    """Two frame sequences side by side, as a list (tests; renders stream side_by_side into write_mp4)."""
    return list(side_by_side([left, right], gap))


class ValueBars:
    """A frame transform: a small translucent panel in a frame's top-right corner with one labelled bar per
    value (an agent's Q-value of each action), the highlighted one in colour, and an optional note row.

    Bars share one scale, `low`..`high` (an episode's range), so they move as the values change over an
    episode; the numbers are printed beside them. Text is rasterised once per string or character and then
    blended in with numpy: FreeType per frame cost ten times more (bench/overlay.py)."""

    ROW, PAD, BAR, TOP = 11, 3, 40, 34  # TOP: below the NES status bar (score, coins, world, time)
    SHADE = 90  # /256: the panel keeps this much of the picture under it
    TEXT, DIM, HIGHLIGHT, NOTE = (255, 255, 255), (160, 160, 160), (249, 115, 22), (253, 224, 71)

    def __init__(self, labels: Sequence[str], low: float, high: float, *, note_row: bool = False):
        if not labels:
            raise ValueError("ValueBars needs at least one label")
        self.font = ImageFont.load_default(size=9)
        self.labels, self.low, self.span = list(labels), float(low), max(float(high) - float(low), 1e-6)
        self._masks: dict[str, np.ndarray] = {}
        self.label_width = max(self._text(label).shape[1] for label in self.labels)
        self.value_width = sum(self._text(c).shape[1] for c in "-000.00")
        self.size = (
            self.PAD * 5 + self.label_width + self.BAR + self.value_width,
            self.PAD * 2 + self.ROW * (len(self.labels) + note_row),
        )

    def _text(self, text: str) -> np.ndarray:
        """The alpha mask (ROW, width, 1) of a string, rasterised once."""
        if text not in self._masks:
            image = Image.new("L", (max(int(np.ceil(self.font.getlength(text))), 1), self.ROW))
            ImageDraw.Draw(image).text((0, 0), text, fill=255, font=self.font)
            self._masks[text] = np.asarray(image, dtype=np.float32)[:, :, None] / 255
        return self._masks[text]

    def _stamp(
        self, box: np.ndarray, x: int, y: int, pieces: Iterable[str], colour: tuple[int, int, int]
    ) -> None:
        for piece in pieces:
            mask = self._text(piece)
            region = box[y : y + mask.shape[0], x : x + mask.shape[1]]
            mask = mask[: region.shape[0], : region.shape[1]]
            region[:] = region * (1 - mask) + np.asarray(colour, np.float32) * mask
            x += mask.shape[1]

    def __call__(
        self, frame: np.ndarray, values: Sequence[float], highlight: int, note: str = ""
    ) -> np.ndarray:
        width, height = self.size
        out = np.array(frame, copy=True)
        left = max(out.shape[1] - width - self.PAD, 0)
        box = out[self.TOP : self.TOP + height, left : left + width]
        box[:] = (box.astype(np.uint16) * self.SHADE >> 8).astype(np.uint8)
        bar_left = self.PAD * 3 + self.label_width
        for row, (label, value) in enumerate(zip(self.labels, values)):
            y = self.PAD + row * self.ROW
            chosen = row == highlight
            length = max(round(self.BAR * min(max((value - self.low) / self.span, 0.0), 1.0)), 1)
            box[y + 2 : y + self.ROW - 2, bar_left : bar_left + length] = (
                self.HIGHLIGHT if chosen else self.DIM
            )
            self._stamp(box, self.PAD, y, [label], self.TEXT if chosen else self.DIM)
            self._stamp(box, bar_left + self.BAR + self.PAD, y, f"{value:.2f}", self.TEXT)  # char by char
        if note:
            self._stamp(box, self.PAD, self.PAD + len(self.labels) * self.ROW, [note], self.NOTE)
        return out
