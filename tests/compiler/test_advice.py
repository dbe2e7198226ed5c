"""What svai proposes when nothing meets the targets: evaluated, ranked by effect, honest."""

from __future__ import annotations

from svai.backends.registry import ASYNC_WORKERS, OFFERINGS
from svai.compiler.recommend import recommend
from svai.compiler.recommendation import TargetRecommendation
from svai.spec import load_spec_text, resolve

RARE = """
version: 1
name: rare
model: {{artifact: model.onnx, framework: onnx, size: 200MB, load_time: 3s,
        inference_time: 20ms}}
api: {{mode: sync}}
latency: {{p95: 150ms, p99: 250ms}}
traffic: {{pattern: steady, baseline_rps: 0.002}}
targets:
  - {{cloud: aws, region: us-east-1, overrides: {{offering: aws.lambda.image{extra}}}}}
"""


def aws(extra: str = "") -> TargetRecommendation:
    spec = resolve(load_spec_text(RARE.format(extra=extra)))
    return recommend(spec, buildable=OFFERINGS, async_workers=ASYNC_WORKERS).targets[0]


def test_a_warm_pool_is_proposed_where_it_moves_the_percentile() -> None:
    free = aws()
    assert free.meets_target and free.choice.warm_instances >= 1  # cold starts drive the pool
    pinned = aws(", min_instances: 0")
    assert not pinned.meets_target
    changes = [p.change for p in pinned.proposals]
    assert "warm_pool" in changes, changes
    warm = pinned.proposals[changes.index("warm_pool")]
    assert warm.meets_target and warm.predicted is not None
    assert warm.predicted.p99_ms <= 250
    assert not any("would not help" in note for note in pinned.notes)


def test_proposals_are_ranked_by_the_miss_that_remains_and_targets_come_last() -> None:
    pinned = aws(", min_instances: 0")
    evaluated = [p for p in pinned.proposals if p.change not in ("target", "timeout")]
    assert evaluated and all(p.predicted is not None for p in evaluated)
    meets = [p.meets_target for p in evaluated]
    assert meets == sorted(meets, reverse=True)  # the ones that meet come first
    assert pinned.proposals[-1].change == "target"
    assert "latency.p99" in pinned.proposals[-1].summary
