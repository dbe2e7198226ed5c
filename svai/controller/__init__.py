"""``svai.controller``: the release controller that runs without a person in the loop.

A scheduled job the backends deploy beside each canary or blue/green deployment (Cloud Scheduler
+ a Cloud Run job, a Container Apps job, an EventBridge-scheduled Lambda) runs
``python -m svai.controller --once``: it reads the authoritative release state and the gate
policy from the deployment's bucket (:mod:`svai.controller.store`), the candidate's live signals
(:mod:`svai.signals`), decides with :func:`svai.compiler.gate.decide` exactly as ``svai promote``
does, and writes the new state back (:mod:`svai.controller.job`). ``docs/operate.md`` says how
each cloud runs it; ``docs/adr/0006-release-state-in-the-bucket.md`` why the state lives there.
"""
