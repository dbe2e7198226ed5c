"""Shared fixtures for the runtime core and HTTP server tests: real models, real servers."""

from __future__ import annotations

import http.client
import json
import pickle
import socket
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from svai.runtime.core import Service, Telemetry, load_config
from svai.runtime.server.main import BackgroundServer


@dataclass(frozen=True)
class DigitsModel:
    """A random forest trained on sklearn's digits, as ONNX (and as a pickle)."""

    onnx_path: Path
    fallback_path: Path
    pickle_path: Path
    x_test: np.ndarray
    labels: np.ndarray
    probas: np.ndarray
    fallback_labels: np.ndarray
    pickle_sha256: str


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> DigitsModel:
    import hashlib

    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    x_train, y_train, x_test = x[:1400], y[:1400], x[1400:1460]
    forest = RandomForestClassifier(n_estimators=30, max_depth=10, random_state=0)
    forest.fit(x_train, y_train)
    small = LogisticRegression(max_iter=500).fit(x_train / 16.0, y_train)
    small_x = x_test / 16.0
    root = tmp_path_factory.mktemp("digits")
    types = [("float_input", FloatTensorType([None, 64]))]
    for name, est in (("model.onnx", forest), ("small.onnx", small)):
        onx = convert_sklearn(est, initial_types=types, options={id(est): {"zipmap": False}})
        (root / name).write_bytes(onx.SerializeToString())
    pkl = root / "model.pkl"
    pkl.write_bytes(pickle.dumps(forest))
    return DigitsModel(
        onnx_path=root / "model.onnx",
        fallback_path=root / "small.onnx",
        pickle_path=pkl,
        x_test=x_test,
        labels=forest.predict(x_test),
        probas=forest.predict_proba(x_test),
        fallback_labels=small.predict(small_x),
        pickle_sha256=hashlib.sha256(pkl.read_bytes()).hexdigest(),
    )


ArtifactFactory = Callable[..., Path]


@pytest.fixture
def make_artifact(tmp_path: Path, digits: DigitsModel) -> ArtifactFactory:
    """Write an artifact directory: ``svai_runtime.json`` plus hook files; return the config."""
    counter = [0]

    def make(config: dict[str, Any] | None = None, files: dict[str, str] | None = None) -> Path:
        counter[0] += 1
        d = tmp_path / f"artifact{counter[0]}"
        d.mkdir()
        cfg: dict[str, Any] = {"model": {"path": str(digits.onnx_path), "version": "digits-v1"}}
        for section, values in (config or {}).items():
            if isinstance(values, dict):
                cfg.setdefault(section, {}).update(values)
            else:
                cfg[section] = values
        cfg.setdefault("observability", {}).setdefault("log_requests", True)
        for name, source in (files or {}).items():
            (d / name).write_text(textwrap.dedent(source))
        path = d / "svai_runtime.json"
        path.write_text(json.dumps(cfg))
        return path

    return make


class Lines:
    """A telemetry sink that keeps every JSON line."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __call__(self, line: str) -> None:
        self.records.append(json.loads(line))

    def requests(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("message") == "request"]


def build_service(config_path: Path, lines: Lines | None = None) -> Service:
    cfg = load_config(config_path)
    sink = lines if lines is not None else Lines()
    telemetry = Telemetry("svai", "test", cfg.model.version, True, sink=sink)
    return Service.from_config(cfg, telemetry=telemetry)


@dataclass
class Running:
    server: BackgroundServer
    service: Service
    lines: Lines

    @property
    def port(self) -> int:
        return self.server.port

    def conn(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        conn = self.conn()
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            hdrs = {"content-type": "application/json"} if data is not None else {}
            hdrs.update(headers or {})
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            parsed = json.loads(payload) if payload else None
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed
        finally:
            conn.close()


def wait_ready(running: Running, timeout_s: float = 20.0) -> None:
    import time

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if running.request("GET", "/readyz")[0] == 200:
            return
        time.sleep(0.02)
    raise AssertionError("server did not become ready")


@contextmanager
def serving(
    config_path: Path, env: dict[str, str] | None = None, ready: bool = True
) -> Iterator[Running]:
    lines = Lines()
    service = build_service(config_path, lines)
    server = BackgroundServer(service, "127.0.0.1", 0, env).start()
    running = Running(server, service, lines)
    try:
        if ready:
            wait_ready(running)
        yield running
    finally:
        server.stop()


def rows(x: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in r] for r in x]


# Helpers reach the test modules as fixtures: the test folders are not packages, so a test
# module cannot import this file by name.


@pytest.fixture
def lines() -> Lines:
    """A fresh telemetry sink."""
    return Lines()


@pytest.fixture
def to_rows() -> Callable[[np.ndarray], list[list[float]]]:
    return rows


@pytest.fixture
def new_service() -> Callable[..., Service]:
    return build_service


@pytest.fixture
def serve() -> Callable[..., Any]:
    return serving


@pytest.fixture(scope="module")
def aws_env() -> Iterator[dict[str, str]]:
    """A real moto server on 127.0.0.1 (SQS, DynamoDB, ...) and the AWS_* variables to reach it.

    The variables are set for the module (boto3 clients, worker subprocesses) and removed after.
    """
    moto_server = pytest.importorskip("moto.server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("AWS_PROFILE", raising=False)
        yield env
    server.stop()
