"""``svai.compiler``: the middle of the pipeline — from a resolved spec to deployment plans.

``catalog`` holds the offerings with their limits, prices and sources; ``needs`` what the model
asks of an instance and ``limits`` what an offering allows; ``traffic``, ``perf``, ``cost`` and
``bill`` model the load, the latency / cold starts, the model service's cost and the whole
deployment's; ``options`` evaluates an offering's configurations, ``advice`` what would help, and
``recommend`` picks an offering per target (or says why none can serve it) and explains it;
``lower`` turns a choice into a cloud-neutral :class:`svai.ir.DeploymentPlan`; ``version``
computes the model version id. ``planned`` holds a
compiled plan; ``report``, ``plan_report``, ``markdown`` and ``sarif`` render it; ``diff``
compares two; ``readiness`` holds the production-readiness rules; ``rollout`` and the release
state drive canary / blue-green releases.
"""

__all__: list[str] = []
