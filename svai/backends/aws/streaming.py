"""The response-streaming function URL in front of a SageMaker endpoint that generates text.

API Gateway's HTTP API invokes the proxy function and buffers its answer (30 s at most), so
streamed tokens never reach the caller through it. Beside the proxy, a text-generation endpoint
gets a second zip function, ``<service>-stream``:

* the ``python3.12`` runtime with ``AWS_LAMBDA_EXEC_WRAPPER`` naming the zip's
  ``svai_stream_bootstrap``, which runs svai's own Runtime API loop in the streaming response
  mode (:mod:`svai.runtime.entry.lambda_stream`; Python's managed runtime answers whole);
* a function URL on its ``live`` alias in ``InvokeMode: RESPONSE_STREAM``, exported as
  ``aws_stream_url``: ``AuthType: AWS_IAM`` for ``api.auth: iam`` (callers sign with SigV4 and
  need ``lambda:InvokeFunctionUrl`` on it), ``NONE`` for ``jwt`` (the function checks the bearer
  token itself, :mod:`svai.runtime.entry.jwt_auth`) and ``none``, with the resource policy an
  open URL needs (``lambda:InvokeFunctionUrl`` and ``lambda:InvokeFunction`` via the URL);
* a role that may invoke exactly that endpoint (``sagemaker:InvokeEndpoint``, which the API
  reference names as the permission ``InvokeEndpointWithResponseStream`` needs), write its own
  logs, and use the deployment's key.

Lowered to a ``StreamingUrl`` group (pure) whose component holds the function's own
``FunctionService`` group and then the URL with its permissions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from svai.backends.aws import arguments as args
from svai.backends.aws.foundation import Links
from svai.backends.aws.services import Extra, function_group
from svai.backends.blueprint import Group, Ref, ResourceSpec
from svai.compiler.streaming import STREAM_BOOTSTRAP
from svai.errors import UsageError
from svai.ir import Identity, Permission, Service

__all__ = ["HANDLER", "stream_group"]

HANDLER = "svai.runtime.entry.sagemaker_stream.main"
"""Recorded for people reading the function: the exec wrapper runs this module, not a handler."""
_URL_AUTH = {"iam": "AWS_IAM", "jwt": "NONE", "none": "NONE"}
_PERMISSION = "aws:lambda/permission:Permission"


def stream_group(link: Links, proxy: Service, service: Service, *, endpoint_arn: Any) -> Group:
    """The ``StreamingUrl`` group: the streaming function, then its URL (module docstring).

    Args:
        link: The shared groups' links.
        proxy: The endpoint's proxy function service (its sizing and timeout are reused).
        service: The endpoint service.
        endpoint_arn: The endpoint's ARN (the role's one resource).

    Raises:
        UsageError: ``api.auth`` has no function URL form (``api-key``).
    """
    plan = link.plan
    auth = plan.entry.auth
    if auth not in _URL_AUTH:
        raise UsageError(f"api.auth: {auth} has no Lambda function URL form; use iam or jwt")
    name = f"{service.name}-stream"
    stream = dataclasses.replace(
        proxy, name=name, compute=dataclasses.replace(proxy.compute, handler=HANDLER)
    )
    identity = Identity(
        name,
        (
            Permission("logs.write", f"logs:{name}"),
            Permission("metrics.write", "metrics"),
            Permission("key.use", "key"),
            Permission("model.invoke", f"service:{service.name}"),
        ),
    )
    env: dict[str, Any] = {
        "AWS_LAMBDA_EXEC_WRAPPER": f"/var/task/{STREAM_BOOTSTRAP}",
        "SVAI_ENDPOINT_NAME": args.endpoint_name(plan, service.name),
        "SVAI_AUTH": auth,
    }
    if auth == "jwt":
        env["SVAI_JWT_ISSUER"] = str(plan.entry.jwt_issuer)
        env["SVAI_JWT_AUDIENCE"] = str(plan.entry.jwt_audience)
    extra = Extra(arns={f"service:{service.name}": endpoint_arn}, env=env)
    function = function_group(link, stream, identity, extra)
    ready = (f"{name}:alias",)  # the URL and its grants are on the `live` alias
    url_auth = _URL_AUTH[auth]
    specs: list[ResourceSpec] = []
    if url_auth == "NONE":
        # An open URL still needs a resource policy: both grants, each only via the URL.
        open_to = {
            "function": Ref(f"{name}:fn", "name"),
            "qualifier": args.LIVE_ALIAS,
            "principal": "*",
        }
        public = {
            "action": "lambda:InvokeFunctionUrl",
            "function_url_auth_type": "NONE",
            **open_to,
        }
        invoke = {"action": "lambda:InvokeFunction", "invoked_via_function_url": True, **open_to}
        specs += [
            ResourceSpec(
                f"{name}:url-public",
                _PERMISSION,
                f"{plan.name}-{name}-url-public",
                public,
                (),
                ready,
            ),
            ResourceSpec(
                f"{name}:url-invoke",
                _PERMISSION,
                f"{plan.name}-{name}-url-invoke",
                invoke,
                (),
                ready,
            ),
        ]
    url = {
        "function_name": Ref(f"{name}:fn", "name"),
        "qualifier": args.LIVE_ALIAS,
        "authorization_type": url_auth,
        "invoke_mode": "RESPONSE_STREAM",
    }
    specs.append(
        ResourceSpec(
            f"{name}:url",
            "aws:lambda/functionUrl:FunctionUrl",
            f"{plan.name}-{name}-url",
            url,
            (),
            ready,
        )
    )
    return Group("StreamingUrl", f"{plan.name}-{name}", tuple(specs), groups=(function,))
