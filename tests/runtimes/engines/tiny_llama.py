"""A tiny random-weight Llama with a real tokenizer and chat template, saved like a hub folder.

Built offline in the test: a word-level ``tokenizers`` tokenizer over a small vocabulary, a
2-layer ``LlamaConfig`` with hidden size 32, weights from a fixed seed, ``save_pretrained``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> "
    "{% endfor %}{% if add_generation_prompt %}<|assistant|> {% endif %}"
)
WORDS = [
    "hello",
    "world",
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "on",
    "mat",
    "is",
    "big",
    "small",
    "red",
    "blue",
    "green",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "and",
    "or",
    "not",
    "yes",
    "no",
    "why",
    "how",
    "what",
    "who",
    "when",
    "where",
    "sun",
    "moon",
    "star",
    "sky",
]
SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]


def word_tokenizer(words: list[str]) -> Any:
    """A fast word-level tokenizer over ``SPECIAL + words`` with the chat template above."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIAL + words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=SPECIAL[4:],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def save_tiny_llama(folder: Path, *, chat_template: bool = True, seed: int = 0) -> Path:
    """Write the folder (config, tokenizer files, model.safetensors) and return it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    fast = word_tokenizer([*WORDS, ".", ",", "!", "?"])
    if not chat_template:
        fast.chat_template = None
    vocab = fast.get_vocab()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),  # no added tokens: SPECIAL are in the word list
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
        pad_token_id=vocab["<pad>"],
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        # Logits of about +-10 with end-of-sequence pinned at 0: a random model then (almost
        # surely) never ends by itself, so generation runs to max_tokens or a stop string.
        model.lm_head.weight.mul_(50.0)
        model.lm_head.weight[vocab["</s>"]] = 0.0
        model.lm_head.weight[vocab["<unk>"]] = 0.0
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
