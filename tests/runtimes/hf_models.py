"""Tiny random-weight Hugging Face models, saved with ``save_pretrained`` as users save theirs.

Nothing is downloaded: the WordPiece tokenizer is built here with the ``tokenizers`` library, the
models from small configs with fixed seeds. Weights are random, so the tests check that svai's
answers equal the ``transformers`` pipeline's on the same inputs, not that they are right.
"""

from __future__ import annotations

from pathlib import Path

WORDS = [
    "the",
    "a",
    "an",
    "is",
    "was",
    "great",
    "terrible",
    "movie",
    "film",
    "food",
    "service",
    "paris",
    "london",
    "alice",
    "bob",
    "went",
    "to",
    "and",
    "in",
    "on",
    "of",
    "it",
    "this",
    "that",
    "very",
    "not",
    "good",
    "bad",
    "loved",
    "hated",
]
PIECES = ["##s", "##ed", "##ing", "##ly", "##er"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TEXTS = [
    "The movie was great",
    "Alice went to Paris and loved the food",
    "terrible service , not good at all !",
    "Bob hated London",
    "unknownword zzz",
]
TEXT_LABELS = {0: "negative", 1: "positive"}
TOKEN_LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
IMAGE_LABELS = {0: "cat", 1: "dog", 2: "bird"}


def tokenizer():  # type: ignore[no-untyped-def]
    """A BERT-style fast tokenizer over a small vocabulary (a ``PreTrainedTokenizerFast``)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    vocab = {token: i for i, token in enumerate([*SPECIAL, *WORDS, *PIECES, ",", "!", "."])}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(letter, len(vocab))
        vocab.setdefault(f"##{letter}", len(vocab))
    core = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=True)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    core.decoder = decoders.WordPiece()
    return BertTokenizerFast(tokenizer_object=core, model_max_length=64)


def _bert_config(labels: dict[int, str] | None = None):  # type: ignore[no-untyped-def]
    from transformers import BertConfig

    extra = {}
    if labels is not None:
        extra = {"id2label": labels, "label2id": {v: k for k, v in labels.items()}}
    return BertConfig(
        vocab_size=len(tokenizer().get_vocab()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        **extra,
    )


def text_classifier(folder: Path) -> Path:
    """A BERT sequence classifier with labels ``negative`` / ``positive``."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    BertForSequenceClassification(_bert_config(TEXT_LABELS)).save_pretrained(folder)
    tokenizer().save_pretrained(folder)
    return folder


def token_classifier(folder: Path) -> Path:
    """A BERT token classifier with BIO labels for people and places."""
    import torch
    from transformers import BertForTokenClassification

    torch.manual_seed(1)
    model = BertForTokenClassification(_bert_config(TOKEN_LABELS))
    with torch.no_grad():  # lift the entity classes so the random model finds some spans
        model.classifier.bias.copy_(torch.tensor([0.0, 0.3, 0.2, 0.3, 0.2]))
    model.save_pretrained(folder)
    tokenizer().save_pretrained(folder)
    return folder


def image_classifier(folder: Path) -> Path:
    """A ViT image classifier (32x32 input, 8x8 patches) with a ViT image processor."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(2)
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=IMAGE_LABELS,
        label2id={v: k for k, v in IMAGE_LABELS.items()},
    )
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def convnext_classifier(folder: Path) -> Path:
    """A ConvNeXT image classifier with ConvNeXT's processor: shortest edge 32 / 0.8, crop 32."""
    import torch
    from transformers import ConvNextConfig, ConvNextForImageClassification, ConvNextImageProcessor

    torch.manual_seed(4)
    config = ConvNextConfig(
        num_channels=3,
        patch_size=4,
        num_stages=2,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        image_size=32,
        id2label=IMAGE_LABELS,
        label2id={v: k for k, v in IMAGE_LABELS.items()},
    )
    ConvNextForImageClassification(config).save_pretrained(folder)
    ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.8).save_pretrained(folder)
    return folder


def resnet_classifier(folder: Path) -> Path:
    """A ResNet image classifier; ResNets ship ConvNeXT's processor (here 36 / 0.9, crop 36)."""
    import torch
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification

    torch.manual_seed(5)
    config = ResNetConfig(
        num_channels=3,
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        layer_type="basic",
        id2label=IMAGE_LABELS,
        label2id={v: k for k, v in IMAGE_LABELS.items()},
    )
    ResNetForImageClassification(config).save_pretrained(folder)
    ConvNextImageProcessor(size={"shortest_edge": 36}, crop_pct=0.9).save_pretrained(folder)
    return folder


def sentence_encoder(folder: Path) -> Path:
    """A sentence-transformers encoder: tiny BERT, mean pooling, L2 normalisation."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertModel

    torch.manual_seed(3)
    base = folder.parent / f"{folder.name}-base"
    BertModel(_bert_config()).save_pretrained(base)
    tokenizer().save_pretrained(base)
    word = models.Transformer(str(base), max_seq_length=64)
    pooling = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[word, pooling, models.Normalize()], device="cpu").save(str(folder))
    return folder


def images(count: int = 4) -> list[bytes]:
    """PNG files of seeded random pixels, in a few sizes (the processor resizes them)."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        size = (24 + 8 * i, 40 - 4 * i)
        pixels = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out
