"""The clouds svai deploys to: the one list every table keyed by cloud derives from.

It sits below :mod:`svai.spec` so that every stage can read it: the spec's ``Cloud`` type (and
with it the JSON Schema), the resolved spec, the plan (:mod:`svai.ir`), the recommendation, the
catalog's check of its offerings and the backend registry all take their cloud names from here.
Everything else about a cloud lives in its own folder (``svai/backends/<cloud>/``,
``svai/runtime/cloud/<cloud>.py``) or in the catalog.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["CLOUDS", "Cloud"]

Cloud = Literal["aws", "gcp", "azure"]
"""A cloud name as a spec, a plan and a recommendation spell it."""

CLOUDS: tuple[Cloud, ...] = get_args(Cloud)
"""Every cloud svai knows, in the order its tables list them."""
