"""The shared pieces every system uses: checkpoint format, video writer, metrics, config dataclasses."""

import dataclasses
import json
import pickle
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from torch import nn

from rlcore import checkpoint as ckpt
from rlcore.config import field_help, from_dict, option, to_dict
from rlcore.metrics import MetricsFile, plot_metrics, read_metrics
from rlcore.video import hstack_videos, write_mp4


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))


def _save(tmp_path, net=None):
    net = net or _net()
    return ckpt.save_checkpoint(
        tmp_path / "agent",
        system="pendulum",
        algorithm="test",
        env_id="Pendulum-v1",
        config={"hidden": 8},
        state_dict=net.state_dict(),
    )


# ------------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    net = _net()
    folder = _save(tmp_path, net)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    document = ckpt.load_config(folder, system="pendulum")
    assert document["config"] == {"hidden": 8} and document["rlcore_format"] == ckpt.FORMAT_VERSION
    torch.manual_seed(123)
    fresh = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    x = torch.randn(16, 3)
    assert not torch.equal(fresh(x), net(x))
    ckpt.load_weights_into(fresh, folder)
    assert torch.equal(fresh(x), net(x))


def test_no_temporary_files_are_left_behind(tmp_path):
    folder = _save(tmp_path)
    _save(tmp_path)  # overwrite in place
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:50]),
            "model.safetensors: not a readable safetensors file",
        ),
        (lambda f: (f / "model.safetensors").unlink(), "model.safetensors: missing"),
        (lambda f: (f / "config.json").write_text("{not json"), "config.json: not valid JSON"),
        (lambda f: (f / "config.json").unlink(), "config.json: missing"),
        (
            lambda f: (f / "config.json").write_text(json.dumps({"library_name": "stable-baselines3"})),
            "not an rlcore checkpoint, no 'rlcore_format' key (it looks like a stable-baselines3 model)",
        ),
    ],
)
def test_damaged_checkpoints_give_one_line_errors_naming_the_file(tmp_path, damage, message):
    folder = _save(tmp_path)
    damage(folder)
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.load_config(folder)
        ckpt.load_weights_into(_net(), folder)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_weights_not_matching_the_model_are_refused(tmp_path):
    folder = _save(tmp_path)
    wider = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    with pytest.raises(
        ckpt.CheckpointError, match=r"tensor '0.weight' has shape \(8, 3\), .* expects \(16, 3\)"
    ):
        ckpt.load_weights_into(wider, folder)
    deeper = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1), nn.Linear(1, 1))
    with pytest.raises(ckpt.CheckpointError, match="missing 3.bias, 3.weight"):
        ckpt.load_weights_into(deeper, folder)


def test_the_safetensors_header_is_read_alone_and_checked(tmp_path):
    from safetensors.torch import save_file

    good = tmp_path / "good.safetensors"
    save_file(
        {"w": torch.zeros(2, 3), "n": torch.zeros(1, dtype=torch.int64)}, str(good), metadata={"k": "1"}
    )
    assert ckpt.read_safetensors_header(good) == {
        "w": {"dtype": "F32", "shape": [2, 3]},
        "n": {"dtype": "I64", "shape": [1]},
        "__metadata__": {"k": "1"},
    }
    raw = good.read_bytes()
    bad = json.dumps({"w": {"dtype": "X9", "shape": [1], "data_offsets": [0, 4]}}).encode()
    damaged = {
        "padded": raw + b"\0" * 8,
        "truncated": raw[:-4],
        "empty": b"",
        "huge header": (ckpt.MAX_HEADER_BYTES + 1).to_bytes(8, "little") + b"{" + b" " * 64,
        "bad dtype": len(bad).to_bytes(8, "little") + bad + b"\0" * 4,
    }
    for name, data in damaged.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ckpt.CheckpointError, match=f"{name}: not a readable safetensors file") as err:
            ckpt.read_safetensors_header(tmp_path / name)
        assert "\n" not in str(err.value)


def test_a_config_is_parsed_once_per_file_version_and_callers_get_copies(tmp_path, monkeypatch):
    parse, parsed = ckpt._parse_config, []
    monkeypatch.setattr(ckpt, "_parse_config", lambda file: parsed.append(file) or parse(file))
    folder = _save(tmp_path)
    ckpt.load_config(folder)["config"]["hidden"] = 99  # a caller's change stays in its copy
    assert ckpt.load_config(folder)["config"] == {"hidden": 8} and len(parsed) == 1
    (folder / "config.json").write_text("{not json")  # a new version: parsed again, its refusal cached too
    for _ in range(2):
        with pytest.raises(ckpt.CheckpointError, match="config.json: not valid JSON"):
            ckpt.load_config(folder)
    assert len(parsed) == 2


def test_pickles_are_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    folder = tmp_path / "agent"
    folder.mkdir()
    (folder / "model.pt").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ckpt.CheckpointError, match="refusing to load a pickle file"):
        ckpt.load_weights_into(_net(), folder)
    with pytest.raises(ckpt.CheckpointError, match="refusing to load a pickle file"):
        ckpt.load_config(folder / "model.pt")
    # A pickle renamed to model.safetensors is recognised, not loaded.
    torch.save(_net().state_dict(), folder / "model.safetensors")
    with pytest.raises(ckpt.CheckpointError, match="pickle / torch.save file"):
        ckpt.load_tensors(folder / "model.safetensors")
    assert not marker.exists()


def test_wrong_system_is_refused(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="a pendulum checkpoint, expected a mario checkpoint"):
        ckpt.load_config(_save(tmp_path), system="mario")


def test_optimizer_state_round_trips_through_safetensors(tmp_path):
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(4, 3)).sum().backward()
        opt.step()
    tensors, meta = ckpt.flatten_optimizer_state(opt.state_dict())
    ckpt.save_training_state(tmp_path, tensors, {"optimizer": meta, "step": 3})
    loaded_tensors, loaded_meta = ckpt.load_training_state(tmp_path)
    restored = torch.optim.Adam(_net().parameters(), lr=1.0)
    restored.load_state_dict(ckpt.unflatten_optimizer_state(loaded_tensors, loaded_meta["optimizer"]))
    a, b = opt.state_dict(), restored.state_dict()
    assert a["param_groups"] == b["param_groups"] and loaded_meta["step"] == 3
    for pid in a["state"]:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(a["state"][pid][name], b["state"][pid][name])
    assert ckpt.load_training_state(tmp_path / "nothing-here") is None


# ------------------------------------------------------------------------------------- video


def test_write_mp4_is_h264_yuv420p_with_every_frame(tmp_path):
    frames = [np.full((101, 64, 3), i * 20, np.uint8) for i in range(12)]  # odd height: padded, not scaled
    path = write_mp4(tmp_path / "v.mp4", frames, fps=30)
    meta = iio.immeta(path, plugin="pyav") if _has_pyav() else None
    decoded = iio.imread(path, plugin="FFMPEG") if meta is None else iio.imread(path, plugin="pyav")
    assert decoded.shape == (12, 102, 64, 3)
    assert abs(int(decoded[5].mean()) - 100) <= 3  # content survives the encode
    import subprocess

    import imageio_ffmpeg

    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path)], capture_output=True, text=True)
    assert "h264" in probe.stderr and "yuv420p" in probe.stderr


def _has_pyav():
    try:
        import av  # noqa: F401

        return True
    except ImportError:
        return False


def test_write_mp4_rejects_bad_frames_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_mp4(tmp_path / "empty.mp4", [])
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        write_mp4(tmp_path / "float.mp4", [np.zeros((8, 8, 3), np.float32)])
    assert list(tmp_path.iterdir()) == []


def test_write_mp4_from_a_source_that_fails_leaves_no_file_and_no_ffmpeg_behind(tmp_path, capfd):
    import os

    def stopped_render():  # a render stopped between frames (as the app's at shutdown)
        for i in range(20):
            yield np.full((64, 64, 3), i, np.uint8)
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        write_mp4(tmp_path / "v.mp4", stopped_render())
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    commands = [
        Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children if Path(f"/proc/{pid}").exists()
    ]
    assert not [c for c in commands if b"ffmpeg" in c]  # it ended with the writer, not at garbage collection
    assert list(tmp_path.iterdir()) == []
    assert "Error" not in capfd.readouterr().err  # nor did it finish a file that was already removed


def test_hstack_videos_pads_the_shorter_clip():
    left = [np.zeros((10, 6, 3), np.uint8)] * 3
    right = [np.full((8, 4, 3), 7, np.uint8)] * 5
    out = hstack_videos(left, right, gap=2)
    assert len(out) == 5 and out[0].shape == (10, 12, 3)
    assert (out[4][:8, 8:] == 7).all()


# ----------------------------------------------------------------------------- metrics, config


def test_metrics_survive_a_torn_last_line_and_plot(tmp_path):
    metrics = MetricsFile(tmp_path / "metrics.jsonl")
    for step in range(5):
        metrics.append({"step": step, "return": -float(step), "loss": torch.tensor(0.5)})
    with open(metrics.path, "a") as f:
        f.write('{"step": 5, "ret')  # killed mid-write
    records = read_metrics(metrics.path)
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4] and records[0]["loss"] == 0.5
    MetricsFile(metrics.path, resume=True).truncate_after("step", 2)
    assert [r["step"] for r in read_metrics(metrics.path)] == [0, 1, 2]
    png = plot_metrics(records, "step", ["return", "loss"], tmp_path / "plot.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass
class _Config:
    lr: float = option(2e-3, "Adam learning rate")
    steps: int = option(10, "training iterations")
    engine: str = option("fast", "which rollout engine")
    layers: list = option([64, 64], "hidden sizes")


def test_config_round_trip_and_clear_errors():
    config = _Config(lr=1e-3)
    assert from_dict(_Config, to_dict(config)) == config
    assert field_help(_Config)["lr"] == "Adam learning rate"
    assert _Config().layers is not _Config().layers  # mutable defaults are not shared
    with pytest.raises(ValueError, match="unknown field"):
        from_dict(_Config, {"lr": 1.0, "momentum": 0.9})
    with pytest.raises(ValueError, match="field 'steps' must be an integer"):
        from_dict(_Config, {"steps": 2.5})
    assert from_dict(_Config, {"steps": 3.0}).steps == 3
    for wrong in (
        {"steps": "3"},
        {"lr": True},
    ):  # a config.json value of the wrong JSON type is not converted
        with pytest.raises(ValueError, match=f"field '{next(iter(wrong))}' must be"):
            from_dict(_Config, wrong)


@dataclasses.dataclass
class _Bounded:
    lr: float = option(0.1, "learning rate", ge=0.0, le=1.0)
    name: str = option("", "a name", max_length=5)
    workers: int = option(1, "processes", ge=1, aliases=("--procs",))


def test_bounds_declared_on_the_fields_are_checked_by_one_pydantic_model():
    from rlcore.config import check_bounds, config_model, field_bounds, flag_aliases

    schema = config_model(_Bounded).json_schema()["properties"]
    assert schema["lr"]["description"] == "learning rate" and (
        schema["lr"]["minimum"],
        schema["lr"]["maximum"],
    ) == (0, 1)
    assert field_bounds(_Bounded) == {"lr": (0.0, 1.0), "workers": (1, None)}
    assert flag_aliases(dataclasses.fields(_Bounded)[2]) == ("--procs",)
    refusals = {  # what a JSON document holds: the one line it gets
        "lr": (5, "config: field 'lr' must be from 0.0 to 1.0, got 5"),
        "workers": (0, "config: field 'workers' must be greater than or equal to 1, got 0"),
        "name": ("abcdef", "config: field 'name' is 6 characters long, at most 5 are accepted"),
    }
    for field, (value, message) in refusals.items():
        with pytest.raises(ValueError) as refused:
            from_dict(_Bounded, {field: value})
        assert str(refused.value) == message
    with pytest.raises(ValueError, match=r"^play options: field 'lr' must be a finite number, got nan$"):
        check_bounds(
            dataclasses.replace(_Bounded(), lr=float("nan")), "play options"
        )  # an instance built in code
    check_bounds(_Bounded(lr=1))


def test_written_files_follow_the_umask_not_mkstemp_0600(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        folder = _save(tmp_path)
        video = write_mp4(tmp_path / "v.mp4", [np.zeros((8, 8, 3), np.uint8)])
    finally:
        os.umask(old)
    for file in (folder / "model.safetensors", folder / "config.json", video):
        assert stat.S_IMODE(file.stat().st_mode) == 0o644, file
