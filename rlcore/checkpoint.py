"""The one checkpoint format of rlcore, its reader, and its errors.

A checkpoint is a folder (the same layout locally and in a Hub repo):

    model.safetensors     the policy / Q-network weights (safetensors: never pickle)
    config.json           {"rlcore_format": 1, "system", "algorithm", "env_id", "config": {...}, ...}
    results.json          evaluation figures (optional, written by `evaluate`)
    metrics.jsonl         one JSON object per logged training record (optional)
    events.out.tfevents.* the same records as TensorBoard scalars (optional; rlcore.metrics)
    *.png, replay.mp4     plots and a replay video (optional)
    README.md             model card (optional: a push publishes this body with fresh front matter, or
                          generates one; rlcore.modelcard)
    agent.pt              Pendulum: the policy as TorchScript for the Open RL Leaderboard (optional,
                          written by `rlcore export`; a push publishes one made fresh from the weights;
                          never pulled or loaded)
    training_state.safetensors + training_state.json
                          what `--resume` needs beyond the weights (optimizer, counters); small
                          enough to commit, never the replay buffer.

Every file is written atomically (temporary file in the same folder, then rename), so a run killed
mid-write leaves the previous version intact; training_state.safetensors carries the whole training
state (its JSON part in the file's metadata too), so a save is atomic as a set. Every reading error is
a `CheckpointError` whose message is one line naming the file and what was expected.

Reading is bounded before anything is built: every JSON file goes through `read_json` (a size and a
nesting cap), and `check_weights_file` compares the safetensors header (names, shapes, dtypes; the
header alone is read) with the network a config describes, built on the meta device (no memory).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where tensors are read or written: reading config.json stays light
    import torch

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
RESULTS_FILE = "results.json"
METRICS_FILE = "metrics.jsonl"
REPLAY_FILE = "replay.mp4"
TRAINING_STATE_FILE = "training_state.safetensors"
TRAINING_META_FILE = "training_state.json"
PLAYTHROUGH_FILE = "playthrough.mp4"  # a recorded World playthrough (`rlcore playthrough`), figures in .json
CARD_FILE = "README.md"  # the model card
EXPORT_FILE = (
    "agent.pt"  # a system's export for outside tools (the Open RL Leaderboard's TorchScript); never loaded
)
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".chkpt", ".ckpt", ".bin")
TRAINING_META_KEY = "training_state"  # training_state.safetensors' metadata entry holding the JSON part

# Caps on what is read (ours are far below them: config.json ~1 KB, results.json and training_state.json
# of 1,000 episodes or Mario's logger history < 1 MB, a weights header < 10 KB).
MAX_CONFIG_BYTES = 1 << 20
MAX_JSON_BYTES = 16 << 20
MAX_JSON_DEPTH = 32
MAX_HEADER_BYTES = 1 << 20
# safetensors dtype codes -> torch's names (what check_state_dict compares and prints)
SAFETENSORS_DTYPES = {
    "F64": "torch.float64",
    "F32": "torch.float32",
    "F16": "torch.float16",
    "BF16": "torch.bfloat16",
    "I64": "torch.int64",
    "I32": "torch.int32",
    "I16": "torch.int16",
    "I8": "torch.int8",
    "U8": "torch.uint8",
    "BOOL": "torch.bool",
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line, naming the file."""


class InvalidJSON(CheckpointError):
    """Text that does not parse as JSON at all (a torn line of a log may be skipped; see read_metrics)."""


_LONG_WORD = re.compile(r"\S{121,}")


def one_line(message: str | BaseException, limit: int = 500) -> str:
    """The first line of an error message, every over-long word shortened: a refusal never echoes a
    100k-character name back whole (the CLI and the app print errors through this)."""
    text = str(message).strip()
    line = text.splitlines()[0] if text else type(message).__name__
    line = _LONG_WORD.sub(
        lambda m: f"{m.group()[:60]}...({len(m.group())} characters)...{m.group()[-20:]}", line
    )
    return line if len(line) <= limit else line[:limit] + "..."


@contextlib.contextmanager
def reading(file: str | os.PathLike) -> Iterator[None]:
    """Turn the errors a malformed document raises deep inside a reader (a missing key, a wrong type)
    into one CheckpointError line naming `file`."""
    try:
        yield
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as err:
        detail = f"no {err}" if isinstance(err, KeyError) else one_line(err, 200)
        raise CheckpointError(f"{file}: malformed ({detail})") from None


# ----------------------------------------------------------------------------------- writing


def new_temporary_file(path: Path, suffix: str = ".tmp") -> str:
    """An empty temporary file beside `path` (same filesystem, so the final rename is atomic)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=suffix)
    os.close(fd)
    return tmp


def publish_temporary_file(tmp: str, path: Path) -> None:
    """Give `tmp` the mode a plain open() would (mkstemp's 0600 would make checkpoints and videos
    owner-only), then rename it over `path`."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """The one atomic-write helper: a temporary file beside `path` for the block to write, renamed over
    `path` when the block succeeds and removed when it fails (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_temporary_file(path, suffix)
    try:
        yield Path(tmp)
        publish_temporary_file(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file and a rename."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_save_tensors(
    path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
) -> Path:
    """safetensors.save_file through a temporary file and a rename."""
    from safetensors.torch import save_file

    # safetensors refuses shared or non-contiguous storage: give it plain copies.
    plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(plain, str(tmp), metadata=dict(metadata) if metadata else None)
    return Path(path)


def save_checkpoint(
    directory: str | os.PathLike,
    *,
    system: str,
    algorithm: str,
    env_id: str,
    config: Mapping[str, Any],
    state_dict: Mapping[str, torch.Tensor],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write model.safetensors then config.json (the config last: its presence marks a complete save)."""
    directory = Path(directory)
    atomic_save_tensors(directory / WEIGHTS_FILE, state_dict, metadata={"format": "pt", "system": system})
    document = {
        "rlcore_format": FORMAT_VERSION,
        "system": system,
        "algorithm": algorithm,
        "env_id": env_id,
        "config": dict(config),
    }
    if extra:
        document.update(extra)
    atomic_write_json(directory / CONFIG_FILE, document)
    return directory


# ----------------------------------------------------------------------------------- reading


def _refuse_pickles_in_place_of_weights(directory: Path) -> None:
    """A folder without model.safetensors but with a pickle
    (model.pt, ...) gets a refusal naming the pickle."""
    if (directory / WEIGHTS_FILE).is_file():
        return
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(
            f"{directory / pickles[0]}: refusing to load a pickle file (rlcore loads only {WEIGHTS_FILE}; "
            "pickles can run arbitrary code)"
        )


def checkpoint_dir(path: str | os.PathLike) -> Path:
    """The folder of a checkpoint given as a folder or as one of its files; checks it exists."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise CheckpointError(f"{path}: refusing to load a pickle file (rlcore loads only safetensors)")
        path = path.parent
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such checkpoint folder")
    return path


def load_config(path: str | os.PathLike, system: str | None = None) -> dict[str, Any]:
    """Read and check config.json: valid JSON, an rlcore checkpoint, of the expected system."""
    directory = checkpoint_dir(path)
    file = directory / CONFIG_FILE
    if not file.is_file():
        _refuse_pickles_in_place_of_weights(directory)
        raise CheckpointError(f"{file}: missing (an rlcore checkpoint has {WEIGHTS_FILE} and {CONFIG_FILE})")
    document = _read_config(file)
    if system is not None and document["system"] != system:
        raise CheckpointError(f"{file}: a {document['system']} checkpoint, expected a {system} checkpoint")
    return document


def _parse_config(file: Path) -> dict[str, Any]:
    document = read_json(file, MAX_CONFIG_BYTES)
    if not isinstance(document, dict) or "rlcore_format" not in document:
        library = document.get("library_name") if isinstance(document, dict) else None
        hint = f" (it looks like a {library} model)" if isinstance(library, str) else ""
        raise CheckpointError(f"{file}: not an rlcore checkpoint, no 'rlcore_format' key{hint}")
    if document["rlcore_format"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{file}: rlcore_format {document['rlcore_format']!r}, this rlcore reads format {FORMAT_VERSION}"
        )
    for key, kind in (("system", str), ("config", dict)):
        if not isinstance(document.get(key), kind):
            raise CheckpointError(f"{file}: '{key}' must be a {kind.__name__}")
    return document


def load_typed_config(
    path: str | os.PathLike, cls: type, system: str, **overrides: Any
) -> tuple[Any, dict[str, Any]]:
    """(config.json's "config" as a `cls`, with `overrides`; the whole document): a bad field is a
    CheckpointError naming the file."""
    from rlcore.config import from_dict

    document = load_config(path, system=system)
    file = checkpoint_dir(path) / CONFIG_FILE
    try:
        return from_dict(cls, {**document["config"], **overrides}, source=str(file)), document
    except ValueError as err:
        raise CheckpointError(str(err)) from None


def _read_config(file: Path) -> dict[str, Any]:
    """config.json parsed (or refused) once per file version: listing agents on every request costs a
    stat per folder, not a parse. The caller gets its own copy (it may change it)."""
    stat = file.stat()
    entry = _config_of_version(Path(os.path.abspath(file)), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if isinstance(entry, CheckpointError):
        raise CheckpointError(str(entry))
    return copy.deepcopy(entry)


@functools.lru_cache(maxsize=1024)
def _config_of_version(file: Path, inode: int, size: int, mtime_ns: int) -> dict[str, Any] | CheckpointError:
    """The parsed document or its refusal, cached by file identity (path, inode, size, mtime_ns)."""
    try:
        return _parse_config(file)
    except CheckpointError as err:
        return CheckpointError(str(err))  # kept without its traceback


def _refuse_pickle_bytes(file: Path, head: bytes) -> None:
    """A safetensors file starts with its u64 header length, then "{": that length's first byte may be
    0x80 (one file in 256), so only a file without the "{" is taken for a pickle / zip."""
    if (head[:1] == b"\x80" or head[:2] == b"PK") and head[8:9] != b"{":
        raise CheckpointError(
            f"{file}: this is a pickle / torch.save file, not safetensors; refusing to unpickle it"
        )


def _check_safetensors_start(file: str | os.PathLike) -> Path:
    """Before a safetensors reader maps `file`: it exists, is no pickle, and the header length its
    first 8 bytes announce is within MAX_HEADER_BYTES (the library's own cap is 100 MB)."""
    file = Path(file)
    if not file.is_file():
        raise CheckpointError(f"{file}: missing")
    with open(file, "rb") as f:
        head = f.read(9)
    _refuse_pickle_bytes(file, head)
    if len(head) >= 8 and int.from_bytes(head[:8], "little") > MAX_HEADER_BYTES:
        raise CheckpointError(
            f"{file}: not a readable safetensors file (its header is over the "
            f"{MAX_HEADER_BYTES >> 20} MB cap)"
        )
    return file


def _unreadable(file: Path, err: BaseException) -> CheckpointError:
    return CheckpointError(f"{file}: not a readable safetensors file ({one_line(err, 200)})")


def read_safetensors_header(file: str | os.PathLike) -> dict[str, Any]:
    """{name: {"dtype", "shape"}, "__metadata__": {...}} of a safetensors file, from its header alone:
    safetensors.safe_open checks it (JSON, dtypes, shapes, offsets exactly filling the file) and no
    tensor is read."""
    from safetensors import SafetensorError, safe_open

    file = _check_safetensors_start(file)
    try:
        with safe_open(str(file), framework="pt") as f:
            slices = {name: f.get_slice(name) for name in f.keys()}
            header: dict[str, Any] = {
                name: {"dtype": s.get_dtype(), "shape": s.get_shape()} for name, s in slices.items()
            }
            metadata = f.metadata()
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise _unreadable(file, err) from None
    if metadata:
        header["__metadata__"] = metadata
    return header


def _specs_of_header(header: Mapping[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    return {
        name: (tuple(entry["shape"]), SAFETENSORS_DTYPES.get(entry["dtype"], entry["dtype"]))
        for name, entry in header.items()
        if name != "__metadata__"
    }


def _specs_of_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, tuple[tuple[int, ...], str]]:
    return {name: (tuple(t.shape), str(t.dtype)) for name, t in tensors.items()}


def meta_state_dict(build: Callable[[], torch.nn.Module]) -> dict[str, torch.Tensor]:
    """The state_dict of the module `build()` makes, built on the meta device: names, shapes and dtypes
    without allocating a byte of weights (what a config describes, checked before building it)."""
    import torch

    with torch.device("meta"):
        return build().state_dict()


def check_weights_file(path: str | os.PathLike, expected: Mapping[str, torch.Tensor]) -> None:
    """Before any network is built: the header of a checkpoint's model.safetensors must list exactly
    the names, shapes and dtypes of `expected` (a `meta_state_dict`)."""
    directory = checkpoint_dir(path)
    _refuse_pickles_in_place_of_weights(directory)
    file = directory / WEIGHTS_FILE
    _check_specs(file, _specs_of_header(read_safetensors_header(file)), _specs_of_tensors(expected))


def load_tensors(file: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a safetensors file; anything else (a pickle, a truncated file) is a CheckpointError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    file = _check_safetensors_start(file)
    try:
        return load_file(str(file), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise _unreadable(file, err) from None


def check_state_dict(
    file: str | os.PathLike, loaded: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> None:
    """Names, shapes and dtypes of `loaded` must equal those of `expected` (a module's state_dict)."""
    _check_specs(file, _specs_of_tensors(loaded), _specs_of_tensors(expected))


# A float32 tensor may be stored as float16 (bundled snapshots: half the size); it is loaded back to float32.
STORED_NARROWER = {"torch.float32": "torch.float16"}


def widen_stored(
    tensors: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """`tensors` with those stored narrower than `expected` (STORED_NARROWER) cast back to its dtype."""

    def widened(name: str, tensor: torch.Tensor) -> torch.Tensor:
        want = expected.get(name)
        if want is not None and STORED_NARROWER.get(str(want.dtype)) == str(tensor.dtype):
            return tensor.to(want.dtype)
        return tensor

    return {name: widened(name, tensor) for name, tensor in tensors.items()}


def _check_specs(file: str | os.PathLike, got: Mapping[str, tuple], expected: Mapping[str, tuple]) -> None:
    """Compare {name: (shape, dtype)} of a file with those of the model config.json describes."""
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:4])}{' ...' if len(unexpected) > 4 else ''}")
        raise CheckpointError(
            f"{file}: weights do not match the model described by {CONFIG_FILE} ({'; '.join(parts)})"
        )
    for name, (shape, dtype) in expected.items():
        got_shape, got_dtype = got[name]
        if got_shape != shape:
            raise CheckpointError(
                f"{file}: tensor '{name}' has shape {got_shape}, the model described "
                f"by {CONFIG_FILE} expects {shape}"
            )
        if got_dtype != dtype and STORED_NARROWER.get(dtype) != got_dtype:
            raise CheckpointError(f"{file}: tensor '{name}' is {got_dtype}, expected {dtype}")


def load_weights_into(
    module: torch.nn.Module,
    path: str | os.PathLike,
    adapt: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
    probe: torch.Tensor | None = None,
) -> torch.nn.Module:
    """Load model.safetensors of a checkpoint into `module`, after checking names, shapes, dtypes and
    that every value is finite. `adapt` turns the stored tensors into `module`'s first (a run that
    changes the network's outputs: mario's action set); what it returns is checked the same way.
    `probe`: an input the module must answer with finite outputs (see check_finite_outputs)."""
    import torch

    directory = checkpoint_dir(path)
    _refuse_pickles_in_place_of_weights(directory)
    file = directory / WEIGHTS_FILE
    expected = module.state_dict()
    tensors = widen_stored(load_tensors(file), expected)  # a missing file is "model.safetensors: missing"
    if adapt is not None:
        tensors = adapt(tensors)
    check_state_dict(file, tensors, expected)
    broken = next(
        (name for name, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()), None
    )
    if broken is not None:
        raise CheckpointError(f"{file}: tensor '{broken}' holds NaN or infinite values")
    module.load_state_dict(tensors)
    if probe is not None:
        check_finite_outputs(file, module, probe)
    return module


def check_finite_outputs(file: str | os.PathLike, module: torch.nn.Module, probe: torch.Tensor) -> None:
    """Finite weights may still overflow float32 in a forward pass (every weight x 1e30): the module's
    outputs for `probe` (a plausible input) must be finite, or the checkpoint is refused at load, not
    after a whole episode."""
    import torch

    with torch.no_grad():
        outputs = module(probe.to(next(module.parameters()).device))
    if not torch.isfinite(outputs).all():
        raise CheckpointError(
            f"{file}: the weights give NaN or infinite outputs (values too large for float32)"
        )


# ------------------------------------------------------------------- training state (resume)


def flatten_optimizer_state(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split `optimizer.state_dict()` into tensors (for safetensors) and JSON (param groups, scalars)."""
    import torch

    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, entries in state["state"].items():
        for name, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optim.{param_id}.{name}"] = value
            else:
                scalars.setdefault(str(param_id), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer_state(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of `flatten_optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if not key.startswith("optim."):
            continue
        _, param_id, name = key.split(".", 2)
        state.setdefault(int(param_id), {})[name] = value
    for param_id, entries in meta.get("scalars", {}).items():
        state.setdefault(int(param_id), {}).update(entries)
    # JSON has no tuples: give back optimizer options such as Adam's betas as they were saved.
    groups = [
        {k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in group.items()}
        for group in meta["param_groups"]
    ]
    return {"state": state, "param_groups": groups}


def save_training_state(
    directory: str | os.PathLike, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]
) -> None:
    """Write training_state.safetensors, with `meta` in its metadata: the whole state in one atomic
    rename, so a crash never pairs tensors of one save with counters of another. Then
    training_state.json, a readable copy of `meta` whose presence marks a resumable folder."""
    directory = Path(directory)
    atomic_save_tensors(
        directory / TRAINING_STATE_FILE, tensors, metadata={TRAINING_META_KEY: json.dumps(meta)}
    )
    atomic_write_json(directory / TRAINING_META_FILE, dict(meta))


def require_training_state(directory: str | os.PathLike) -> None:
    """`--resume` needs a saved training state: refuse (before any file is touched) when there is none."""
    meta_file = Path(directory) / TRAINING_META_FILE
    if not meta_file.is_file():
        raise CheckpointError(f"{meta_file}: missing, nothing to resume (start without --resume)")


def load_training_state(
    directory: str | os.PathLike, required: tuple[str, ...] = ()
) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The saved training state, or None when the folder has none (a fresh run). The JSON part comes
    from the tensor file's metadata (the same save as the tensors); older saves from training_state.json.
    `required`: keys the JSON part must have (a corrupted state is one line naming the file)."""
    directory = Path(directory)
    meta_file, tensor_file = directory / TRAINING_META_FILE, directory / TRAINING_STATE_FILE
    if not meta_file.is_file():
        return None
    embedded = read_safetensors_header(tensor_file).get("__metadata__") or {}
    if TRAINING_META_KEY in embedded:
        meta, where = parse_json(embedded[TRAINING_META_KEY], tensor_file), tensor_file
    else:
        meta, where = read_json(meta_file), meta_file
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: the training state must be a JSON object, got {type(meta).__name__}")
    missing = [key for key in required if key not in meta]
    if missing:
        raise CheckpointError(f"{where}: malformed training state (no {', '.join(map(repr, missing))})")
    return load_tensors(tensor_file), meta


def _nesting_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (iteratively: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= MAX_JSON_DEPTH:
                stack.extend(
                    (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
                )
    return deepest


def parse_json(text: str | bytes, where: str | os.PathLike) -> Any:
    """json.loads with a one-line CheckpointError naming `where`, and at most MAX_JSON_DEPTH levels of
    nesting (100k nested lists would otherwise raise RecursionError here or in whatever walks them)."""
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
        depth = MAX_JSON_DEPTH + 1
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidJSON(f"{where}: not valid JSON ({err.__class__.__name__}: {err})") from None
    except ValueError as err:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise CheckpointError(f"{where}: not readable JSON ({one_line(err, 120)})") from None
    else:
        depth = _nesting_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise CheckpointError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def read_json(path: str | os.PathLike, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Read a JSON file of a checkpoint (config, results, training state): at most `max_bytes` and
    MAX_JSON_DEPTH levels, every problem one line naming the file. Every such read goes through here."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise CheckpointError(
                f"{path}: {size / 2**20:.1f} MB, more than the {max_bytes / 2**20:.0f} MB this file may have"
            )
        return parse_json(path.read_bytes(), path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
