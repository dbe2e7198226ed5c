"""Fixtures of the live-signal tests: moto on loopback, and the runtime's own request lines."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def moto_env() -> Iterator[str]:
    """A moto server on 127.0.0.1 reached through boto3's ``AWS_ENDPOINT_URL``; yields the URL.

    moto's CloudWatch computes no percentiles (real CloudWatch does, for EMF metrics); the
    server runs in this process, so its statistics learn the nearest-rank percentile here.
    """
    moto_server = pytest.importorskip("moto.server")
    from moto.cloudwatch import models

    original = models.Statistics.get_statistics_for_type

    def with_percentiles(self: Any, stat: str) -> Any:
        if stat.startswith("p") and stat[1:].replace(".", "").isdigit():
            from signal_fakes import nearest_rank

            return nearest_rank(self.metric_single_values_list, float(stat[1:]))
        return original(self, stat)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models.Statistics, "get_statistics_for_type", with_percentiles)
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        }.items():
            patch.setenv(key, value)
        patch.delenv("AWS_PROFILE", raising=False)
        yield f"http://127.0.0.1:{port}"
    server.stop()
