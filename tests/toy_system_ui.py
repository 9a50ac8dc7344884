"""How the app shows the toy bandit (tests/toy_system.py): its presentation profile (rlcore/profile.py),
found as the `ui` module beside the system's module (for a top-level module such as toy_system:
toy_system_ui)."""

from __future__ import annotations

from rlcore.profile import PlayControl, Profile, TrainKnobs

PROFILE = Profile(
    label="Two-armed bandit (REINFORCE)",
    knobs=TrainKnobs("Pulls", "at most 1000", 100, 1000),
    play_controls=(PlayControl("pulls", "Pulls", minimum=1, maximum=50, step=1),),
    trace_figure="reward",
    eval_episodes=5,
)
