"""``svai promote`` / ``svai rollback`` on Container Apps: the same traffic move and retirement.

The person's commands route a container app through :mod:`svai.controller.revisions`, as the
gate job does; here the Pulumi ``up`` and the build are replaced by recorders (the cloud is out
of reach), the stack outputs carry the app's routes as the Azure backend exports them, and the
traffic goes through the loopback Azure Resource Manager fake (:mod:`traffic_fakes`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from signal_fakes import TOKEN
from traffic_fakes import ContainerApps, serving

from svai.backends import gate as backend_gate
from svai.backends.automation import Result
from svai.backends.azure.revisions import revision_name
from svai.controller import revisions
from svai.signals.azure import MANAGEMENT_ENDPOINT_VAR
from tests.release.projects import swap_model, write_project
from tests.release.test_release_cli import good_evidence, svai

APP = (
    "/subscriptions/sub-1/resourceGroups/rg-svai-scorer/providers/Microsoft.App/containerApps/"
    "ca-scorer-api"
)


@pytest.fixture
def arm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ContainerApps]:
    """The ARM fake, a `pulumi` on PATH, and `up` / the build replaced by recorders."""
    fake = ContainerApps()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "pulumi").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(revisions, "POLL_S", 0.0)
    monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", TOKEN)

    def fake_up(plans, *, stack, backend_url, work_dir, backends):  # type: ignore[no-untyped-def]
        # As the Azure backend exports them: the revisions of this plan's versions only.
        versions = backend_gate.release_versions(plans[0])
        names = {v: revision_name("ca-scorer-api", v) for v in versions}
        routes = [backend_gate.route("azure", APP, names)]
        outputs = {"azure_eastus_release_routes": routes}
        return Result("up", f"svai-scorer/{stack}", outputs, {}, None)

    def fake_build(path: object, **options: object) -> SimpleNamespace:
        built = tmp_path / "built"
        return SimpleNamespace(targets=[SimpleNamespace(target="azure-eastus", directory=built)])

    monkeypatch.setattr("svai.backends.automation.up", fake_up)
    monkeypatch.setattr("svai.api.build", fake_build)
    with serving(fake) as endpoint:
        monkeypatch.setenv(MANAGEMENT_ENDPOINT_VAR, endpoint)
        yield fake


def test_promote_to_the_end_and_rollback_retire_the_revision_left_at_zero(
    tmp_path: Path,
    arm: ContainerApps,
) -> None:
    spec = write_project(tmp_path / "project", targets="azure-containerapps")
    assert svai("promote", str(spec), "--state-only").code == 0
    a = json.loads(svai("versions", str(spec), "--format", "json").out)["spec_version"]
    swap_model(spec, b"B")
    b = json.loads(svai("versions", str(spec), "--format", "json").out)["spec_version"]
    ev = good_evidence(spec.parent, b)
    assert svai("promote", str(spec), "--state-only", "--evidence", ev).code == 0  # B at 10%
    ra, rb = revision_name("ca-scorer-api", a), revision_name("ca-scorer-api", b)
    arm.add(APP, [ra, rb], [(ra, 90), (rb, 10)])
    result = svai("promote", str(spec), "--all", "--evidence", ev, "--format", "json")
    assert result.code == 0, result.err
    done: dict[str, Any] = json.loads(result.out)
    assert arm.split(APP) == [(rb, 100)]
    assert arm.actions == [(APP, ra, "deactivate")]
    assert done["retired"] == [f"{APP}: {ra} deactivated (0% after the release ended)"]
    # Rolling back after the end: A's revision is activated before it takes the traffic again.
    result = svai("rollback", str(spec))
    assert result.code == 0, result.err
    assert arm.split(APP) == [(ra, 100), (rb, 0)]
    assert arm.actions[1:] == [(APP, ra, "activate"), (APP, rb, "deactivate")]
    assert f"revision: {APP}: {rb} deactivated" in result.out
