"""How the app shows the Pendulum (rlcore/profile.py): the physics sliders, the Train tab's caps and plots."""

from __future__ import annotations

from rlcore.profile import PlayControl, Profile, TrainKnobs

PHYSICS = (
    PlayControl("g", "Gravity g", minimum=2.0, maximum=20.0, step=0.5),
    PlayControl("m", "Mass m", minimum=0.2, maximum=3.0, step=0.1),
    PlayControl("l", "Length l", minimum=0.3, maximum=2.5, step=0.1),
)

PROFILE = Profile(
    label="Pendulum (differentiable rollouts)",
    play_controls=PHYSICS,
    # The bundled swing-up agent fails at g 15 (return about -1,000); 200 iterations there fix it
    # (docs/experiments/2026-12-02-fine-tuning-within-the-train-tab-cap.md)
    knobs=TrainKnobs(
        "Iterations",
        "batches of 32 rollouts of 100 steps; at most 2000",
        200,
        2000,
        metric_titles={
            "return": "return (200-step episodes, seeds 0-9)",
            "reward_per_step": "reward per step (training rollouts)",
            "last_reward": "last-step reward (training rollouts)",
        },
        task=PHYSICS,
        start_task={"g": 15.0},
        start_budget=200,
        cpu_rate=30.0,
        start_needs=30,
    ),
    trace_figure="reward",
    eval_episodes=10,
)
