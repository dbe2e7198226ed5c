"""``svai.backends``: the fourth stage — turn a :class:`svai.ir.DeploymentPlan` into Pulumi resources.

One package per cloud (``aws``, ``gcp``, ``azure``), loaded lazily through ``registry``; the
offline preview (``preview``) records resources under Pulumi mocks; ``automation`` drives real
``preview``/``up``/``destroy`` through the Pulumi Automation API; ``rules`` checks what was recorded.
"""

__all__: list[str] = []
