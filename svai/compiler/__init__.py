"""``svai.compiler``: the middle of the pipeline — from a resolved spec to deployment plans.

``catalog`` holds the offerings with their limits, prices and sources; ``traffic``, ``perf`` and
``cost`` model the load, the latency / cold starts and the bill; ``recommend`` picks an offering
per target and explains the choice; ``lower`` turns a choice into a cloud-neutral
:class:`svai.ir.DeploymentPlan`; ``version`` computes the model version id. ``planned`` holds a
compiled plan; ``report``, ``plan_report``, ``markdown`` and ``sarif`` render it; ``diff``
compares two; ``readiness`` holds the production-readiness rules; ``rollout`` and the release
state drive canary / blue-green releases.
"""

__all__: list[str] = []
