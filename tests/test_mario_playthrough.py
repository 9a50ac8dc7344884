"""The World playthrough: stage agents play their levels in a row on the real emulator, as one video."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rlcore.mario.play import PLAYBACK_FPS
from rlcore.mario.playthrough import (
    BANNER_HEIGHT,
    RESULTS_FRAMES,
    TITLE_FRAMES,
    playthrough_frames,
)
from rlcore.video import read_mp4

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "checkpoints" / "mario-1-1"


def agent_for_stage(tmp_path: Path, stage: int) -> Path:
    """The bundled agent's files relabelled as trained on 1-`stage` (the playthrough goes by the config)."""
    folder = tmp_path / f"mario-1-{stage}"
    shutil.copytree(BUNDLED, folder, ignore=shutil.ignore_patterns("*.mp4", "*.png"))
    config = json.loads((folder / "config.json").read_text())
    config["config"]["stage"] = stage
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_levels_play_in_order_with_banner_and_cards(tmp_path):
    second, first = agent_for_stage(tmp_path, 2), agent_for_stage(tmp_path, 1)
    run: dict = {}
    run["frames"] = list(playthrough_frames([second, first], run, seed=0, max_steps=12))  # given out of order
    assert [s["level"] for s in run["stages"]] == ["1-1", "1-2"]
    card = TITLE_FRAMES
    played = sum(s["length"] + 1 for s in run["stages"])  # the reset frame and one per agent step
    assert (
        len(run["frames"]) == 2 * card + played + RESULTS_FRAMES
    )  # a title per level, the results at the end
    assert {f.shape for f in run["frames"]} == {(240 + BANNER_HEIGHT, 256, 3)}
    assert run["total_score"] == sum(s["score"] for s in run["stages"])
    game = run["frames"][card + 3]
    assert not game[:BANNER_HEIGHT].any(axis=-1).all()  # black strip with text above the NES screen
    assert game[:BANNER_HEIGHT].any()
    assert np.array_equal(run["frames"][0], run["frames"][card - 1])  # the title card holds


def test_a_playthrough_is_played_as_its_frames_are_taken_and_streamed_to_the_writer(tmp_path):
    """The video's frames are made as the writer takes them: when level 1-2's title comes, 1-1 is played
    and 1-2 is not; the system's playthrough writes them through an Mp4Sink without keeping them."""
    from rlcore.systems import get_system
    from rlcore.video import Mp4Sink

    agents = [agent_for_stage(tmp_path, 2), agent_for_stage(tmp_path, 1)]
    run: dict = {}
    frames = playthrough_frames(agents, run, seed=0, max_steps=8)
    assert run == {}  # nothing played before the first frame is asked for
    for _ in range(TITLE_FRAMES + 9 + 1):  # 1-1's title and 9 frames (the reset's, one per step), 1-2's title
        next(frames)
    assert [s["level"] for s in run["stages"]] == ["1-1"] and run["stages"][0]["length"] == 8
    assert sum(1 for _ in frames) == TITLE_FRAMES - 1 + 9 + RESULTS_FRAMES
    assert [s["level"] for s in run["stages"]] == ["1-1", "1-2"]

    sink = Mp4Sink(tmp_path / "world.mp4")
    episode = get_system("mario").playthrough(agents, sink, seed=0, max_steps=8)
    written, fps = read_mp4(sink.path)
    assert episode.frames == [] and len(written) == sink.frames == 2 * (TITLE_FRAMES + 9) + RESULTS_FRAMES
    assert fps == PLAYBACK_FPS and episode.summary["levels"] == 2 and episode.trace == run["stages"]


def test_two_agents_for_one_level_are_refused(tmp_path):
    one = agent_for_stage(tmp_path, 1)
    with pytest.raises(ValueError, match="two agents were trained on level 1-1"):
        next(playthrough_frames([one, one], {}, max_steps=5))


@pytest.mark.extended
def test_cli_writes_the_video_and_refuses_systems_without_one(tmp_path):
    out = tmp_path / "world.mp4"
    cmd = [
        sys.executable,
        "-m",
        "rlcore",
        "playthrough",
        str(BUNDLED),
        "--max-steps",
        "20",
        "--out",
        str(out),
    ]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "levels=1" in result.stdout and "1-1=x " in result.stdout  # 20 steps do not reach the flag
    frames, fps = read_mp4(out)
    assert fps == PLAYBACK_FPS and len(frames) == TITLE_FRAMES + 21 + RESULTS_FRAMES
    figures = json.loads(out.with_suffix(".json").read_text())  # beside it, for cards and the app
    assert figures["summary"]["levels"] == 1 and figures["agents"] == [str(BUNDLED)]
    assert figures["stages"][0]["level"] == "1-1" and figures["stages"][0]["length"] == 20
    assert figures["options"] == {"seed": 0, "max_steps": 20}
    pendulum = ROOT / "checkpoints" / "pendulum-swingup"
    result = subprocess.run(
        [*cmd[:4], str(pendulum), "--out", str(tmp_path / "p.mp4")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "rlcore: error: pendulum checkpoints have no playthrough"


def test_world_in_a_row_ends_each_run_at_the_first_level_lost(tmp_path, capsys):
    from rlcore.cli import main

    out = tmp_path / "world.json"
    # the bundled 1-1 agent clears 1-1 greedily; relabelled for 1-2 it is lost there, so 1-3 is never played
    agents = [str(BUNDLED), str(agent_for_stage(tmp_path, 3)), str(agent_for_stage(tmp_path, 2))]
    assert (
        main(
            [
                "evaluate-world",
                *agents,
                "--episodes",
                "1",
                "--sticky",
                "0",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    figures = json.loads(out.read_text())
    assert (figures["runs"], figures["cleared"]) == (1, 0)
    assert figures["levels"] == [
        {"level": "1-1", "played": 1, "cleared": 1},
        {"level": "1-2", "played": 1, "cleared": 0},
        {"level": "1-3", "played": 0, "cleared": 0},
    ]
    assert "cleared 0/1 runs" in capsys.readouterr().out
    assert main(["evaluate-world", str(BUNDLED), "--sticky", "1.5", "--no-progress"]) == 2
