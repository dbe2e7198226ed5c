"""Plan diffs (``svai diff``): what a change does to runtime, latency, cost and findings.

A change to ``svai.yaml`` (or to the files versioned with the model) is shown as a reviewer
needs it: runtime choice, sizing, warm pool, predicted latency and cold starts, cost, resources
added / changed / removed, the model version, and new or resolved findings.

Both sides are plan documents in the JSON form of ``svai plan --format json``
(:func:`svai.compiler.planned.to_dict`), so a diff works the same whether the plans were compiled
just now from two specs or two git revisions, or saved earlier as files. :func:`diff_plans` is
pure; :func:`diff_text`, :func:`diff_markdown` and :func:`to_dict` render its result.

What counts as a change is what a reviewer would see: latency and cost are compared as they are
displayed (``7.8 ms``, ``$22.10``), so float noise below the shown precision is not a change.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from svai.compiler.formatting import format_ms, format_usd
from svai.compiler.markdown import cell

__all__ = [
    "EMPTY_PLAN",
    "FieldChange",
    "FindingRef",
    "PlanDiff",
    "ResourceChange",
    "TargetDiff",
    "diff_markdown",
    "diff_plans",
    "diff_text",
    "to_dict",
]

EMPTY_PLAN: dict[str, Any] = {"name": "", "model_version": "", "targets": [], "readiness": []}
"""The plan of a spec that does not exist (yet): every target of the other side is added."""

_MAX_KEYS = 8
"""Changed input keys listed per resource before the rest is summarised as ``+N more``."""
_KEY_DEPTH = 4
"""Nesting depth down to which changed input keys are named (``environment.variables.X``)."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One reviewed property of a target that differs: its label and both values as shown."""

    field: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class ResourceChange:
    """A resource added, removed, or changed (``keys``: the input keys whose values differ)."""

    change: Literal["added", "removed", "changed"]
    type: str
    name: str
    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FindingRef:
    """A finding that appeared or disappeared."""

    rule: str
    severity: str
    message: str
    resource: str | None
    target: str | None = None


@dataclass(frozen=True, slots=True)
class TargetDiff:
    """How one target (``cloud region``) changed."""

    target: str
    status: Literal["added", "removed", "changed", "unchanged"]
    fields: tuple[FieldChange, ...]
    cost_before: float
    cost_after: float
    resources: tuple[ResourceChange, ...]
    retagged: int
    """Resources whose only change is the model version id (tags, object keys, env)."""
    new_findings: tuple[FindingRef, ...]
    resolved_findings: tuple[FindingRef, ...]

    @property
    def changed(self) -> bool:
        """Whether anything about this target changed."""
        return self.status != "unchanged"


@dataclass(frozen=True, slots=True)
class PlanDiff:
    """The difference between two plans of the same service."""

    name: str
    version_before: str
    version_after: str
    targets: tuple[TargetDiff, ...]
    readiness_new: tuple[FindingRef, ...] = ()
    """Readiness findings (``svai check``) that the head has and the base had not."""
    readiness_resolved: tuple[FindingRef, ...] = ()

    @property
    def cost_before(self) -> float:
        """Predicted monthly cost of the base plan."""
        return sum(t.cost_before for t in self.targets)

    @property
    def cost_after(self) -> float:
        """Predicted monthly cost of the head plan."""
        return sum(t.cost_after for t in self.targets)

    @property
    def version_changed(self) -> bool:
        """Whether the model version id differs."""
        return self.version_before != self.version_after

    @property
    def changed(self) -> bool:
        """Whether anything that matters changed (this decides ``svai diff``'s exit code)."""
        return (
            self.version_changed
            or any(t.changed for t in self.targets)
            or bool(self.readiness_new or self.readiness_resolved)
        )


# ---- comparing --------------------------------------------------------------------------------


def _key(target: Mapping[str, Any]) -> str:
    return f"{target['cloud']} {target['region']}"


def _runtime(rec: Mapping[str, Any]) -> str:
    c = rec["choice"]
    return f"{c['name']} ({c['kind']}, {c['mode']})"


def _reviewed(rec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The properties a reviewer looks at, rendered as shown in the plan comment."""
    c, p = rec["choice"], rec["predicted"]
    gpu = f"{c['gpu_count']}× {c['gpu']}" if c.get("gpu") else "none"
    return [
        ("runtime", _runtime(rec)),
        ("memory", f"{c['memory_mb']:,} MB"),
        ("vCPU", f"{c['vcpu']:g}"),
        ("GPU", gpu),
        ("instance type", c.get("instance_type") or "none"),
        ("concurrency/instance", str(c["concurrency_per_instance"])),
        ("max instances", str(c["max_instances"])),
        ("warm pool", str(c["warm_instances"])),
        ("p50", format_ms(p["p50_ms"])),
        ("p95", format_ms(p["p95_ms"])),
        ("p99", format_ms(p["p99_ms"])),
        ("cold starts", f"{p['cold_start_rate']:.2%}"),
        ("latency basis", _basis(rec)),
        ("meets latency targets", "yes" if rec["meets_target"] else "no"),
        ("$/month", format_usd(p["monthly_cost_usd"])),
        ("$/1k predictions", format_usd(p["cost_per_1k_usd"])),
    ]


def _basis(rec: Mapping[str, Any]) -> str:
    """Where the model's own time behind the latencies came from; a change is worth a line."""
    assumptions = rec.get("assumptions") or {}
    if "inference time" in assumptions.get("measured", ()):
        return "measured (svai bench)"
    if "inference time" in assumptions.get("estimated", ()):
        return "estimated"
    return "declared"


def _leaf_keys(value: Any, prefix: str, depth: int) -> dict[str, Any]:
    if depth < _KEY_DEPTH and value and isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k in sorted(value):
            out.update(_leaf_keys(value[k], f"{prefix}.{k}" if prefix else str(k), depth + 1))
        return out
    if depth < _KEY_DEPTH and value and isinstance(value, list) and prefix:
        out = {}
        for i, item in enumerate(value):
            out.update(_leaf_keys(item, f"{prefix}[{i}]", depth + 1))
        return out
    return {prefix: value}


def _changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    a, b = _leaf_keys(before, "", 0), _leaf_keys(after, "", 0)
    return tuple(k for k in sorted(set(a) | set(b)) if a.get(k, _MISSING) != b.get(k, _MISSING))


_MISSING = object()


def _index(resources: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str, int], Any]:
    """Key resources by component, type and name; the n-th duplicate gets index n."""
    seen: Counter[tuple[str, str, str]] = Counter()
    out = {}
    for r in resources:
        base = (r.get("component") or "", r["type"], r["name"])
        out[(*base, seen[base])] = r
        seen[base] += 1
    return out


_VERSION = "<model-version>"


def _version_pattern(version: str) -> re.Pattern[str] | None:
    """Match ``version`` and its shortened forms (names cut it to fit length limits)."""
    if not version:
        return None
    match = re.fullmatch(r"v-([0-9a-f]{12})", version)
    if match is None:
        return re.compile(re.escape(version))
    digits = match.group(1)
    return re.compile(f"v-{digits[:8]}[0-9a-f]{{0,4}}")


def _unversioned(value: Any, pattern: re.Pattern[str] | None) -> Any:
    """``value`` with the model version id replaced by a placeholder, everywhere in it."""
    if pattern is None:
        return value
    if isinstance(value, str):
        return pattern.sub(_VERSION, value)
    if isinstance(value, Mapping):
        return {k: _unversioned(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_unversioned(v, pattern) for v in value]
    return value


def _resource_changes(
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
    versions: tuple[str, str],
) -> tuple[tuple[ResourceChange, ...], int]:
    """Return the resource changes and how many resources changed only by the model version.

    The version id is in tags, object keys and environment variables of most resources; a new
    version re-tags them all, which says nothing beyond "the version changed", so those edits
    are counted rather than listed, and other edits are listed without them.
    """
    a, b = _index(before), _index(after)
    patterns = (_version_pattern(versions[0]), _version_pattern(versions[1]))
    changes = []
    retagged = 0
    for key in sorted(set(a) | set(b), key=lambda k: (k[1], k[2], k[0], k[3])):
        _, type_, name, _ = key
        if key not in a:
            changes.append(ResourceChange("added", type_, name))
        elif key not in b:
            changes.append(ResourceChange("removed", type_, name))
        elif a[key]["inputs"] != b[key]["inputs"]:
            keys = _changed_keys(
                _unversioned(a[key]["inputs"], patterns[0]),
                _unversioned(b[key]["inputs"], patterns[1]),
            )
            if keys:
                changes.append(ResourceChange("changed", type_, name, keys))
            else:
                retagged += 1
    order = {"added": 0, "changed": 1, "removed": 2}
    return tuple(sorted(changes, key=lambda c: (order[c.change], c.type, c.name))), retagged


def _finding_refs(findings: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], FindingRef]:
    return {
        (f["rule"], f.get("resource") or ""): FindingRef(
            f["rule"], f["severity"], f["message"], f.get("resource")
        )
        for f in findings
    }


def _cost(target: Mapping[str, Any] | None) -> float:
    if target is None:
        return 0.0
    return float(target["recommendation"]["predicted"]["monthly_cost_usd"])


def _target_diff(
    key: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    versions: tuple[str, str],
) -> TargetDiff:
    fields: list[FieldChange] = []
    if before is not None and after is not None:
        for (label, was), (_, now) in zip(
            _reviewed(before["recommendation"]), _reviewed(after["recommendation"]), strict=True
        ):
            if was != now:
                fields.append(FieldChange(label, was, now))
    elif after is not None:
        fields = [FieldChange(label, "", v) for label, v in _reviewed(after["recommendation"])]
    elif before is not None:
        fields = [FieldChange(label, v, "") for label, v in _reviewed(before["recommendation"])]
    resources, retagged = _resource_changes(
        before["resources"] if before else [], after["resources"] if after else [], versions
    )
    old_f = _finding_refs(before["findings"] if before else [])
    new_f = _finding_refs(after["findings"] if after else [])
    new = tuple(new_f[k] for k in sorted(set(new_f) - set(old_f)))
    resolved = tuple(old_f[k] for k in sorted(set(old_f) - set(new_f)))
    if before is None:
        status: Literal["added", "removed", "changed", "unchanged"] = "added"
    elif after is None:
        status = "removed"
    elif fields or resources or retagged or new or resolved:
        status = "changed"
    else:
        status = "unchanged"
    return TargetDiff(
        key, status, tuple(fields), _cost(before), _cost(after), resources, retagged, new, resolved
    )


def diff_plans(before: Mapping[str, Any], after: Mapping[str, Any]) -> PlanDiff:
    """Compare two plan documents (the JSON of ``svai plan --format json``).

    Targets are matched by cloud and region, in the order of ``after`` and then the removed ones
    of ``before``; resources by component, type and name; findings by rule and resource.
    """
    old = {_key(t): t for t in before.get("targets", [])}
    new = {_key(t): t for t in after.get("targets", [])}
    order = list(new) + [k for k in old if k not in new]
    versions = (str(before.get("model_version") or ""), str(after.get("model_version") or ""))
    appeared: tuple[FindingRef, ...] = ()
    gone: tuple[FindingRef, ...] = ()
    if "readiness" in before and "readiness" in after:
        was, now = _readiness_refs(before["readiness"]), _readiness_refs(after["readiness"])
        appeared = tuple(now[k] for k in sorted(set(now) - set(was)))
        gone = tuple(was[k] for k in sorted(set(was) - set(now)))
    return PlanDiff(
        name=str(after.get("name") or before.get("name") or ""),
        version_before=versions[0],
        version_after=versions[1],
        targets=tuple(_target_diff(k, old.get(k), new.get(k), versions) for k in order),
        readiness_new=appeared,
        readiness_resolved=gone,
    )


def _readiness_refs(
    findings: Sequence[Mapping[str, Any]],
) -> dict[tuple[str, str, str], FindingRef]:
    """Key readiness findings by rule, target and spec path (their numbers may change)."""
    return {
        (f["rule"], f.get("target") or "", f.get("path") or ""): FindingRef(
            f["rule"], f["severity"], f["message"], None, f.get("target")
        )
        for f in findings
    }


# ---- rendering ----------------------------------------------------------------------------------


def _delta(before: float, after: float) -> str:
    """``+$5.25, +23.8%`` (the percentage is left out when the base is zero)."""
    change = after - before
    sign = "+" if change >= 0 else "-"
    text = f"{sign}{format_usd(abs(change))}"
    if before > 0:
        text += f", {change / before:+.1%}"
    return text


def _cost_line(before: float, after: float) -> str:
    if format_usd(before) == format_usd(after):
        return f"{format_usd(after)}/month (unchanged)"
    return f"{format_usd(before)} → {format_usd(after)}/month ({_delta(before, after)})"


def _summary(diff: PlanDiff) -> str:
    changed = sum(t.changed for t in diff.targets)
    return (
        f"{changed} of {len(diff.targets)} target{'s' if len(diff.targets) != 1 else ''} "
        f"changed · cost {_cost_line(diff.cost_before, diff.cost_after)}"
    )


def _resource_counts(target: TargetDiff) -> str:
    counts = Counter(r.change for r in target.resources)
    return f"{counts['added']} added, {counts['changed']} changed, {counts['removed']} removed"


def _keys_text(keys: tuple[str, ...]) -> str:
    shown = ", ".join(keys[:_MAX_KEYS])
    return shown + (f" (+{len(keys) - _MAX_KEYS} more)" if len(keys) > _MAX_KEYS else "")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def diff_text(diff: PlanDiff) -> str:
    """Render ``diff`` for a terminal (ends with a newline)."""
    if not diff.changed:
        return f"{diff.name}: no changes (model version {diff.version_after})\n"
    lines = [f"{diff.name}: {_summary(diff)}"]
    if diff.version_changed:
        lines.append(
            f"model version {diff.version_before or '(none)'} → {diff.version_after or '(none)'}"
        )
    for t in diff.targets:
        if not t.changed:
            continue
        lines += ["", f"{t.target} ({t.status})"]
        width = max((len(f.field) for f in t.fields), default=0)
        width = max(width, len("cost delta"))
        for f in t.fields:
            if t.status == "changed":
                lines.append(f"  {f.field:<{width}}  {f.before} → {f.after}")
            else:
                lines.append(f"  {f.field:<{width}}  {f.after or f.before}")
        if t.status == "changed" and format_usd(t.cost_before) != format_usd(t.cost_after):
            lines.append(
                f"  {'cost delta':<{width}}  {_delta(t.cost_before, t.cost_after)} per month"
            )
        if t.retagged and t.status == "changed":
            lines.append(f"  model version: carried by {t.retagged} resources (tags, keys, env)")
        if t.resources:
            lines.append(f"  resources: {_resource_counts(t)}")
            mark = {"added": "+", "removed": "-", "changed": "~"}
            for r in t.resources:
                keys = f": {_keys_text(r.keys)}" if r.keys else ""
                lines.append(f"    {mark[r.change]} {r.type}  {r.name}{keys}")
        for label, refs in (("new", t.new_findings), ("resolved", t.resolved_findings)):
            for ref in refs:
                where = f" [{ref.resource}]" if ref.resource else ""
                lines.append(
                    f"  {label} finding: {ref.severity} {ref.rule}{where}: {_one_line(ref.message)}"
                )
    readiness = [("new", r) for r in diff.readiness_new] + [
        ("resolved", r) for r in diff.readiness_resolved
    ]
    if readiness:
        lines += ["", "readiness (svai check)"]
        for label, ref in readiness:
            where = f" {ref.target}" if ref.target else ""
            lines.append(f"  {label}: {ref.severity} {ref.rule}{where}: {_one_line(ref.message)}")
    return "\n".join(lines) + "\n"


def diff_markdown(diff: PlanDiff) -> str:
    """Render ``diff`` as a GitHub-flavoured Markdown section (ends with a newline)."""
    title = f"### svai diff: `{diff.name}`"
    if not diff.changed:
        return (
            f"{title} · no changes\n\nRuntime choice, sizing, latency, cold starts, cost, "
            f"resources and findings are the same (model `{diff.version_after}`).\n"
        )
    lines = [f"{title} · {_summary(diff)}", ""]
    if diff.version_changed:
        lines += [
            f"**Model version:** `{diff.version_before or '(none)'}` → "
            f"`{diff.version_after or '(none)'}`",
            "",
        ]
    rows = []
    for t in diff.targets:
        if t.status in ("added", "removed"):
            shown = {f.field: f.after or f.before for f in t.fields}
            rows.append(
                f"| **{t.target}** | target {t.status} | | "
                f"{cell(shown.get('runtime', ''))}, {cell(shown.get('$/month', ''))}/month, "
                f"p99 {cell(shown.get('p99', ''))} |"
                if t.status == "added"
                else f"| **{t.target}** | target {t.status} | "
                f"{cell(shown.get('runtime', ''))}, {cell(shown.get('$/month', ''))}/month | |"
            )
            continue
        if t.retagged:
            rows.append(
                f"| **{t.target}** | model version | `{diff.version_before}` | "
                f"`{diff.version_after}` (carried by {t.retagged} resources) |"
            )
        for f in t.fields:
            after = f.after
            if f.field == "$/month":
                after += f" ({_delta(t.cost_before, t.cost_after)})"
            rows.append(f"| **{t.target}** | {f.field} | {cell(f.before)} | {cell(after)} |")
    if rows:
        lines += ["| target | what | before | after |", "| --- | --- | --- | --- |", *rows, ""]
    findings = [
        (label, t.target, f)
        for t in diff.targets
        for label, refs in (("new", t.new_findings), ("resolved", t.resolved_findings))
        for f in refs
    ]
    findings += [("new", r.target or "", r) for r in diff.readiness_new]
    findings += [("resolved", r.target or "", r) for r in diff.readiness_resolved]
    if findings:
        lines.append("**Findings:**")
        lines.append("")
        for label, target, ref in findings:
            where = f" `{ref.resource}`" if ref.resource else ""
            at = f" {target}" if target else ""
            lines.append(
                f"- {label}: **{ref.severity}** `{ref.rule}`{at}{where}: {_one_line(ref.message)}"
            )
        lines.append("")
    for t in diff.targets:
        if not t.resources:
            continue
        mark = {"added": "+", "removed": "−", "changed": "~"}
        lines += [
            "<details>",
            f"<summary>{t.target} resources: {_resource_counts(t)}</summary>",
            "",
        ]
        for r in t.resources:
            keys = f" — {', '.join(f'`{k}`' for k in r.keys[:_MAX_KEYS])}" if r.keys else ""
            more = f" (+{len(r.keys) - _MAX_KEYS} more)" if len(r.keys) > _MAX_KEYS else ""
            lines.append(f"- {mark[r.change]} `{r.type}` `{r.name}`{keys}{more}")
        lines += ["", "</details>", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def to_dict(diff: PlanDiff) -> dict[str, Any]:
    """Return ``diff`` as JSON-ready data (the contract of ``svai diff --format json``)."""
    return {
        "name": diff.name,
        "changed": diff.changed,
        "model_version": {
            "before": diff.version_before,
            "after": diff.version_after,
            "changed": diff.version_changed,
        },
        "cost_usd_month": {
            "before": round(diff.cost_before, 6),
            "after": round(diff.cost_after, 6),
            "delta": round(diff.cost_after - diff.cost_before, 6),
            "delta_pct": (
                round((diff.cost_after - diff.cost_before) / diff.cost_before * 100, 3)
                if diff.cost_before > 0
                else None
            ),
        },
        "targets": [
            {
                "target": t.target,
                "status": t.status,
                "fields": [
                    {"field": f.field, "before": f.before, "after": f.after} for f in t.fields
                ],
                "cost_usd_month": {
                    "before": round(t.cost_before, 6),
                    "after": round(t.cost_after, 6),
                    "delta": round(t.cost_after - t.cost_before, 6),
                },
                "resources": [
                    {"change": r.change, "type": r.type, "name": r.name, "keys": list(r.keys)}
                    for r in t.resources
                ],
                "retagged_resources": t.retagged,
                "findings": {
                    "new": [_finding_dict(f) for f in t.new_findings],
                    "resolved": [_finding_dict(f) for f in t.resolved_findings],
                },
            }
            for t in diff.targets
        ],
        "readiness": {
            "new": [_finding_dict(f) for f in diff.readiness_new],
            "resolved": [_finding_dict(f) for f in diff.readiness_resolved],
        },
    }


def _finding_dict(f: FindingRef) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "severity": f.severity,
        "message": f.message,
        "resource": f.resource,
        "target": f.target,
    }
