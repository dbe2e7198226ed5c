"""The AWS backend: lowers a plan to a blueprint, builds it, and names its rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi

from svai.backends.aws import arguments as args
from svai.backends.aws import components, deployments
from svai.backends.aws.foundation import links
from svai.backends.aws.lowering import lower
from svai.backends.aws.rules import RULES
from svai.backends.aws.services import proxy_identity
from svai.backends.base import Rule
from svai.backends.blueprint import Ref
from svai.ir import DeploymentPlan

__all__ = ["AwsBackend", "proxy_identity"]


class AwsBackend:
    """Compile a :class:`DeploymentPlan` to pulumi-aws resources.

    Pattern A (sync): API Gateway HTTP API -> Lambda (zip or image) with a ``live`` alias, or a
    proxy Lambda -> SageMaker endpoint. Pattern B (async): submit Lambda -> SQS (with DLQ) ->
    worker Lambda -> DynamoDB results, read by the status Lambda. Shared by both: KMS key,
    artifact bucket, alarms, dashboard, budget.
    """

    cloud = "aws"

    def __init__(
        self,
        *,
        build_dir: str = ".svai/build/aws",
        previous_lambda_versions: Mapping[str, str] | None = None,
    ) -> None:
        """Configure the backend.

        Args:
            build_dir: The target's ``svai build`` folder, holding ``model.tar.gz`` and
                ``function.zip``; uploaded on ``apply``, only named in a preview.
            previous_lambda_versions: Service name -> Lambda version number serving the
                previous model version (from the last apply's outputs), for weighted routing
                during a rollout.
        """
        self.build_dir = build_dir
        self.previous_lambda_versions = dict(previous_lambda_versions or {})

    def rules(self) -> Sequence[Rule]:
        """Return the AWS rules (``SVAI_AWS_###``)."""
        return RULES

    def program(self, plan: DeploymentPlan) -> None:
        """Create every resource of ``plan``; call inside a Pulumi program (real or mocked)."""
        blueprint = lower(
            plan, build_dir=self.build_dir, previous_lambda_versions=self.previous_lambda_versions
        )
        built = components.build(blueprint)[0].built
        link = links(plan, self.build_dir)
        for service in plan.services:
            name = service.name
            if service.compute.kind == "endpoint":
                if args.has_stream_url(plan, service):
                    url = built.resources[f"{name}-stream:url"]
                    pulumi.export("aws_stream_url", url.function_url)  # type: ignore[attr-defined]
            else:
                # `svai promote` / `rollback` route the alias back to this number later.
                version = built.resources[f"{name}:fn"].version  # type: ignore[attr-defined]
                pulumi.export(f"aws_lambda_version_{name}", version)
        for output, value in deployments.exports(link).items():  # the release's
            pulumi.export(output, built.resolve(value))
        pulumi.export("aws_url", built.resources["api"].api_endpoint)  # type: ignore[attr-defined]
        if plan.mode == "async":
            pulumi.export("aws_queue_url", built.resolve(Ref("jobs", "url")))
