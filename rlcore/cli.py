"""`python -m rlcore` (also the `rlcore` console script): train, evaluate, play, push, pull, list.

    rlcore train pendulum --out runs/pendulum --push-to-hub alice/pendulum-bptt
    rlcore evaluate hf://alice/pendulum-bptt --episodes 10
    rlcore play runs/pendulum --out replay.mp4 --seed 3
    rlcore push runs/pendulum alice/pendulum-bptt
    rlcore pull alice/pendulum-bptt@main
    rlcore list --author alice

Every field of a system's Config dataclass is a `train` flag (its help, bounds and default are the
field's own, rlcore.config.option; booleans are --flag / --no-flag), every PlayOptions field a `play`
flag. Flags are built only for the command being run, so `rlcore pull` never imports torch. Expected errors
print one line on stderr and exit with 2 (bad input: arguments, checkpoints, repo ids, no token) or 1
(failures: network, Hub); --debug shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import math
import signal
import sys
import threading
import traceback
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from rlcore.resolve import resolve_config
from rlcore.systems import System, all_systems, finite_number, get_system, system_names, system_of_checkpoint

PROG = "rlcore"
EXIT_FAILURE, EXIT_BAD_INPUT = 1, 2
SNAPSHOT_STICKY = 0.25  # evaluate-snapshots' second curve: the robustness protocol of Machado et al. 2018

COMMANDS = {
    "train": "train an agent (every config field is a flag; see `rlcore train SYSTEM --help`)",
    "explore": "find a route through a Mario stage with Go-Explore (save states, no network): what "
    "`train mario --starts` trains from",
    "evaluate": "evaluate a checkpoint over N seeded episodes under a protocol (greedy, sticky, epsilon)",
    "compare": "compare two checkpoints on the same seeds (paired differences with confidence intervals)",
    "evaluate-snapshots": "evaluate every snapshot of a run (greedy and sticky): a learning curve JSON "
    "and plot",
    "bundle-snapshots": "ship a few of a run's snapshots with an agent (float16 weights; the app plays "
    "them side by side)",
    "curves": "overlay the training curves of several runs (one PNG, a panel per metric) and print their "
    "means per window of steps",
    "export": "write a checkpoint in an outside format (Pendulum: agent.pt, the Open RL Leaderboard's "
    "TorchScript)",
    "play": "play one episode of a checkpoint and write it as a browser-playable mp4",
    "map": "a generalisation map: one greedy episode on every cell of the system's grid (Mario: the 32 "
    "levels; Pendulum: gravity x mass), written as map.json beside the agent",
    "playthrough": "play several agents' levels in a row as one mp4 (Mario: the stage agents through a "
    "world)",
    "evaluate-world": "how often Mario stage agents clear their world in a row (N runs, each ending at the "
    "first level lost), with its Wilson confidence interval",
    "push": "publish a local checkpoint to the Hugging Face Hub as one commit, with a model card",
    "pull": "download a published agent into the Hugging Face cache and print its folder",
    "list": "list agents published with rlcore on the Hub",
    "deploy-space": "deploy the app (app.py, demo/, rlcore/, the bundled checkpoints) as a Hugging Face "
    "Space in one commit",
}

CHECKPOINT_HELP = (
    "a local checkpoint folder, hf://OWNER/NAME[@REVISION], or OWNER/NAME (pulled into the "
    "Hugging Face cache)"
)


class UsageError(ValueError):
    """Bad command-line input found after parsing (exit 2)."""


# --------------------------------------------------------------------------- flags from dataclasses


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _flag_kwargs(hint: Any, name: str) -> dict[str, Any]:
    """argparse arguments for a field of type `hint`; values are converted by pydantic (rlcore.config)."""
    from rlcore.config import parse_value

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _flag_kwargs(next(a for a in args if a is not type(None)), name)
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin is typing.Literal:
        return {"choices": list(args), "type": type(args[0])}
    if origin in (list, tuple) or hint in (list, tuple):
        item = args[0] if args and args[0] is not Ellipsis else str
        return {"nargs": "*", "type": functools.partial(parse_value, item), "metavar": name.upper()}
    return {"type": functools.partial(parse_value, hint), "metavar": name.upper()}


def add_dataclass_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    prefix_help: str = "",
    skip: tuple[str, ...] = (),
    helps: dict[str, str] | None = None,
    default_texts: dict[str, str] | None = None,
) -> list[str]:
    """One flag per field of `cls`, all from its declared field info (rlcore.config.option): the type (how the
    string is read), the help (or `helps`' text), the bounds and the default (or `default_texts`' words for
    it); the field names. The bounds themselves are checked by the class's model once the config is whole.

    Defaults are SUPPRESSed so that only flags given on the command line reach the parsed namespace
    (a resumed run keeps its saved config except what is overridden).
    """
    from rlcore.config import field_help, flag_aliases

    hints = typing.get_type_hints(cls)
    texts = {**field_help(cls), **(helps or {})}
    defaults = cls()
    fields = [field for field in dataclasses.fields(cls) if field.name not in skip]
    for field in fields:
        name = field.name
        default = (default_texts or {}).get(name, repr(getattr(defaults, name)))
        text = f"{prefix_help}{texts.get(name, '')} ({_range_text(cls, name)}default: {default})".replace(
            "%", "%%"
        )
        parser.add_argument(
            _flag(name),
            *flag_aliases(field),
            dest=name,
            default=argparse.SUPPRESS,
            help=text,
            **_flag_kwargs(hints[name], name),
        )
    return [field.name for field in fields]


def _range_text(cls: type, name: str) -> str:
    """ "from LOW to HIGH; " for a field with both bounds, "at least LOW; " / "at most HIGH; " for one."""
    from rlcore.config import field_bounds

    low, high = field_bounds(cls).get(name, (None, None))
    if low is not None and high is not None:
        return f"from {low} to {high}; "
    return f"at least {low}; " if low is not None else f"at most {high}; " if high is not None else ""


def given_fields(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


# --------------------------------------------------------------------------- parser


def _positionals(argv: list[str]) -> list[str]:
    return [a for a in argv if not a.startswith("-")]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The full parser; the system-specific flags only for the command `argv` selects (lazy imports)."""
    words = _positionals(list(argv or []))
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks of expected errors too")
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train, evaluate, play and publish rlcore agents (Mario Double DQN, differentiable "
        "Pendulum).",
        epilog="Run `rlcore COMMAND --help` for the flags of a command. Hub commands read HF_TOKEN / the "
        "login cache and HF_ENDPOINT, HF_HOME, HF_HUB_OFFLINE like every Hugging Face tool.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=COMMANDS[name], description=COMMANDS[name])
        sub.set_defaults(run=run)
        return sub

    _add_train_command(command("train", cmd_train), common, words)
    _add_explore_command(command("explore", cmd_explore), common, words)
    _add_evaluation_commands(command, words)
    play = command("play", cmd_play)
    play.add_argument("checkpoint", metavar="CHECKPOINT", help=CHECKPOINT_HELP)
    play.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        default=Path("replay.mp4"),
        help="mp4 file to write (H.264, plays in browsers; default: replay.mp4)",
    )
    if words[:1] == ["play"]:
        _add_play_flags(play)
    _add_map_flags(command("map", cmd_map))
    _add_playthrough_command(command("playthrough", cmd_playthrough))
    _add_world_command(command("evaluate-world", cmd_evaluate_world))
    _add_hub_commands(command)
    return parser


def _add_hub_commands(command: Any) -> None:
    """push, pull, list and deploy-space: the commands that talk to the Hub."""
    push = command("push", cmd_push)
    push.add_argument("checkpoint", metavar="CHECKPOINT", help="a local checkpoint folder")
    push.add_argument("repo", metavar="OWNER/NAME", help="the model repo to publish to (created if needed)")
    _add_push_flags(push)
    pull = command("pull", cmd_pull)
    pull.add_argument("repo", metavar="OWNER/NAME[@REVISION]", help="the model repo (hf:// prefix allowed)")
    pull.add_argument(
        "--cache-dir", type=Path, help="cache folder (default: the standard Hugging Face cache, HF_HUB_CACHE)"
    )
    listing = command("list", cmd_list)
    listing.add_argument("--author", help="only agents of this user or organisation")
    listing.add_argument("--search", help="only repos whose name contains this")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    _add_deploy_space_command(command("deploy-space", cmd_deploy_space))


def _add_train_command(
    train: argparse.ArgumentParser, common: argparse.ArgumentParser, words: list[str]
) -> None:
    """`train SYSTEM` for every known system; the config flags only for the system being trained."""
    systems = train.add_subparsers(dest="system", metavar="SYSTEM", required=True)
    for name in system_names():
        sub = systems.add_parser(
            name,
            parents=[common],
            help=f"train the {name} agent",
            description=f"Train the {name} agent. Config flags default to the tutorial's "
            "values; with --resume, to the run's saved config.",
        )
        if words[:2] == ["train", name]:
            _add_train_flags(sub, name)
        sub.set_defaults(run=cmd_train)


def _add_explore_command(
    explore: argparse.ArgumentParser, common: argparse.ArgumentParser, words: list[str]
) -> None:
    """`explore SYSTEM` for every system with ExploreOptions; their flags only for the system asked for."""
    systems = explore.add_subparsers(dest="system", metavar="SYSTEM", required=True)
    if words[:1] != ["explore"]:  # which systems explore needs their imports (torch): not for other commands
        return
    for system in all_systems():
        if system.ExploreOptions is None:
            continue
        sub = systems.add_parser(
            system.name,
            parents=[common],
            help=f"explore {system.name}'s tasks",
            description=COMMANDS["explore"],
        )
        sub.add_argument("--out", type=Path, help="folder to write (default: the system's, under runs/)")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
        sub.set_defaults(run=cmd_explore, explore_fields=[])
        if words[:2] == ["explore", system.name]:
            sub.set_defaults(explore_fields=add_dataclass_flags(sub, system.ExploreOptions))


def cmd_explore(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    system = get_system(args.system)
    options = system.ExploreOptions(**given_fields(args, args.explore_fields))
    with tqdm(
        desc=f"explore {system.name}", unit_scale=True, dynamic_ncols=True, disable=args.no_progress
    ) as bar:

        def progress(status: dict[str, Any]) -> None:  # update() redraws at most every 0.1 s
            bar.total = status["total"]
            bar.set_postfix({k: v for k, v in status.items() if k not in ("done", "total")}, refresh=False)
            bar.update(status["done"] - bar.n)

        line, reached = system.explore(options, args.out, progress)
    print(line)
    return 0 if reached else EXIT_FAILURE


def _add_push_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--episodes",
        type=int,
        default=10,
        help="evaluation episodes when the checkpoint has no results.json yet (default: 10)",
    )
    parser.add_argument("--seed", type=int, default=0, help="evaluation / replay seed (default: 0)")
    parser.add_argument("--message", help="commit message (default: 'Upload ALGORITHM agent for ENV')")
    parser.add_argument("--private", action="store_true", help="create the repo as private")


def _add_evaluation_commands(command: Any, words: list[str]) -> None:
    """evaluate, compare, evaluate-snapshots, bundle-snapshots, curves and export (the protocol flags only
    when one of the first three runs)."""
    protocol_flags = words[:1] in (["evaluate"], ["compare"], ["evaluate-snapshots"])
    _add_evaluate_commands(command, protocol_flags)
    _add_snapshot_commands(command, protocol_flags)
    _add_curves_command(command("curves", cmd_curves))
    _add_export_command(command("export", cmd_export))


def _add_evaluate_commands(command: Any, protocol_flags: bool) -> None:
    """evaluate (one checkpoint) and compare (two); `protocol_flags`: with the systems' evaluation options."""
    evaluate = command("evaluate", cmd_evaluate)
    evaluate.add_argument("checkpoint", metavar="CHECKPOINT", help=CHECKPOINT_HELP)
    _add_episode_flags(evaluate, protocol_flags)
    evaluate.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        help="write the results document to this JSON file (replaced if it exists; an existing "
        "folder gets FILE/results.json). Without --out or --write nothing is written",
    )
    evaluate.add_argument(
        "--write",
        action="store_true",
        help="merge the results into the checkpoint folder's results.json (local checkpoints): "
        "this protocol is added or replaced, the others are kept",
    )

    compare = command("compare", cmd_compare)
    compare.add_argument("checkpoint_a", metavar="A", help=f"the first checkpoint: {CHECKPOINT_HELP}")
    compare.add_argument("checkpoint_b", metavar="B", help="the second checkpoint (differences are B - A)")
    _add_episode_flags(compare, protocol_flags)
    compare.add_argument(
        "--out", metavar="FILE", type=Path, help="also write the comparison to this JSON file"
    )


def _add_snapshot_commands(command: Any, protocol_flags: bool) -> None:
    """evaluate-snapshots (a run's snapshots: one curve) and bundle-snapshots (some, into an agent)."""
    snapshots = command("evaluate-snapshots", cmd_evaluate_snapshots)
    snapshots.add_argument(
        "run_dir",
        metavar="RUN",
        type=Path,
        help="a training run folder with snapshots/step-<N>/ (train with --keep-snapshots)",
    )
    snapshots.epilog = (
        "Each snapshot is evaluated greedily and under the given protocol (systems with sticky "
        f"actions: sticky {SNAPSHOT_STICKY} by default; --sticky 0 for greedy only). Snapshots "
        "already evaluated with the same protocol, episodes and seed are skipped."
    )
    _add_episode_flags(snapshots, protocol_flags, episodes=20, sticky=SNAPSHOT_STICKY)
    snapshots.add_argument(
        "--every",
        type=int,
        default=1,
        metavar="K",
        help="evaluate the first snapshot, every K-th after it and the last: a coarser curve "
        "in about 1/K of the time (default: 1, all of them)",
    )

    bundle = command("bundle-snapshots", cmd_bundle_snapshots)
    bundle.add_argument(
        "run_dir", metavar="RUN", type=Path, help="a training run folder with snapshots/step-<N>/"
    )
    bundle.add_argument(
        "agent_dir",
        metavar="AGENT",
        type=Path,
        help="the agent's checkpoint folder (e.g. checkpoints/mario-1-1): its snapshots/step-<N>/ "
        "are written or replaced, with the run's snapshot_evals.json and .png",
    )
    bundle.add_argument(
        "--steps",
        type=int,
        nargs="+",
        required=True,
        metavar="N",
        help="the snapshots to ship, by training step (each must exist in RUN/snapshots/)",
    )


def _add_export_command(export: argparse.ArgumentParser) -> None:
    export.add_argument("checkpoint", metavar="CHECKPOINT", help=CHECKPOINT_HELP)
    export.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        help="file to write (default: the format's file name in the checkpoint folder, e.g. "
        "agent.pt; a Hub checkpoint needs --out)",
    )


def _add_curves_command(parser: argparse.ArgumentParser) -> None:
    """curves: the runs to overlay, their labels, the metrics, the table's window and the PNG."""
    parser.add_argument(
        "runs",
        metavar="RUN",
        type=Path,
        nargs="+",
        help="training run or checkpoint folders of one system, each with its metrics.jsonl",
    )
    parser.add_argument(
        "--labels", nargs="+", metavar="NAME", help="a name per run (default: the folder names)"
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        metavar="KEY",
        help="metric-record keys to plot and tabulate (default: the system's training metrics "
        "and figures the runs record, e.g. Mario's reward, loss, x_pos, flag_rate)",
    )
    parser.add_argument(
        "--window",
        type=float,
        metavar="STEPS",
        help="width of the table's windows in the system's budget unit (default: a tenth of the "
        "longest run, rounded)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        default=Path("curves.png"),
        help="PNG to write (default: curves.png)",
    )


def _add_episode_flags(
    parser: argparse.ArgumentParser, protocol_flags: bool, episodes: int = 10, sticky: float | None = None
) -> None:
    """--episodes, --seed, --no-progress and every system's evaluation options (--sticky, --epsilon);
    `sticky`: the default probability of a second protocol (evaluate-snapshots)."""
    from rlcore.evaluation import MAX_EPISODES

    parser.add_argument(
        "--episodes",
        type=int,
        default=episodes,
        help=f"episodes to play, 1 to {MAX_EPISODES:,} (default: {episodes})",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the first episode; episode i uses seed + i (default: 0)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    if not protocol_flags:
        parser.set_defaults(protocol_fields={})
        return
    owners: dict[str, list[str]] = {}
    helps: dict[str, str] = {}
    for system in all_systems():
        for option, text in system.evaluation_options.items():
            owners.setdefault(option, []).append(system.name)
            helps[option] = text
    for option, systems in owners.items():
        default = f"{sticky} where the system has it" if option == "sticky" and sticky is not None else "0"
        parser.add_argument(
            _flag(option),
            type=float,
            default=argparse.SUPPRESS,
            metavar="P",
            help=f"[{', '.join(systems)}] {helps[option]} (default: {default})",
        )
    parser.set_defaults(protocol_fields=owners)


def _add_train_flags(parser: argparse.ArgumentParser, system_name: str) -> None:
    system = get_system(system_name)
    run = parser.add_argument_group("run")
    run.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("runs") / system_name,
        help=f"checkpoint folder, kept valid and resumable during training (default: runs/{system_name})",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its saved training state and config (config flags "
        "given with it override the saved values)",
    )
    run.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where to train: auto = cuda when available (default: auto)",
    )
    run.add_argument(
        "--push-to-hub",
        metavar="OWNER/NAME",
        help="after training, evaluate, render and publish the checkpoint to this repo",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar (log lines instead)")
    run.add_argument(
        "--preset",
        choices=list(system.presets),
        help="start from a named configuration of the "
        f"{system_name} system (flags still override its fields; default: the tutorial's)",
    )
    skip = _add_init_flag(run) if system.can_start_from else ()
    config = parser.add_argument_group(f"{system_name} config ({system.Config.__name__})")
    parser.set_defaults(
        config_fields=add_dataclass_flags(config, system.Config, skip=skip), preset=None, init=None
    )


def _add_init_flag(run: argparse._ArgumentGroup) -> tuple[str, ...]:
    """--init, the one way to set the config's init_from; returns the config fields it stands for."""
    run.add_argument(
        "--init",
        metavar="CHECKPOINT",
        help="start from the weights and config of this checkpoint "
        "(a local folder such as a bundled agent or one of its snapshots/step-<N>/, or a Hub repo) "
        "to fine-tune it; config flags change the rest, e.g. another level or physics. It needs no "
        "training state: counters, optimizer and replay start afresh. Where and how to run "
        "(workers, collector, addresses, memory, threads) come from the flags or the "
        "defaults, never from the checkpoint",
    )
    return ("init_from",)


def _add_play_flags(parser: argparse.ArgumentParser) -> None:
    """The PlayOptions fields of every system, one flag each; a field the checkpoint's system lacks is
    refused after parsing. A field several systems share gets one help line per system when they differ."""
    from rlcore.config import field_help

    options = {system.name: system.PlayOptions for system in all_systems()}
    owners: dict[str, list[str]] = {}
    for name, cls in options.items():
        for field in dataclasses.fields(cls):
            owners.setdefault(field.name, []).append(name)
    added: set[str] = set()
    for name, cls in options.items():
        group = parser.add_argument_group(f"{name} play options")
        texts = {
            field: _play_help(field, owners[field], options)
            for field in field_help(cls)
            if field not in added
        }
        trained = dict.fromkeys(get_system(name).task_fields, "what the agent was trained on")
        add_dataclass_flags(group, cls, skip=tuple(added), helps=texts, default_texts=trained)
        added.update(texts)
    parser.set_defaults(play_fields=owners)


def _play_help(field: str, systems: list[str], options: dict[str, type]) -> str:
    """A play flag's help: "[system] text" for one system's field,
    one such part per system when they differ."""
    from rlcore.config import field_help

    texts = {system: field_help(options[system])[field] for system in systems}
    if len(systems) > 1 and len(set(texts.values())) == 1:
        return texts[systems[0]]
    return "; ".join(f"[{system}] {text}" for system, text in texts.items())


def _add_map_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help=CHECKPOINT_HELP)
    parser.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        help="JSON file to write (default: map.json in the checkpoint folder, where the app and the "
        "model card find it; a Hub checkpoint needs --out)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="seed of every episode, the same for all cells (default: the system's default play seed)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        help="cap each episode at this many steps (default: the system's "
        "play default; the game's clock ends a stuck Mario before it)",
    )
    parser.add_argument(
        "--rows",
        metavar="V,V",
        type=_values,
        help="only these row values (Mario: worlds, Pendulum: gravities; default: all)",
    )
    parser.add_argument(
        "--columns",
        metavar="V,V",
        type=_values,
        help="only these column values (Mario: stages, Pendulum: masses; default: all)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _values(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated values, got {text!r}")
    return values


# --------------------------------------------------------------------------- commands


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _hub_checkpoint(text: str) -> Path:
    from rlcore import hub

    return hub.resolve_checkpoint(text)


def _postfix(record: dict[str, Any]) -> dict[str, str]:
    shown = {}
    for key, value in record.items():
        if key in ("step", "episode") or finite_number(value) is None:
            continue
        shown[key.split("/")[-1]] = f"{value:.4g}"
        if len(shown) == 3:
            break
    return shown


def _refuse_run_files(out: Path) -> None:
    """A new run starts its metrics and training state afresh: never over files of the same names that
    are not a checkpoint of ours (a user's own metrics.jsonl would be emptied)."""
    from rlcore.checkpoint import METRICS_FILE, TRAINING_META_FILE, TRAINING_STATE_FILE

    taken = [
        name for name in (METRICS_FILE, TRAINING_META_FILE, TRAINING_STATE_FILE) if (out / name).exists()
    ]
    if taken:
        raise UsageError(
            f"{out / taken[0]} exists: a new run would overwrite it; choose another --out or move it "
            "away (nothing was touched)"
        )


def train_config(system: System, args: argparse.Namespace) -> Any:
    """The run's config: the saved one with the flags given (--resume), else the preset's or the defaults."""
    from rlcore.checkpoint import CONFIG_FILE

    out: Path = args.out
    overrides = given_fields(args, args.config_fields)
    has_checkpoint = (out / CONFIG_FILE).is_file()
    if args.resume:
        if args.preset or args.init:
            raise UsageError(
                f"--{'preset' if args.preset else 'init'} starts a new run; a resumed run keeps its "
                "saved config"
            )
        if not has_checkpoint:
            raise UsageError(f"--resume: {out} holds no checkpoint to resume (no {CONFIG_FILE})")
        return resolve_config(system, resume=out, overrides=overrides)
    if has_checkpoint:
        raise UsageError(
            f"{out} already holds a checkpoint: pass --resume to continue it, or choose another "
            "--out (nothing was overwritten)"
        )
    _refuse_run_files(out)
    if args.init:
        return start_config(system, args.init, args.preset, overrides)
    return resolve_config(system, preset=args.preset, overrides=overrides)


def start_config(system: System, init: str, preset: str | None, overrides: dict[str, Any]) -> Any:
    """--init: the config of a run from a checkpoint's weights (rlcore.resolve), said on stderr."""
    if preset:
        raise UsageError(
            "--init takes the checkpoint's config (its network must match the weights); --preset "
            "names a config for a new agent: give one of them"
        )
    folder = _hub_checkpoint(init)
    config = resolve_config(system, init=folder, overrides=overrides)
    trained = system.trained_budget(folder)
    _say(f"starting from {init}" + (f" (trained for {trained:,} {system.budget.unit}s)" if trained else ""))
    return config


@contextlib.contextmanager
def stop_on_ctrl_c() -> Iterator[threading.Event]:
    """An event set by the first Ctrl-C (the run saves and stops); a second one aborts."""
    stop = threading.Event()

    def ask_to_stop(signum, frame):
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _say("stopping: saving the checkpoint (Ctrl-C again to abort)")

    in_main_thread = threading.current_thread() is threading.main_thread()  # signals can be set only there
    previous = signal.signal(signal.SIGINT, ask_to_stop) if in_main_thread else None
    try:
        yield stop
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)


def show_progress(
    system: System, config: Any, records: Iterable[dict[str, Any]], quiet: bool, note: str = ""
) -> None:
    """A progress bar over the system's budget, shown from the first record (an error before it prints
    only its own line), or one log line per record with `quiet`; `note`, a line said before either."""
    from tqdm import tqdm

    key, total = system.budget.record_key, getattr(config, system.budget.field, None)
    bar = None
    try:
        for record in records:
            if note:
                _say(note)
                note = ""
            if quiet:
                _say(
                    " ".join(
                        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
                    )
                )
                continue
            if bar is None:  # starting from the first record's count: a resumed run's rate is its own
                bar = tqdm(
                    total=total if isinstance(total, int) and total > 0 else None,
                    initial=int(record.get(key, 0)),
                    desc=f"train {system.name}",
                    unit=key,
                    dynamic_ncols=True,
                )
            bar.n = int(record.get(key, bar.n))
            bar.set_postfix(_postfix(record), refresh=False)
            bar.refresh()
    finally:
        if bar is not None:
            bar.close()


def _changes(saved: Any, config: Any) -> str:
    """ " with lr 0.002 -> 0.001, ..." for the fields a resumed run changes, else " with its saved config"."""
    changed = [
        f"{f.name} {getattr(saved, f.name)!r} -> {getattr(config, f.name)!r}"
        for f in dataclasses.fields(config)
        if getattr(saved, f.name) != getattr(config, f.name)
    ]
    return f" with {', '.join(changed)}" if changed else " with its saved config"


def cmd_train(args: argparse.Namespace) -> int:
    from rlcore import hub

    system = get_system(args.system)
    push_ref = None
    if args.push_to_hub:  # fail before training, not after an hour of it
        push_ref = hub.parse_repo_ref(args.push_to_hub)
        hub.ready_to_push()
    config = train_config(system, args)
    note = (
        f"resuming {args.out}{_changes(resolve_config(system, resume=args.out), config)}"
        if args.resume
        else ""
    )
    with stop_on_ctrl_c() as stop:
        records = system.train(config, args.out, resume=args.resume, device=args.device, stop=stop)
        show_progress(system, config, records, quiet=args.no_progress, note=note)
    print(f"checkpoint: {args.out}")
    if push_ref is not None and stop.is_set():
        _say(f"stopped early: not pushed (publish it with `rlcore push {args.out} {push_ref}`)")
    elif push_ref is not None:
        print(f"pushed: {hub.push_checkpoint(args.out, push_ref, log=_say)}")
    return 0


def _protocol_options(args: argparse.Namespace, system_name: str) -> dict[str, float]:
    """The evaluation options given on the command line (--sticky, --epsilon), refusing another system's."""
    given = {name: getattr(args, name) for name in args.protocol_fields if hasattr(args, name)}
    for name, value in given.items():
        if system_name not in args.protocol_fields[name]:
            if value:
                raise UsageError(f"{_flag(name)} is not an evaluation option of {system_name} checkpoints")
            continue
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"{_flag(name)} must be a probability in [0, 1], got {value}")
    return {name: value for name, value in given.items() if system_name in args.protocol_fields[name]}


def _evaluate(
    system: System, folder: Path, args: argparse.Namespace, options: dict[str, float], label: str
) -> dict[str, Any]:
    """system.evaluate with a progress bar over the episodes."""
    from tqdm import tqdm

    with tqdm(
        total=args.episodes,
        desc=label,
        unit="episode",
        dynamic_ncols=True,
        disable=True if args.no_progress else None,
    ) as bar:
        return system.evaluate(folder, episodes=args.episodes, seed=args.seed, progress=bar.update, **options)


def _check_episodes(args: argparse.Namespace) -> None:
    from rlcore.evaluation import check_episodes

    try:
        check_episodes(args.episodes)
    except ValueError as err:
        raise UsageError(f"--{err}") from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rlcore import hub
    from rlcore.checkpoint import RESULTS_FILE, atomic_write_json, read_json
    from rlcore.evaluation import merge_protocol, results_summary

    _check_episodes(args)
    from_hub = hub.is_hub_ref(args.checkpoint)
    if args.write and from_hub:
        raise UsageError(
            f"--write merges into a local checkpoint's {RESULTS_FILE}: for a Hub checkpoint pass --out FILE"
        )
    folder = _hub_checkpoint(args.checkpoint)
    system = system_of_checkpoint(folder)
    options = _protocol_options(args, system.name)
    results = _evaluate(system, folder, args, options, f"evaluate {Path(args.checkpoint).name}")
    print(results_summary(results))
    if args.out is not None:
        out = args.out / RESULTS_FILE if args.out.is_dir() else args.out
        print(f"wrote {atomic_write_json(out, results)}")
    if args.write:
        existing = read_json(folder / RESULTS_FILE) if (folder / RESULTS_FILE).is_file() else None
        merged = merge_protocol(existing, results)
        path = atomic_write_json(folder / RESULTS_FILE, merged)
        print(
            f"merged protocol {results['protocol']['name']} into {path} "
            f"(protocols: {', '.join(merged['protocols'])})"
        )
    if args.out is None and not args.write:
        _say(f"(not saved: pass --out FILE, or --write to merge into the checkpoint's {RESULTS_FILE})")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from rlcore.checkpoint import atomic_write_json, load_config
    from rlcore.evaluation import compare_results, comparison_table
    from rlcore.systems import get_system

    _check_episodes(args)
    folders = [_hub_checkpoint(args.checkpoint_a), _hub_checkpoint(args.checkpoint_b)]
    systems = [load_config(folder)["system"] for folder in folders]
    if systems[0] != systems[1]:
        raise UsageError(f"compare needs two checkpoints of one system, got {systems[0]} and {systems[1]}")
    system = get_system(systems[0])
    options = _protocol_options(args, system.name)
    runs = [
        _evaluate(system, folder, args, options, f"evaluate {label}") for folder, label in zip(folders, "AB")
    ]
    comparison = {"a": args.checkpoint_a, "b": args.checkpoint_b, **compare_results(*runs)}
    print(comparison_table(comparison))
    if args.out is not None:
        print(f"wrote {atomic_write_json(args.out, comparison)}")
    return 0


def cmd_evaluate_snapshots(args: argparse.Namespace) -> int:
    from rlcore.checkpoint import checkpoint_dir, load_config
    from rlcore.snapshots import SNAPSHOT_EVALS_FILE, evaluate_snapshots, every_kth, snapshot_folders
    from rlcore.systems import get_system

    _check_episodes(args)
    if args.every < 1:
        raise UsageError(f"--every must be at least 1, got {args.every}")
    snapshots = snapshot_folders(checkpoint_dir(args.run_dir))
    system = get_system(load_config(snapshots[0][1])["system"])
    options = _protocol_options(args, system.name)
    if "sticky" in system.evaluation_options:
        options.setdefault("sticky", SNAPSHOT_STICKY)
    protocols = [{}] + ([options] if any(options.values()) else [])
    evaluated = 0
    for done in evaluate_snapshots(
        args.run_dir,
        system,
        protocols,
        episodes=args.episodes,
        seed=args.seed,
        progress=not args.no_progress,
        every=args.every,
    ):
        _say(done)
        evaluated += 1
    chosen = len(every_kth(snapshots, args.every))
    print(
        f"{args.run_dir / SNAPSHOT_EVALS_FILE}: {evaluated} new evaluation(s) of {chosen} snapshot(s)"
        f"{f' (chosen from {len(snapshots)} by --every {args.every})' if chosen < len(snapshots) else ''}"
        f"{'' if evaluated else ' (all done already for these protocols)'}"
    )
    return 0


def cmd_bundle_snapshots(args: argparse.Namespace) -> int:
    from rlcore.snapshots import bundle_snapshots

    for folder in bundle_snapshots(args.run_dir, args.agent_dir, args.steps):
        size = sum(f.stat().st_size for f in folder.iterdir())
        print(f"{folder}: {size / 1e6:.1f} MB")
    return 0


def _round_width(span: float) -> float:
    """A tenth of `span`, rounded down to 1, 2 or 5 times a power of ten (20k, not 27,351)."""
    raw = max(span / 10, 1.0)
    power = 10 ** math.floor(math.log10(raw))
    return max(m * power for m in (1, 2, 5) if m * power <= raw)


def cmd_curves(args: argparse.Namespace) -> int:
    from rlcore.checkpoint import METRICS_FILE, load_config
    from rlcore.metrics import plot_runs, read_metrics, window_means
    from rlcore.systems import get_system

    labels = args.labels or [folder.name for folder in args.runs]
    if len(labels) != len(args.runs) or len(set(labels)) != len(labels):
        raise UsageError(f"--labels needs {len(args.runs)} different names, one per run, got {len(labels)}")
    names = {load_config(folder)["system"] for folder in args.runs}
    if len(names) != 1:
        raise UsageError(f"curves needs runs of one system, got {', '.join(sorted(names))}")
    system = get_system(names.pop())
    runs = {label: read_metrics(folder / METRICS_FILE) for label, folder in zip(labels, args.runs)}
    for label, folder in zip(labels, args.runs):
        if not runs[label]:
            raise UsageError(f"{folder} has no training records ({METRICS_FILE} missing or empty)")
    x = system.budget.record_key
    recorded = {
        key
        for records in runs.values()
        for record in records
        for key, value in record.items()
        if finite_number(value) is not None
    }  # plottable: not the time stamps
    metrics = args.metrics or [
        key for key in (*system.metrics, *(f.metric for f in system.figures)) if key and key in recorded
    ]
    missing = [key for key in metrics if key not in recorded]
    if missing:
        raise UsageError(
            f"no run records {', '.join(missing)} as numbers; they record {', '.join(sorted(recorded))}"
        )
    span = max(record.get(x) or 0 for records in runs.values() for record in records)
    width = args.window or _round_width(span)
    if not width > 0:
        raise UsageError(f"--window must be positive, got {width:g}")
    plot_runs(runs, x, metrics, args.out, x_label=system.budget.unit)
    means = {label: window_means(records, x, metrics, width) for label, records in runs.items()}
    _print_window_means(means, labels, metrics, width, system.budget.unit)
    print(f"\nwrote {args.out}")
    return 0


def _print_window_means(
    means: dict[str, dict], labels: list[str], metrics: list[str], width: float, unit: str
) -> None:
    """One table per metric: a row per window of `width` budget units, a column per run."""
    windows = sorted({k for table in means.values() for k in table})
    column = max(12, *(len(label) + 2 for label in labels))
    for metric in metrics:
        print(f"\n{metric} (mean per window of {width:,g} {unit}s)")
        print(f"{'window':<22}" + "".join(f"{label:>{column}}" for label in labels))
        for k in windows:
            cells = [means[label].get(k, {}).get(metric) for label in labels]
            print(
                f"{f'{k * width:,.0f}-{(k + 1) * width:,.0f}':<22}"
                + "".join(f"{'-' if v is None else f'{v:.4g}':>{column}}" for v in cells)
            )


def cmd_export(args: argparse.Namespace) -> int:
    from rlcore import hub
    from rlcore.systems import system_of_checkpoint

    folder = _hub_checkpoint(args.checkpoint)
    system = system_of_checkpoint(folder)
    if system.export_file is None:
        raise UsageError(f"{system.name} checkpoints have no export format")
    if args.out is None and hub.is_hub_ref(args.checkpoint):
        raise UsageError("a Hub checkpoint is exported to --out FILE (the cache is not written to)")
    out = args.out if args.out is not None else folder / system.export_file
    print(f"wrote {system.export(folder, out)}")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from rlcore.video import Mp4Sink

    folder = _hub_checkpoint(args.checkpoint)
    system = system_of_checkpoint(folder)
    given = {name: getattr(args, name) for name in args.play_fields if hasattr(args, name)}
    foreign = [name for name in given if system.name not in args.play_fields[name]]
    if foreign:
        raise UsageError(f"{_flag(foreign[0])} is not a play option of {system.name} checkpoints")
    # unless told otherwise, an agent plays what it was trained on (its level, its physics), as evaluate does
    trained = system.task_of(system.config_of(folder))
    video = Mp4Sink(args.out)  # frames written as they are made, not kept
    episode = system.play_streamed(folder, system.play_options(**{**trained, **given}), video)
    summary = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in episode.summary.items()
    )
    print(f"wrote {video.path} ({video.frames} frames){': ' + summary if summary else ''}")
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rlcore import hub
    from rlcore.checkpoint import atomic_write_json
    from rlcore.genmap import MAP_FILE, generalisation_grid, grid_of, map_legend, map_table

    if args.out is None and hub.is_hub_ref(args.checkpoint):
        raise UsageError("a Hub checkpoint's map is written to --out FILE (the cache is not written to)")
    folder = _hub_checkpoint(args.checkpoint)
    system = system_of_checkpoint(folder)
    grid = grid_of(system)
    cells = len(args.rows or grid.rows.values) * len(args.columns or grid.columns.values)
    with tqdm(
        total=cells,
        desc=f"map {folder.name}",
        unit="episode",
        dynamic_ncols=True,
        disable=True if args.no_progress else None,
    ) as bar:

        def advance(cell: dict[str, Any]) -> None:
            options = cell["options"]
            bar.set_postfix_str(
                f"{grid.rows.field} {options[grid.rows.field]}, "
                f"{grid.columns.field} {options[grid.columns.field]}"
            )
            bar.update(1)

        document = generalisation_grid(
            system,
            folder,
            args.seed,
            rows=args.rows,
            columns=args.columns,
            steps=args.steps,
            progress=advance,
        )
    print(map_table(document))
    print(map_legend(document))
    out = args.out if args.out is not None else folder / MAP_FILE
    episodes = f"{cells} episode{'s' if cells != 1 else ''}"
    print(f"wrote {atomic_write_json(out, document)} ({episodes} in {document['wall_s']:.1f} s)")
    return 0


def _add_playthrough_command(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoints",
        metavar="CHECKPOINT",
        nargs="+",
        help=f"the agents, one per level, all of one system: {CHECKPOINT_HELP}",
    )
    from rlcore.checkpoint import PLAYTHROUGH_FILE

    parser.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        default=Path(PLAYTHROUGH_FILE),
        help=f"mp4 file to write, with its figures beside it in FILE's name with .json (default: "
        f"{PLAYTHROUGH_FILE}; the app's Watch tab plays one found in a bundled agent's folder)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every level's episode (default: 0)")
    parser.add_argument(
        "--sticky",
        type=float,
        default=0.0,
        help="sticky-action probability of the episodes (default: 0, greedy)",
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=0,
        help="end each level's episode after this many agent steps (default: 0, the system's cap)",
    )


def _system_of_all(folders: list[Path]) -> System:
    """The one system of several checkpoints (a one-line error when they mix systems)."""
    systems = {system_of_checkpoint(f).name: system_of_checkpoint(f) for f in folders}
    if len(systems) > 1:
        raise UsageError(f"the checkpoints are of different systems: {', '.join(sorted(systems))}")
    return next(iter(systems.values()))


def _add_world_command(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoints",
        metavar="CHECKPOINT",
        nargs="+",
        help=f"the Mario stage agents, one per level of the world: {CHECKPOINT_HELP}",
    )
    parser.add_argument("--episodes", type=int, default=100, help="runs through the world (default: 100)")
    parser.add_argument(
        "--seed",
        type=int,
        default=1000,
        help="run i plays every level on seed SEED + i (default: 1000, the held-out seeds)",
    )
    parser.add_argument(
        "--sticky",
        type=float,
        default=0.25,
        help="sticky actions per emulator frame, as ALE v5 (default: 0.25; 0 for greedy)",
    )
    parser.add_argument("--out", metavar="FILE", type=Path, help="also write the figures as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def cmd_evaluate_world(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rlcore.checkpoint import atomic_write_json
    from rlcore.config import check_bounds, check_seeds
    from rlcore.evaluation import check_episodes

    folders = [_hub_checkpoint(c) for c in args.checkpoints]
    system = _system_of_all(folders)
    check_episodes(args.episodes)
    check_seeds(args.seed, args.episodes)
    options = {"sticky": args.sticky} if args.sticky else {}
    check_bounds(system.play_options(seed=args.seed, **options), "evaluate-world")  # play's bounds
    with tqdm(total=args.episodes, desc="world in a row", unit="run", disable=args.no_progress) as bar:
        figures = system.world_in_a_row(
            folders, episodes=args.episodes, seed=args.seed, progress=bar.update, **options
        )
    protocol = f"sticky actions {args.sticky:g} per frame (ALE v5)" if args.sticky else "greedy"
    low, high = figures["ci95"]
    print(
        f"world in a row, {protocol}: cleared {figures['cleared']}/{figures['runs']} runs "
        f"({figures['rate']:.0%}, 95% CI {low:.0%}-{high:.0%}); "
        f"seeds {args.seed}-{args.seed + args.episodes - 1}"
    )
    for level in figures["levels"]:
        print(f"  {level['level']}: cleared {level['cleared']} of the {level['played']} runs that reached it")
    if args.out:
        print(f"wrote {atomic_write_json(args.out, figures)}")
    return 0


def cmd_playthrough(args: argparse.Namespace) -> int:
    from rlcore.checkpoint import atomic_write_json
    from rlcore.config import check_bounds
    from rlcore.video import Mp4Sink

    folders = [_hub_checkpoint(c) for c in args.checkpoints]
    system = _system_of_all(folders)
    options = {"sticky": args.sticky} if args.sticky else {}
    if args.max_steps:
        options["max_steps"] = args.max_steps
    check_bounds(system.play_options(seed=args.seed, **options), "playthrough")  # play's bounds
    sink = Mp4Sink(args.out)
    episode = system.playthrough(folders, sink, seed=args.seed, **options)
    path = sink.path
    figures = {
        "summary": episode.summary,
        "stages": episode.trace,
        "agents": args.checkpoints,
        "options": {"seed": args.seed, **options},
    }
    atomic_write_json(Path(path).with_suffix(".json"), figures)
    print(
        f"wrote {path} ({sink.frames} frames): " + ", ".join(f"{k}={v}" for k, v in episode.summary.items())
    )
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from rlcore import hub

    ref = hub.parse_repo_ref(args.repo)
    if args.checkpoint.startswith(hub.HF_PREFIX):
        raise UsageError(f"push takes a local checkpoint folder, not {args.checkpoint}")
    url = hub.push_checkpoint(
        args.checkpoint,
        ref,
        commit_message=args.message,
        private=args.private,
        episodes=args.episodes,
        seed=args.seed,
        log=_say,
    )
    print(f"pushed: {url}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from rlcore import hub

    print(hub.pull_checkpoint(args.repo, cache_dir=args.cache_dir))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from rlcore import hub

    agents = hub.list_agents(author=args.author, search=args.search, limit=args.limit)
    if not agents:
        print("no rlcore agents found")
        return 0
    rows = [("REPO", "SYSTEM", "ENV", "ALGORITHM", "MEAN REWARD", "UPDATED")]
    rows += [(a.repo_id, a.system, a.env_id, a.algorithm, a.mean_reward, a.last_modified) for a in agents]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def _add_deploy_space_command(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repo", metavar="OWNER/NAME", help="the Space to deploy to (created if needed)")
    parser.add_argument(
        "--folder",
        type=Path,
        default=Path("."),
        help="the app's folder, holding app.py, demo/, rlcore/ (default: the current directory)",
    )
    parser.add_argument("--private", action="store_true", help="create the Space as private")
    parser.add_argument(
        "--token",
        help="a Hugging Face token with write access (default: HF_TOKEN or the "
        "login cache; prefer those: a command line is visible to other local "
        "users)",
    )
    parser.add_argument("--message", help="commit message (default: 'Deploy the rlcore app')")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list the files that would be uploaded and their total size; upload nothing",
    )


def cmd_deploy_space(args: argparse.Namespace) -> int:
    from rlcore import hub, space

    ref = hub.parse_repo_ref(args.repo)
    if args.dry_run:
        plan = space.space_plan(args.folder)
        for name, size in plan.files.items():
            print(f"{size:>12,}  {name}")
        print(
            f"{len(plan.files)} files, {plan.total_bytes / 2**20:.1f} MB would go to the Space "
            f"{ref.repo_id} (from {plan.folder})"
        )
        return 0
    url = space.deploy_space(
        args.folder, ref, token=args.token, private=args.private, commit_message=args.message, log=_say
    )
    print(f"deployed: {url}")
    return 0


# --------------------------------------------------------------------------- entry point


def _exit_code(err: BaseException) -> int | None:
    """EXIT_BAD_INPUT / EXIT_FAILURE for expected errors, None for bugs (traceback)."""
    from rlcore.hub import HubError

    if isinstance(err, HubError):
        return EXIT_BAD_INPUT if err.user_error else EXIT_FAILURE
    if isinstance(err, ValueError):  # CheckpointError, UsageError, bad config values
        return EXIT_BAD_INPUT
    if isinstance(err, OSError):
        return EXIT_FAILURE
    return None


def _scrub(message: str) -> str:
    """Belt and braces: no message of ours contains the token, but never let one through."""
    try:
        from huggingface_hub import get_token

        token = get_token()
    except Exception:
        token = None
    return message.replace(token, "***") if token else message


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        return args.run(args)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2, message already printed)
        return exit_.code if isinstance(exit_.code, int) else EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _say(f"{PROG}: interrupted")
        return 130
    except Exception as err:
        code = _exit_code(err)
        debug = "--debug" in argv
        if code is None or debug:
            traceback.print_exc()
        if code is None:
            return EXIT_FAILURE
        from rlcore.checkpoint import one_line

        _say(_scrub(f"{PROG}: error: {one_line(err)}"))
        return code


if __name__ == "__main__":
    sys.exit(main())
