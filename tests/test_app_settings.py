"""The app's settings: one pydantic-settings model read from RLCORE_* variables (demo/context.py)."""

import os
import tempfile
from pathlib import Path

import pytest

from demo.context import REPO_ROOT, AppSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in [n for n in os.environ if n.startswith("RLCORE_") or n == "SPACE_ID"]:
        monkeypatch.delenv(name)


def test_unset_variables_give_the_defaults():
    settings = AppSettings.from_env()
    assert settings.checkpoints_dir == (REPO_ROOT / "checkpoints").resolve()
    assert settings.work_dir == (Path(tempfile.gettempdir()) / "rlcore-app").resolve()
    assert (settings.max_upload_mb, settings.max_train_seconds, settings.max_concurrent_runs) == (
        64.0,
        600.0,
        1,
    )
    assert settings.pause_training_for_replays and settings.allow_local_paths
    assert settings.hub_push_namespace is None


def test_good_values_are_read_empty_ones_are_unset_and_arguments_win(monkeypatch, tmp_path):
    for name, value in {
        "CHECKPOINTS": str(tmp_path / "agents"),
        "APP_DIR": str(tmp_path / "work"),
        "MAX_UPLOAD_MB": "12.5",
        "MAX_CONCURRENT_RUNS": "3",
        "MAX_TRAIN_SECONDS": "",
        "PAUSE_TRAINING_FOR_REPLAYS": "no",
        "HUB_PUSH_NAMESPACE": " alice ",
    }.items():
        monkeypatch.setenv(f"RLCORE_{name}", value)
    settings = AppSettings.from_env(max_concurrent_runs=2, work_dir=None)
    assert (settings.checkpoints_dir, settings.work_dir) == (tmp_path / "agents", tmp_path / "work")
    assert (settings.max_upload_mb, settings.max_train_seconds, settings.max_concurrent_runs) == (
        12.5,
        600.0,
        2,
    )
    assert settings.pause_training_for_replays is False and settings.hub_push_namespace == "alice"
    monkeypatch.setenv("SPACE_ID", "someone/rlcore")
    assert AppSettings.from_env().allow_local_paths is False  # a public Space: off unless the owner says so
    monkeypatch.setenv("RLCORE_ALLOW_LOCAL_PATHS", "1")
    assert AppSettings.from_env().allow_local_paths is True


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("RLCORE_MAX_UPLOAD_MB", "abc", "RLCORE_MAX_UPLOAD_MB='abc': Input should be a valid number"),
        (
            "RLCORE_MAX_CONCURRENT_RUNS",
            "2.5",
            "RLCORE_MAX_CONCURRENT_RUNS='2.5': Input should be a valid integer",
        ),
        (
            "RLCORE_PAUSE_TRAINING_FOR_REPLAYS",
            "maybe",
            "RLCORE_PAUSE_TRAINING_FOR_REPLAYS='maybe': Input should be a valid boolean",
        ),
        (
            "RLCORE_HUB_PUSH_NAMESPACE",
            "alice/repo",
            "RLCORE_HUB_PUSH_NAMESPACE='alice/repo': expected one Hub user",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_its_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as err:
        AppSettings.from_env()
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
