"""Fixtures of the model-source tests: the stores on 127.0.0.1 (defined in ``stores.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from stores import azure_store, gs_store, hf_store, s3_store, store  # noqa: F401


@pytest.fixture(autouse=True)
def _hub_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reach the loopback hub even when an earlier test switched huggingface_hub offline.

    The encoder tests set ``HF_HUB_OFFLINE=1`` for the session (no weights from the internet),
    and huggingface_hub reads it once, at import, into ``constants``.
    """
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
