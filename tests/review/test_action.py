"""The GitHub Action's script (`scripts/svai-pr-comment.py`) on a throwaway git repository.

No network: the repository has two commits (the second bumps memory and edits the preprocess
hook), the script runs the real svai CLI, and posting goes to a small fake GitHub REST API on
127.0.0.1 (``fake_github.py``) that records every request — the first run creates the sticky
comment, the second finds it by its hidden marker *and its author* and updates that same
comment; a marker comment written by anyone else is never edited.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.review.fake_github import INSTALLATION_TOKEN, FakeGitHub, serve
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
    # svai from this checkout, whatever the venv's own install points at.
    base_env = {"PATH": "/usr/bin:/bin", "HOME": str(repo), "PYTHONPATH": str(REPO)}
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
    assert "| **aws us-east-1** | memory | 512 MB | 2,048 MB |" in body
    assert "**Model version:** `v-" in body  # the hook edit is a new model version
    # Deterministic: the same revisions render the same body.
    again = run_script(repo, "--dry-run")
    assert again.stdout == body


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub("acme/shop", users={"ghp_alice": "alice"})
    fake.add(7, "bob", "LGTM, unrelated comment")
    with serve(fake):
        yield fake


def env_for(github: FakeGitHub, token: str, tmp_path: Path) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    return {
        "GITHUB_TOKEN": token,
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_API_URL": github.url,
        "GITHUB_EVENT_PATH": str(event),
    }


LIST = "/repos/acme/shop/issues/7/comments?per_page=100"


def test_posts_once_then_updates_the_same_comment(
    repo: Path, github: FakeGitHub, tmp_path: Path
) -> None:
    # The workflow's GITHUB_TOKEN: no /user (403), its comments are github-actions[bot]'s.
    env = env_for(github, INSTALLATION_TOKEN, tmp_path)
    first = run_script(repo, env=env)
    assert first.returncode == 0, first.stderr
    assert "created comment 1002" in first.stdout
    assert github.paths() == [
        ("GET", "/user"),
        ("GET", LIST),
        ("POST", "/repos/acme/shop/issues/7/comments"),
    ]
    assert all(auth == f"Bearer {INSTALLATION_TOKEN}" for _, _, auth in github.requests)
    github.requests.clear()
    second = run_script(repo, env=env)
    assert second.returncode == 0, second.stderr
    assert "updated comment 1002" in second.stdout
    assert github.paths() == [
        ("GET", "/user"),
        ("GET", LIST),
        ("PATCH", "/repos/acme/shop/issues/comments/1002"),
    ]
    assert sorted(github.comments) == [1001, 1002]  # one sticky comment, the other untouched
    assert github.comments[1001]["body"] == "LGTM, unrelated comment"
    assert github.comments[1002]["user"] == {"login": "github-actions[bot]", "type": "Bot"}
    assert github.comments[1002]["body"].startswith(MARKER)
    assert "### svai diff: `scorer`" in github.comments[1002]["body"]


def test_a_marker_comment_by_someone_else_is_never_edited(
    repo: Path, github: FakeGitHub, tmp_path: Path
) -> None:
    # Mallory writes the marker first. The old updater PATCHed the first marker comment and
    # failed with 403, so the real comment was never updated; now hers is left alone.
    forged = f"{MARKER}\n### svai diff: `scorer`\nno changes"
    mallory = github.add(7, "mallory", forged)
    env = env_for(github, INSTALLATION_TOKEN, tmp_path)
    for expected in ("created", "updated"):
        done = run_script(repo, env=env)
        assert done.returncode == 0, done.stderr
        assert f"{expected} comment 1003 on acme/shop#7" in done.stdout
        assert (
            f"ignoring comment {mallory} by mallory: it carries the svai marker but this token "
            "writes as github-actions[bot]"
        ) in done.stderr
    assert ("PATCH", f"/repos/acme/shop/issues/comments/{mallory}") not in github.paths()
    assert github.comments[mallory]["body"] == forged
    assert "2,048 MB" in github.comments[1003]["body"]  # the real diff, in our own comment


def test_a_user_token_edits_only_its_own_comment_across_pages(
    repo: Path, github: FakeGitHub, tmp_path: Path
) -> None:
    # A personal token: GET /user names alice. 150 comments, mallory's marker comment on the
    # first page and alice's on the second (reached through the Link header).
    mallory = github.add(7, "mallory", f"{MARKER}\nforged")
    for n in range(120):
        github.add(7, "bob", f"comment {n}")
    alice = github.add(7, "alice", f"{MARKER}\nold plan")
    github.add(7, "github-actions[bot]", f"{MARKER}\nanother workflow's", kind="Bot")
    done = run_script(repo, env=env_for(github, "ghp_alice", tmp_path))
    assert done.returncode == 0, done.stderr
    assert f"updated comment {alice}" in done.stdout
    assert github.paths() == [
        ("GET", "/user"),
        ("GET", LIST),
        ("GET", f"{LIST}&page=2"),
        ("PATCH", f"/repos/acme/shop/issues/comments/{alice}"),
    ]
    assert github.comments[alice]["body"].startswith(MARKER + "\n### svai diff")
    assert github.comments[mallory]["body"] == f"{MARKER}\nforged"


def test_a_bad_token_is_a_clear_api_error(repo: Path, github: FakeGitHub, tmp_path: Path) -> None:
    done = run_script(repo, env=env_for(github, "ghp_revoked", tmp_path))
    assert done.returncode == 2
    assert "GitHub API call failed: GET /user: HTTP 401 Bad credentials" in done.stderr
    assert github.paths() == [("GET", "/user")]


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


def test_a_next_page_on_another_host_is_not_followed(
    repo: Path, github: FakeGitHub, tmp_path: Path
) -> None:
    # The token goes only to the API it was given for, whatever a Link header says.
    env = env_for(github, "ghp_alice", tmp_path)
    for n in range(101):
        github.add(7, "bob", f"comment {n}")
    github.url = "http://127.0.0.2:9"  # where the fake's Link header now points
    done = run_script(repo, env=env)
    assert done.returncode == 2
    assert (
        "GitHub API call failed: refusing to follow a next page outside "
        f"{env['GITHUB_API_URL']}: http://127.0.0.2:9/repos/acme/shop/issues/7/comments"
    ) in done.stderr
    assert [m for m, _ in github.paths()] == ["GET", "GET"]
