"""The runtime core: the serving logic copied into every svai artifact.

Pipeline position: ``svai build`` (``svai.build``) writes ``svai_runtime.json`` and copies this
package next to the model; at run time an entry point (``svai.runtime.server`` for containers,
the Lambda handler, the queue worker) builds a ``Service`` from that config and feeds it requests.

It imports nothing else from ``svai`` and needs only the standard library, numpy and onnxruntime
(``tokenizers`` for text models, Pillow for image models, both loaded lazily), so it starts
fast in a cold start. ``tasks`` holds the I/O contract per task (``docs/io.md``).
Public surface: ``load_config`` -> ``RuntimeConfig``; ``Service`` (``from_config``, ``load``,
``ready``, ``check_headers``, ``submit``, ``handle``, ``predict``, ``drain``, ``close``);
``Request`` / ``Response`` / ``Prediction``; the error tree in ``errors`` (``InvalidInput`` is what
a pre-processing hook raises to refuse an input: a 422 naming the field); the cache store
protocol ``CacheStore`` with ``SqliteStore``.
"""

from svai.runtime.core.cache import CacheStore, SqliteStore
from svai.runtime.core.config import RuntimeConfig, load_config, parse_config
from svai.runtime.core.errors import InvalidInput, RuntimeCoreError
from svai.runtime.core.messages import Prediction, Request, Response
from svai.runtime.core.service import Service
from svai.runtime.core.telemetry import Telemetry

__all__ = [
    "CacheStore",
    "InvalidInput",
    "Prediction",
    "Request",
    "Response",
    "RuntimeConfig",
    "RuntimeCoreError",
    "Service",
    "SqliteStore",
    "Telemetry",
    "load_config",
    "parse_config",
]
