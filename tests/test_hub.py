"""rlcore.hub and rlcore.modelcard against the real huggingface_hub client and a local Hub-protocol server.

Why explicit `endpoint=` / `cache_dir=` / `token=` here rather than HF_ENDPOINT: huggingface_hub fixes
its endpoint, cache and offline settings when it is first imported, and other test modules (the
Gradio app's) import it at collection time, before this module could set anything. Passing them as
arguments (public parameters of the real client, nothing patched) is robust to import order. What
depends on the environment (HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_OFFLINE) is tested in test_cli.py,
in subprocesses whose environment is set before Python starts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hub_server import OTHER_TOKEN, TOKEN, HubServer, copy_of_folder, folder_bytes, make_checkpoint

from rlcore import hub
from rlcore.checkpoint import CheckpointError, load_tensors

PUBLISHED = {
    "model.safetensors",
    "config.json",
    "results.json",
    "metrics.jsonl",
    "reward.png",
    "replay.mp4",
    "README.md",
}


def published(folder) -> set[str]:
    """What a push of `folder` publishes: PUBLISHED and the TensorBoard event files its training wrote."""
    events = {path.name for path in Path(folder).glob("events.out.tfevents.*")}
    assert events, "the metrics left no TensorBoard event file"
    return PUBLISHED | events


@pytest.fixture
def server():
    from huggingface_hub import constants

    # tests/conftest.py sets HF_HUB_DISABLE_XET=1 before anything imports huggingface_hub; without it
    # every upload would go to the Xet storage protocol, which this server does not speak.
    assert constants.HF_HUB_DISABLE_XET, "HF_HUB_DISABLE_XET must be set before import"
    with HubServer(tokens={TOKEN: "alice", OTHER_TOKEN: "bob"}) as running:
        yield running


@pytest.fixture
def checkpoint(tmp_path):
    return make_checkpoint(tmp_path / "run")


def push(server, folder, repo="alice/pendulum-bptt", **kwargs):
    kwargs.setdefault("complete", False)  # the folder already has results.json and replay.mp4
    kwargs.setdefault("wait_s", 0.01)
    return hub.push_checkpoint(folder, repo, token=kwargs.pop("token", TOKEN), endpoint=server.url, **kwargs)


def test_push_is_one_commit_of_the_published_files_and_leaves_the_folder_untouched(server, checkpoint):
    before = folder_bytes(checkpoint)
    url = push(server, checkpoint)

    commits = server.commits("alice/pendulum-bptt")
    assert len(commits) == 1 and url.endswith(commits[0].oid)
    files = server.files("alice/pendulum-bptt")
    assert set(files) == published(checkpoint)  # never training_state.*; TensorBoard's logs too
    for name in published(checkpoint) - {"README.md"}:
        assert files[name] == before[name]
    assert folder_bytes(checkpoint) == before


def test_model_card_reads_back_through_huggingface_hub(server, checkpoint, tmp_path):
    from huggingface_hub import HfApi, ModelCard

    push(server, checkpoint)
    folder = hub.pull_checkpoint("alice/pendulum-bptt", endpoint=server.url, cache_dir=tmp_path / "cache")
    card = ModelCard.load(folder / "README.md")
    info = HfApi(endpoint=server.url).model_info("alice/pendulum-bptt")
    for data in (card.data, info.card_data):
        assert data.library_name == "rlcore"
        assert {
            "reinforcement-learning",
            "deep-reinforcement-learning",
            "rlcore",
            "Pendulum-v1",
            "BPTT",
            "pendulum",
        } <= set(data.tags)
        (result,) = data.eval_results
        assert (result.task_type, result.dataset_type, result.metric_type) == (
            "reinforcement-learning",
            "Pendulum-v1",
            "mean_reward",
        )
        assert result.metric_value == "-152.25 +/- 31.50" and result.verified is False
    text = card.text
    assert "python -m rlcore play hf://alice/pendulum-bptt --out replay.mp4" in text
    assert "| lr | 0.002 |" in text and "replay.mp4" in text and "![reward](reward.png)" in text


def test_a_mario_card_carries_x_position_and_flag_rate(tmp_path):
    from huggingface_hub import ModelCard

    from rlcore.modelcard import build_model_card

    folder = make_checkpoint(
        tmp_path / "mario",
        system="mario",
        algorithm="DDQN",
        env_id="SuperMarioBros-1-2-v0",
        results={
            "mean_reward": 1234.5,
            "std_reward": 100.0,
            "mean_x_pos": 1520.25,
            "flag_rate": 0.25,
            "n_eval_episodes": 4,
            "seeds": [0, 1, 2, 3],
        },
    )
    card = ModelCard(build_model_card(folder, "alice/mario-ddqn"))
    metrics = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert metrics == {"mean_reward": "1234.50 +/- 100.00", "x_pos": 1520.2, "flag_rate": 0.25}
    assert {r.dataset_type for r in card.data.eval_results} == {"SuperMarioBros-1-2-v0"}
    assert {"mario", "DDQN", "SuperMarioBros-1-2-v0"} <= set(card.data.tags)
    assert "| flag rate | 25% |" in card.text and "| mean x position | 1520.2 |" in card.text


BUNDLED_PENDULUM = Path(__file__).resolve().parents[1] / "checkpoints" / "pendulum-swingup"


def card_of(server, repo: str):
    from huggingface_hub import ModelCard

    return ModelCard(server.files(repo)["README.md"].decode())


def test_a_bundled_agent_is_published_with_its_own_card_and_fresh_front_matter(server):
    from rlcore.checkpoint import read_json
    from rlcore.modelcard import GENERATED_MARK, format_mean_std

    before = folder_bytes(BUNDLED_PENDULUM)
    push(server, BUNDLED_PENDULUM, repo="alice/pendulum-swingup")
    assert folder_bytes(BUNDLED_PENDULUM) == before
    card = card_of(server, "alice/pendulum-swingup")
    assert card.text == (BUNDLED_PENDULUM / "README.md").read_text()  # the body as written, nothing added
    assert GENERATED_MARK not in card.text
    results = read_json(BUNDLED_PENDULUM / "results.json")
    (result,) = card.data.eval_results
    assert result.metric_value == format_mean_std(results["mean_reward"], results["std_reward"])
    assert card.data.library_name == "rlcore"
    assert {"reinforcement-learning", "Pendulum-v1"} <= set(card.data.tags)


def test_pull_then_push_round_trips_a_card_but_for_refreshed_results(server, tmp_path):
    from huggingface_hub import ModelCard

    from rlcore.checkpoint import atomic_write_json, read_json

    push(server, BUNDLED_PENDULUM, repo="alice/pendulum-swingup")
    first = server.files("alice/pendulum-swingup")["README.md"]
    pulled = hub.pull_checkpoint("alice/pendulum-swingup", endpoint=server.url, cache_dir=tmp_path / "cache")
    folder = copy_of_folder(pulled, tmp_path / "again")
    push(server, folder, repo="alice/pendulum-swingup")
    assert server.files("alice/pendulum-swingup")["README.md"] == first  # unchanged, byte for byte

    results = read_json(folder / "results.json")
    atomic_write_json(folder / "results.json", {**results, "mean_reward": -140.5})  # a new evaluation
    card = (folder / "README.md").read_text()  # the author adds a key of their own:
    own = card.replace("library_name: rlcore\n", "library_name: rlcore\nlicense: mit\n")
    (folder / "README.md").write_text(own)
    push(server, folder, repo="alice/pendulum-swingup")
    old, new = ModelCard(first.decode()), card_of(server, "alice/pendulum-swingup")
    assert new.text == old.text and new.data.license == "mit"
    assert new.data.eval_results[0].metric_value.startswith("-140.50 +/- ")

    def rest(data, *left_out):
        return {key: value for key, value in data.to_dict().items() if key not in ("model-index", *left_out)}

    assert rest(new.data, "license") == rest(old.data)  # nothing else changed


def test_a_generated_card_is_generated_again_with_the_new_results(server, checkpoint, tmp_path):
    from rlcore.checkpoint import atomic_write_json, read_json
    from rlcore.modelcard import GENERATED_MARK

    push(server, checkpoint)
    assert GENERATED_MARK in card_of(server, "alice/pendulum-bptt").text
    pulled = hub.pull_checkpoint("alice/pendulum-bptt", endpoint=server.url, cache_dir=tmp_path / "cache")
    folder = copy_of_folder(pulled, tmp_path / "again")
    atomic_write_json(folder / "results.json", {**read_json(folder / "results.json"), "mean_reward": -99.0})
    push(server, folder)
    text = card_of(server, "alice/pendulum-bptt").text
    assert "| mean reward (+/- std) | -99.00 +/- 31.50 |" in text and "-152.25" not in text


def test_a_readme_that_is_not_a_card_is_refused_before_anything_is_published(server, checkpoint):
    (checkpoint / "README.md").write_text("---\ntags: [unclosed\n---\n# My agent\n")
    with pytest.raises(CheckpointError, match="README.md: not a readable model card"):
        push(server, checkpoint)
    assert server.commits("alice/pendulum-bptt") == []


def test_pull_into_an_empty_cache_and_list(server, checkpoint, tmp_path):
    push(server, checkpoint)
    folder = hub.pull_checkpoint(
        "hf://alice/pendulum-bptt@main", endpoint=server.url, cache_dir=tmp_path / "cache"
    )
    assert str(folder).startswith(str(tmp_path / "cache" / "models--alice--pendulum-bptt" / "snapshots"))
    assert folder_bytes(folder).keys() == published(checkpoint)
    assert folder_bytes(folder)["model.safetensors"] == (checkpoint / "model.safetensors").read_bytes()

    make_checkpoint(tmp_path / "bobs", seed=1)
    push(server, tmp_path / "bobs", repo="bob/other", token=OTHER_TOKEN)
    server.create_repo_with_files("carol/not-ours", {"config.json": b"{}"})
    everyone = hub.list_agents(endpoint=server.url)
    assert {agent.repo_id for agent in everyone} == {"alice/pendulum-bptt", "bob/other"}
    (mine,) = hub.list_agents(author="alice", endpoint=server.url)
    assert (mine.system, mine.env_id, mine.algorithm, mine.mean_reward) == (
        "pendulum",
        "Pendulum-v1",
        "BPTT",
        "-152.25 +/- 31.50",
    )


def test_a_pinned_revision_is_pulled_as_it_was(server, checkpoint, tmp_path):
    push(server, checkpoint)
    first = server.commits("alice/pendulum-bptt")[0].oid
    make_checkpoint(tmp_path / "v2", seed=7)
    push(server, tmp_path / "v2")
    old = hub.pull_checkpoint(f"alice/pendulum-bptt@{first}", endpoint=server.url, cache_dir=tmp_path / "c")
    assert (old / "model.safetensors").read_bytes() == (checkpoint / "model.safetensors").read_bytes()


@pytest.mark.parametrize(
    "bad",
    [
        "../x",
        "/etc/passwd",
        "a/b/c",
        "alice/..",
        "alice",
        "a--b/c",
        "alice/m.git",
        "alice/m@",
        "hf://",
        "alice/m y",
        "-alice/m",
        "alice/m@../../x",
        "",
    ],
)
def test_malformed_repo_ids_are_refused(bad):
    with pytest.raises(hub.HubError, match="invalid Hub repo id") as caught:
        hub.parse_repo_ref(bad)
    assert caught.value.user_error


def test_repo_refs_parse():
    assert hub.parse_repo_ref("alice/m") == hub.RepoRef("alice/m", "main")
    assert hub.parse_repo_ref("hf://alice/m.v2@refs/pr/1") == hub.RepoRef("alice/m.v2", "refs/pr/1")


def test_unknown_repo_revision_and_files_are_one_line_input_errors(server, checkpoint, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(hub.HubError, match="alice/missing: no such model repo") as caught:
        hub.pull_checkpoint("alice/missing", endpoint=server.url, cache_dir=cache)
    assert caught.value.user_error and "\n" not in str(caught.value)

    push(server, checkpoint)
    with pytest.raises(hub.HubError, match="no such revision") as caught:
        hub.pull_checkpoint("alice/pendulum-bptt@" + "f" * 40, endpoint=server.url, cache_dir=cache)

    server.create_repo_with_files(
        "alice/empty-weights", {"config.json": (checkpoint / "config.json").read_bytes()}
    )
    with pytest.raises(
        CheckpointError, match="hf://alice/empty-weights: not an rlcore checkpoint, no model.safetensors"
    ):
        hub.pull_checkpoint("alice/empty-weights", endpoint=server.url, cache_dir=cache)


def test_a_repo_of_another_library_is_named_as_such(server, tmp_path):
    server.create_repo_with_files(
        "alice/bert",
        {
            "config.json": json.dumps({"library_name": "transformers", "model_type": "bert"}).encode(),
            "model.safetensors": b"\0" * 16,
        },
    )
    with pytest.raises(CheckpointError) as caught:
        hub.pull_checkpoint("alice/bert", endpoint=server.url, cache_dir=tmp_path / "cache")
    message = str(caught.value)
    assert message.startswith("hf://alice/bert/config.json: not an rlcore checkpoint")
    assert "transformers" in message and str(tmp_path) not in message


def test_pickles_are_never_downloaded_nor_loaded(server, checkpoint, tmp_path):
    pickle_bytes = b"\x80\x04\x95" + b"\0" * 32  # the start of any pickle.dumps / torch.save
    server.create_repo_with_files(
        "alice/pickled",
        {"config.json": (checkpoint / "config.json").read_bytes(), "pytorch_model.bin": pickle_bytes},
    )
    with pytest.raises(CheckpointError, match="refusing to load a pickle"):
        hub.pull_checkpoint("alice/pickled", endpoint=server.url, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("pytorch_model.bin"))

    # a pickle renamed model.safetensors: downloaded (the name is ours) but never unpickled
    server.create_repo_with_files(
        "alice/disguised",
        {"config.json": (checkpoint / "config.json").read_bytes(), "model.safetensors": pickle_bytes},
    )
    folder = hub.pull_checkpoint("alice/disguised", endpoint=server.url, cache_dir=tmp_path / "cache")
    with pytest.raises(CheckpointError, match="pickle"):
        load_tensors(folder / "model.safetensors")

    # and one is never pushed either
    (checkpoint / "model.safetensors").write_bytes(pickle_bytes)
    with pytest.raises(CheckpointError, match="pickle"):
        push(server, checkpoint, repo="alice/never")
    assert server.commits("alice/never") == []


def test_a_repo_whose_file_names_escape_the_cache_is_refused(server, checkpoint, tmp_path):
    files = {name: data for name, data in folder_bytes(checkpoint).items() if "/" not in name}
    server.create_repo_with_files("alice/escaping", {**files, "../../escaped.png": b"\x89PNG not ours"})
    with pytest.raises(hub.HubError, match="escaped.png"):
        hub.pull_checkpoint("alice/escaping", endpoint=server.url, cache_dir=tmp_path / "a" / "b" / "cache")
    assert not list(tmp_path.rglob("escaped.png"))


# No token: tested in test_cli.py, in a subprocess with an empty HF_HOME and no HF_TOKEN (the real lookup).


def test_a_private_agent_is_pulled_only_with_a_token_that_may_read_it(server, checkpoint, tmp_path):
    push(server, checkpoint, repo="alice/secret", private=True)
    with pytest.raises(hub.HubError, match="no such model repo .* private"):
        hub.pull_checkpoint("alice/secret", endpoint=server.url, cache_dir=tmp_path / "c", token=False)
    assert hub.list_agents(endpoint=server.url, token=False) == []
    folder = hub.pull_checkpoint("alice/secret", endpoint=server.url, cache_dir=tmp_path / "c", token=TOKEN)
    assert (folder / "model.safetensors").read_bytes() == (checkpoint / "model.safetensors").read_bytes()


def test_writing_to_someone_elses_namespace_is_refused_without_retries(server, checkpoint):
    with pytest.raises(hub.HubError, match="refused the request") as caught:
        push(server, checkpoint, repo="alice/theirs", token=OTHER_TOKEN)
    assert caught.value.user_error
    assert [r for r in server.requests if r[0] == "POST" and "/repos/create" in r[1]] != []
    assert server.commits("alice/theirs") == []


def test_a_push_to_a_new_repo_never_commits_into_an_existing_one(server, checkpoint):
    """Issue 30, D1: the app's pushes (new_repo=True) create their repo; one already there, even the token
    owner's own and whatever it holds, is refused before any upload, and is left as it was."""
    server.create_repo_with_files("alice/not-an-agent", {"README.md": b"# someone's dataset notes"})
    with pytest.raises(hub.HubError, match="already exists") as caught:
        push(server, checkpoint, repo="alice/not-an-agent", new_repo=True, complete=False)
    assert caught.value.user_error and len(str(caught.value).splitlines()) == 1
    assert len(server.commits("alice/not-an-agent")) == 1
    assert server.files("alice/not-an-agent") == {"README.md": b"# someone's dataset notes"}
    assert not any(method == "PUT" or "/preupload/" in path for method, path, _ in server.requests)
    # a commit retried after a transient error still lands in the repo this push created
    server.fail(r"/commit/main$", status=503)
    push(server, checkpoint, repo="alice/fresh", new_repo=True, complete=False, wait_s=0.01)
    assert len(server.commits("alice/fresh")) == 1 and set(server.files("alice/fresh")) >= {
        "model.safetensors"
    }


def test_transient_errors_are_retried(server, checkpoint):
    server.fail(r"/commit/main$", status=503)
    server.fail(r"/preupload/", times=1)  # a dropped connection (the client's own backoff also retries)
    messages = []
    push(server, checkpoint, log=messages.append, attempts=3, wait_s=0.01)
    assert len(server.commits("alice/pendulum-bptt")) == 1
    assert any("retry 1 of 2" in m and "503" in m for m in messages)


def test_a_push_cut_off_mid_way_loses_nothing_and_a_rerun_completes_it(server, checkpoint):
    before = folder_bytes(checkpoint)
    # the LFS uploads go through, then every commit attempt loses its connection
    server.fail(r"/commit/main$", times=3)
    with pytest.raises(hub.HubError, match="cannot reach the Hub") as caught:
        push(server, checkpoint, attempts=3)
    assert not caught.value.user_error
    assert server.commits("alice/pendulum-bptt") == []
    assert folder_bytes(checkpoint) == before

    uploads_before = sum(1 for method, path, _ in server.requests if method == "PUT")
    push(server, checkpoint)
    assert set(server.files("alice/pendulum-bptt")) == published(checkpoint)
    assert len(server.commits("alice/pendulum-bptt")) == 1
    # the large files reached the Hub's storage the first time: the rerun does not send them again
    assert sum(1 for method, path, _ in server.requests if method == "PUT") == uploads_before
    assert folder_bytes(checkpoint) == before


@pytest.mark.parametrize(
    "nowhere, why",
    [
        ("http://rlcore-test.invalid", "cannot resolve rlcore-test.invalid"),  # RFC 2606: never resolves
        ("http://127.0.0.1:9", r"127.0.0.1:9: Connection refused"),  # discard port: nothing listens
    ],
    ids=["no DNS", "refused"],
)
def test_an_unreachable_hub_fails_at_once(checkpoint, tmp_path, nowhere, why):
    """No network, no DNS or nothing listening: one clear error in a moment (the client's own retries
    took ~23 s), a push fails before evaluating anything, and a pull answers from the cache at once."""
    import time

    before = folder_bytes(checkpoint)
    began = time.perf_counter()
    with pytest.raises(hub.HubError, match=rf"cannot reach the Hub at {re.escape(nowhere)} \({why}"):
        hub.list_agents(endpoint=nowhere)
    with pytest.raises(hub.HubError, match=why):
        hub.push_checkpoint(checkpoint, "alice/pendulum-bptt", token=TOKEN, endpoint=nowhere)
    with pytest.raises(
        hub.HubError, match="not in the local Hugging Face cache and the Hub cannot be reached"
    ):
        hub.pull_checkpoint("alice/pendulum-bptt", endpoint=nowhere, cache_dir=tmp_path / "cache")
    assert time.perf_counter() - began < 10
    assert folder_bytes(checkpoint) == before


def test_a_push_whose_response_was_lost_is_not_committed_twice(server, checkpoint):
    push(server, checkpoint)
    push(server, checkpoint)  # same files: the client finds nothing changed
    assert len(server.commits("alice/pendulum-bptt")) == 1


def test_the_token_travels_only_in_the_authorization_header(server, checkpoint, tmp_path):
    push(server, checkpoint)
    hub.pull_checkpoint("alice/pendulum-bptt", endpoint=server.url, cache_dir=tmp_path / "cache", token=TOKEN)
    for method, path, headers in server.requests:
        assert TOKEN not in path
        assert all(TOKEN not in value for key, value in headers.items() if key.lower() != "authorization")
    for name, data in server.files("alice/pendulum-bptt").items():
        assert TOKEN.encode() not in data, name
    for name, data in folder_bytes(tmp_path / "cache").items():
        assert TOKEN.encode() not in data, name


# ----------------------------------------------------------------------------- end to end, a real agent


@pytest.fixture(scope="module")
def trained_pendulum(tmp_path_factory):
    """A pendulum policy really trained for a few iterations (rlcore.pendulum's api, on the CPU)."""
    from rlcore.pendulum import api

    out = tmp_path_factory.mktemp("pendulum") / "run"
    records = list(
        api.train(
            api.Config(iterations=3, checkpoint_every=3, batch_size=8, rollout_steps=20), out, device="cpu"
        )
    )
    assert records and records[-1]["step"] == 3
    return out


def test_a_trained_pendulum_goes_to_the_hub_and_comes_back_acting_the_same(
    server, trained_pendulum, tmp_path
):
    import torch
    from huggingface_hub import HfApi, ModelCard

    from rlcore.pendulum import api

    trained = tmp_path / "run"  # a copy: push writes the missing results.json and replay.mp4 into it
    trained.mkdir()
    for name, data in folder_bytes(trained_pendulum).items():
        (trained / name).write_bytes(data)
    log = []
    push(server, trained, repo="alice/pendulum-bptt", complete=True, episodes=3, seed=5, log=log.append)
    assert (trained / "results.json").is_file() and (trained / "replay.mp4").is_file()
    assert any("evaluating 3 episodes" in line for line in log)
    assert set(server.files("alice/pendulum-bptt")) == published(trained) - {"reward.png"} | {
        "training.png",
        "agent.pt",
    }
    assert any("exporting agent.pt" in line for line in log) and not (trained / "agent.pt").exists()

    (found,) = hub.list_agents(author="alice", endpoint=server.url)
    assert found.repo_id == "alice/pendulum-bptt" and found.system == "pendulum"

    pulled = hub.pull_checkpoint(found.repo_id, endpoint=server.url, cache_dir=tmp_path / "empty-cache")
    local, remote = api.load(trained), api.load(pulled)
    observations = torch.randn(64, 3)
    assert torch.equal(local.act(observations), remote.act(observations))
    assert api.evaluate(pulled, episodes=3, seed=5)["mean_reward"] == pytest.approx(
        json.loads((trained / "results.json").read_text())["mean_reward"]
    )

    # the card's "train it again" command line parses back to exactly the published config
    import re
    import shlex

    from rlcore import cli
    from rlcore.config import to_dict

    command = re.search(r"^python -m rlcore (train pendulum .*)$", (pulled / "README.md").read_text(), re.M)
    words = shlex.split(command.group(1))
    args = cli.build_parser(words).parse_args(words)
    assert (
        to_dict(api.Config(**cli.given_fields(args, args.config_fields)))
        == json.loads((pulled / "config.json").read_text())["config"]
    )

    results = json.loads((trained / "results.json").read_text())
    expected = f"{results['mean_reward']:.2f} +/- {results['std_reward']:.2f}"
    for data in (
        ModelCard.load(pulled / "README.md").data,
        HfApi(endpoint=server.url).model_info("alice/pendulum-bptt").card_data,
    ):
        (result,) = data.eval_results
        assert (result.metric_type, result.metric_value, result.dataset_name) == (
            "mean_reward",
            expected,
            "Pendulum-v1",
        )


def test_a_config_that_does_not_match_the_weights_is_not_published(server, trained_pendulum, tmp_path):
    from rlcore.checkpoint import atomic_write_json

    broken = tmp_path / "run"
    broken.mkdir()
    for name, data in folder_bytes(trained_pendulum).items():
        (broken / name).write_bytes(data)
    document = json.loads((broken / "config.json").read_text())
    document["config"]["hidden_size"] *= 2
    atomic_write_json(broken / "config.json", document)
    with pytest.raises(CheckpointError, match="do not match|shape"):
        push(server, broken, repo="alice/broken", complete=True)
    assert server.commits("alice/broken") == []
