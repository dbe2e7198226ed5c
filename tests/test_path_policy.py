"""One path policy for every command: nothing outside the project is hashed, measured or packaged.

Before, `plan` and `check` followed a symbolic link out of the project to hash the file into the
model version (and to measure the artifact); only `build` refused. Now the loader refuses any
named file that leaves the project at its line in svai.yaml (`path-escapes`), for every command,
and the readers of project files (`model_version`, `safe_source`) apply the same function again.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from svai.compiler.version import model_version
from svai.errors import SpecError, UsageError
from svai.spec import load_spec, load_spec_text, resolve
from svai.spec.paths import escape, project_file
from tests.review.helpers import BASE_SPEC, run_main, write_project

HINT = "  hint: keep the file inside the folder of svai.yaml (copy it in, not a link out)\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A valid project in ``proj/`` with a secret beside it, outside the project."""
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "pre.py").write_text("TOKEN = 'do not hash me'\n")
    return write_project(tmp_path / "proj", BASE_SPEC).parent


@pytest.mark.parametrize("command", ["validate", "plan", "check", "build", "recommend"])
def test_a_hook_linked_out_of_the_project_is_refused_with_its_line(
    project: Path, command: str
) -> None:
    hook = project / "src" / "pre.py"
    hook.unlink()
    hook.symlink_to(project.parent / "secret" / "pre.py")
    code, _, err = run_main(command, str(project / "svai.yaml"))
    assert code == 2
    assert (
        f"{project}/svai.yaml:10:15: error[path-escapes] model.preprocess: `src/pre.py` is a "
        f"symbolic link to `{project.parent}/secret/pre.py`, outside the project folder\n" in err
    )
    assert HINT in err and "Traceback" not in err


def test_a_folder_linked_out_and_a_model_linked_out_are_refused(project: Path) -> None:
    os.rename(project / "src", project.parent / "src")
    (project / "src").symlink_to("../src")
    model = project / "model" / "model.onnx"
    os.rename(model, project.parent / "model.onnx")
    model.symlink_to(project.parent / "model.onnx")
    with pytest.raises(SpecError) as caught:
        load_spec(project / "svai.yaml")
    assert [(d.line, d.col, d.path, d.message) for d in caught.value.diagnostics] == [
        (
            4,
            13,
            "model.artifact",
            f"`model/model.onnx` is a symbolic link to `{project.parent}/model.onnx`, outside "
            "the project folder",
        ),
        (
            10,
            15,
            "model.preprocess",
            "`src/pre.py` goes through `src`, a symbolic link to `../src`, outside the project "
            "folder",
        ),
    ]


def test_links_inside_the_project_are_fine(project: Path) -> None:
    (project / "lib").mkdir()
    os.rename(project / "src" / "pre.py", project / "lib" / "pre.py")
    (project / "src" / "pre.py").symlink_to("../lib/pre.py")
    code, _, err = run_main("plan", str(project / "svai.yaml"))
    assert code == 0, err


def test_the_readers_apply_the_same_policy(project: Path) -> None:
    # A spec read from text has no folder to judge, and a link can appear after loading: the
    # version hash and the packager check again with the same function.
    spec = resolve(load_spec_text(BASE_SPEC))
    before = model_version(spec, project)
    hook = project / "src" / "pre.py"
    hook.unlink()
    hook.symlink_to(project.parent / "secret" / "pre.py")
    with pytest.raises(UsageError, match=r"^model.preprocess: `src/pre.py` is a symbolic link"):
        model_version(spec, project)
    hook.unlink()
    hook.write_text("def prepare(payload):\n    return payload\n")
    assert model_version(spec, project) == before


def test_escape_names_what_is_wrong(project: Path) -> None:
    (project / "loop").symlink_to("loop")
    assert escape(project, "src/pre.py") is None
    assert escape(project, "not/built/yet.onnx") is None  # absent files are not its business
    assert escape(project, "../secret/pre.py") == (
        "`../secret/pre.py` must be a relative path inside the project folder"
    )
    assert escape(project, "/etc/hostname") is not None
    assert escape(project, ".") == "`.` does not name a file"
    assert escape(project, "loop/x") == "`loop/x` goes through a symbolic link that loops"
    with pytest.raises(UsageError, match=r"^hook: src is not a file \(looked in "):
        project_file(project, "src", "hook")
    with pytest.raises(UsageError, match=r"^hook: nope.py does not exist \(looked in "):
        project_file(project, "nope.py", "hook")
