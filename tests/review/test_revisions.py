"""`svai diff` of git revisions, tried as an attacker would, on throwaway repositories (real git).

- The forged diff: a pull request that drops JWT auth and raises the budget 100x also adds a
  symbolic link named like the base revision (``origin/main -> ../svai.yaml``). The old reader
  took the link for the base spec and reported "no changes"; now the name is refused as
  ambiguous, and ``--`` (what the Action passes) reads both revisions from git objects.
- No ``-f``: the spec that changed is found, or the command refuses with a hint; never "no
  changes" for specs that exist at neither revision.
- A revision's spec that is a link, a hook linked out of the project, ``.gitattributes`` that
  would hide files from ``git archive``: each is refused with its location or has no effect.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.review.helpers import BASE_SPEC, PRE_PY, REPO, SVAI, git, run_main, write_project

GUARDED = BASE_SPEC.replace(
    "latency:",
    'api:\n  auth: jwt\n  jwt: {issuer: "https://auth.example.com", audience: scorer}\n'
    "observability: {budget_usd_month: 50, alert_email: ops@example.com}\nlatency:",
)
"""The base: JWT auth and a $50 budget."""
OPENED = GUARDED.replace(
    '  auth: jwt\n  jwt: {issuer: "https://auth.example.com", audience: scorer}\n', "  auth: none\n"
).replace("budget_usd_month: 50,", "budget_usd_month: 5000,")
"""The pull request: no auth, a budget 100 times larger."""


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("forged")
    git(root, "init", "-q", "-b", "main")
    write_project(root, GUARDED)
    commit(root, "base")
    git(root, "update-ref", "refs/remotes/origin/main", "HEAD")
    (root / "svai.yaml").write_text(OPENED)
    (root / "origin").mkdir()
    (root / "origin" / "main").symlink_to("../svai.yaml")  # a "file" named like the base
    commit(root, "tidy up")
    return root


def test_a_file_named_like_the_base_revision_is_refused(
    forged: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(forged)
    code, out, err = run_main("diff", "origin/main", "HEAD")
    assert code == 2 and out == ""
    assert err == (
        "'origin/main' is ambiguous: both a git revision and a file in the work tree (a symbolic "
        "link to ../svai.yaml). To compare the revisions as committed, put `--` after them: "
        "`svai diff origin/main HEAD -- [SPEC]`; to compare the file, write ./origin/main\n"
    )
    # `-f` alone does not settle it either: the side is still both.
    assert run_main("diff", "origin/main", "HEAD", "-f", "svai.yaml")[0] == 2


def test_dashes_read_both_revisions_from_git(forged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(forged)
    code, out, _ = run_main("diff", "origin/main", "HEAD", "--", "svai.yaml")
    assert code == 1
    assert "- aws:apigatewayv2/authorizer:Authorizer  scorer-http-jwt" in out
    assert "~ aws:budgets/budget:Budget  scorer-budget: limitAmount" in out
    assert "new: high SVAI_READY_012: the API accepts unauthenticated requests" in out
    # Without a spec after `--`, the one that changed is found: the same comparison.
    code, found, err = run_main("diff", "origin/main", "HEAD", "--")
    assert (code, found) == (1, out)
    assert err == "svai diff: comparing svai.yaml (name another with -f)\n"
    # The file itself, asked for as a file, is what it is: HEAD's spec through a link.
    code, out, _ = run_main("diff", "./origin/main", "svai.yaml")
    assert code == 0 and out.startswith("scorer: no changes")


def test_the_action_shows_the_real_change(forged: Path, tmp_path: Path) -> None:
    body = tmp_path / "body.md"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "svai-pr-comment.py"),
            *("--spec", "svai.yaml", "--base", "origin/main", "--svai", str(SVAI)),
            *("--dry-run", "--output", str(body)),
        ],
        cwd=forged,
        env={"PATH": "/usr/bin:/bin", "HOME": str(forged), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    text = body.read_text()
    assert "no changes" not in text
    assert "`scorer-http-jwt`" in text and "SVAI_READY_012" in text


def test_without_a_spec_the_changed_one_is_found_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "README.md").write_text("hello\n")
    commit(tmp_path, "no spec")
    (tmp_path / "README.md").write_text("hello again\n")
    commit(tmp_path, "still no spec")
    # The old command compared two missing specs and said "no changes", exit 0.
    code, out, err = run_main("diff", "HEAD~1", "HEAD")
    assert (code, out) == (2, "")
    assert err == (
        f"no svai.yaml at HEAD~1 nor at HEAD in {tmp_path.resolve()}; name the spec: "
        "svai diff HEAD~1 HEAD -f PATH\n"
    )
    code, _, err = run_main("diff", "HEAD~1", "HEAD", "-f", "svai.yaml")
    assert code == 2
    assert err == "svai.yaml exists at neither HEAD~1 nor HEAD: nothing to compare\n"

    write_project(tmp_path / "svc", BASE_SPEC)
    commit(tmp_path, "add the service")
    code, out, err = run_main("diff", "HEAD~1", "HEAD", "--format", "json")
    assert code == 1 and err == "svai diff: comparing svc/svai.yaml (name another with -f)\n"
    assert '"status": "added"' in out

    (tmp_path / "README.md").write_text("unrelated\n")
    commit(tmp_path, "docs only")
    code, out, _ = run_main("diff", "HEAD~1", "HEAD")  # the only spec, really compared
    assert code == 0 and out.startswith("scorer: no changes (model version v-")

    write_project(tmp_path / "other", BASE_SPEC.replace("name: scorer", "name: other"))
    (tmp_path / "svc" / "src" / "pre.py").write_text(PRE_PY + "# edited\n")
    commit(tmp_path, "two projects at once")
    code, _, err = run_main("diff", "HEAD~1", "HEAD")
    assert code == 2
    assert err == (
        "2 specs changed between HEAD~1 and HEAD (other/svai.yaml, svc/svai.yaml); compare one "
        "at a time: svai diff HEAD~1 HEAD -f other/svai.yaml\n"
    )
    code, out, _ = run_main("diff", "HEAD~1", "HEAD", "--", "svc/svai.yaml")
    assert code == 1 and "model version v-" in out


def test_what_a_revision_holds_is_judged_as_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    git(tmp_path, "init", "-q", "-b", "main")
    write_project(tmp_path / "svc", BASE_SPEC)
    commit(tmp_path, "base")
    # Attributes that `git archive` obeys would drop the hook from an archive; objects are read.
    (tmp_path / ".gitattributes").write_text("* export-ignore\n")
    commit(tmp_path, "export-ignore everything")
    code, out, _ = run_main("diff", "HEAD~1", "HEAD", "--", "svc/svai.yaml")
    assert code == 0 and out.startswith("scorer: no changes (model version v-")

    (tmp_path / "svc" / "src" / "pre.py").unlink()
    (tmp_path / "svc" / "src" / "pre.py").symlink_to("/etc/hostname")
    commit(tmp_path, "a hook linked out of the project")
    code, out, err = run_main("diff", "HEAD~1", "HEAD", "--", "svc/svai.yaml")
    assert (code, out) == (2, "")
    assert err.startswith(
        "HEAD:svc/svai.yaml:10:15: error[path-escapes] model.preprocess: `src/pre.py` is a "
        "symbolic link to `/etc/hostname`, outside the project folder\n"
    )

    os.replace(tmp_path / "svc" / "svai.yaml", tmp_path / "svc" / "real.yaml")
    (tmp_path / "svc" / "svai.yaml").symlink_to("real.yaml")
    commit(tmp_path, "the spec becomes a link")
    code, _, err = run_main("diff", "HEAD~2", "HEAD", "--", "svc/svai.yaml")
    assert code == 2
    assert err == (
        "HEAD:svc/svai.yaml is a symbolic link (to `real.yaml`); a spec is compared as "
        "committed, so commit svai.yaml itself, not a link to it\n"
    )


def test_unknown_revisions_after_dashes_are_refused(
    forged: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(forged)
    code, _, err = run_main("diff", "nope", "HEAD", "--")
    assert code == 2
    assert err == f"'nope' is not a git revision of the git repository at {forged.resolve()}\n"
    code, _, err = run_main("diff", "HEAD", "--", "HEAD")
    assert code == 2 and "put `--` after both revisions" in err
