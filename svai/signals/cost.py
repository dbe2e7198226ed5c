"""Cost to date (this calendar month, UTC) of one deployment on one cloud, from its billing API.

Each cloud's billing data finds the deployment by what the backend puts on every resource (the
``svai-name`` tag or label, or its resource group); the reader is the cloud's signals module's
``cost`` (``svai.signals.<cloud>``), which names its API in ``COST_SOURCE``.

Billing data lags (hours on every cloud), so the figure trails the spend. A cloud that cannot say
gives a :class:`Cost` with no amount and a note naming what is missing, rather than an error:
``svai status`` shows the live signals either way. Each reader's endpoint can be pointed elsewhere
by an environment variable (its module says which), which is how the tests reach moto and
loopback fakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from svai.errors import DeployError, ToolMissingError
from svai.signals.model import cloud_module

__all__ = ["TAG", "Answer", "Cost", "cost_to_date"]

TAG = "svai-name"
"""The tag (or label) the backends put on every resource of a deployment."""

Answer = tuple[float | None, str | None, str | None]
"""What a cloud's ``cost`` reader returns: the amount, its currency, and a note (or ``None``)."""


@dataclass(frozen=True, slots=True)
class Cost:
    """One deployment's cost this month on one cloud.

    Attributes:
        cloud: The cloud's name.
        since: The first day counted (the month's first, UTC).
        until: The first day not counted (tomorrow).
        amount: What was spent, or ``None`` when the cloud could not say (``note`` says why).
        currency: The amount's currency (``USD`` unless the account bills in another).
        source: Which API answered.
        note: Why the amount is missing, or what it leaves out.
    """

    cloud: str
    since: date
    until: date
    amount: float | None
    currency: str | None
    source: str
    note: str | None = None

    def as_dict(self, budget_usd_month: float | None) -> dict[str, Any]:
        """JSON-ready, with the share of ``budget_usd_month`` spent (``None`` where unknown)."""
        share = None
        if self.amount is not None and budget_usd_month and self.currency == "USD":
            share = self.amount / budget_usd_month
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "amount": self.amount,
            "currency": self.currency,
            "budget_usd_month": budget_usd_month,
            "budget_share": share,
            "source": self.source,
            "note": self.note,
        }


def cost_to_date(cloud: str, region: str, name: str, today: date | None = None) -> Cost:
    """Deployment ``name``'s cost on ``cloud`` (in ``region``) from the month's start to today.

    Missing credentials or a refused query give a :class:`Cost` without an amount, whose note
    says why (what to set, or what the cloud answered).

    Raises:
        svai.errors.UsageError: svai has no billing reader for ``cloud``.
    """
    day = today or datetime.now(UTC).date()
    since, until = day.replace(day=1), day + timedelta(days=1)
    reader = cloud_module(cloud, "billing reader")
    try:
        amount, currency, note = reader.cost(region, name, since, until)
    except (ToolMissingError, DeployError) as exc:
        return Cost(cloud, since, until, None, None, reader.COST_SOURCE, str(exc))
    return Cost(cloud, since, until, amount, currency, reader.COST_SOURCE, note)
