"""The offline preview: recording under Pulumi mocks, isolated runs, secrets and unknowns."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from svai.backends.aws.cloud import mock_arn
from svai.backends.cloud import mock_id
from svai.backends.preview import COMPUTED, SECRET, record

CANARY = "canary-0b5e-never-recorded"


class Pair(pulumi.ComponentResource):
    """A component with a queue, a DLQ and a secret, chaining outputs between them."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("test:index:Pair", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.dlq = aws.sqs.Queue(f"{name}-dlq", name=f"{name}-dlq", opts=child)
        self.queue = aws.sqs.Queue(
            f"{name}-jobs",
            redrive_policy=self.dlq.arn.apply(lambda arn: json.dumps({"deadLetterTargetArn": arn})),
            opts=child,
        )
        secret = aws.secretsmanager.Secret(f"{name}-secret", opts=child)
        aws.secretsmanager.SecretVersion(
            f"{name}-secret-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(CANARY),
            opts=child,
        )
        self.register_outputs({"url": self.queue.url})


def two_components() -> None:
    Pair("alpha")
    Pair("beta", opts=pulumi.ResourceOptions())
    aws.s3.Bucket("loose", tags={"k": "v"})


def test_records_components_and_children_in_construction_order() -> None:
    resources = record(two_components)
    names = [r.name for r in resources]
    assert names == [
        "alpha",
        "alpha-dlq",
        "alpha-jobs",
        "alpha-secret",
        "alpha-secret-value",
        "beta",
        "beta-dlq",
        "beta-jobs",
        "beta-secret",
        "beta-secret-value",
        "loose",
    ]
    by_name = {r.name: r for r in resources}
    assert by_name["alpha"].type == "test:index:Pair"
    assert by_name["alpha"].parent is None and by_name["alpha"].component == "alpha"
    assert by_name["beta-jobs"].parent == "beta" and by_name["beta-jobs"].component == "beta"
    assert by_name["loose"].parent is None and by_name["loose"].component is None
    assert by_name["loose"].inputs == {"tags": {"k": "v"}}


def test_outputs_chain_through_plausible_mock_values() -> None:
    resources = {r.name: r for r in record(two_components)}
    redrive = json.loads(resources["alpha-jobs"].inputs["redrivePolicy"])
    assert redrive["deadLetterTargetArn"] == "arn:aws:sqs:us-east-1:123456789012:alpha-dlq"
    assert redrive["deadLetterTargetArn"] == mock_arn(resources["alpha-dlq"])
    assert resources["alpha-secret-value"].inputs["secretId"] == mock_id(
        "aws:secretsmanager/secret:Secret", "alpha-secret"
    )


def test_secrets_are_masked_and_never_recorded() -> None:
    resources = record(two_components)
    assert {
        r.name: r.inputs.get("secretString") for r in resources if "secretString" in r.inputs
    } == {
        "alpha-secret-value": SECRET,
        "beta-secret-value": SECRET,
    }
    assert CANARY not in json.dumps([dict(r.inputs) for r in resources])


def test_unknown_values_are_recorded_as_computed() -> None:
    def program() -> None:
        # An output property the mocks do not provide stays unknown in a preview.
        table = aws.dynamodb.Table(
            "t",
            attributes=[{"name": "id", "type": "S"}],
            hash_key="id",
            billing_mode="PAY_PER_REQUEST",
        )
        aws.s3.Bucket("p", tags={"label": table.stream_label})

    resources = {r.name: r for r in record(program)}
    assert resources["p"].inputs["tags"] == {"label": COMPUTED}


def test_assets_are_described_not_read(tmp_path: object) -> None:
    def program() -> None:
        aws.s3.BucketObjectv2("zip", bucket="b", key="k", source=pulumi.FileArchive("build/api"))
        aws.s3.BucketObjectv2("txt", bucket="b", key="t", source=pulumi.StringAsset(CANARY))

    resources = {r.name: r for r in record(program)}
    assert resources["zip"].inputs["source"] == "<archive:path:build/api>"
    assert resources["txt"].inputs["source"].startswith("<asset:text:sha256:")
    assert CANARY not in resources["txt"].inputs["source"]


def test_runs_are_isolated_and_see_their_project_and_stack() -> None:
    seen: list[tuple[str, str]] = []

    def first() -> None:
        seen.append((pulumi.get_project(), pulumi.get_stack()))
        aws.sqs.Queue("only-in-first")

    def second() -> None:
        seen.append((pulumi.get_project(), pulumi.get_stack()))
        aws.sqs.Queue("only-in-second")

    one = record(first, project="p1", stack="s1")
    two = record(second, project="p2", stack="s2")
    assert [r.name for r in one] == ["only-in-first"]
    assert [r.name for r in two] == ["only-in-second"]
    assert seen == [("p1", "s1"), ("p2", "s2")]


def test_same_program_twice_records_identical_resources() -> None:
    assert record(two_components) == record(two_components)


def test_a_failing_program_raises_and_the_next_run_still_works() -> None:
    def broken() -> None:
        aws.sqs.Queue("before-the-error")
        raise RuntimeError("program bug")

    with pytest.raises(RuntimeError, match="program bug"):
        record(broken)
    assert [r.name for r in record(two_components)][:2] == ["alpha", "alpha-dlq"]


def test_a_failure_inside_an_apply_is_raised() -> None:
    def broken() -> None:
        queue = aws.sqs.Queue("q")
        aws.sqs.Queue("r", redrive_policy=queue.arn.apply(lambda _: 1 / 0))

    with pytest.raises(ZeroDivisionError):
        record(broken)
    assert len(record(two_components)) == 11


def test_many_recordings_in_one_process_stay_independent() -> None:
    # Each recording holds exactly its own program's resources: nothing from the runs before it
    # (a leak would add their queues), nothing lost, nothing failing on the reused names.
    for index in range(20):

        def program(i: int = index) -> None:
            for j in range(i % 3 + 1):
                aws.sqs.Queue(f"q{j}", name=f"run{i}-q{j}")

        recorded = record(program)
        assert [r.name for r in recorded] == [f"q{j}" for j in range(index % 3 + 1)]
        assert [r.inputs["name"] for r in recorded] == [
            f"run{index}-q{j}" for j in range(index % 3 + 1)
        ]
