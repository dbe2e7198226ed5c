"""The AWS Lambda handler module: set the function's handler to ``svai.runtime.entry.aws_lambda.handler``.

Importing it is Lambda's init phase: it reads ``svai_runtime.json`` (``SVAI_CONFIG``, else
``LAMBDA_TASK_ROOT``), loads and warms the model once, and every invocation of the execution
environment reuses it. The routing lives in :mod:`svai.runtime.entry.lambda_app`.
"""

from __future__ import annotations

from svai.runtime.entry.lambda_app import LambdaApp

__all__ = ["app", "handler"]

# Lambda's init phase: the model is loaded here, once per execution environment.
app = LambdaApp.from_environment()
handler = app.handler()
