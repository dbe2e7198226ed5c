"""The GitHub Action's script (`scripts/svai-pr-comment.py`) on a throwaway git repository.

No network: the repository has two commits (the second bumps memory and edits the preprocess
hook), the script runs the real svai CLI, and posting goes to a small fake GitHub REST API on
127.0.0.1 that records every request — the first run creates the sticky comment, the second
finds it by its hidden marker and updates that same comment.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from tests.review.helpers import BASE_SPEC, PRE_PY, REPO, SVAI, git, write_project

SCRIPT = REPO / "scripts" / "svai-pr-comment.py"
MARKER = "<!-- svai-plan -->"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pr")
    git(root, "init", "-q", "-b", "main")
    write_project(root / "svc", BASE_SPEC)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    spec = (root / "svc" / "svai.yaml").read_text()
    spec = spec.replace(
        "- {cloud: aws, region: us-east-1}",
        "- {cloud: aws, region: us-east-1, overrides: {memory: 2GiB}}",
    )
    (root / "svc" / "svai.yaml").write_text(spec)
    (root / "svc" / "src" / "pre.py").write_text(PRE_PY + "# normalise amounts\n")
    git(root, "commit", "-q", "-am", "more memory, new hook")
    return root


def run_script(
    repo: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base_env = {"PATH": "/usr/bin:/bin", "HOME": str(repo)}
    return subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--spec",
            "svc/svai.yaml",
            "--base",
            "HEAD~1",
            "--svai",
            str(SVAI),
            *args,
        ],
        cwd=repo,
        env={**base_env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_dry_run_writes_the_comment(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "body.md"
    done = run_script(repo, "--dry-run", "--output", str(out))
    assert done.returncode == 0, done.stderr
    body = out.read_text()
    assert body.startswith(MARKER + "\n")
    diff_at = body.index("### svai diff: `scorer`")
    plan_at = body.index("### svai plan: `scorer`")
    assert diff_at < plan_at < body.index("**Readiness (`svai check`):**")
    assert "| **aws us-east-1** | memory | 1,024 MB | 2,048 MB |" in body
    assert "**Model version:** `v-" in body  # the hook edit is a new model version
    # Deterministic: the same revisions render the same body.
    again = run_script(repo, "--dry-run")
    assert again.stdout == body


class FakeGitHub(BaseHTTPRequestHandler):
    comments: ClassVar[dict[int, dict[str, Any]]] = {}
    requests: ClassVar[list[tuple[str, str, str, Any]]] = []
    next_id = 1000

    def _reply(self, status: int, data: Any) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _record(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.requests.append((self.command, self.path, self.headers["Authorization"], body))
        return body

    def do_GET(self) -> None:
        self._record()
        if self.path == "/repos/acme/shop/issues/7/comments?per_page=100&page=1":
            self._reply(200, [{"id": k, **v} for k, v in sorted(self.comments.items())])
        else:
            self._reply(404, {"message": "Not Found"})

    def do_POST(self) -> None:
        body = self._record()
        assert self.path == "/repos/acme/shop/issues/7/comments"
        FakeGitHub.next_id += 1
        self.comments[FakeGitHub.next_id] = {"body": body["body"]}
        self._reply(201, {"id": FakeGitHub.next_id, "body": body["body"]})

    def do_PATCH(self) -> None:
        body = self._record()
        cid = int(self.path.rsplit("/", 1)[1])
        assert self.path == f"/repos/acme/shop/issues/comments/{cid}" and cid in self.comments
        self.comments[cid] = {"body": body["body"]}
        self._reply(200, {"id": cid, "body": body["body"]})

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


@pytest.fixture
def github() -> Iterator[str]:
    FakeGitHub.comments = {1: {"body": "LGTM, unrelated comment"}}
    FakeGitHub.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_posts_once_then_updates_the_same_comment(repo: Path, github: str, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    env = {
        "GITHUB_TOKEN": "t0ken",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_API_URL": github,
        "GITHUB_EVENT_PATH": str(event),
    }
    first = run_script(repo, env=env)
    assert first.returncode == 0, first.stderr
    assert "created comment 1001" in first.stdout
    assert [(m, p) for m, p, _, _ in FakeGitHub.requests] == [
        ("GET", "/repos/acme/shop/issues/7/comments?per_page=100&page=1"),
        ("POST", "/repos/acme/shop/issues/7/comments"),
    ]
    assert all(auth == "Bearer t0ken" for _, _, auth, _ in FakeGitHub.requests)
    FakeGitHub.requests.clear()
    second = run_script(repo, env=env)
    assert second.returncode == 0, second.stderr
    assert "updated comment 1001" in second.stdout
    assert [(m, p) for m, p, _, _ in FakeGitHub.requests] == [
        ("GET", "/repos/acme/shop/issues/7/comments?per_page=100&page=1"),
        ("PATCH", "/repos/acme/shop/issues/comments/1001"),
    ]
    assert sorted(FakeGitHub.comments) == [1, 1001]  # one sticky comment, the other untouched
    assert FakeGitHub.comments[1]["body"] == "LGTM, unrelated comment"
    assert FakeGitHub.comments[1001]["body"].startswith(MARKER)
    assert "### svai diff: `scorer`" in FakeGitHub.comments[1001]["body"]


def test_missing_token_is_refused_without_posting(repo: Path) -> None:
    done = run_script(repo, "--pr", "7", env={"GITHUB_REPOSITORY": "acme/shop"})
    assert done.returncode == 2
    assert "GITHUB_TOKEN" in done.stderr


def test_action_and_hooks_are_wired() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    steps = "\n".join(str(s.get("run", "")) for s in action["runs"]["steps"])
    assert '"${{ github.action_path }}[aws,gcp,azure]"' in steps
    assert "scripts/svai-pr-comment.py" in steps and "git fetch" in steps
    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert "svai validate" in hooks["svai-validate"]["entry"]
    assert "svai check" in hooks["svai-check"]["entry"]
    workflow = yaml.safe_load(
        (REPO / "examples" / "github-actions" / "svai-review.yml").read_text()
    )
    assert workflow["permissions"]["pull-requests"] == "write"


def test_pre_commit_hook_entries_run(tmp_path: Path) -> None:
    # pre-commit appends the changed files to the entry; run it the same way.
    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    entry = shlex.split(hooks["svai-validate"]["entry"])
    good = write_project(tmp_path / "good", BASE_SPEC)
    bad = write_project(tmp_path / "bad", BASE_SPEC.replace("version: 1", "version: 2"))
    env = {"PATH": f"{SVAI.parent}:/usr/bin:/bin"}
    ok = subprocess.run([*entry, str(good), str(good)], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    failed = subprocess.run([*entry, str(good), str(bad)], env=env, capture_output=True, text=True)
    assert failed.returncode == 2
    assert "version" in failed.stderr
