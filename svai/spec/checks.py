"""Checks that span sections of a valid-shaped spec, each reported at the field it concerns.

These run after pydantic has accepted every section; they are the part of validation that the
JSON Schema cannot express (listed in ``docs/spec.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from svai.spec.model import Spec

__all__ = ["Finding", "cross_check"]


@dataclass(frozen=True, slots=True)
class Finding:
    """A cross-field problem: where (a path of keys and indexes), what, and what to do."""

    path: tuple[str | int, ...]
    message: str
    hint: str = ""


def cross_check(spec: Spec) -> list[Finding]:
    """Return every cross-section problem of ``spec`` (empty when it is consistent)."""
    findings: list[Finding] = []
    seen: dict[tuple[str, str], int] = {}
    for index, target in enumerate(spec.targets):
        key = (target.cloud, target.region)
        if key in seen:
            findings.append(
                Finding(
                    ("targets", index),
                    f"a second target for {target.cloud} {target.region} "
                    f"(the first is targets[{seen[key]}])",
                    "keep one target per cloud and region",
                )
            )
        seen.setdefault(key, index)
        if spec.gpu.required and target.runtime == "faas":
            findings.append(
                Finding(
                    ("targets", index, "runtime"),
                    "`gpu.required` with `runtime: faas` cannot work on any cloud: Lambda, "
                    "Cloud Run functions and Azure Functions offer no GPUs",
                    "use `runtime: container` or `endpoint`, or `auto`",
                )
            )
    if spec.api.mode == "sync" and spec.traffic.pattern == "batch":
        findings.append(
            Finding(
                ("api", "mode"),
                "`traffic.pattern: batch` with `api.mode: sync` holds one connection per item",
                "use `api.mode: async` (queue + workers) or `auto`",
            )
        )
    drift = spec.observability.drift
    if drift.features and drift.baseline is None and spec.rollout.gates is None:
        findings.append(
            Finding(
                ("observability", "drift", "features"),
                "drift features are compared with a baseline, and there is none",
                "set `observability.drift.baseline: <reference.jsonl>` or `rollout.gates.eval_set`",
            )
        )
    return findings
