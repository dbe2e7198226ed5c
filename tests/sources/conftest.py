"""Fixtures of the model-source tests: the stores on 127.0.0.1 (defined in ``stores.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from stores import azure_store, gs_store, hf_store, s3_store, store  # noqa: F401
