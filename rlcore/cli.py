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

from rlcore.systems import System, all_systems, get_system, system_names, system_of_checkpoint

PROG = "rlcore"
EXIT_FAILURE, EXIT_BAD_INPUT = 1, 2

COMMANDS = {
    "train": "train an agent (every config field is a flag; see `rlcore train SYSTEM --help`)",
    "evaluate": "evaluate a checkpoint over N seeded episodes and write results.json",
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


def add_dataclass_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type,
                        prefix_help: str = "", skip: tuple[str, ...] = (),
                        helps: dict[str, str] | None = None) -> list[str]:
    """One flag per field of `cls` with the field's help (or `helps`' text) and default; the field names.

    Defaults are SUPPRESSed so that only flags given on the command line reach the parsed namespace
    (a resumed run keeps its saved config except what is overridden).
    """
    from rlcore.config import field_help

    hints = typing.get_type_hints(cls)
    texts = {**field_help(cls), **(helps or {})}
    defaults = cls()
    names = [field.name for field in dataclasses.fields(cls) if field.name not in skip]
    for name in names:
        text = f"{prefix_help}{texts.get(name, '')} (default: {getattr(defaults, name)!r})".replace("%", "%%")
        parser.add_argument(_flag(name), dest=name, default=argparse.SUPPRESS, help=text,
                            **_flag_kwargs(hints[name], name))
    return names


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
        prog=PROG, parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train, evaluate, play and publish rlcore agents (Mario Double DQN, differentiable Pendulum).",
        epilog="Run `rlcore COMMAND --help` for the flags of a command. Hub commands read HF_TOKEN / the login "
               "cache and HF_ENDPOINT, HF_HOME, HF_HUB_OFFLINE like every Hugging Face tool.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=COMMANDS[name], description=COMMANDS[name])
        sub.set_defaults(run=run)
        return sub

    _add_train_command(command("train", cmd_train), common, words)
    _add_evaluate_flags(command("evaluate", cmd_evaluate))
    play = command("play", cmd_play)
    play.add_argument("checkpoint", metavar="CHECKPOINT", help=CHECKPOINT_HELP)
    play.add_argument("--out", metavar="FILE", type=Path, default=Path("replay.mp4"),
                      help="mp4 file to write (H.264, plays in browsers; default: replay.mp4)")
    if words[:1] == ["play"]:
        _add_play_flags(play)
    push = command("push", cmd_push)
    push.add_argument("checkpoint", metavar="CHECKPOINT", help="a local checkpoint folder")
    push.add_argument("repo", metavar="OWNER/NAME", help="the model repo to publish to (created if needed)")
    _add_push_flags(push)
    pull = command("pull", cmd_pull)
    pull.add_argument("repo", metavar="OWNER/NAME[@REVISION]", help="the model repo (hf:// prefix allowed)")
    pull.add_argument("--cache-dir", type=Path, help="cache folder (default: the standard Hugging Face cache, "
                                                     "HF_HUB_CACHE)")
    listing = command("list", cmd_list)
    listing.add_argument("--author", help="only agents of this user or organisation")
    listing.add_argument("--search", help="only repos whose name contains this")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    return parser


def _add_train_command(train: argparse.ArgumentParser, common: argparse.ArgumentParser, words: list[str]) -> None:
    """`train SYSTEM` for every known system; the config flags only for the system being trained."""
    systems = train.add_subparsers(dest="system", metavar="SYSTEM", required=True)
    for name in system_names():
        sub = systems.add_parser(name, parents=[common], help=f"train the {name} agent",
                                 description=f"Train the {name} agent. Config flags default to the tutorial's "
                                             "values; with --resume, to the run's saved config.")
        if words[:2] == ["train", name]:
            _add_train_flags(sub, name)
        sub.set_defaults(run=cmd_train)


def _add_evaluate_flags(evaluate: argparse.ArgumentParser) -> None:
    evaluate.add_argument("checkpoint", metavar="CHECKPOINT", help=CHECKPOINT_HELP)
    evaluate.add_argument("--episodes", type=int, default=10, help="episodes to play (default: 10)")
    evaluate.add_argument("--seed", type=int, default=0,
                          help="seed of the first episode; episode i uses seed + i (default: 0)")
    evaluate.add_argument("--out", metavar="DIR", type=Path,
                          help="folder for results.json (default: the checkpoint folder when it is local)")


def _add_push_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--episodes", type=int, default=10,
                        help="evaluation episodes when the checkpoint has no results.json yet (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="evaluation / replay seed (default: 0)")
    parser.add_argument("--message", help="commit message (default: 'Upload ALGORITHM agent for ENV')")
    parser.add_argument("--private", action="store_true", help="create the repo as private")


def _add_train_flags(parser: argparse.ArgumentParser, system_name: str) -> None:
    system = get_system(system_name)
    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="DIR", type=Path, default=Path("runs") / system_name,
                     help=f"checkpoint folder, kept valid and resumable during training (default: runs/{system_name})")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --out from its saved training state and config (config flags "
                          "given with it override the saved values)")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                     help="where to train: auto = cuda when available (default: auto)")
    run.add_argument("--push-to-hub", metavar="OWNER/NAME",
                     help="after training, evaluate, render and publish the checkpoint to this repo")
    run.add_argument("--no-progress", action="store_true", help="no progress bar (log lines instead)")
    run.add_argument("--preset", choices=list(system.presets), help="start from a named configuration of the "
                     f"{system_name} system (flags still override its fields; default: the tutorial's)")
    config = parser.add_argument_group(f"{system_name} config ({system.Config.__name__})")
    parser.set_defaults(config_fields=add_dataclass_flags(config, system.Config), preset=None)


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
        texts = {field: _play_help(field, owners[field], options) for field in field_help(cls) if field not in added}
        add_dataclass_flags(group, cls, skip=tuple(added), helps=texts)
        added.update(texts)
    parser.set_defaults(play_fields=owners)


def _play_help(field: str, systems: list[str], options: dict[str, type]) -> str:
    """A play flag's help: "[system] text" for one system's field, one such part per system when they differ."""
    from rlcore.config import field_help

    texts = {system: field_help(options[system])[field] for system in systems}
    if len(systems) > 1 and len(set(texts.values())) == 1:
        return texts[systems[0]]
    return "; ".join(f"[{system}] {text}" for system, text in texts.items())


# --------------------------------------------------------------------------- commands


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _hub_checkpoint(text: str) -> Path:
    from rlcore import hub

    return hub.resolve_checkpoint(text)


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


def train_config(system: System, args: argparse.Namespace) -> Any:
    """The run's config: the saved one with the flags given (--resume), else the preset's or the defaults."""
    from rlcore.checkpoint import CONFIG_FILE

    out: Path = args.out
    overrides = given_fields(args, args.config_fields)
    has_checkpoint = (out / CONFIG_FILE).is_file()
    if args.resume:
        if args.preset:
            raise UsageError("--preset starts a new run; a resumed run keeps its saved config")
        if not has_checkpoint:
            raise UsageError(f"--resume: {out} holds no checkpoint to resume (no {CONFIG_FILE})")
        return dataclasses.replace(system.config_of(out), **overrides)
    if has_checkpoint:
        raise UsageError(f"{out} already holds a checkpoint: pass --resume to continue it, or choose another "
                         "--out (nothing was overwritten)")
    _refuse_run_files(out)
    return system.preset(args.preset or next(iter(system.presets)), **overrides)


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


def show_progress(system: System, config: Any, records: Iterable[dict[str, Any]], quiet: bool) -> None:
    """A progress bar over the system's budget, shown from the first record (an error before it prints
    only its own line), or one log line per record with `quiet`."""
    from tqdm import tqdm

    key, total = system.budget.record_key, getattr(config, system.budget.field, None)
    bar = None
    try:
        for record in records:
            if quiet:
                _say(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
                continue
            if bar is None:
                bar = tqdm(total=total if isinstance(total, int) and total > 0 else None, desc=f"train {system.name}",
                           unit=key, dynamic_ncols=True)
            bar.n = int(record.get(key, bar.n))
            bar.set_postfix(_postfix(record), refresh=False)
            bar.refresh()
    finally:
        if bar is not None:
            bar.close()


def cmd_train(args: argparse.Namespace) -> int:
    from rlcore import hub

    system = get_system(args.system)
    push_ref = None
    if args.push_to_hub:  # fail before training, not after an hour of it
        push_ref = hub.parse_repo_ref(args.push_to_hub)
        hub.ready_to_push()
    config = train_config(system, args)
    with stop_on_ctrl_c() as stop:
        records = system.train(config, args.out, resume=args.resume, device=args.device, stop=stop)
        show_progress(system, config, records, quiet=args.no_progress)
    print(f"checkpoint: {args.out}")
    if push_ref is not None and stop.is_set():
        _say(f"stopped early: not pushed (publish it with `rlcore push {args.out} {push_ref}`)")
    elif push_ref is not None:
        print(f"pushed: {hub.push_checkpoint(args.out, push_ref, log=_say)}")
    return 0


def _results_table(system: System, results: dict[str, Any]) -> str:
    rows = [("episodes", str(results.get("n_eval_episodes", "?"))),
            ("mean reward", f"{results['mean_reward']:.2f}"),
            ("std reward", f"{results.get('std_reward', float('nan')):.2f}")]
    for figure in system.figures:
        value = figure.value(results)
        if value is not None:
            rows.append((figure.label, figure.text(value)))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rlcore import hub
    from rlcore.checkpoint import RESULTS_FILE, atomic_write_json

    if args.episodes < 1:
        raise UsageError("--episodes must be at least 1")
    from_hub = hub.is_hub_ref(args.checkpoint)
    folder = _hub_checkpoint(args.checkpoint)
    system = system_of_checkpoint(folder)
    results = system.evaluate(folder, episodes=args.episodes, seed=args.seed)
    print(_results_table(system, results))
    target = args.out if args.out is not None else (None if from_hub else folder)
    if target is None:
        _say(f"(a Hub checkpoint: pass --out DIR to save {RESULTS_FILE})")
    else:
        print(f"wrote {atomic_write_json(Path(target) / RESULTS_FILE, results)}")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from rlcore.video import write_mp4

    folder = _hub_checkpoint(args.checkpoint)
    system = system_of_checkpoint(folder)
    given = {name: getattr(args, name) for name in args.play_fields if hasattr(args, name)}
    foreign = [name for name in given if system.name not in args.play_fields[name]]
    if foreign:
        raise UsageError(f"{_flag(foreign[0])} is not a play option of {system.name} checkpoints")
    episode = system.play(folder, system.play_options(**given))
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
