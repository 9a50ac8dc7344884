"""What a run from a trained agent achieves within the Train tab's cap: the bundled swing-up Pendulum
adapted to other physics, as the tab's default run does (rlcore.resolve, the tab's iterations).

    .venv/bin/python bench/finetune.py                       # g 15, 200 iterations, training seeds 0-2
    .venv/bin/python bench/finetune.py --physics m=1.5 --iterations 100 --seeds 1
    .venv/bin/python bench/finetune.py --mario runs/mario-1-2 --episodes 10   # a Mario run from mario-1-1
    .venv/bin/python bench/finetune.py --mario-tab --episodes 5    # the Train tab's default Mario run, capped

For each physics: the bundled agent's return over 100 episodes from random starts (evaluate's 200-step
measure, starts of seeds 1000-1099, under that physics) and its swung-up rate (upright and still at the
last step: reward above -0.01), then the same after each fine-tune, with its wall-clock time.
With --mario RUN: the bundled mario-1-1 and the run (trained from it, `--init`) on the run's level, each
greedy on the same episodes (seeds 0..N-1, 0-30 random no-op frames at the start): x reached, flags, return.
With --mario-tab: first trains the Train tab's default Mario run (the config the tab builds, demo.train.run_config,
with the practice it adds, stopped at the app's time cap as the tab stops it), then compares the agent it started
from (mario-1-3) and the run where the run practised (each point of its start window) and from the level's start.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rlcore.pendulum.play import evaluate_net
from rlcore.pendulum.rollout import UPRIGHT_REWARD
from rlcore.profile import profile_of
from rlcore.resolve import resolve_config
from rlcore.systems import get_system

BUNDLED = Path(__file__).resolve().parents[1] / "checkpoints" / "pendulum-swingup"
BUNDLED_MARIO = BUNDLED.parent / "mario-1-1"
EPISODES, FIRST_SEED = 100, 1000


def figures(folder: Path, physics: dict[str, float]) -> tuple[float, float]:
    """(mean return, swung-up rate) of a checkpoint under `physics`."""
    results = evaluate_net(get_system("pendulum").load(folder).net, EPISODES, FIRST_SEED, physics=physics)
    upright = sum(r > UPRIGHT_REWARD for r in results["last_rewards"]) / EPISODES
    return results["mean_reward"], upright


def fine_tune(physics: dict[str, float], iterations: int, seed: int, out: Path) -> float:
    """Train from the bundled agent as the Train tab does; the wall-clock seconds it took."""
    pendulum = get_system("pendulum")
    config = resolve_config(
        pendulum, init=BUNDLED, overrides={"iterations": iterations, "seed": seed, **physics}
    )
    began = time.perf_counter()
    for _ in pendulum.train(config, out, device="cpu"):
        pass
    return time.perf_counter() - began


def mario_before_after(run: Path, episodes: int) -> None:
    """The starting agent and the run on the run's level, on the same seeds (evaluate's greedy protocol)."""
    from rlcore.mario.agent import Mario
    from rlcore.mario.play import evaluate

    config = get_system("mario").config_of(run)
    level = {"world": config.world, "stage": config.stage}
    print(f"level {config.world}-{config.stage}, {episodes} greedy episodes (seeds 0-{episodes - 1})")
    for name, folder in (("bundled mario-1-1", BUNDLED_MARIO), (str(run), run)):
        results = evaluate(Mario.load(folder, **level), episodes, seed=0)
        xs = [e["x_pos"] for e in results["episodes"]]
        print(
            f"{name}: x reached {results['mean_x_pos']:.0f} (min {min(xs)}, max {max(xs)}), flags "
            f"{results['flags']}/{episodes}, return {results['mean_reward']:.0f}"
        )


def mario_tab_run(out: Path, seconds: float, steps: int | None = None):
    """Train the Train tab's default Mario run (its proposed agent, on its own level, with the practice the
    tab adds: System.practice judged by that agent's seed-0 episode), stopped after `seconds` as the app stops
    a run at its cap (`steps`: another budget) ->
    (the run's folder, the agent it started from, the Practice)."""
    import threading

    from demo.train import run_config
    from rlcore.config import from_dict

    mario = get_system("mario")
    knobs = profile_of(mario).knobs
    agent = BUNDLED.parent / knobs.start_agent
    start = resolve_config(mario, init=agent)
    task = {**mario.task_of(start), **knobs.start_task}
    config = run_config(
        "mario",
        next(iter(mario.presets)),
        steps or knobs.start_budget,
        getattr(start, knobs.lr_field),
        0,
        start=agent,
        task=task,
    )
    typed = from_dict(mario.Config, config, source="the tab's run")
    practice = mario.practice(typed, mario.map_episode(mario.load(agent), mario.play_options(0, **task)))
    if practice is not None:
        print(f"practice: {practice.note}")
        typed = from_dict(mario.Config, {**config, **practice.config}, source="the tab's run")
    stopped = threading.Event()
    cap = threading.Timer(seconds, stopped.set)
    began = time.perf_counter()
    cap.start()
    last: dict = {}
    try:
        for record in mario.train(typed, out, device="cpu", stop=stopped):
            last = record or last
    finally:
        cap.cancel()
    print(
        f"tab run: {time.perf_counter() - began:.0f} s (cap {seconds:.0f} s), {typed.max_steps} steps "
        f"proposed, reached {last.get('step')}"
    )
    return out, agent, practice


def mario_practice_before_after(agent: Path, run: Path, practice, episodes: int) -> None:
    """Both agents from each start point of the practice window (greedy, then sticky 0.25 on `episodes` seeds
    from 3000 at each point) and from the level's start (greedy, seed 0): the x each reaches."""
    from rlcore.mario.agent import Mario
    from rlcore.mario.curriculum import BackwardCurriculum, route_points
    from rlcore.mario.explore import Route
    from rlcore.mario.play import run_episode

    changes = practice.config
    xs = route_points(Route.load(changes["starts"]))
    lo, hi = BackwardCurriculum(xs, changes["start_window"], 1.0, start_x=changes["start_x"]).window
    spots = xs[lo : hi + 1]
    print(
        f"practice window: x {', '.join(map(str, spots))}; sticky 0.25: seeds 3000-{3000 + episodes - 1} each"
    )
    for name, folder in ((agent.name, agent), (str(run), run)):
        mario = Mario.load(folder)
        greedy = [run_episode(mario, seed=0, start_x=x)["x_pos"] for x in spots]
        sticky = sorted(
            run_episode(mario, seed=3000 + i, start_x=x, sticky=0.25)["x_pos"]
            for x in spots
            for i in range(episodes)
        )
        print(
            f"{name}: greedy x from the window's points {greedy}; sticky x (sorted) {sticky}, mean "
            f"{statistics.mean(sticky):.0f}; "
            f"from the level's start (greedy) x {run_episode(mario, seed=0)['x_pos']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--physics", nargs="+", default=["g=15"], help="NAME=VALUE of g, m, l (default: g=15)"
    )
    parser.add_argument(
        "--iterations", type=int, default=profile_of(get_system("pendulum")).knobs.start_budget
    )
    parser.add_argument("--seeds", type=int, default=3, help="fine-tunes with training seeds 0..N-1")
    parser.add_argument(
        "--mario",
        type=Path,
        metavar="RUN",
        help="instead: a Mario run trained from mario-1-1 against mario-1-1, on the run's level",
    )
    parser.add_argument(
        "--mario-tab",
        action="store_true",
        help="instead: train the Train tab's default Mario "
        "run (stopped at --cap seconds), then compare it with the agent it started from: from each "
        "point of its practice window (--episodes sticky episodes each) and from the level's start",
    )
    parser.add_argument(
        "--cap", type=float, default=600.0, help="with --mario-tab: the time cap (default: the app's 600 s)"
    )
    parser.add_argument(
        "--steps", type=int, help="with --mario-tab: the agent steps proposed (default: the tab's)"
    )
    parser.add_argument(
        "--episodes", type=int, default=10, help="with --mario: episodes of each (default: 10)"
    )
    args = parser.parse_args()
    if args.mario:
        return mario_before_after(args.mario, args.episodes)
    if args.mario_tab:
        with tempfile.TemporaryDirectory() as tmp:
            run, agent, practice = mario_tab_run(Path(tmp) / "run", args.cap, args.steps)
            if practice is None:
                return mario_before_after(run, args.episodes)
            return mario_practice_before_after(agent, run, practice, args.episodes)
    physics = {name: float(value) for name, value in (item.split("=") for item in args.physics)}
    torch.set_num_threads(1)
    print(
        f"physics {physics}, {args.iterations} iterations, {EPISODES} episodes (seeds {FIRST_SEED}-"
        f"{FIRST_SEED + EPISODES - 1})"
    )
    before = figures(BUNDLED, physics)
    print(f"bundled agent: return {before[0]:.1f}, swung up {before[1]:.0%}")
    returns = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            seconds = fine_tune(physics, args.iterations, seed, Path(tmp) / str(seed))
            after = figures(Path(tmp) / str(seed), physics)
            returns.append(after[0])
            print(
                f"fine-tuned, training seed {seed}: return {after[0]:.1f}, swung up {after[1]:.0%} "
                f"({seconds:.1f} s, {args.iterations / seconds:.1f} iterations/s)"
            )
    print(f"fine-tuned mean over {args.seeds} runs: return {statistics.fmean(returns):.1f}")


if __name__ == "__main__":
    main()
