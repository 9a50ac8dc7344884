"""Publish checkpoints to the Hugging Face Hub, load them back, and list published agents.

    push_checkpoint("runs/pendulum", "alice/pendulum-bptt")      # one commit: weights, config, card ...
    folder = pull_checkpoint("alice/pendulum-bptt@main")         # the standard HF cache; offline too
    list_agents(author="alice")                                  # list_models filtered by our tag

A repo on the Hub has the same layout as a local checkpoint folder (rlcore.checkpoint). Everything goes
through the real `huggingface_hub` client: the token comes from its standard places (HF_TOKEN, the login
cache) and is never printed or written by us. Every function takes an optional `endpoint` (default:
huggingface_hub's, i.e. HF_ENDPOINT) and `token` (None: the standard places; False: send none).
Expected failures are `HubError` (one line) or `CheckpointError`; `HubError.user_error` tells bad
input (exit 2) from a failure (exit 1).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rlcore.checkpoint import CARD_FILE, REPLAY_FILE, checkpoint_dir
from rlcore.metrics import EVENT_FILES

T = TypeVar("T")

HF_PREFIX = "hf://"
PUSHED_PATTERNS = ("*.png", EVENT_FILES)  # plots; TensorBoard logs (the Hub's "Training metrics")


def pushed_names() -> tuple[str, ...]:
    """What a published agent carries (the RL Zoo / CleanRL set) besides the PNG plots and the card.

    Not training_state.*: the Hub repo is the agent for viewers (load / evaluate / play); the optimizer
    state would double the download and only the machine that trains needs it (--resume from --out).
    """
    from rlcore import checkpoint as ckpt
    from rlcore.genmap import MAP_FILE
    from rlcore.snapshots import SNAPSHOT_EVALS_FILE

    return (
        ckpt.WEIGHTS_FILE,
        ckpt.CONFIG_FILE,
        ckpt.RESULTS_FILE,
        ckpt.METRICS_FILE,
        REPLAY_FILE,
        SNAPSHOT_EVALS_FILE,
        MAP_FILE,
    )


def pulled_patterns() -> list[str]:
    """What a pull downloads: our files only, never a pickle or anything else."""
    return [*pushed_names(), *PUSHED_PATTERNS, CARD_FILE]


TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")


class HubError(RuntimeError):
    """A Hub operation that failed; one line. `user_error`: caused by the input (bad id, unknown repo)."""

    def __init__(self, message: str, user_error: bool = False):
        super().__init__(message)
        self.user_error = user_error


@dataclass(frozen=True)
class RepoRef:
    """OWNER/NAME at a revision (a branch, tag or commit sha; "main" by default)."""

    repo_id: str
    revision: str = "main"

    def __str__(self) -> str:
        return self.repo_id if self.revision == "main" else f"{self.repo_id}@{self.revision}"


# ----------------------------------------------------------------------------- repo ids


def repo_id_problem(repo_id: str) -> str | None:
    """Why `repo_id` is not OWNER/NAME as the Hub accepts it (huggingface_hub's validate_repo_id), or None."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if repo_id.count("/") != 1:
        return "expected OWNER/NAME (letters, digits, '-', '_', '.'; two parts)"
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        return _one_line(err)
    return None if repo_id.isascii() else "only ASCII letters and digits"


def parse_repo_ref(text: str) -> RepoRef:
    """`OWNER/NAME`, `OWNER/NAME@REV` or `hf://OWNER/NAME[@REV]` -> RepoRef; anything else is a HubError.

    Refuses what could escape into the local filesystem through the cache path ("../x", "/abs",
    "a/b/c", "a/..") as well as names the Hub itself rejects ("--", "..", ".git").
    """
    raw = text[len(HF_PREFIX) :] if text.startswith(HF_PREFIX) else text
    repo_id, at, revision = raw.partition("@")
    revision = revision if at else "main"
    problem = repo_id_problem(repo_id)
    if problem is None and (not _REVISION.fullmatch(revision) or ".." in revision or revision.endswith("/")):
        problem = f"bad revision {revision!r}"
    if problem:
        raise HubError(f"invalid Hub repo id {text!r}: {problem}", user_error=True)
    return RepoRef(repo_id, revision)


def is_hub_ref(text: str) -> bool:
    """Whether a CHECKPOINT argument names a Hub repo: hf://..., or OWNER/NAME that is not a local path."""
    return text.startswith(HF_PREFIX) or (
        repo_id_problem(text.partition("@")[0]) is None and not _exists(text)
    )


def _exists(path: str) -> bool:
    """Path.exists, False for names the OS refuses (too long, NUL bytes) rather than an OSError."""
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


# ----------------------------------------------------------------------------- errors, retries


def _is_transient(err: BaseException) -> bool:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(err, HfHubHTTPError):
        response = getattr(err, "response", None)
        return response is not None and response.status_code in TRANSIENT_STATUS
    return isinstance(err, httpx2.TransportError)


def _one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else err.__class__.__name__


def hub_error(err: BaseException, ref: RepoRef | str, endpoint: str) -> HubError:
    """Translate a huggingface_hub / network exception into a one-line HubError."""
    import httpx2
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(err, RepositoryNotFoundError):
        return HubError(
            f"{ref}: no such model repo on {endpoint} (or it is private and your token cannot read it)",
            user_error=True,
        )
    if isinstance(err, RevisionNotFoundError):
        return HubError(f"{ref}: no such revision on {endpoint}", user_error=True)
    if isinstance(err, OfflineModeIsEnabled):
        return HubError(f"{ref}: offline mode (HF_HUB_OFFLINE=1), and this needs the Hub", user_error=True)
    if isinstance(err, LocalEntryNotFoundError):
        return HubError(
            f"{ref}: not in the local Hugging Face cache and the Hub cannot be reached "
            "(offline: HF_HUB_OFFLINE=1 or no network)"
        )
    if isinstance(err, EntryNotFoundError):
        return HubError(f"{ref}: file not found in the repo ({_one_line(err)})", user_error=True)
    if isinstance(err, HfHubHTTPError):
        status = err.response.status_code if getattr(err, "response", None) is not None else "?"
        if status in (401, 403):
            return HubError(
                f"{ref}: the Hub refused the request ({status}): check that your token may write "
                "to this namespace",
                user_error=True,
            )
        return HubError(f"{ref}: Hub request failed ({status}): {_one_line(err)}")
    if isinstance(err, httpx2.TransportError):
        return HubError(
            f"{ref}: cannot reach the Hub at {endpoint} ({err.__class__.__name__}: {_one_line(err)})"
        )
    return HubError(f"{ref}: {err.__class__.__name__}: {_one_line(err)}")


def with_retries(
    action: Callable[[], T],
    *,
    attempts: int = 3,
    wait_s: float = 1.0,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Run `action`, retrying transient HTTP errors (5xx, 408, 429, connection resets) with exponential
    backoff, `attempts` times at most; other errors propagate at once.

    Used around what the client sends without retrying (create_repo, the commit POST); its uploads
    (preupload, LFS batch and PUT) already back off by themselves, so a dead network costs seconds,
    not minutes."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as err:
            if attempt == attempts or not _is_transient(err):
                raise
            if on_retry:
                on_retry(attempt, err)
            time.sleep(wait_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def endpoint_url(endpoint: str | None) -> str:
    """`endpoint`, else huggingface_hub's (HF_ENDPOINT or huggingface.co), without a trailing slash."""
    from huggingface_hub import constants

    return (endpoint or constants.ENDPOINT).rstrip("/")


def _unreachable(endpoint: str) -> str | None:
    """Why the endpoint cannot be reached at all (its host name does not resolve, or nothing accepts a
    connection on its port), or None. The client would retry such requests with backoff for ~20 s
    (five tries), and no retry helps them. Behind a proxy only the name is checked: the proxy connects."""
    import socket
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    if not parts.hostname:
        raise HubError(f"invalid Hub endpoint {endpoint!r}", user_error=True)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)[0][4]
    except (socket.gaierror, UnicodeError) as err:
        return f"cannot resolve {parts.hostname}: {err.args[-1]}"
    if parts.scheme in urllib.request.getproxies():
        return None
    try:
        socket.create_connection(address[:2], timeout=5).close()
    except OSError as err:  # refused, timed out (no strerror), no route to the host
        return f"{address[0]}:{address[1]}: {err.strerror or 'timed out'}"
    return None


def require_reachable(endpoint: str) -> None:
    """Fail at once, in one line, when the endpoint cannot be reached at all (see _unreachable)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:  # the client itself refuses at once, with its offline-mode error
        return
    why = _unreachable(endpoint)
    if why is not None:
        raise HubError(f"cannot reach the Hub at {endpoint} ({why})")


# ----------------------------------------------------------------------------- token


def resolve_token(token: str | None = None) -> str:
    """The token to push with: `token`, else HF_TOKEN, else the login cache. Never printed."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise HubError(
            "no Hugging Face token: set HF_TOKEN or run `hf auth login` (pushing needs write access)",
            user_error=True,
        )
    return token


def ready_to_push(token: str | None = None) -> str:
    """What a push needs before any work is done: the Hub reachable in principle, and a token."""
    from huggingface_hub import is_offline_mode

    if is_offline_mode():
        raise HubError("offline mode (HF_HUB_OFFLINE=1): pushing needs the Hub", user_error=True)
    return resolve_token(token)


# ----------------------------------------------------------------------------- push


def files_to_push(checkpoint: str | os.PathLike) -> list[Path]:
    """The files of a checkpoint folder that a push publishes (pushed_names() and the PNG plots); a file
    that resolves outside the folder (a symlink out of it) is refused."""
    from rlcore.checkpoint import CheckpointError, checkpoint_dir

    folder = checkpoint_dir(checkpoint)
    files = [folder / name for name in pushed_names() if (folder / name).is_file()]
    for pattern in PUSHED_PATTERNS:
        files += sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))
    inside = folder.resolve()
    for file in files:  # a link to ~/.cache/huggingface/token named notes.png would publish the token
        if not file.resolve().is_relative_to(inside):
            raise CheckpointError(
                f"{file}: a link to a file outside the checkpoint folder; refusing to publish "
                "it (copy the file in, or remove the link)"
            )
    return files


def check_pushable(checkpoint: str | os.PathLike) -> dict[str, Any]:
    """A push publishes only a valid rlcore checkpoint: config.json readable, weights real safetensors, and
    the JSON files it publishes beside them (training records, snapshot evaluations, map) as their readers
    accept them."""
    from rlcore.checkpoint import (
        METRICS_FILE,
        WEIGHTS_FILE,
        CheckpointError,
        checkpoint_dir,
        load_config,
        load_tensors,
    )
    from rlcore.genmap import read_map
    from rlcore.metrics import read_metrics
    from rlcore.modelcard import own_card
    from rlcore.snapshots import read_evaluations

    folder = checkpoint_dir(checkpoint)
    files_to_push(folder)  # a link out of the folder is refused before anything is computed
    document = load_config(folder)
    own_card(folder)  # a README.md that is not a card is refused before anything is computed
    if not (folder / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"{folder / WEIGHTS_FILE}: missing (nothing to publish)")
    load_tensors(folder / WEIGHTS_FILE)  # refuses pickles and truncated files before anything is uploaded
    read_metrics(folder / METRICS_FILE), read_evaluations(folder), read_map(folder)
    return document


def complete_checkpoint(
    checkpoint: str | os.PathLike,
    *,
    episodes: int = 10,
    seed: int = 0,
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, bytes]:
    """Before publishing: check the weights load into the model config.json describes, then write what a
    published agent shows and the folder lacks: results.json (evaluation) and replay.mp4 (one episode).
    Files already there are kept as they are. Returns the system's export files (exported_files)."""
    from rlcore.checkpoint import RESULTS_FILE, atomic_write_json, checkpoint_dir
    from rlcore.systems import system_of_checkpoint
    from rlcore.video import Mp4Sink

    folder = checkpoint_dir(checkpoint)
    system = system_of_checkpoint(folder)
    system.load(folder)  # a config that does not match the weights fails here, before any upload
    if not (folder / RESULTS_FILE).is_file():
        log(f"evaluating {episodes} episodes (seed {seed}) for {RESULTS_FILE} ...")
        atomic_write_json(folder / RESULTS_FILE, system.evaluate(folder, episodes=episodes, seed=seed))
    if not (folder / REPLAY_FILE).is_file():
        log(f"rendering one episode to {REPLAY_FILE} ...")
        system.play_streamed(folder, system.play_options(seed=seed), Mp4Sink(folder / REPLAY_FILE))
    return exported_files(folder, log)


def exported_files(folder: Path, log: Callable[[str], None]) -> dict[str, bytes]:
    """The system's export (Pendulum's agent.pt), made fresh from the weights in a temporary folder: a push
    publishes it, the checkpoint folder never holds it
    (app uploads refuse .pt files, and it cannot go stale)."""
    import tempfile

    from rlcore.systems import system_of_checkpoint

    system = system_of_checkpoint(folder)
    if system.export_file is None:
        return {}
    log(f"exporting {system.export_file} ...")
    with tempfile.TemporaryDirectory(prefix="rlcore-export-") as tmp:
        return {system.export_file: system.export(folder, Path(tmp) / system.export_file).read_bytes()}


def push_checkpoint(
    checkpoint: str | os.PathLike,
    repo: str | RepoRef,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    commit_message: str | None = None,
    private: bool = False,
    complete: bool = True,
    episodes: int = 10,
    seed: int = 0,
    attempts: int = 3,
    wait_s: float = 1.0,
    new_repo: bool = False,
    log: Callable[[str], None] = lambda message: None,
) -> str:
    """Publish a local checkpoint folder as ONE commit; returns the commit URL. `new_repo`: the push creates
    the repo, and a repo already there (anyone's, whatever it holds) is refused with nothing committed.

    Order: repo id and token are checked first (nothing is computed or uploaded without them); then
    the checkpoint (`complete`: weights checked against config.json, results.json and replay.mp4 made
    when missing, the system's export such as agent.pt made in a temporary folder); then the card (rlcore.
    modelcard) and files_to_push, the export and README.md go up in one commit. The folder is otherwise only
    read. Transient errors are retried (`attempts`, exponential backoff from `wait_s`); a push that failed
    half-way is completed by running it again (files already on the Hub are skipped by the client).
    """
    from huggingface_hub import HfApi

    ref = _main_branch_ref(repo)
    token = ready_to_push(token)
    folder = checkpoint_dir(checkpoint)
    document = check_pushable(folder)
    endpoint = endpoint_url(endpoint)
    require_reachable(endpoint)  # before the evaluation and video that `complete` may compute
    made = _files_made(folder, ref, endpoint, complete=complete, episodes=episodes, seed=seed, log=log)
    files = files_to_push(folder)
    log(f"uploading {len(files) + len(made)} files to {ref.repo_id} as one commit ...")
    return _create_and_commit(
        HfApi(endpoint=endpoint, token=token),
        ref,
        endpoint,
        lambda: _operations(files, made),
        commit_message or f"Upload {document.get('algorithm', 'rlcore')} agent for {document.get('env_id')}",
        private=private,
        new_repo=new_repo,
        attempts=attempts,
        wait_s=wait_s,
        log=log,
    )


def _main_branch_ref(repo: str | RepoRef) -> RepoRef:
    """The repo a push publishes to: OWNER/NAME, refused with an @revision other than main."""
    ref = repo if isinstance(repo, RepoRef) else parse_repo_ref(repo)
    if ref.revision != "main":
        raise HubError(
            f"{ref}: push publishes to the main branch; give OWNER/NAME without @revision", user_error=True
        )
    return ref


def _files_made(
    folder: Path, ref: RepoRef, endpoint: str, *, complete: bool, episodes: int, seed: int, log: Callable
) -> dict[str, bytes]:
    """The files a push makes rather than reads from the folder: the system's export (`complete`, after
    complete_checkpoint's checks, evaluation and video) and the model card, by name."""
    from rlcore.modelcard import build_model_card

    exported = complete_checkpoint(folder, episodes=episodes, seed=seed, log=log) if complete else {}
    return {**exported, CARD_FILE: build_model_card(folder, ref.repo_id, hub_url=endpoint).encode()}


def _create_and_commit(
    api: Any,
    ref: RepoRef,
    endpoint: str,
    operations: Callable[[], list],
    message: str,
    *,
    private: bool,
    new_repo: bool,
    attempts: int,
    wait_s: float,
    log: Callable[[str], None],
) -> str:
    """Create the repo (`new_repo`: refusing one that exists) and commit `operations()`, retrying transient
    errors; the commit URL, or a one-line HubError."""
    created = []  # once per push: a retried commit must not find "its" new repo existing and give up

    def attempt() -> str:
        if not created:
            api.create_repo(ref.repo_id, private=private, exist_ok=not new_repo)
            created.append(ref.repo_id)
        # Fresh operations each attempt: the client marks them as used once tried.
        return api.create_commit(ref.repo_id, operations=operations(), commit_message=message).commit_url

    def on_retry(attempt_number: int, err: BaseException) -> None:
        log(
            f"transient Hub error ({_one_line(hub_error(err, ref, endpoint))}); retry {attempt_number} "
            f"of {attempts - 1} ..."
        )

    try:
        return with_retries(attempt, attempts=attempts, wait_s=wait_s, on_retry=on_retry)
    except Exception as err:
        if new_repo and not created and getattr(getattr(err, "response", None), "status_code", None) == 409:
            raise HubError(
                f"{ref}: the repo already exists on {endpoint}; this push publishes only into a "
                "new repo it creates (nothing was committed)",
                user_error=True,
            ) from None
        raise hub_error(err, ref, endpoint) from err


def _operations(files: list[Path], data: dict[str, bytes]) -> list:
    """One commit's additions: the checkpoint's `files` by name, then `data` (the export, the card)."""
    from huggingface_hub import CommitOperationAdd

    return [CommitOperationAdd(path_in_repo=path.name, path_or_fileobj=str(path)) for path in files] + [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=blob) for name, blob in data.items()
    ]


# ----------------------------------------------------------------------------- pull


MAX_PULL_BYTES = 256 << 20  # what one pull may download (our agents: ~1-20 MB with plots and video)


def is_pulled(name: str) -> bool:
    """Whether a repo file is one a pull fetches: our format's files at the top level, never a pickle."""
    from fnmatch import fnmatchcase

    return "/" not in name and (
        name in pulled_patterns() or any(fnmatchcase(name, p) for p in PUSHED_PATTERNS)
    )


def _listed_files(ref: RepoRef, endpoint: str, token: str | bool | None) -> dict[str, int] | None:
    """{path: size} of the repo's files, from its metadata; None when the Hub cannot be asked (offline:
    the cache answers instead)."""
    import httpx2
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import OfflineModeIsEnabled

    if constants.HF_HUB_OFFLINE or _unreachable(endpoint) is not None:  # at once: the cache answers
        return None
    try:
        entries = HfApi(endpoint=endpoint, token=token).list_repo_tree(
            ref.repo_id, revision=ref.revision, recursive=True
        )
        return {entry.path: int(getattr(entry, "size", 0) or 0) for entry in entries}
    except (OfflineModeIsEnabled, httpx2.TransportError):
        return None
    except Exception as err:
        raise hub_error(err, ref, endpoint) from err


def _plan_pull(ref: RepoRef, listed: dict[str, int], max_bytes: int) -> list[str]:
    """The files to fetch, refused before any download: no config.json or weights (a pickle named),
    or more than `max_bytes` in all."""
    from rlcore.checkpoint import CONFIG_FILE, PICKLE_SUFFIXES, WEIGHTS_FILE, CheckpointError

    where = f"{HF_PREFIX}{ref}"
    escaping = next((name for name in listed if name.startswith("/") or ".." in name.split("/")), None)
    if escaping is not None:  # a hostile listing: never fetch from it
        raise HubError(
            f"{where}: the repo lists a file name that escapes its folder ({escaping!r})", user_error=True
        )
    wanted = {name: size for name, size in listed.items() if is_pulled(name)}
    for required in (CONFIG_FILE, WEIGHTS_FILE):
        if required not in wanted:
            pickles = [name for name in listed if name.lower().endswith(PICKLE_SUFFIXES)]
            if pickles and WEIGHTS_FILE not in wanted:
                raise CheckpointError(
                    f"{where}/{pickles[0]}: refusing to load a pickle file (rlcore loads only "
                    f"{WEIGHTS_FILE}; pickles can run arbitrary code)"
                )
            raise CheckpointError(f"{where}: not an rlcore checkpoint, no {required} in the repo")
    total = sum(wanted.values())
    if total > max_bytes:
        raise HubError(
            f"{where}: its files add up to {total / 2**20:.1f} MB, more than the {max_bytes / 2**20:.0f} MB "
            "a pull may fetch",
            user_error=True,
        )
    return sorted(wanted)


def _download(ref: RepoRef, files: list[str] | None, **hub: Any) -> Path:
    """config.json first (checked: an rlcore checkpoint), then the other files; `files` None: offline,
    from the cache. Returns the snapshot folder."""
    from huggingface_hub import hf_hub_download, snapshot_download

    from rlcore.checkpoint import CONFIG_FILE, CheckpointError, load_config

    if files is not None:
        config = Path(hf_hub_download(ref.repo_id, CONFIG_FILE, revision=ref.revision, **hub))
        try:
            load_config(config.parent)
        except CheckpointError as err:
            raise CheckpointError(str(err).replace(str(config.parent), f"{HF_PREFIX}{ref}")) from None
    patterns = files if files is not None else pulled_patterns()
    return Path(snapshot_download(ref.repo_id, revision=ref.revision, allow_patterns=patterns, **hub))


def pull_checkpoint(
    repo: str | RepoRef,
    *,
    cache_dir: str | os.PathLike | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
    max_bytes: int = MAX_PULL_BYTES,
) -> Path:
    """Download a published agent into the standard Hugging Face cache (or `cache_dir`) and return its folder.

    The repo's file listing is checked first (config.json and safetensors weights present, our files
    within `max_bytes`); then config.json is fetched and checked; only then the rest: our format's
    top-level files, never a pickle. With HF_HUB_OFFLINE=1 or without a network, a cached revision is
    used. A CheckpointError or HubError names the repo.
    """
    from huggingface_hub.errors import HFValidationError

    from rlcore.checkpoint import CONFIG_FILE, WEIGHTS_FILE, CheckpointError, load_config

    ref = repo if isinstance(repo, RepoRef) else parse_repo_ref(repo)
    endpoint = endpoint_url(endpoint)
    where = f"{HF_PREFIX}{ref}"
    listed = _listed_files(ref, endpoint, token)
    files = None if listed is None else _plan_pull(ref, listed, max_bytes)
    try:
        local = _download(ref, files, cache_dir=cache_dir, endpoint=endpoint, token=token)
    except HFValidationError as err:
        raise HubError(f"invalid Hub repo id {str(ref)!r}: {_one_line(err)}", user_error=True) from None
    except CheckpointError:
        raise
    except Exception as err:
        raise hub_error(err, ref, endpoint) from err
    for required in (CONFIG_FILE, WEIGHTS_FILE):
        if not (local / required).is_file():
            raise CheckpointError(f"{where}: not an rlcore checkpoint, no {required} in the repo")
    try:
        load_config(local)
    except CheckpointError as err:
        raise CheckpointError(str(err).replace(str(local), where)) from None
    return local


def resolve_checkpoint(text: str, **hub_kwargs: Any) -> Path:
    """A CHECKPOINT argument -> a local folder: an existing path as is, hf://... or OWNER/NAME pulled."""
    if is_hub_ref(text):
        return pull_checkpoint(text, **hub_kwargs)
    if text.count("/") >= 1 and not Path(text).exists() and not text.startswith(("/", ".", "~")):
        raise HubError(
            f"{text!r}: no such local checkpoint folder, and not a valid Hub repo id OWNER/NAME",
            user_error=True,
        )
    from rlcore.checkpoint import checkpoint_dir

    return checkpoint_dir(text)


# ----------------------------------------------------------------------------- list


@dataclass
class AgentSummary:
    repo_id: str
    system: str
    env_id: str
    algorithm: str
    mean_reward: str
    last_modified: str


def _summary(info: Any) -> AgentSummary:
    from rlcore.modelcard import BASE_TAGS
    from rlcore.systems import system_names

    card = info.card_data
    results = list(getattr(card, "eval_results", None) or []) if card is not None else []
    mean = next((str(r.metric_value) for r in results if r.metric_type == "mean_reward"), "")
    env_id = next((r.dataset_type for r in results), "")
    # Our cards list BASE_TAGS, the env id, the algorithm, the system (modelcard.card_tags); the Hub
    # adds its own tags to info.tags (region, file formats), so read the card's list.
    card_tags = list(getattr(card, "tags", None) or [])
    names = system_names()
    system = next((t for t in card_tags + list(info.tags or []) if t in names), "")
    others = [t for t in card_tags if t not in BASE_TAGS and t not in names and t != env_id]
    modified = info.last_modified.strftime("%Y-%m-%d %H:%M") if info.last_modified else ""
    return AgentSummary(info.id, system, env_id, others[0] if others else "", mean, modified)


def list_agents(
    *,
    author: str | None = None,
    search: str | None = None,
    limit: int = 50,
    endpoint: str | None = None,
    token: str | bool | None = None,
) -> list[AgentSummary]:
    """Published rlcore agents (`list_models` filtered by the "rlcore" tag), newest first."""
    from huggingface_hub import HfApi

    from rlcore.modelcard import HUB_TAG

    endpoint = endpoint_url(endpoint)
    if author is not None and (repo_id_problem(f"{author}/x") is not None or "/" in author):
        raise HubError(f"invalid author {author!r}", user_error=True)
    require_reachable(endpoint)
    api = HfApi(endpoint=endpoint, token=token)
    try:
        # the client already retries listing requests with backoff (http_backoff): no second layer here
        infos = list(
            api.list_models(
                filter=HUB_TAG, author=author, search=search, sort="last_modified", limit=limit, cardData=True
            )
        )
    except Exception as err:
        raise hub_error(err, f"list {author or ''}".strip(), endpoint) from err
    return [_summary(info) for info in infos]
