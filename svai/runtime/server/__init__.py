"""The container HTTP server over the runtime core.

It serves Cloud Run, Container Apps, Lambda container images and the SageMaker / Vertex AI /
Azure ML managed-endpoint contracts.

Pipeline position: ``svai build`` copies ``svai.runtime.core`` and this package into a container
image whose command is ``python -m svai.runtime.server --config svai_runtime.json``. Routes:
``POST /predict``, ``/v1/predict``, ``/invocations`` (SageMaker), ``/score`` (Azure ML) and
``$AIP_PREDICT_ROUTE`` (Vertex, ``{"instances"}`` -> ``{"predictions"}``); ``GET /healthz``
(liveness), ``/readyz``, ``/ping`` (SageMaker), ``$AIP_HEALTH_ROUTE`` (default ``/health``).
Importing this package is cheap; the server module loads on ``main``/``serve``.
"""

from svai.runtime.server.main import main, resolve_port, serve

__all__ = ["main", "resolve_port", "serve"]
