"""A small in-memory server that speaks the part of the Hugging Face Hub protocol huggingface_hub 2.4 uses.

Tests point the real client at it (HF_ENDPOINT or `endpoint=`), so uploads, downloads, the cache and
the model card go through exactly the code a user runs against huggingface.co. Endpoints (see
../shared/notes/STACK.md): create repo, whoami, validate-yaml, preupload, LFS batch + PUT, commit
(NDJSON), model info, file tree, resolve (HEAD/GET), list models; for model repos and Space repos
alike (a Space's URLs carry the `spaces/` prefix, its API routes `/api/spaces/...`).

Failures can be injected (`fail(...)`): a rule answers matching requests with an HTTP status or
drops the connection without a response, a given number of times, optionally after skipping the
first few matches, to simulate a network failure in the middle of a push.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

LFS_SUFFIXES = (".safetensors", ".mp4", ".png", ".bin", ".pt", ".pth", ".pkl", ".ckpt")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    oid: str
    message: str
    files: dict[str, bytes]
    date: str


# The URL prefix of each repo type, as the Hub spells it (a model has none).
PREFIXES = {"model": "", "space": "spaces/"}


def repo_key(repo_id: str, repo_type: str = "model") -> str:
    """How the server files a repo: the Hub's URL path of it ("alice/m", "spaces/alice/app")."""
    return PREFIXES[repo_type] + repo_id


@dataclass
class Repo:
    repo_id: str
    private: bool = False
    repo_type: str = "model"
    commits: list[Commit] = field(default_factory=list)

    def resolve(self, revision: str) -> Commit | None:
        """'main' (the only branch) or a full commit sha; None for an unknown revision."""
        if revision == "main":
            return self.commits[-1] if self.commits else Commit("0" * 40, "initial", {}, _now())
        return next((c for c in self.commits if c.oid == revision), None)


@dataclass
class FailureRule:
    method: str
    path_pattern: str
    times: int
    skip: int = 0
    status: int | None = None  # None: drop the connection without answering

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and re.search(self.path_pattern, path) is not None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def is_lfs(path: str, sample: bytes) -> bool:
    """The Hub stores binaries (and big files) in LFS; text goes into git as a regular blob."""
    return path.endswith(LFS_SUFFIXES) or b"\0" in sample


def parse_card_data(readme: bytes | None) -> dict | None:
    """The YAML front matter of a README.md, as the Hub serves it in `cardData`."""
    if not readme:
        return None
    text = readme.decode("utf-8", "replace")
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
    if not match:
        return None
    data = yaml.safe_load(match.group(1))
    return data if isinstance(data, dict) else None


class HubState:
    """Everything the server knows: users (by token), repos, LFS objects, failure rules, a request log."""

    def __init__(self, tokens: dict[str, str]):
        self.tokens = dict(tokens)  # token -> user name
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}  # sha256 -> bytes
        self.rules: list[FailureRule] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self.lock = threading.RLock()

    def next_failure(self, method: str, path: str) -> FailureRule | None:
        with self.lock:
            for rule in self.rules:
                if rule.times > 0 and rule.matches(method, path):
                    if rule.skip > 0:
                        rule.skip -= 1
                        return None
                    rule.times -= 1
                    return rule
        return None


class HubServer:
    """Start with `with HubServer(tokens={"hf_xxx": "alice"}) as hub:`; `hub.url` is the endpoint."""

    def __init__(self, tokens: dict[str, str] | None = None):
        self.state = HubState(tokens or {})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self.state))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="hub-server", daemon=True
        )

    def start(self) -> "HubServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --------------------------------------------------------------------------- test helpers

    def fail(
        self,
        path_pattern: str,
        *,
        method: str = "*",
        times: int = 1,
        skip: int = 0,
        status: int | None = None,
    ) -> FailureRule:
        """Answer the next `times` matching requests (after `skip` good ones) with `status`, or drop them."""
        rule = FailureRule(method, path_pattern, times, skip, status)
        with self.state.lock:
            self.state.rules.append(rule)
        return rule

    def clear_failures(self) -> None:
        with self.state.lock:
            self.state.rules.clear()

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        with self.state.lock:
            repo = self.state.repos[repo_key(repo_id, repo_type)]
            return dict(repo.resolve(revision).files)

    def commits(self, repo_id: str, repo_type: str = "model") -> list[Commit]:
        key = repo_key(repo_id, repo_type)
        with self.state.lock:
            return list(self.state.repos[key].commits) if key in self.state.repos else []

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo | None:
        with self.state.lock:
            return self.state.repos.get(repo_key(repo_id, repo_type))

    def create_repo_with_files(self, repo_id: str, files: dict[str, bytes], message: str = "seed") -> Commit:
        """Put a repo on the server directly (another library's model, a broken upload ...)."""
        with self.state.lock:
            repo = self.state.repos.setdefault(repo_id, Repo(repo_id))
            return _add_commit(repo, dict(repo.resolve("main").files) | files, message)

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        with self.state.lock:
            return list(self.state.requests)


def _add_commit(repo: Repo, files: dict[str, bytes], message: str) -> Commit:
    parent = repo.commits[-1].oid if repo.commits else ""
    digest = hashlib.sha1(f"{parent}\n{message}\n{time.time_ns()}".encode())
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    commit = Commit(digest.hexdigest(), message, files, _now())
    repo.commits.append(commit)
    return commit


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _make_handler(state: HubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client expects

        def log_message(self, format, *args):  # quiet: pytest shows failures, not access logs
            pass

        # ---------------------------------------------------------------------- plumbing

        def _read_body(self) -> bytes:
            """Always consume the body (keep-alive), plain or chunked."""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(
            self,
            status: int,
            body: bytes = b"",
            headers: dict[str, str] | None = None,
            content_type: str = "application/json",
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, obj, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), headers)

        def _user(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                return state.tokens.get(auth[len("Bearer ") :])
            return None

        def _require_writer(self, repo_id: str) -> str:
            user = self._user()
            if user is None:
                raise HubError(401, "Invalid credentials in Authorization header")
            if repo_id.split("/")[0] != user:
                raise HubError(403, f"You don't have the rights to write to {repo_id}")
            return user

        def _repo(self, repo_id: str, kind: str | None = None) -> Repo:
            """The repo `repo_id` of the API kind ("models", "spaces") or URL prefix ("spaces/", None)."""
            repo_type = "space" if kind in ("spaces", "spaces/") else "model"
            repo = state.repos.get(repo_key(repo_id, repo_type))
            if repo is None or (repo.private and self._user() != repo_id.split("/")[0]):
                raise HubError(404, f"Repository not found: {repo_id}", "RepoNotFound")
            return repo

        def _commit(self, repo: Repo, revision: str) -> Commit:
            commit = repo.resolve(unquote(revision))
            if commit is None:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            return commit

        def _dispatch(self) -> None:
            body = self._read_body()
            url = urlsplit(self.path)
            path, query = unquote(url.path), parse_qs(url.query)
            with state.lock:
                state.requests.append((self.command, path, dict(self.headers.items())))
            rule = state.next_failure(self.command, path)
            if rule is not None:
                if rule.status is None:  # a network failure: close without a word
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._json(rule.status, {"error": "injected failure"})
                return
            try:
                with state.lock:
                    self._route(self.command, path, query, body)
            except HubError as err:
                headers = {"X-Error-Message": err.message}
                if err.code:
                    headers["X-Error-Code"] = err.code
                self._json(err.status, {"error": err.message}, headers)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _dispatch

        # ---------------------------------------------------------------------- routes

        def _route(self, method: str, path: str, query: dict, body: bytes) -> None:
            api = r"/api/(?P<kind>models|spaces)/(?P<repo>[^/]+/[^/]+)"
            prefix = r"(?P<kind>spaces/)?"
            routes = [
                ("POST", r"/api/repos/create", self._create_repo),
                ("GET", r"/api/whoami-v2", self._whoami),
                ("POST", r"/api/validate-yaml", self._validate_yaml),
                ("GET", r"/api/models", self._list_models),
                ("POST", rf"{api}/preupload/(?P<rev>[^/]+)", self._preupload),
                ("POST", rf"{api}/commit/(?P<rev>[^/]+)", self._commit_files),
                ("GET", rf"{api}/tree/(?P<rev>[^/]+)(?:/(?P<sub>.*))?", self._tree),
                ("GET", rf"{api}(?:/revision/(?P<rev>[^/]+))?", self._model_info),
                ("POST", rf"/{prefix}(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch", self._lfs_batch),
                ("PUT", r"/__lfs/(?P<oid>[0-9a-f]{64})", self._lfs_put),
                (
                    "GET|HEAD",
                    rf"/{prefix}(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)",
                    self._resolve,
                ),
            ]
            for methods, pattern, handler in routes:
                match = re.fullmatch(pattern, path)
                if match and method in methods.split("|"):
                    handler(query=query, body=body, **{k: v for k, v in match.groupdict().items()})
                    return
            raise HubError(404, f"no route for {method} {path}")

        def _create_repo(self, query, body):
            payload = json.loads(body or b"{}")
            user = self._user()
            if user is None:
                raise HubError(401, "Invalid credentials in Authorization header")
            repo_id = f"{payload.get('organization') or user}/{payload['name']}"
            repo_type = payload.get("type") or "model"
            if repo_type not in PREFIXES:
                raise HubError(400, f"this test Hub has no {repo_type} repos")
            if repo_type == "space" and not payload.get("sdk"):
                raise HubError(400, "a Space needs an sdk")
            key = repo_key(repo_id, repo_type)
            url = f"http://{self.headers['Host']}/{key}"
            if key in state.repos:
                self._json(409, {"error": f"You already created this {repo_type} repo", "url": url})
                return
            self._require_writer(repo_id)
            private = payload.get("visibility") == "private"
            state.repos[key] = Repo(repo_id, private=private, repo_type=repo_type)
            self._json(200, {"url": url, "name": repo_id, "id": repo_id})

        def _whoami(self, query, body):
            user = self._user()
            if user is None:
                raise HubError(401, "Invalid credentials in Authorization header")
            self._json(
                200,
                {
                    "type": "user",
                    "name": user,
                    "fullname": user,
                    "orgs": [],
                    "auth": {
                        "type": "access_token",
                        "accessToken": {"displayName": "tests", "role": "write"},
                    },
                },
            )

        def _validate_yaml(self, query, body):
            content = json.loads(body).get("content", "")
            try:
                parse_card_data(content.encode())
            except yaml.YAMLError as err:
                self._json(400, {"errors": [{"message": str(err).splitlines()[0]}]})
                return
            self._json(200, {"errors": [], "warnings": []})

        def _preupload(self, query, body, repo, rev, kind=None):
            self._require_writer(repo)
            current = self._commit(self._repo(repo, kind), rev).files
            answers = []
            for entry in json.loads(body)["files"]:
                sample = base64.b64decode(entry["sample"])
                lfs = is_lfs(entry["path"], sample)
                old = current.get(entry["path"])
                oid = None
                if old is not None:
                    oid = hashlib.sha256(old).hexdigest() if lfs else git_blob_sha1(old)
                answers.append(
                    {
                        "path": entry["path"],
                        "uploadMode": "lfs" if lfs else "regular",
                        "shouldIgnore": False,
                        "oid": oid,
                    }
                )
            self._json(200, {"files": answers, "commitOid": self._commit(self._repo(repo, kind), rev).oid})

        def _lfs_batch(self, query, body, repo, kind=None):
            self._require_writer(repo)
            self._repo(repo, kind)
            payload = json.loads(body)
            objects = []
            for obj in payload["objects"]:
                entry = {"oid": obj["oid"], "size": obj["size"]}
                if obj["oid"] not in state.lfs_objects:
                    entry["actions"] = {
                        "upload": {"href": f"http://{self.headers['Host']}/__lfs/{obj['oid']}"}
                    }
                objects.append(entry)
            self._send(
                200,
                json.dumps({"transfer": "basic", "objects": objects}).encode(),
                content_type="application/vnd.git-lfs+json",
            )

        def _lfs_put(self, query, body, oid):
            if hashlib.sha256(body).hexdigest() != oid:
                raise HubError(400, "uploaded bytes do not match the announced sha256")
            state.lfs_objects[oid] = body
            self._send(200, b"")

        def _commit_files(self, query, body, repo, rev, kind=None):
            self._require_writer(repo)
            target = self._repo(repo, kind)
            if unquote(rev) != "main":
                raise HubError(400, "this test Hub only commits to main")
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            if not lines or lines[0]["key"] != "header":
                raise HubError(400, "commit payload must start with a header line")
            files = dict(target.resolve("main").files)
            for line in lines[1:]:
                value = line["value"]
                if line["key"] == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif line["key"] == "lfsFile":
                    data = state.lfs_objects.get(value["oid"])
                    if data is None:
                        raise HubError(
                            422, f"LFS object {value['oid']} of {value['path']} was never uploaded"
                        )
                    files[value["path"]] = data
                elif line["key"] == "deletedFile":
                    files.pop(value["path"], None)
                else:
                    raise HubError(400, f"unsupported commit operation {line['key']}")
            commit = _add_commit(target, files, lines[0]["value"].get("summary", ""))
            host = self.headers["Host"]
            url = f"http://{host}/{repo_key(repo, target.repo_type)}/commit/{commit.oid}"
            self._json(200, {"success": True, "commitOid": commit.oid, "commitUrl": url})

        def _info(self, repo: Repo, commit: Commit, with_card: bool = True) -> dict:
            card = parse_card_data(commit.files.get("README.md")) or {}
            tags = list(card.get("tags") or [])
            if card.get("library_name") and card["library_name"] not in tags:
                tags.insert(0, card["library_name"])
            info = {
                "id": repo.repo_id,
                "modelId": repo.repo_id,
                "author": repo.repo_id.split("/")[0],
                "sha": commit.oid,
                "lastModified": commit.date,
                "createdAt": (repo.commits[0].date if repo.commits else commit.date),
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "library_name": card.get("library_name"),
                "tags": tags,
                "siblings": [{"rfilename": name} for name in sorted(commit.files)],
            }
            if with_card:
                info["cardData"] = card or None
            if repo.repo_type == "space":
                info["sdk"] = card.get("sdk")
            return info

        def _model_info(self, query, body, repo, rev=None, kind=None):
            target = self._repo(repo, kind)
            self._json(200, self._info(target, self._commit(target, rev or "main")))

        def _tree(self, query, body, repo, rev, sub=None, kind=None):
            target = self._repo(repo, kind)
            commit = self._commit(target, rev)
            prefix = (sub or "").strip("/")
            entries = []
            for name, data in sorted(commit.files.items()):
                if prefix and not name.startswith(prefix + "/"):
                    continue
                entry = {"type": "file", "path": name, "size": len(data), "oid": git_blob_sha1(data)}
                if is_lfs(name, data[:512]):
                    entry["lfs"] = {
                        "oid": hashlib.sha256(data).hexdigest(),
                        "size": len(data),
                        "pointerSize": 134,
                    }
                entries.append(entry)
            self._json(200, entries)

        def _resolve(self, query, body, repo, rev, file, kind=None):
            target = self._repo(repo, kind)
            commit = self._commit(target, rev)
            data = commit.files.get(file)
            if data is None:
                raise HubError(404, f"Entry not found: {file}", "EntryNotFound")
            headers = {
                "X-Repo-Commit": commit.oid,
                "ETag": f'"{git_blob_sha1(data)}"',
                "Accept-Ranges": "bytes",
            }
            if is_lfs(file, data[:512]):
                headers["X-Linked-Etag"] = f'"{hashlib.sha256(data).hexdigest()}"'
                headers["X-Linked-Size"] = str(len(data))
            self._send(200, data, headers, content_type="application/octet-stream")

        def _list_models(self, query, body):
            wanted_tags = query.get("filter", [])
            author = (query.get("author") or [None])[0]
            search = (query.get("search") or [""])[0].lower()
            limit = int((query.get("limit") or ["1000"])[0])
            with_card = "cardData" in query or "full" in query
            found = []
            for repo in state.repos.values():
                if repo.repo_type != "model":
                    continue
                if repo.private and self._user() != repo.repo_id.split("/")[0]:
                    continue
                commit = repo.resolve("main")
                info = self._info(repo, commit, with_card)
                if author and info["author"] != author:
                    continue
                if search and search not in repo.repo_id.lower():
                    continue
                if not all(tag in info["tags"] for tag in wanted_tags):
                    continue
                info.pop("siblings")
                found.append(info)
            found.sort(key=lambda info: info["lastModified"], reverse=True)
            self._json(200, found[:limit])

    return Handler


# ------------------------------------------------------------------------- helpers for the Hub tests

TOKEN = "hf_TestTokenAlice0123456789abcdefXYZ"  # what a leak would look like: greppable, unique
OTHER_TOKEN = "hf_TestTokenBob0123456789abcdefXYZ"


def folder_bytes(folder) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes): to prove a folder stayed byte-identical."""
    from pathlib import Path

    root = Path(folder)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def copy_of_folder(source, destination):
    """A private copy of a (trained) checkpoint folder, for a test that pushes, and so completes, it."""
    destination.mkdir()
    for name, data in folder_bytes(source).items():
        (destination / name).write_bytes(data)
    return destination


def make_checkpoint(
    folder,
    *,
    results: bool | dict = True,
    replay: bool = True,
    seed: int = 0,
    system: str = "pendulum",
    algorithm: str = "BPTT",
    env_id: str = "Pendulum-v1",
):
    """A small but complete checkpoint folder written with rlcore's own writers (no trained system).

    `results`: True for a pendulum-like results.json, a dict for that document, False for none."""
    from pathlib import Path

    import numpy as np
    import torch

    from rlcore.checkpoint import atomic_write_json, save_checkpoint, save_training_state
    from rlcore.metrics import MetricsFile
    from rlcore.video import write_mp4

    folder = Path(folder)
    generator = torch.Generator().manual_seed(seed)
    save_checkpoint(
        folder,
        system=system,
        algorithm=algorithm,
        env_id=env_id,
        config={"lr": 0.002, "batch_size": 32, "hidden": [64, 64], "normalize": True},
        state_dict={"net.0.weight": torch.randn(64, 3, generator=generator), "net.0.bias": torch.zeros(64)},
    )
    metrics = MetricsFile(folder / "metrics.jsonl")
    for step in range(1, 4):
        metrics.append({"step": step, "train/return": -100.0 / step, "time/elapsed_s": 0.5 * step})
    # a real PNG without importing matplotlib: 1x1 pixel
    (folder / "reward.png").write_bytes(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8ff"
            "ff3f0005fe02fea7d6a4930000000049454e44ae426082"
        )
    )
    save_training_state(folder, {"optim.0.exp_avg": torch.zeros(3)}, {"iteration": 3})
    if results:
        atomic_write_json(
            folder / "results.json",
            results
            if isinstance(results, dict)
            else {
                "mean_reward": -152.25,
                "std_reward": 31.5,
                "n_eval_episodes": 3,
                "seeds": [0, 1, 2],
                "last_reward": [-0.01, -0.02, -0.03],
                "date": "2026-11-23T18:00:00Z",
            },
        )
    if replay:
        write_mp4(folder / "replay.mp4", [np.full((32, 32, 3), 40 * i, np.uint8) for i in range(5)], fps=5)
    return folder
