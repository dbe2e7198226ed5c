"""The edge-enforcement table of ``svai.compiler.limits`` against what each backend records."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Sequence
from typing import Any

import pytest
from plans import async_plan, sync_plan

from svai.backends.base import RecordedResource
from svai.backends.preview import record
from svai.backends.registry import get_backend
from svai.compiler.request_limits import edge_limits_rate
from svai.errors import UsageError
from svai.ir import DeploymentPlan

OPTIONS: dict[str, dict[str, Any]] = {"gcp": {"billing_account": "000000-111111-222222"}}


def _texts(value: Any) -> list[str]:
    """Every string in ``value``, and what base64 strings decode to (OpenAPI documents)."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    if not isinstance(value, str):
        return []
    out = [value]
    with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
        out.append(base64.b64decode(value, validate=True).decode())
    return out


def edge_rate_recorded(resources: Sequence[RecordedResource], plan: DeploymentPlan) -> bool:
    """Whether a recorded resource rate-limits requests before they reach a service."""
    for r in resources:
        if r.type == "aws:apigatewayv2/stage:Stage":
            settings = r.inputs.get("defaultRouteSettings", {})
            if settings.get("throttlingRateLimit") == plan.entry.rate_limit_rps:
                return True
        if "apimanagement" in r.type.lower():
            return True
        if any("x-google-management" in t and "quota" in t for t in _texts(dict(r.inputs))):
            return True
    return False


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
@pytest.mark.parametrize("auth", ["iam", "api-key", "jwt", "none"])
def test_the_table_matches_the_recorded_edge(cloud: str, auth: str) -> None:
    backend = get_backend(cloud, **OPTIONS.get(cloud, {}))
    if (cloud, auth) == ("aws", "api-key"):  # HTTP APIs have no API keys: refused, no edge
        with pytest.raises(UsageError, match="api-key"):
            record(lambda: backend.program(sync_plan("aws", auth="api-key")))
        assert not edge_limits_rate("aws", "api-key", "aws.lambda.zip")
        return
    plans = [sync_plan(cloud, auth=auth), async_plan(cloud, auth=auth)]  # type: ignore[arg-type]
    if cloud == "gcp":
        plans.append(sync_plan("gcp", "gcp.vertex.online_prediction", auth=auth))  # type: ignore[arg-type]
    for plan in plans:
        resources = record(lambda plan=plan: backend.program(plan))
        front = plan.services[0].compute.offering
        assert edge_rate_recorded(resources, plan) == edge_limits_rate(cloud, auth, front), (
            json.dumps([cloud, auth, front])
        )
