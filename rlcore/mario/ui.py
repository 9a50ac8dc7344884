"""How the app shows Mario (rlcore/profile.py): the level and Q-value widgets, the Train tab's caps."""

from __future__ import annotations

from rlcore.mario.api import short_run
from rlcore.profile import PlayControl, Profile, TrainKnobs

LEVEL = (
    PlayControl("world", "World", choices=tuple(range(1, 9))),
    PlayControl("stage", "Stage", choices=tuple(range(1, 5))),
)

PROFILE = Profile(
    label="Super Mario Bros (Double DQN)",
    play_controls=(*LEVEL, PlayControl("show_q", "Show Q-values in the video")),
    # ~55 agent steps a second on an idle 2-core CPU; ~30,000 before a run from an agent changes visibly
    # (docs/experiments/2026-12-02-fine-tuning-within-the-train-tab-cap.md), ~6,000 when it practises where
    # the agent fails (docs/experiments/2026-12-07-practice-in-the-train-tab.md: 5,829 steps, x 649 -> 1,031)
    knobs=TrainKnobs(
        "Agent steps",
        "at most 50,000 (learning starts after at most a quarter of them)",
        3000,
        50_000,
        short_run=short_run,
        task=LEVEL,
        start_agent="mario-1-3-treetop",
        start_budget=30_000,
        cpu_rate=55.0,
        start_needs=30_000,
        practice_needs=6_000,
    ),
    trace_figure="x_pos",
    eval_episodes=3,  # an emulator episode takes far longer than a pendulum one
    showcase=True,
    slow_to_play=True,
)
