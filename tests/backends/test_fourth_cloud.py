"""A fourth cloud is a folder, a name in the list and its catalog lines.

The test copies the ``svai`` package, adds the skeleton in ``fourth_cloud/knative`` as
``svai/backends/knative/``, puts ``knative`` into :mod:`svai.spec.clouds` and its log sizes into
the catalog, and then, in a fresh process on the copy, validates a spec targeting it, plans a
deployment under Pulumi mocks, checks the recording with the cloud's rules and asks for its
credentials. The only existing files the copy differs in are the list and the catalog.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKELETON = Path(__file__).with_name("fourth_cloud") / "knative"

_PROGRAM = """
import dataclasses, json, sys
from pathlib import Path

from svai.backends import automation, registry
from svai.backends.preview import record
from svai.backends.rules import evaluate
from svai.compiler.catalog import load_catalog
from svai.errors import ToolMissingError
from svai.spec.clouds import CLOUDS
from svai.spec.model import Target
from svai.spec import load_spec_text, resolve
from svai.spec.schema import json_schema
from tests.backends.plans import sync_plan

home = Path(sys.argv[1])
spec = resolve(load_spec_text(
    "version: 1\\n"
    "name: sentiment\\n"
    "model: {artifact: model.onnx, framework: onnx}\\n"
    "traffic: {pattern: steady, baseline_rps: 5}\\n"
    "security: {secrets: {API_KEY: {aws: prod/api-key}}}\\n"
    "targets: [{cloud: knative, region: kind-svai}]\\n",
    "svai.yaml",
))
plan = dataclasses.replace(sync_plan("aws"), cloud="knative", region="kind-svai", account=None)
backend = registry.get_backend("knative")
resources = record(lambda: backend.program(plan))
broken = dataclasses.replace(plan, model_version="mv-000000000000")
try:
    automation.check_credentials("knative", {}, home=home)
    missing = None
except ToolMissingError as exc:
    missing = str(exc)
automation.check_credentials("knative", {"KUBECONFIG": "/k"}, home=home)
print(json.dumps({
    "clouds": list(CLOUDS),
    "target": Target(cloud="knative", region="kind-svai").cloud,
    "spec": [[t.cloud, t.region, t.account] for t in spec.targets],
    "secret": [spec.security.secrets[0].ref("aws"), spec.security.secrets[0].ref("knative")],
    "schema": json.dumps(json_schema()).count('"knative"'),
    "resources": [[r.type, r.name] for r in resources],
    "findings": [[f.rule, f.cloud] for f in evaluate(backend.rules(), resources, plan)],
    "broken": [[f.rule, f.cloud] for f in evaluate(backend.rules(), resources, broken)],
    "missing": missing,
    "offerings": sorted(registry.OFFERINGS["knative"]),
    "region_key": registry.cloud("knative").region_key,
    "log_bytes": list(load_catalog().usage.log_bytes["knative"]),
    "front": load_catalog().builds.cloud("knative").front,
}))
"""


def _add_fourth_cloud(copy: Path) -> None:
    shutil.copytree(SKELETON, copy / "backends" / "knative")
    clouds = copy / "spec" / "clouds.py"
    text = clouds.read_text()
    listed = 'Cloud = Literal["aws", "gcp", "azure"]'
    assert listed in text
    text = text.replace(listed, 'Cloud = Literal["aws", "gcp", "azure", "knative"]')
    rows_end = '    }\n)\n"""Cloud name -> what'
    assert rows_end in text
    row = '        "knative": CloudFields(named="a Knative"),\n'
    clouds.write_text(text.replace(rows_end, row + rows_end, 1))
    catalog = copy / "compiler" / "data" / "catalog.yaml"
    text = catalog.read_text()
    anchor = "  log_bytes:\n"
    assert anchor in text
    line = "    knative: {request: 600, function: 0, access: 0}\n"
    text = text.replace(anchor, anchor + line, 1)
    offerings = "  offerings:\n    # package:"
    assert offerings in text
    built = (
        "    knative:\n"
        "      edge_rate_limit: {auth: [], except: []}\n"
        "      front: knative.service\n"
        "      front_concurrency: 80\n"
        "      endpoint_proxy: null\n"
        "      handlers: {model: main.predict, front: main.jobs}\n"
    )
    catalog.write_text(text.replace(offerings, built + offerings, 1))


def _changed(original: Path, copy: Path) -> list[str]:
    """Files of ``original`` that differ in ``copy``, relative to the package's parent."""
    changed: list[str] = []
    for path in sorted(original.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        twin = copy / path.relative_to(original)
        if not filecmp.cmp(path, twin, shallow=False):
            changed.append(path.relative_to(original.parent).as_posix())
    return changed


def test_a_skeleton_fourth_cloud_is_planned_under_mocks(tmp_path: Path) -> None:
    copy = tmp_path / "svai"
    shutil.copytree(ROOT / "svai", copy, ignore=shutil.ignore_patterns("__pycache__"))
    _add_fourth_cloud(copy)

    assert _changed(ROOT / "svai", copy) == [
        "svai/compiler/data/catalog.yaml",
        "svai/spec/clouds.py",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "-c", _PROGRAM, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["clouds"] == ["aws", "gcp", "azure", "knative"]
    assert seen["target"] == "knative"
    # A whole svai.yaml naming it validates (schema, region, account fields) and resolves.
    assert seen["spec"] == [["knative", "kind-svai", None]]
    assert seen["secret"] == ["prod/api-key", None]
    assert seen["schema"] >= 1  # the generated JSON Schema lists the cloud too
    assert seen["resources"] == [["kubernetes:serving.knative.dev/v1:Service", "sentiment-api"]]
    assert seen["findings"] == []
    assert seen["broken"] == [["SVAI_KN_001", "knative"]]
    assert seen["missing"] == "no Kubernetes credentials: set KUBECONFIG or write ~/.kube/config"
    assert seen["offerings"] == ["knative.service"]
    assert seen["region_key"] == "kubernetes:context"
    assert seen["log_bytes"] == [600, 0, 0]
    assert seen["front"] == "knative.service"


def test_the_installed_package_knows_three_clouds() -> None:
    # The copy above is where the fourth cloud lives; the product itself is unchanged.
    from svai.spec.clouds import CLOUDS

    assert CLOUDS == ("aws", "gcp", "azure")
    assert not (ROOT / "svai" / "backends" / "knative").exists()
