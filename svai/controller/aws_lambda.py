"""The gate job as a Lambda handler (the EventBridge-scheduled function on AWS)."""

from __future__ import annotations

import os
from typing import Any

from svai.controller import job
from svai.controller.store import open_bucket

__all__ = ["handler"]


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Judge every release in ``SVAI_RELEASE_STATE_URL`` once; what each run decided."""
    url = os.environ[job.STATE_URL_ENV]
    runs = [job.run_once(url, n, e) for n, e in job.releases(open_bucket(url))]
    return {
        "runs": [
            {
                "state": r.location,
                "verdict": r.decision.verdict,
                "moved": [route.line() for route in r.moved],
            }
            for r in runs
        ]
    }
