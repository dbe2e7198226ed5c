"""SARIF 2.1.0 output of ``svai check``, for code-scanning UIs (GitHub, Azure DevOps, IDEs).

One run; the tool's rule table lists every readiness rule and each infrastructure rule that
fired; each result has a level (high → ``error``, medium → ``warning``, low → ``note``), the
message with its fix, a location pointing at the line of ``svai.yaml`` the fix belongs to (found
by composing the YAML again and walking the finding's dotted path), the target and resource as
logical locations, and a fingerprint that stays stable when only the numbers in a message change.
"""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from svai.compiler.checklist import RuleInfo
from svai.compiler.readiness import CheckFinding, CheckReport

__all__ = ["LEVELS", "SARIF_SCHEMA", "locate", "to_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"high": "error", "medium": "warning", "low": "note"}
_SECURITY_SEVERITY = {"high": "8.0", "medium": "5.0", "low": "2.0"}


def locate(text: str, dotted: str) -> tuple[int, int] | None:
    """Return the 1-based (line, column) of ``dotted`` (``targets.0.overrides``) in YAML ``text``.

    When the path is not written in the file (a default applies), the position of its closest
    written ancestor is returned — the place to add the missing key; ``None`` when the text does
    not parse or nothing of the path is there.
    """
    try:
        node: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    found: tuple[int, int] | None = None
    for part in dotted.split("."):
        if isinstance(node, yaml.MappingNode):
            match = next((pair for pair in node.value if pair[0].value == part), None)
            if match is None:
                break
            key, node = match
            found = (key.start_mark.line + 1, key.start_mark.column + 1)
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            found = (node.start_mark.line + 1, node.start_mark.column + 1)
        else:
            break
    return found


def _fingerprint(f: CheckFinding) -> str:
    key = "\0".join((f.rule, f.target or "", f.path or "", f.resource or ""))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _result(
    f: CheckFinding, rule_index: dict[str, int], spec_uri: str, spec_text: str | None
) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": {"uri": spec_uri}}
    position = locate(spec_text, f.path) if spec_text is not None and f.path else None
    if position is not None:
        location["region"] = {"startLine": position[0], "startColumn": position[1]}
    entry: dict[str, Any] = {"physicalLocation": location}
    logical = [
        {"name": name, "kind": kind}
        for name, kind in ((f.target, "module"), (f.resource, "resource"))
        if name
    ]
    if logical:
        entry["logicalLocations"] = logical
    text = f.message.rstrip(". ") + "." + (f" Fix: {f.hint}" if f.hint else "")
    if f.target:
        text = f"{f.target}: {text}"
    return {
        "ruleId": f.rule,
        "ruleIndex": rule_index[f.rule],
        "level": LEVELS[f.severity],
        "message": {"text": text},
        "locations": [entry],
        "partialFingerprints": {"svaiFinding/v1": _fingerprint(f)},
    }


def to_sarif(
    report: CheckReport, *, spec_uri: str, spec_text: str | None, tool_version: str
) -> dict[str, Any]:
    """Return ``report`` as a SARIF 2.1.0 log (JSON-ready).

    Args:
        report: What :func:`svai.compiler.readiness.check` returned.
        spec_uri: The spec's path as code scanning should show it (relative to the repository
            root, forward slashes).
        spec_text: The spec's YAML text, to point results at lines; ``None`` to leave lines out.
        tool_version: svai's version.
    """
    rules = list(report.rules)
    known = {r.id for r in rules}
    for f in report.findings:
        if f.rule not in known:  # a finding whose rule was not described: describe it from itself
            rules.append(RuleInfo(f.rule, f.severity, f.message, f.hint, "infrastructure"))
            known.add(f.rule)
    index = {r.id: i for i, r in enumerate(rules)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "svai",
                        "version": tool_version,
                        "rules": [
                            {
                                "id": r.id,
                                "shortDescription": {"text": r.title},
                                "help": {"text": r.hint or r.title},
                                "defaultConfiguration": {"level": LEVELS[r.severity]},
                                "properties": {
                                    "tags": [r.source, "svai"],
                                    "security-severity": _SECURITY_SEVERITY[r.severity],
                                },
                            }
                            for r in rules
                        ],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": [_result(f, index, spec_uri, spec_text) for f in report.findings],
            }
        ],
    }
