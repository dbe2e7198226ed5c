"""Write ``eval/tickets.jsonl``: 100 support messages and what a good draft reply must mention.

Each line is one OpenAI chat request, as callers send it (greedy, so a run is repeatable), and
the phrases a reviewer looks for in the draft: the order or account it is about and the action
to take. The gate (``metric: scorer``, ``eval/score.py:coverage``) averages the share of those
phrases each reply covers. Deterministic: the same run writes the same bytes.

    python make_eval.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
ITEMS = ("kettle", "desk lamp", "rain jacket", "blender", "headphones")
# (customer message, phrases the draft must mention); {order} and {item} are filled in.
TICKETS = (
    ("Where is my order {order}? It was due on Monday.", ["{order}", "tracking"]),
    ("My {item} from order {order} arrived broken. Can I get a refund?", ["{order}", "refund"]),
    ("Please cancel order {order}, I ordered the wrong {item}.", ["{order}", "cancel"]),
    ("I can't log in to my account to check order {order}.", ["password", "reset"]),
    ("Can you send order {order} to my new address instead?", ["{order}", "address"]),
)


def lines() -> list[dict[str, object]]:
    """100 eval lines: every ticket kind for 20 orders, in a fixed order."""
    out: list[dict[str, object]] = []
    for n in range(20):
        order, item = f"A{10_000 + 37 * n}", ITEMS[n % len(ITEMS)]
        for message, phrases in TICKETS:
            body = {
                "messages": [{"role": "user", "content": message.format(order=order, item=item)}],
                "max_tokens": 48,
                "temperature": 0,
            }
            out.append(
                {"input": body, "expected": [p.format(order=order, item=item) for p in phrases]}
            )
    return out


def main() -> None:
    """Write the eval set beside this script."""
    with (HERE / "eval" / "tickets.jsonl").open("w", encoding="utf-8") as out:
        for line in lines():
            out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
