"""Pendulum episodes as RGB frames: rod, bob, pivot and a torque arrow, drawn with PIL.

The episode is simulated with the shared physics (rlcore.pendulum.env) under the parameters of
gen_params(g, m, l), so a viewer can watch the same policy under another gravity, mass or length.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from rlcore.pendulum.env import DT, GRAVITY, LENGTH, MASS
from rlcore.pendulum.rollout import episode_rollout, episode_summary
from rlcore.systems import Episode

FRAME_SIZE = 320  # pixels, square (even, and a multiple of 16 for H.264)
_SUPERSAMPLE = 2  # draw at 2x and downscale: smooth edges without an anti-aliasing library

BACKGROUND = (248, 248, 244)
ROD = (58, 84, 120)
BOB = (200, 70, 55)
PIVOT = (40, 40, 40)
TORQUE = (230, 150, 20)
TEXT = (30, 30, 30)
TARGET = (200, 200, 200)


def draw_pendulum(
    th: float,
    torque: float,
    *,
    length: float = LENGTH,
    mass: float = MASS,
    max_torque: float = 2.0,
    caption: str = "",
    size: int = FRAME_SIZE,
) -> np.ndarray:
    """One frame (size, size, 3) uint8. th = 0 is upright, positive th and torque are anticlockwise."""
    s = _SUPERSAMPLE
    big = size * s
    image = Image.new("RGB", (big, big), BACKGROUND)
    draw = ImageDraw.Draw(image)
    cx, cy = big / 2, big * 0.53
    scale = min(0.30 * big, 0.42 * big / max(length, 1e-6))  # pixels per metre; long rods still fit
    rod = length * scale
    # faint circle: where the bob travels; the top of it is the goal
    draw.ellipse([cx - rod, cy - rod, cx + rod, cy + rod], outline=TARGET, width=2 * s)
    tip_x, tip_y = cx - rod * math.sin(th), cy - rod * math.cos(th)
    draw.line([cx, cy, tip_x, tip_y], fill=ROD, width=10 * s)
    bob = (9 + 7 * mass ** (1 / 3)) * s
    draw.ellipse([tip_x - bob, tip_y - bob, tip_x + bob, tip_y + bob], fill=BOB)
    _draw_torque_arrow(draw, cx, cy, torque / max_torque, radius=0.16 * big, width=5 * s)
    pivot = 7 * s
    draw.ellipse([cx - pivot, cy - pivot, cx + pivot, cy + pivot], fill=PIVOT)
    if caption:
        font = ImageFont.load_default(size=13 * s)
        draw.multiline_text((8 * s, 6 * s), caption, fill=TEXT, font=font, spacing=3 * s)
    return np.asarray(image.reduce(s) if s > 1 else image)  # box-filtered downscale: cheap anti-aliasing


def _draw_torque_arrow(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, fraction: float, radius: float, width: int
) -> None:
    """An arc around the pivot, its sweep proportional to |torque| / max_torque, arrowhead at the end."""
    fraction = max(-1.0, min(1.0, fraction))
    sweep = 160 * abs(fraction)
    if sweep < 4:
        return
    # PIL angles are clockwise from 3 o'clock; start at 12 o'clock (-90 degrees)
    start = -90.0
    end = start - sweep if fraction > 0 else start + sweep  # anticlockwise on screen for positive torque
    box = [cx - radius, cy - radius, cx + radius, cy + radius]
    draw.arc(box, min(start, end), max(start, end), fill=TORQUE, width=width)
    a = math.radians(end)
    tip = (cx + radius * math.cos(a), cy + radius * math.sin(a))
    tangent = (
        (-math.sin(a), math.cos(a)) if fraction < 0 else (math.sin(a), -math.cos(a))
    )  # direction of travel
    normal = (math.cos(a), math.sin(a))
    head = 3.2 * width * min(1.0, sweep / 45)  # small torques: small arrows
    base = (tip[0] - tangent[0] * head, tip[1] - tangent[1] * head)
    draw.polygon(
        [
            (tip[0] + tangent[0] * head * 0.6, tip[1] + tangent[1] * head * 0.6),
            (base[0] + normal[0] * head * 0.7, base[1] + normal[1] * head * 0.7),
            (base[0] - normal[0] * head * 0.7, base[1] - normal[1] * head * 0.7),
        ],
        fill=TORQUE,
    )


@torch.no_grad()
def render_episode(
    net: nn.Module,
    seed: int = 0,
    *,
    g: float = GRAVITY,
    m: float = MASS,
    l: float = LENGTH,  # noqa: E741
    steps: int = 200,
    size: int = FRAME_SIZE,
) -> Episode:
    """Play `net` for `steps` steps from the random start of `seed` under physics gen_params(g, m, l)."""
    episode, frames = streamed_episode(net, seed, g=g, m=m, l=l, steps=steps, size=size)
    episode.frames = list(frames)
    return episode


@torch.no_grad()
def streamed_episode(
    net: nn.Module,
    seed: int = 0,
    *,
    g: float = GRAVITY,
    m: float = MASS,
    l: float = LENGTH,  # noqa: E741
    steps: int = 200,
    size: int = FRAME_SIZE,
) -> tuple[Episode, Iterator[np.ndarray]]:
    """render_episode's Episode without frames (its figures: the physics is simulated first, cheaply), and its
    frames, each drawn as it is read, so a render holds one frame, not the episode's."""
    traj, params = episode_rollout(net, seed, g=g, m=m, l=l, steps=steps)
    ths = torch.cat([traj.th, traj.final_th[None]]).tolist()
    torques = traj.action.clamp(-params["max_torque"], params["max_torque"]).tolist()
    rewards = traj.reward.tolist()
    trace = [
        {
            "step": t,
            "th": ths[t],
            "thdot": traj.thdot[t].item(),
            "action": traj.action[t].item(),
            "torque": torques[t],
            "reward": rewards[t],
        }
        for t in range(steps)
    ]
    episode = Episode(
        frames=[],
        summary=episode_summary(traj, seed, g=g, m=m, l=l),
        trace=trace,
        fps=round(1 / DT),
        series={"torque": torques},
    )
    drawing = {"length": l, "mass": m, "max_torque": params["max_torque"], "size": size}
    return episode, _frames(ths, torques, rewards, f"g {g:g}  m {m:g}  l {l:g}", drawing)


def _frames(
    ths: list[float], torques: list[float], rewards: list[float], physics_text: str, drawing: dict
) -> Iterator[np.ndarray]:
    steps, total = len(rewards), 0.0
    for t in range(steps + 1):  # the start, then the state after each step
        torque = torques[t] if t < steps else torques[-1]
        if t:
            total += rewards[t - 1]
        caption = f"step {t:3d}/{steps}   torque {torque:+.2f}\nreturn {total:8.2f}   {physics_text}"
        yield draw_pendulum(ths[t], torque, caption=caption, **drawing)
