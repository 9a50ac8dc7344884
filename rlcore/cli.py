"""`python -m rlcore` (also the `rlcore` console script): train, evaluate, play, push, pull, list.

    rlcore train pendulum --out runs/pendulum --push-to-hub alice/pendulum-bptt
    rlcore evaluate hf://alice/pendulum-bptt --episodes 10
    rlcore play runs/pendulum --out replay.mp4 --seed 3
    rlcore push runs/pendulum alice/pendulum-bptt
    rlcore pull alice/pendulum-bptt@main
    rlcore list --author alice

Every field of a system's Config dataclass is a `train` flag (its help is the field's help; booleans
are --flag / --no-flag), every PlayOptions field a `play` flag. Flags are built only for the command
being run, so `rlcore pull` never imports torch. Expected errors print one line on stderr and exit
with 2 (bad input: arguments, checkpoints, repo ids, no token) or 1 (failures: network, Hub); --debug
shows the traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import signal
import sys
import threading
import traceback
import typing
from pathlib import Path
from typing import Any

from rlcore.systems import SYSTEM_NAMES

PROG = "rlcore"
EXIT_FAILURE, EXIT_BAD_INPUT = 1, 2
SNAPSHOT_STICKY = 0.25  # evaluate-snapshots' second curve: the robustness protocol of Machado et al. 2018

COMMANDS = {
    "train": "train an agent (every config field is a flag; see `rlcore train SYSTEM --help`)",
    "evaluate": "evaluate a checkpoint over N seeded episodes under a protocol (greedy, sticky, epsilon)",
    "compare": "compare two checkpoints on the same seeds (paired differences with confidence intervals)",
    "evaluate-snapshots": "evaluate every snapshot of a run (greedy and sticky): a learning curve JSON and plot",
    "export": "write a checkpoint in an outside format (Pendulum: agent.pt, the Open RL Leaderboard's TorchScript)",
    "play": "play one episode of a checkpoint and write it as a browser-playable mp4",
    "push": "publish a local checkpoint to the Hugging Face Hub as one commit, with a model card",
    "pull": "download a published agent into the Hugging Face cache and print its folder",
    "list": "list agents published with rlcore on the Hub",
}

CHECKPOINT_HELP = ("a local checkpoint folder, hf://OWNER/NAME[@REVISION], or OWNER/NAME (pulled into the "
                   "Hugging Face cache)")


class UsageError(ValueError):
    """Bad command-line input found after parsing (exit 2)."""


# --------------------------------------------------------------------------- flags from dataclasses


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type,
                        prefix_help: str = "", skip: tuple[str, ...] = ()) -> list[str]:
    """One flag per field of `cls` with the field's help and default; returns the field names.

    Defaults are SUPPRESSed so that only flags given on the command line reach the parsed namespace
    (a resumed run keeps its saved config except what is overridden).
    """
    from rlcore.config import field_help

    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    defaults = cls()
    names = []
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        hint, default = hints[field.name], getattr(defaults, field.name)
        text = f"{prefix_help}{helps.get(field.name, '')} (default: {default!r})".replace("%", "%%")
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            hint = next(a for a in args if a is not type(None))
            origin, args = typing.get_origin(hint), typing.get_args(hint)
        kwargs: dict[str, Any] = {"dest": field.name, "default": argparse.SUPPRESS, "help": text}
        if hint is bool:
            parser.add_argument(_flag(field.name), action=argparse.BooleanOptionalAction, **kwargs)
        elif origin is typing.Literal:
            parser.add_argument(_flag(field.name), choices=list(args), type=type(args[0]), **kwargs)
        elif origin in (list, tuple):
            item = args[0] if args and args[0] is not Ellipsis else str
            parser.add_argument(_flag(field.name), nargs="*", type=item, metavar=field.name.upper(), **kwargs)
        else:
            parser.add_argument(_flag(field.name), type=hint if hint in (int, float, str) else str,
                                metavar=field.name.upper(), **kwargs)
        names.append(field.name)
    return names


def given_fields(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


# --------------------------------------------------------------------------- parser


def _positionals(argv: list[str]) -> list[str]:
    return [a for a in argv if not a.startswith("-")]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The full parser; the system-specific flags only for the command `argv` selects (lazy imports)."""
    argv = list(argv or [])
    words = _positionals(argv)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks of expected errors too")

    parser = argparse.ArgumentParser(
        prog=PROG, parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train, evaluate, play and publish rlcore agents (Mario Double DQN, differentiable Pendulum).",
        epilog="Run `rlcore COMMAND --help` for the flags of a command. Hub commands read HF_TOKEN / the login "
               "cache and HF_ENDPOINT, HF_HOME, HF_HUB_OFFLINE like every Hugging Face tool.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], help=COMMANDS[name], description=COMMANDS[name],
                                   **kwargs)

    # train SYSTEM
    train = command("train")
    systems = train.add_subparsers(dest="system", metavar="SYSTEM", required=True)
    for name in SYSTEM_NAMES:
        selected = words[:2] == ["train", name]
        sub = systems.add_parser(name, parents=[common], help=f"train the {name} agent",
                                 description=f"Train the {name} agent. Config flags default to the tutorial's "
                                             "values; with --resume, to the run's saved config.")
        if selected:
            _add_train_flags(sub, name)
        sub.set_defaults(run=cmd_train)

    _add_evaluation_commands(command, words)

    play = command("play")
    play.add_argument("checkpoint", metavar="CHECKPOINT", help=CHECKPOINT_HELP)
    play.add_argument("--out", metavar="FILE", type=Path, default=Path("replay.mp4"),
                      help="mp4 file to write (H.264, plays in browsers; default: replay.mp4)")
    if words[:1] == ["play"]:
        _add_play_flags(play)
    play.set_defaults(run=cmd_play)

    push = command("push")
    push.add_argument("checkpoint", metavar="CHECKPOINT", help="a local checkpoint folder")
    push.add_argument("repo", metavar="OWNER/NAME", help="the model repo to publish to (created if needed)")
    _add_push_flags(push)
    push.set_defaults(run=cmd_push)

    pull = command("pull")
    pull.add_argument("repo", metavar="OWNER/NAME[@REVISION]", help="the model repo (hf:// prefix allowed)")
    pull.add_argument("--cache-dir", type=Path, help="cache folder (default: the standard Hugging Face cache, "
                                                     "HF_HUB_CACHE)")
    pull.set_defaults(run=cmd_pull)

    listing = command("list")
    listing.add_argument("--author", help="only agents of this user or organisation")
    listing.add_argument("--search", help="only repos whose name contains this")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    listing.set_defaults(run=cmd_list)
    return parser


def _add_push_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--episodes", type=int, default=10,
                        help="evaluation episodes when the checkpoint has no results.json yet (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="evaluation / replay seed (default: 0)")
    parser.add_argument("--message", help="commit message (default: 'Upload ALGORITHM agent for ENV')")
    parser.add_argument("--private", action="store_true", help="create the repo as private")


def _add_evaluation_commands(command: Any, words: list[str]) -> None:
    """evaluate, compare, evaluate-snapshots and export (the protocol flags only when one of them runs)."""
    protocol_flags = words[:1] in (["evaluate"], ["compare"], ["evaluate-snapshots"])
    evaluate = command("evaluate")
    evaluate.add_argument("checkpoint", metavar="CHECKPOINT", help=CHECKPOINT_HELP)
    _add_episode_flags(evaluate, protocol_flags)
    evaluate.add_argument("--out", metavar="FILE", type=Path,
                          help="write the results document to this JSON file (replaced if it exists; an existing "
                               "folder gets FILE/results.json). Without --out or --write nothing is written")
    evaluate.add_argument("--write", action="store_true",
                          help="merge the results into the checkpoint folder's results.json (local checkpoints): "
                               "this protocol is added or replaced, the others are kept")
    evaluate.set_defaults(run=cmd_evaluate)

    compare = command("compare")
    compare.add_argument("checkpoint_a", metavar="A", help=f"the first checkpoint: {CHECKPOINT_HELP}")
    compare.add_argument("checkpoint_b", metavar="B", help="the second checkpoint (differences are B - A)")
    _add_episode_flags(compare, protocol_flags)
    compare.add_argument("--out", metavar="FILE", type=Path, help="also write the comparison to this JSON file")
    compare.set_defaults(run=cmd_compare)

    snapshots = command("evaluate-snapshots")
    snapshots.add_argument("run_dir", metavar="RUN", type=Path,
                           help="a training run folder with snapshots/step-<N>/ (train with --keep-snapshots)")
    snapshots.epilog = ("Each snapshot is evaluated greedily and under the given protocol (systems with sticky "
                        f"actions: sticky {SNAPSHOT_STICKY} by default; --sticky 0 for greedy only). Snapshots "
                        "already evaluated with the same protocol, episodes and seed are skipped.")
    _add_episode_flags(snapshots, protocol_flags, episodes=20, sticky=SNAPSHOT_STICKY)
    snapshots.set_defaults(run=cmd_evaluate_snapshots)

    export = command("export")
    export.add_argument("checkpoint", metavar="CHECKPOINT", help=CHECKPOINT_HELP)
    export.add_argument("--out", metavar="FILE", type=Path,
                        help="file to write (default: the format's file name in the checkpoint folder, e.g. "
                             "agent.pt; a Hub checkpoint needs --out)")
    export.set_defaults(run=cmd_export)


def _add_episode_flags(parser: argparse.ArgumentParser, protocol_flags: bool, episodes: int = 10,
                       sticky: float | None = None) -> None:
    """--episodes, --seed, --no-progress and every system's evaluation options (--sticky, --epsilon);
    `sticky`: the default probability of a second protocol (evaluate-snapshots)."""
    from rlcore.evaluation import MAX_EPISODES

    parser.add_argument("--episodes", type=int, default=episodes,
                        help=f"episodes to play, 1 to {MAX_EPISODES:,} (default: {episodes})")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the first episode; episode i uses seed + i (default: 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    if not protocol_flags:
        parser.set_defaults(protocol_fields={})
        return
    from rlcore.systems import get_system

    owners: dict[str, list[str]] = {}
    helps: dict[str, str] = {}
    for name in SYSTEM_NAMES:
        for option, text in getattr(get_system(name), "EVALUATION_OPTIONS", {}).items():
            owners.setdefault(option, []).append(name)
            helps[option] = text
    for option, systems in owners.items():
        default = f"{sticky} where the system has it" if option == "sticky" and sticky is not None else "0"
        parser.add_argument(_flag(option), type=float, default=argparse.SUPPRESS, metavar="P",
                            help=f"[{', '.join(systems)}] {helps[option]} (default: {default})")
    parser.set_defaults(protocol_fields=owners)


def _add_train_flags(parser: argparse.ArgumentParser, system_name: str) -> None:
    from rlcore.systems import get_system

    system = get_system(system_name)
    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="DIR", type=Path, default=Path("runs") / system_name,
                     help=f"checkpoint folder, kept valid and resumable during training (default: runs/{system_name})")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --out from its saved training state and config")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                     help="where to train: auto = cuda when available (default: auto)")
    run.add_argument("--push-to-hub", metavar="OWNER/NAME",
                     help="after training, evaluate, render and publish the checkpoint to this repo")
    run.add_argument("--no-progress", action="store_true", help="no progress bar (log lines instead)")
    presets = getattr(system, "PRESETS", None)
    if presets:
        run.add_argument("--preset", choices=list(presets), help="start from a named configuration of the "
                         f"{system_name} system (flags still override its fields; default: the tutorial's)")
    config = parser.add_argument_group(f"{system_name} config ({system.Config.__name__})")
    parser.set_defaults(config_fields=add_dataclass_flags(config, system.Config), preset=None)


def _add_play_flags(parser: argparse.ArgumentParser) -> None:
    """PlayOptions of both systems; a field the checkpoint's system lacks is refused after parsing."""
    from rlcore.config import field_help
    from rlcore.systems import get_system

    options = {name: get_system(name).PlayOptions for name in SYSTEM_NAMES}
    owners: dict[str, list[str]] = {}
    for name, cls in options.items():
        for field in dataclasses.fields(cls):
            owners.setdefault(field.name, []).append(name)
    shared = [field for field, systems in owners.items() if len(systems) > 1]
    if shared:
        group = parser.add_argument_group("play options of every system")
        first = options[owners[shared[0]][0]]
        add_dataclass_flags(group, first, skip=tuple(f.name for f in dataclasses.fields(first)
                                                     if f.name not in shared))
        for field in shared:  # one help line per system when their texts differ
            texts = {field_help(options[name])[field] for name in owners[field]}
            if len(texts) > 1:
                action = next(a for a in group._group_actions if a.dest == field)
                default = getattr(first(), field)
                action.help = ("; ".join(f"[{name}] {field_help(options[name])[field]}" for name in owners[field])
                               + f" (default: {default!r})").replace("%", "%%")
    for name, cls in options.items():
        group = parser.add_argument_group(f"{name} play options")
        add_dataclass_flags(group, cls, prefix_help=f"[{name}] ", skip=tuple(shared))
    parser.set_defaults(play_fields=owners)


# --------------------------------------------------------------------------- commands


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _hub_checkpoint(text: str) -> Path:
    from rlcore import hub

    return hub.resolve_checkpoint(text)


def _progress_target(config: Any, record: dict[str, Any]) -> tuple[str, int | None]:
    """Which record key advances the bar and its total, from the config's budget fields."""
    for field, key in (("max_steps", "step"), ("total_steps", "step"), ("iterations", "step"),
                       ("episodes", "episode")):
        total = getattr(config, field, None)
        if isinstance(total, int) and total > 0 and key in record:
            return key, total
    return "step", None


def _postfix(record: dict[str, Any]) -> dict[str, str]:
    shown = {}
    for key, value in record.items():
        if key in ("step", "episode") or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        shown[key.split("/")[-1]] = f"{value:.4g}"
        if len(shown) == 3:
            break
    return shown


def _refuse_run_files(out: Path) -> None:
    """A new run starts its metrics and training state afresh: never over files of the same names that
    are not a checkpoint of ours (a user's own metrics.jsonl would be emptied)."""
    from rlcore.checkpoint import METRICS_FILE, TRAINING_META_FILE, TRAINING_STATE_FILE

    taken = [name for name in (METRICS_FILE, TRAINING_META_FILE, TRAINING_STATE_FILE) if (out / name).exists()]
    if taken:
        raise UsageError(f"{out / taken[0]} exists: a new run would overwrite it; choose another --out or move it "
                         "away (nothing was touched)")


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rlcore import hub
    from rlcore.checkpoint import CONFIG_FILE, load_config
    from rlcore.config import from_dict
    from rlcore.systems import get_system

    system = get_system(args.system)
    out: Path = args.out
    push_ref = None
    if args.push_to_hub:  # fail before training, not after an hour of it
        push_ref = hub.parse_repo_ref(args.push_to_hub)
        hub.ready_to_push()
    overrides = given_fields(args, args.config_fields)
    has_checkpoint = (out / CONFIG_FILE).is_file()
    if args.resume:
        if args.preset:
            raise UsageError("--preset starts a new run; a resumed run keeps its saved config")
        if not has_checkpoint:
            raise UsageError(f"--resume: {out} holds no checkpoint to resume (no {CONFIG_FILE})")
        saved = load_config(out, system=args.system)["config"]
        config = dataclasses.replace(from_dict(system.Config, saved, source=str(out / CONFIG_FILE)), **overrides)
    else:
        if has_checkpoint:
            raise UsageError(f"{out} already holds a checkpoint: pass --resume to continue it, or choose another "
                             "--out (nothing was overwritten)")
        _refuse_run_files(out)
        config = system.preset(args.preset, **overrides) if args.preset else system.Config(**overrides)

    stop = threading.Event()

    def ask_to_stop(signum, frame):  # first Ctrl-C: save and stop cleanly; a second one aborts
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _say("stopping: saving the checkpoint (Ctrl-C again to abort)")

    in_main_thread = threading.current_thread() is threading.main_thread()  # signals can be set only there
    previous = signal.signal(signal.SIGINT, ask_to_stop) if in_main_thread else None
    bar = None
    try:
        records = system.train(config, out, resume=args.resume, device=args.device, stop=stop)
        for record in records:
            if args.no_progress:
                _say(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
                continue
            if bar is None:
                key, total = _progress_target(config, record)
                bar = tqdm(total=total, desc=f"train {args.system}", unit=key, dynamic_ncols=True)
            bar.n = int(record.get(key, bar.n))
            bar.set_postfix(_postfix(record), refresh=False)
            bar.refresh()
    finally:
        if bar is not None:
            bar.close()
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
    print(f"checkpoint: {out}")
    if push_ref is not None and stop.is_set():
        _say(f"stopped early: not pushed (publish it with `rlcore push {out} {push_ref}`)")
    elif push_ref is not None:
        url = hub.push_checkpoint(out, push_ref, log=_say)
        print(f"pushed: {url}")
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


def _evaluate(system: Any, folder: Path, args: argparse.Namespace, options: dict[str, float],
              label: str) -> dict[str, Any]:
    """system.evaluate with a progress bar over the episodes."""
    from tqdm import tqdm

    with tqdm(total=args.episodes, desc=label, unit="episode", dynamic_ncols=True,
              disable=True if args.no_progress else None) as bar:
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
    from rlcore.systems import system_of_checkpoint

    _check_episodes(args)
    from_hub = hub.is_hub_ref(args.checkpoint)
    if args.write and from_hub:
        raise UsageError(f"--write merges into a local checkpoint's {RESULTS_FILE}: for a Hub checkpoint "
                         "pass --out FILE")
    folder = _hub_checkpoint(args.checkpoint)
    system = system_of_checkpoint(folder)
    options = _protocol_options(args, system.NAME)
    results = _evaluate(system, folder, args, options, f"evaluate {Path(args.checkpoint).name}")
    print(results_summary(results))
    if args.out is not None:
        out = args.out / RESULTS_FILE if args.out.is_dir() else args.out
        print(f"wrote {atomic_write_json(out, results)}")
    if args.write:
        existing = read_json(folder / RESULTS_FILE) if (folder / RESULTS_FILE).is_file() else None
        merged = merge_protocol(existing, results)
        path = atomic_write_json(folder / RESULTS_FILE, merged)
        print(f"merged protocol {results['protocol']['name']} into {path} "
              f"(protocols: {', '.join(merged['protocols'])})")
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
    options = _protocol_options(args, system.NAME)
    runs = [_evaluate(system, folder, args, options, f"evaluate {label}")
            for folder, label in zip(folders, "AB")]
    comparison = {"a": args.checkpoint_a, "b": args.checkpoint_b, **compare_results(*runs)}
    print(comparison_table(comparison))
    if args.out is not None:
        print(f"wrote {atomic_write_json(args.out, comparison)}")
    return 0


def cmd_evaluate_snapshots(args: argparse.Namespace) -> int:
    from rlcore.checkpoint import checkpoint_dir, load_config
    from rlcore.snapshots import SNAPSHOT_EVALS_FILE, evaluate_snapshots, snapshot_folders
    from rlcore.systems import get_system

    _check_episodes(args)
    snapshots = snapshot_folders(checkpoint_dir(args.run_dir))
    system = get_system(load_config(snapshots[0][1])["system"])
    options = _protocol_options(args, system.NAME)
    if "sticky" in getattr(system, "EVALUATION_OPTIONS", {}):
        options.setdefault("sticky", SNAPSHOT_STICKY)
    protocols = [{}] + ([options] if any(options.values()) else [])
    evaluated = 0
    for done in evaluate_snapshots(args.run_dir, system, protocols, episodes=args.episodes, seed=args.seed,
                                   progress=not args.no_progress):
        _say(done)
        evaluated += 1
    print(f"{args.run_dir / SNAPSHOT_EVALS_FILE}: {evaluated} new evaluation(s) of {len(snapshots)} snapshot(s)"
          f"{'' if evaluated else ' (all done already for these protocols)'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from rlcore import hub
    from rlcore.systems import system_of_checkpoint

    folder = _hub_checkpoint(args.checkpoint)
    system = system_of_checkpoint(folder)
    if getattr(system, "export", None) is None:
        raise UsageError(f"{system.NAME} checkpoints have no export format")
    if args.out is None and hub.is_hub_ref(args.checkpoint):
        raise UsageError("a Hub checkpoint is exported to --out FILE (the cache is not written to)")
    out = args.out if args.out is not None else folder / system.EXPORT_FILE
    print(f"wrote {system.export(folder, out)}")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from rlcore.checkpoint import load_config
    from rlcore.systems import get_system
    from rlcore.video import write_mp4

    folder = _hub_checkpoint(args.checkpoint)
    system_name = load_config(folder)["system"]
    system = get_system(system_name)
    given = {name: getattr(args, name) for name in args.play_fields if hasattr(args, name)}
    foreign = [name for name in given if system_name not in args.play_fields[name]]
    if foreign:
        raise UsageError(f"{_flag(foreign[0])} is not a play option of {system_name} checkpoints")
    options = dataclasses.replace(system.PlayOptions(), **given)
    episode = system.play(folder, options)
    path = write_mp4(args.out, episode.frames, fps=episode.fps)
    summary = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in episode.summary.items())
    print(f"wrote {path} ({len(episode.frames)} frames){': ' + summary if summary else ''}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from rlcore import hub

    ref = hub.parse_repo_ref(args.repo)
    if args.checkpoint.startswith(hub.HF_PREFIX):
        raise UsageError(f"push takes a local checkpoint folder, not {args.checkpoint}")
    url = hub.push_checkpoint(args.checkpoint, ref, commit_message=args.message, private=args.private,
                              episodes=args.episodes, seed=args.seed, log=_say)
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
