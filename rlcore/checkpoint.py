"""The one checkpoint format of rlcore, its reader, and its errors.

A checkpoint is a folder (the same layout locally and in a Hub repo):

    model.safetensors     the policy / Q-network weights (safetensors: never pickle)
    config.json           {"rlcore_format": 1, "system", "algorithm", "env_id", "config": {...}, ...}
    results.json          evaluation figures (optional, written by `evaluate`)
    metrics.jsonl         one JSON object per logged training record (optional)
    *.png, replay.mp4     plots and a replay video (optional)
    README.md             model card (optional, written on push)
    agent.pt              Pendulum: the policy as TorchScript for the Open RL Leaderboard (optional,
                          written by `rlcore export`; a push publishes one made fresh from the weights;
                          never pulled or loaded)
    training_state.safetensors + training_state.json
                          what `--resume` needs beyond the weights (optimizer, counters); small
                          enough to commit, never the replay buffer.

Every file is written atomically (temporary file in the same folder, then rename), so a run killed
mid-write leaves the previous version intact. Every reading error is a `CheckpointError` whose
message is one line naming the file and what was expected.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where tensors are read or written: reading config.json stays light
    import torch

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
RESULTS_FILE = "results.json"
METRICS_FILE = "metrics.jsonl"
TRAINING_STATE_FILE = "training_state.safetensors"
TRAINING_META_FILE = "training_state.json"
EXPORT_FILE = "agent.pt"  # a system's export for outside tools (the Open RL Leaderboard's TorchScript); never loaded
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".chkpt", ".ckpt", ".bin")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line, naming the file."""


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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file and a rename (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_temporary_file(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        publish_temporary_file(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_save_tensors(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor],
                        metadata: Mapping[str, str] | None = None) -> Path:
    """safetensors.save_file through a temporary file and a rename."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_temporary_file(path)
    try:
        # safetensors refuses shared or non-contiguous storage: give it plain copies.
        plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
        save_file(plain, tmp, metadata=dict(metadata) if metadata else None)
        publish_temporary_file(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(directory: str | os.PathLike, *, system: str, algorithm: str, env_id: str,
                    config: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor],
                    extra: Mapping[str, Any] | None = None) -> Path:
    """Write model.safetensors then config.json (the config last: its presence marks a complete save)."""
    directory = Path(directory)
    atomic_save_tensors(directory / WEIGHTS_FILE, state_dict, metadata={"format": "pt", "system": system})
    document = {"rlcore_format": FORMAT_VERSION, "system": system, "algorithm": algorithm,
                "env_id": env_id, "config": dict(config)}
    if extra:
        document.update(extra)
    atomic_write_json(directory / CONFIG_FILE, document)
    return directory


# ----------------------------------------------------------------------------------- reading


def _refuse_pickles_in_place_of_weights(directory: Path) -> None:
    """A folder without model.safetensors but with a pickle (model.pt, ...) gets a refusal naming the pickle."""
    if (directory / WEIGHTS_FILE).is_file():
        return
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(
            f"{directory / pickles[0]}: refusing to load a pickle file (rlcore loads only {WEIGHTS_FILE}; "
            "pickles can run arbitrary code)")


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
    try:
        document = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{file}: not valid JSON ({err.__class__.__name__}: {err})") from None
    if not isinstance(document, dict) or "rlcore_format" not in document:
        library = document.get("library_name") if isinstance(document, dict) else None
        hint = f" (it looks like a {library} model)" if library else ""
        raise CheckpointError(f"{file}: not an rlcore checkpoint, no 'rlcore_format' key{hint}")
    if document["rlcore_format"] != FORMAT_VERSION:
        raise CheckpointError(f"{file}: rlcore_format {document['rlcore_format']!r}, this rlcore reads "
                              f"format {FORMAT_VERSION}")
    for key, kind in (("system", str), ("config", dict)):
        if not isinstance(document.get(key), kind):
            raise CheckpointError(f"{file}: '{key}' must be a {kind.__name__}")
    if system is not None and document["system"] != system:
        raise CheckpointError(f"{file}: a {document['system']} checkpoint, expected a {system} checkpoint")
    return document


def load_tensors(file: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a safetensors file; anything else (a pickle, a truncated file) is a CheckpointError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    file = Path(file)
    if not file.is_file():
        raise CheckpointError(f"{file}: missing")
    with open(file, "rb") as f:
        head = f.read(9)
    # a safetensors file starts with its u64 header length, then "{": that length's first byte may be
    # 0x80 (one file in 256), so only a file without the "{" is taken for a pickle / zip
    if (head[:1] == b"\x80" or head[:2] == b"PK") and head[8:9] != b"{":
        raise CheckpointError(f"{file}: this is a pickle / torch.save file, not safetensors; refusing to "
                              "unpickle it")
    try:
        return load_file(str(file), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        first_line = str(err).splitlines()[0] if str(err) else err.__class__.__name__
        raise CheckpointError(f"{file}: not a readable safetensors file ({first_line})") from None


def check_state_dict(file: str | os.PathLike, loaded: Mapping[str, torch.Tensor],
                     expected: Mapping[str, torch.Tensor]) -> None:
    """Names, shapes and dtypes of `loaded` must equal those of `expected` (a module's state_dict)."""
    missing = sorted(set(expected) - set(loaded))
    unexpected = sorted(set(loaded) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:4])}{' ...' if len(unexpected) > 4 else ''}")
        raise CheckpointError(f"{file}: weights do not match the model described by {CONFIG_FILE} "
                              f"({'; '.join(parts)})")
    for name, ref in expected.items():
        got = loaded[name]
        if tuple(got.shape) != tuple(ref.shape):
            raise CheckpointError(f"{file}: tensor '{name}' has shape {tuple(got.shape)}, the model described "
                                  f"by {CONFIG_FILE} expects {tuple(ref.shape)}")
        if got.dtype != ref.dtype:
            raise CheckpointError(f"{file}: tensor '{name}' is {got.dtype}, expected {ref.dtype}")


def load_weights_into(module: torch.nn.Module, path: str | os.PathLike) -> torch.nn.Module:
    """Load model.safetensors of a checkpoint into `module`, after checking names, shapes and dtypes."""
    directory = checkpoint_dir(path)
    _refuse_pickles_in_place_of_weights(directory)
    file = directory / WEIGHTS_FILE
    tensors = load_tensors(file)  # a missing file is "model.safetensors: missing"
    check_state_dict(file, tensors, module.state_dict())
    module.load_state_dict(tensors)
    return module


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
    groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in group.items()}
              for group in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def save_training_state(directory: str | os.PathLike, tensors: Mapping[str, torch.Tensor],
                        meta: Mapping[str, Any]) -> None:
    """Write training_state.safetensors + training_state.json (the JSON last: it marks a complete save)."""
    directory = Path(directory)
    atomic_save_tensors(directory / TRAINING_STATE_FILE, tensors)
    atomic_write_json(directory / TRAINING_META_FILE, dict(meta))


def load_training_state(directory: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The saved training state, or None when the folder has none (a fresh run)."""
    directory = Path(directory)
    meta_file = directory / TRAINING_META_FILE
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{meta_file}: not valid JSON ({err})") from None
    return load_tensors(directory / TRAINING_STATE_FILE), meta


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file of a checkpoint (results.json, ...) with a one-line error."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from None
