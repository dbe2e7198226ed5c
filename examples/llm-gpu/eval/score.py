"""The llm-gpu gate's scorer: how much of what a reviewer needs a draft reply covers."""

from __future__ import annotations


def coverage(reply: str, expected: list[str]) -> float:
    """The share of ``expected`` phrases the reply mentions (case-insensitive), in [0, 1].

    Each eval line lists what a good draft must name: the order number it is about, the action
    the agent should take (``refund``, ``reset``, ``tracking``). Wording is free; omissions count.
    """
    text = reply.casefold()
    return sum(phrase.casefold() in text for phrase in expected) / len(expected)
