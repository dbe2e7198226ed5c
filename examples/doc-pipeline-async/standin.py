"""Train the suite's stand-in extractor and write the example's eval set: `python standin.py`.

The real extractor is a 1.4 GB layout model; the suite cannot hold it, so it seeds its loopback
S3 with this stand-in under the example's pin. It takes exactly what the pre-processing hook
(``src/pdf.py``) hands the model, the first 4,096 bytes of the document, and answers one of the
five fields the post-processing hook names: the contract's governing law, with a confidence.

The documents are synthetic one-page PDFs (text in an uncompressed content stream) drawn from a
fixed-seed generator: two parties, each with the place it is incorporated in (one time in four a
governing-law place, which may not be this contract's: a distractor), an effective date, a term,
and a governing-law clause in one of several wordings. The graph counts hashed byte bigrams, takes
their log, and applies a multinomial logistic regression trained here on 800 documents; a
further 200, never seen in training, become ``eval/contracts.jsonl`` (the request body and the
expected governing law). Weights are rounded so that the same run writes the same bytes.

    python standin.py [MODEL_PATH]

MODEL_PATH defaults to ``tests/fixtures/sources/extractor.onnx`` in this repository (the file
the suite seeds); the example's ``model.sha256`` pins its digest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).parent
DEFAULT_MODEL = HERE.parents[1] / "tests" / "fixtures" / "sources" / "extractor.onnx"
TRAIN, HELD_OUT = 800, 200
BUCKETS = 1024  # hashed byte-bigram features
WINDOW = 4096  # what src/pdf.py:rasterise passes on

LAWS = ("England and Wales", "New York", "Delaware", "Ireland")
# Where a party is incorporated: mostly elsewhere, but one time in four one of the governing-law
# places, which then names a law the contract may not be governed by (a distractor).
ELSEWHERE = ("California", "Texas", "Ontario", "Scotland", "Singapore")
CLAUSES = (
    "This Agreement shall be governed by the laws of {}.",
    "This Agreement is governed by and construed in accordance with the law of {}.",
    "The laws of {} govern this Agreement and any dispute arising from it.",
    "Governing law: {}. The courts of {} have exclusive jurisdiction.",
)
NAMES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne",
         "Wonka", "Tyrell", "Cyberdyne", "Soylent", "Massive Dynamic", "Aperture", "Gringotts")  # fmt: skip
KINDS = ("Ltd", "LLC", "Inc.", "plc", "Holdings Limited", "Corporation")
SERVICES = ("software maintenance", "logistics", "cleaning services", "payroll processing",
            "data hosting", "legal translation", "equipment leasing", "catering")  # fmt: skip


def _pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose content stream shows ``lines`` (PDF string escapes applied)."""
    shown = "".join(
        "({}) Tj T*\n".format(t.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)"))
        for t in lines
    )
    stream = f"BT /F1 10 Tf 12 TL 72 720 Td\n{shown}ET\n".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%sendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def contracts(n: int, rng: np.random.Generator) -> tuple[list[bytes], list[str]]:
    """``n`` contract PDFs and the governing law of each."""
    documents, laws = [], []
    for _ in range(n):
        law = LAWS[rng.integers(len(LAWS))]
        a, b = rng.choice(len(NAMES), size=2, replace=False)
        party_a = f"{NAMES[a]} {KINDS[rng.integers(len(KINDS))]}"
        party_b = f"{NAMES[b]} {KINDS[rng.integers(len(KINDS))]}"
        where_a, where_b = (
            LAWS[rng.integers(len(LAWS))] if rng.random() < 0.25 else ELSEWHERE[rng.integers(5)]
            for _ in range(2)
        )
        clause = CLAUSES[rng.integers(len(CLAUSES))].format(law, law)
        year, month, day = 2020 + rng.integers(7), 1 + rng.integers(12), 1 + rng.integers(28)
        lines = [
            f"{SERVICES[rng.integers(len(SERVICES))].upper()} AGREEMENT",
            f"This Agreement is made on {year}-{month:02d}-{day:02d} between",
            f"{party_a}, a company incorporated in {where_a} (the Supplier), and",
            f"{party_b}, a company incorporated in {where_b} (the Customer).",
            f"1. Term. This Agreement runs for {int(rng.choice([6, 12, 24, 36, 60]))} months.",
            f"2. Fees. The Customer pays {int(rng.integers(1, 90)) * 1000} per month.",
            "3. Confidentiality. Each party keeps the other's information confidential.",
        ]
        lines.insert(int(rng.integers(5, len(lines) + 1)), f"4. {clause}")
        documents.append(_pdf(lines))
        laws.append(law)
    return documents, laws


def bigram_counts(documents: list[bytes]) -> np.ndarray:
    """log(1 + count) of hashed byte bigrams in each document's first WINDOW bytes.

    The same arithmetic as the ONNX graph: ``(256 * b[i] + b[i + 1]) mod BUCKETS``.
    """
    rows = np.zeros((len(documents), BUCKETS), dtype=np.float32)
    for row, document in zip(rows, documents, strict=True):
        b = np.frombuffer(document[:WINDOW], dtype=np.uint8).astype(np.int64)
        np.add.at(row, (256 * b[:-1] + b[1:]) % BUCKETS, 1.0)
    return np.log1p(rows)


def graph(weights: np.ndarray, bias: np.ndarray) -> onnx.ModelProto:
    """Bytes [batch, length] int64 -> governing_law [batch] string, its confidence [batch]."""
    init = [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one"),
        numpy_helper.from_array(np.array([1 << 62], dtype=np.int64), "end"),
        numpy_helper.from_array(np.array(256, dtype=np.int64), "shift"),
        numpy_helper.from_array(np.array(BUCKETS, dtype=np.int64), "buckets"),
        numpy_helper.from_array(np.array([0.0, 1.0], dtype=np.float32), "off_on"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "unit"),
        numpy_helper.from_array(weights.astype(np.float32), "weights"),
        numpy_helper.from_array(bias.astype(np.float32), "bias"),
        numpy_helper.from_array(np.array(LAWS, dtype=object), "laws"),
    ]
    nodes = [
        helper.make_node("Slice", ["inputs", "zero", "minus_one", "one"], ["first"]),
        helper.make_node("Slice", ["inputs", "one", "end", "one"], ["second"]),
        helper.make_node("Mul", ["first", "shift"], ["high"]),
        helper.make_node("Add", ["high", "second"], ["pair"]),
        helper.make_node("Mod", ["pair", "buckets"], ["bucket"]),
        helper.make_node("OneHot", ["bucket", "buckets", "off_on"], ["hot"], axis=-1),
        helper.make_node("ReduceSum", ["hot", "one"], ["counts"], keepdims=0),
        helper.make_node("Add", ["counts", "unit"], ["counts_1"]),
        helper.make_node("Log", ["counts_1"], ["features"]),
        helper.make_node("MatMul", ["features", "weights"], ["scores"]),
        helper.make_node("Add", ["scores", "bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        helper.make_node("ArgMax", ["logits"], ["best"], axis=1, keepdims=0),
        helper.make_node("Gather", ["laws", "best"], ["governing_law"], axis=0),
        helper.make_node(
            "ReduceMax", ["probabilities"], ["governing_law_confidence"], axes=[1], keepdims=0
        ),
    ]
    model = helper.make_model(
        helper.make_graph(
            nodes,
            "standin-extractor",
            [helper.make_tensor_value_info("inputs", TensorProto.INT64, ["batch", "length"])],
            [
                helper.make_tensor_value_info("governing_law", TensorProto.STRING, ["batch"]),
                helper.make_tensor_value_info(
                    "governing_law_confidence", TensorProto.FLOAT, ["batch"]
                ),
            ],
            init,
        ),
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="svai-examples-standin",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> None:
    """Train the stand-in, write it to MODEL_PATH and the held-out contracts to the eval set."""
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_MODEL
    rng = np.random.default_rng(20261001)
    documents, laws = contracts(TRAIN + HELD_OUT, rng)
    seen = set(documents[:TRAIN])
    held_out = [(d, law) for d, law in zip(documents[TRAIN:], laws[TRAIN:], strict=True)
                if d not in seen]  # fmt: skip
    classifier = LogisticRegression(C=1.0, max_iter=2000)
    classifier.fit(bigram_counts(documents[:TRAIN]), laws[:TRAIN])
    order = [list(classifier.classes_).index(law) for law in LAWS]
    weights = np.round(classifier.coef_[order].T, 4)
    bias = np.round(classifier.intercept_[order], 4)
    data = graph(weights, bias).SerializeToString()
    target.write_bytes(data)
    with (HERE / "eval" / "contracts.jsonl").open("w", encoding="utf-8") as out:
        for document, law in held_out:
            body = {"document": base64.b64encode(document).decode(), "pages": 1}
            out.write(json.dumps({"input": body, "expected": law}) + "\n")
    print(f"{target}: sha256 {hashlib.sha256(data).hexdigest()}; {len(held_out)} eval lines")


if __name__ == "__main__":
    main()
