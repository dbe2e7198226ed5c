"""`svai diff`: the four review cases with exact expected output, and the three kinds of input.

Cases (golden text and Markdown under ``golden/``; refresh with ``SVAI_UPDATE_GOLDEN=1``):
a memory bump, a traffic change that flips the runtime kind, an added target, and a model version
change made by editing a hook file between two commits of a throwaway git repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from svai.cli.main import cli
from svai.compiler.diff import EMPTY_PLAN, diff_plans
from tests.review.helpers import BASE_SPEC, PRE_PY, check_golden, git, write_project

GCP_SPEC = BASE_SPEC.replace("baseline_rps: 5", "baseline_rps: 0.5").replace(
    "- {cloud: aws, region: us-east-1}", "- {cloud: gcp, region: us-central1, project: acme-test}"
)
"""Half a request per second on Cloud Run: a function (pay per request) wins."""

CASES = {
    "memory-bump": (
        BASE_SPEC,
        BASE_SPEC.replace(
            "- {cloud: aws, region: us-east-1}",
            "- {cloud: aws, region: us-east-1, overrides: {memory: 2GiB}}",
        ),
    ),
    # A hundred times the traffic: an always-busy container beats per-request function pricing
    # (at ten times, the image registry the container needs still makes them cost the same).
    "traffic-flip": (GCP_SPEC, GCP_SPEC.replace("baseline_rps: 0.5", "baseline_rps: 50")),
    "added-target": (BASE_SPEC, BASE_SPEC + "  - {cloud: aws, region: eu-west-1}\n"),
}
HEAD_SPECS = {name: head for name, (_, head) in CASES.items()}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def base_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("base"), BASE_SPEC)


@pytest.mark.parametrize("case", sorted(CASES))
def test_diff_cases_match_golden(case: str, tmp_path: Path) -> None:
    base_spec = write_project(tmp_path / "base", CASES[case][0])
    head = write_project(tmp_path / "head", CASES[case][1])
    code, text = run("diff", str(base_spec), str(head))
    assert code == 1
    check_golden(f"diff-{case}.txt", text)
    code, markdown = run("diff", str(base_spec), str(head), "--format", "markdown")
    assert code == 1
    check_golden(f"diff-{case}.md", markdown)


def test_memory_bump_says_what_changed(base_spec: Path, tmp_path: Path) -> None:
    head = write_project(tmp_path, HEAD_SPECS["memory-bump"])
    _, out = run("diff", str(base_spec), str(head), "--format", "json")
    data = json.loads(out)
    (target,) = data["targets"]
    fields = {f["field"]: (f["before"], f["after"]) for f in target["fields"]}
    assert fields["memory"][1] == "2,048 MB"
    assert "runtime" not in fields  # same offering, bigger
    assert not data["model_version"]["changed"]  # sizing is not part of the model version
    changed = [r for r in target["resources"] if r["change"] == "changed"]
    assert any("memorySize" in k for r in changed for k in r["keys"])
    cost = data["cost_usd_month"]
    assert cost["delta"] == pytest.approx(cost["after"] - cost["before"], abs=1e-5)
    assert cost["delta_pct"] == pytest.approx(cost["delta"] / cost["before"] * 100, abs=1e-3)


def test_traffic_flip_changes_the_runtime_kind(tmp_path: Path) -> None:
    base = write_project(tmp_path / "base", CASES["traffic-flip"][0])
    head = write_project(tmp_path / "head", CASES["traffic-flip"][1])
    _, out = run("diff", str(base), str(head), "--format", "json")
    (target,) = json.loads(out)["targets"]
    before, after = next(
        (f["before"], f["after"]) for f in target["fields"] if f["field"] == "runtime"
    )
    assert "(faas, sync)" in before and "(container, sync)" in after
    kinds = {r["change"] for r in target["resources"]}
    assert {"added", "removed"} <= kinds  # the endpoint's resources go, the container's come


def test_added_target(base_spec: Path, tmp_path: Path) -> None:
    head = write_project(tmp_path, HEAD_SPECS["added-target"])
    _, out = run("diff", str(base_spec), str(head), "--format", "json")
    data = json.loads(out)
    assert [(t["target"], t["status"]) for t in data["targets"]] == [
        ("aws us-east-1", "unchanged"),
        ("aws eu-west-1", "added"),
    ]
    added = data["targets"][1]
    assert added["resources"] and all(r["change"] == "added" for r in added["resources"])
    assert data["cost_usd_month"]["delta"] == pytest.approx(added["cost_usd_month"]["after"])


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway git repository: commit 1, then commit 2 edits the preprocess hook."""
    root = tmp_path_factory.mktemp("repo")
    git(root, "init", "-q", "-b", "main")
    write_project(root / "svc", BASE_SPEC)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    (root / "svc" / "src" / "pre.py").write_text(PRE_PY + "# strip whitespace\n")
    git(root, "commit", "-q", "-am", "edit the hook")
    # An uncommitted edit in the work tree must not leak into either revision.
    (root / "svc" / "src" / "pre.py").write_text("def prepare(p):\n    return None\n")
    return root


def test_git_revisions_model_version_change(repo: Path) -> None:
    spec = str(repo / "svc" / "svai.yaml")
    code, text = run("diff", "HEAD~1", "HEAD", "-f", spec)
    assert code == 1
    check_golden("diff-model-version.txt", text)
    code, markdown = run("diff", "HEAD~1", "HEAD", "-f", spec, "--format", "markdown")
    check_golden("diff-model-version.md", markdown)
    assert "**Model version:** `v-" in markdown
    # The same revision on both sides: nothing changed, exit 0.
    code, same = run("diff", "HEAD", "main", "-f", spec)
    assert code == 0
    assert same.startswith("scorer: no changes")


def test_git_revision_without_the_spec_is_an_empty_plan(tmp_path: Path) -> None:
    # The pull request that adds svai.yaml: the base has no spec, every target is added.
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "README.md").write_text("hello\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    spec = write_project(tmp_path, BASE_SPEC)
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "add svai")
    code, out = run("diff", "HEAD~1", "HEAD", "-f", str(spec), "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert [t["status"] for t in data["targets"]] == ["added"]
    assert data["model_version"]["before"] == ""


def test_unknown_revision_is_a_usage_error(repo: Path) -> None:
    result = CliRunner().invoke(
        cli, ["diff", "nope", "HEAD", "-f", str(repo / "svc" / "svai.yaml")]
    )
    assert result.exit_code != 0
    assert "neither a file nor a git revision" in str(result.exception)


def test_plan_json_files_diff_like_specs(base_spec: Path, tmp_path: Path) -> None:
    head = write_project(tmp_path / "head", HEAD_SPECS["memory-bump"])
    files = []
    for name, spec in (("base", base_spec), ("head", head)):
        code, out = run("plan", str(spec), "--format", "json")
        assert code == 0
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(out)
    assert run("diff", *map(str, files)) == run("diff", str(base_spec), str(head))
    assert run("diff", str(files[0]), str(files[0]))[0] == 0


def test_empty_base_adds_every_target() -> None:
    after = {"name": "x", "model_version": "v-1", "targets": []}
    diff = diff_plans(EMPTY_PLAN, after)
    assert diff.changed  # the model version appeared
    assert not diff_plans(after, after).changed


def test_readiness_findings_appear_and_resolve(base_spec: Path, tmp_path: Path) -> None:
    open_api = write_project(
        tmp_path, BASE_SPEC.replace("version: 1\n", "version: 1\napi: {auth: none}\n")
    )
    _, out = run("diff", str(base_spec), str(open_api), "--format", "json")
    readiness = json.loads(out)["readiness"]
    assert [(f["rule"], f["severity"]) for f in readiness["new"]] == [("SVAI_READY_012", "high")]
    assert readiness["resolved"] == []
    _, back = run("diff", str(open_api), str(base_spec), "--format", "markdown")
    assert "- resolved: **high** `SVAI_READY_012`: the API accepts unauthenticated" in back


def test_a_json_file_that_is_not_a_plan_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"hello": 1}')
    result = CliRunner().invoke(cli, ["diff", str(bogus), str(bogus)])
    assert result.exit_code != 0
    assert "not the JSON of `svai plan --format json`" in str(result.exception)


def test_help_lists_the_review_commands() -> None:
    out = CliRunner().invoke(cli, ["--help"]).output
    assert "diff" in out and "check" in out
