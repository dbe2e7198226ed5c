"""``svai.signals``: the runtime's live per-version signals, read back from each cloud.

The runtime writes one line per request (:mod:`svai.runtime.core.telemetry`); each cloud turns
those lines, or its own request metrics, into figures this package reads for one model version
over one time window: latency percentiles, error, cold-start and throttle counts, request count.
One module per cloud speaks that cloud's real API (CloudWatch ``GetMetricData``, Cloud Monitoring
``timeSeries.list``, Azure Monitor Logs ``query``); each endpoint can be pointed elsewhere by an
environment variable, which is how the tests reach moto and loopback fakes.

``svai promote`` reads them as the live evidence of its rollback gates (``docs/operate.md``).
"""

from __future__ import annotations

from svai.signals.model import Signals, Source, Window, combine, queue_age, read, window_ending

__all__ = ["Signals", "Source", "Window", "combine", "queue_age", "read", "window_ending"]
# svai.signals.evidence (the gates' live evidence) is imported by svai.release directly: it needs
# svai.compiler, which the readers do not.
