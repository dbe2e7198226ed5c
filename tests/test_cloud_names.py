"""Apart from the list, the per-cloud modules and the catalog, no module of svai names a cloud.

What a cloud is lives in one place each: its name and spec fields in ``svai/spec/clouds.py``,
its backend in ``svai/backends/<cloud>/``, its runtime clients in ``svai/runtime/cloud/<cloud>.py``,
its readers in modules named after it (``svai/signals/<cloud>.py``), its offerings and build
facts in the catalog (YAML, not scanned here) and its templates in ``svai/build/templates/``.
Everywhere else, a cloud name in code (a key, a branch, a type token, an import, a name) is a
fact that escaped; a fourth cloud would have to find and edit it.

The scan reads the code, not the prose: string constants with whitespace (messages, help
texts) and docstrings are skipped, while keys, tokens, module paths, environment variable names
and identifiers are read word by word (``AwsSecrets``, ``aws_endpoints``, ``aws.lambda.zip``).
What is left is :data:`ALLOWED`, each entry with the reason it stays; an entry that no longer
names a cloud fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from svai.spec.clouds import CLOUDS

ROOT = Path(__file__).resolve().parents[1]

_FOURTH_CLOUD = "one of the files a fourth cloud touches (docs/architecture.md, 'A fourth cloud')"
_SCHEME = "`azure` is a model-store scheme (Blob URLs), not the target cloud"
_ENTRY = "one platform's entry point or event shape; its cloud's clients are imported lazily"

ALLOWED: dict[str, str] = {
    # The files a fourth cloud touches beside its folders and the catalog.
    "svai/compiler/bill.py": _FOURTH_CLOUD + ": the bill's line items per cloud",
    "svai/build/target.py": _FOURTH_CLOUD + ": a function zip's entry file and dependencies",
    "svai/runtime/entry/stores.py": _FOURTH_CLOUD + ": the runtime cannot read the catalog",
    # Model sources: a storage service holds the model whatever cloud it is deployed to.
    "svai/spec/source.py": _SCHEME,
    "svai/build/sources/__init__.py": _SCHEME,
    # The shipped runtime's shared clients (svai.runtime.cloud), below the per-cloud modules.
    "svai/runtime/cloud/objects.py": "one object-store client for s3, gs and Blob (start-time "
    "fetch and claim checks), each store's own credentials",
    "svai/runtime/cloud/secrets.py": "Secrets Manager is the secret store of Lambda and the "
    "AWS images; GCP and Azure inject secrets as environment variables at deploy",
    "svai/runtime/cloud/sigv4.py": "AWS Signature Version 4, shared by the runtime's AWS clients",
    "svai/runtime/core/telemetry.py": "`_aws` is the key of CloudWatch's Embedded Metric Format, "
    "the log-line format every cloud's metrics are parsed from",
    "svai/runtime/server/main.py": "the container server reads Secrets Manager references on AWS",
    "svai/runtime/entry/emulator.py": "the local emulator of Lambda's invoke and SQS events",
    "svai/runtime/entry/jobs.py": _ENTRY,
    "svai/runtime/entry/lambda_app.py": _ENTRY,
    "svai/runtime/entry/lambda_events.py": _ENTRY,
    "svai/runtime/entry/pubsub.py": _ENTRY,
    "svai/runtime/entry/sagemaker_proxy.py": _ENTRY,
    "svai/runtime/entry/servicebus.py": _ENTRY,
    "svai/runtime/entry/worker.py": _ENTRY,
    "svai/runtime/entry/lambda_stream.py": _ENTRY,
}
"""Module -> why it still names a cloud."""


def _words(text: str) -> set[str]:
    """The words of a name or token, split at case changes and punctuation, lowercased."""
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", text)}


def _names_a_cloud(text: str) -> bool:
    return bool(_words(text) & set(CLOUDS))


def _per_cloud(relative: str) -> bool:
    """The list itself, a cloud's backend folder, or a module named after its cloud."""
    parts = relative.split("/")
    stem = parts[-1].removesuffix(".py")
    in_folder = parts[:2] == ["svai", "backends"] and len(parts) > 3 and parts[2] in CLOUDS
    return relative == "svai/spec/clouds.py" or in_folder or stem.split("_")[0] in CLOUDS


def _docstrings(tree: ast.AST) -> set[int]:
    """Ids of the docstring constants: a body's first string, or a string after an assignment."""
    found: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for index, statement in enumerate(body):
            is_string = isinstance(statement, ast.Expr) and isinstance(
                statement.value, ast.Constant
            )
            if is_string and isinstance(statement.value.value, str):
                after_assignment = index and isinstance(body[index - 1], ast.Assign | ast.AnnAssign)
                if index == 0 or after_assignment:
                    found.add(id(statement.value))
    return found


def cloud_names(source: str) -> list[tuple[int, str]]:
    """``(line, what)`` for every place the code of ``source`` names a cloud."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and not re.search(r"\s", node.value):
                names.append(node.value)
        elif isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.alias):
            names.append(node.name)
        elif isinstance(node, ast.keyword) and node.arg:
            names.append(node.arg)
        line = getattr(node, "lineno", 0)
        found.extend((line, name) for name in names if _names_a_cloud(name))
    return sorted(found)


def _naming_modules() -> dict[str, list[tuple[int, str]]]:
    named = {}
    for path in sorted((ROOT / "svai").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if not _per_cloud(relative) and (found := cloud_names(path.read_text(encoding="utf-8"))):
            named[relative] = found
    return named


def test_no_module_outside_the_per_cloud_places_names_a_cloud() -> None:
    named = _naming_modules()
    escaped = {path: found[:5] for path, found in named.items() if path not in ALLOWED}
    assert escaped == {}, "move these per-cloud facts to the cloud's folder or the catalog"
    stale = sorted(set(ALLOWED) - set(named))
    assert stale == [], "these no longer name a cloud: take them off ALLOWED"


def test_the_scan_reads_code_and_skips_prose() -> None:
    source = '''
"""A module about AWS."""
import azure.storage.blob
from svai.runtime.cloud.gcp import Client
TABLE = {"aws": 1}
"""A table, described: aws."""
OFFERING = "gcp.cloudrun.service"
class AwsSecrets: ...
def aws_endpoints(): ...
MESSAGE = "no AWS credentials: set AWS_PROFILE"
level_laws = "laws"
call(azure_region=1)
'''
    assert [what for _, what in cloud_names(source)] == [
        "azure.storage.blob",
        "svai.runtime.cloud.gcp",
        "aws",
        "gcp.cloudrun.service",
        "AwsSecrets",
        "aws_endpoints",
        "azure_region",
    ]


def test_per_cloud_places_are_the_list_the_cloud_folders_and_modules_named_after_a_cloud() -> None:
    assert _per_cloud("svai/spec/clouds.py")
    assert _per_cloud("svai/backends/aws/components.py")
    assert _per_cloud("svai/runtime/cloud/aws_credentials.py")
    assert _per_cloud("svai/signals/gcp.py")
    assert not _per_cloud("svai/backends/automation.py")
    assert not _per_cloud("svai/compiler/lower.py")
