"""Start a student's token embeddings from the teacher's text encoder, compressed.

The student reads text with the teacher's WordPiece vocabulary, so each of its 30,522
token embeddings has a counterpart in the teacher. Two ways to get it (`student_init`):

- "teacher": the encoder's *input* embedding of the token (384-d), as DistilBERT started
  from BERT's weights (Sanh et al., 2019, arXiv:1910.01108);
- "distilled": the encoder's *output* for the token alone, `[CLS] token [SEP]` through all
  of MiniLM, mean-pooled: what the teacher makes of the word, context and all, as Model2Vec
  distils static embeddings from a sentence encoder (Tulkens & van Dongen, 2024,
  github.com/MinishLab/model2vec). About a minute on 2 cores, cached.

Either table is projected onto its first principal components, down to the student's
width, fit on the whole-word tokens (the rows a student mostly reads) and applied to all,
so every token, seen in training or not, starts near the words it means.
"""

from __future__ import annotations

import torch

from kd import cache
from kd.models.classifiers import Student, Teacher

INITS = ("random", "teacher", "distilled")
# Bump when the distilled table is computed differently.
DISTILLED_VERSION = 1

# Standard deviation of the initial embeddings: larger than the random init's 0.02, so the
# structure the projection carries is not washed out by the first updates.
INIT_STD = 0.1


def _project(table: torch.Tensor, dim: int, fit_rows: torch.Tensor) -> torch.Tensor:
    """(V, D) -> (V, dim): onto the top `dim` principal components of `table[fit_rows]`, scaled to INIT_STD."""
    fit = table[fit_rows]
    mean = fit.mean(0)
    _, _, components = torch.pca_lowrank(fit - mean, q=dim, center=False, niter=4)  # (D, dim)
    projected = (table - mean) @ components[:, :dim]  # (V, dim)
    return projected / projected[fit_rows].std() * INIT_STD


def _whole_word_rows(teacher: Teacher) -> torch.Tensor:
    vocab = teacher.text_backbone.tokenizer.get_vocab()
    return torch.tensor(sorted(i for w, i in vocab.items() if len(w) > 1 and w.isascii() and w.isalpha()))


@torch.no_grad()
def token_outputs(teacher: Teacher, batch_size: int = 512) -> torch.Tensor:
    """(V, D): the teacher's text encoder on each token alone, `[CLS] t [SEP]`, mean-pooled
    (its sentence embedding of the one-token text); cached on disk."""
    backbone = teacher.text_backbone.eval()
    weights = backbone.weights.to_dict()
    key = cache.cache_key("token-outputs", DISTILLED_VERSION, weights) if weights["sha256"] else None
    path = cache.cached_tensors("features", key) if key else None
    if path is not None and (hit := cache.load_tensors(path)) is not None:
        return hit[0]["table"]
    vocab = len(backbone.tokenizer.get_vocab())
    cls_id, sep_id = backbone.tokenizer.token_to_id("[CLS]"), backbone.tokenizer.token_to_id("[SEP]")
    chunks = []
    for start in range(0, vocab, batch_size):
        ids = torch.arange(start, min(start + batch_size, vocab))
        input_ids = torch.stack([torch.full_like(ids, cls_id), ids, torch.full_like(ids, sep_id)], dim=1)  # (b, 3)
        chunks.append(backbone(input_ids, torch.ones_like(input_ids)))
    table = torch.cat(chunks)
    if path is not None:
        cache.save_tensors(path, {"table": table}, {"backbone": weights})
    return table


@torch.no_grad()
def compressed_token_embeddings(teacher: Teacher, dim: int, method: str = "teacher") -> torch.Tensor:
    """(V, dim): the teacher's input embeddings ("teacher") or its outputs per token
    ("distilled"), projected on their top `dim` principal components and scaled to INIT_STD."""
    if method == "teacher":
        table = teacher.text_backbone.net.get_input_embeddings().weight  # (V, D)
    elif method == "distilled":
        table = token_outputs(teacher)
    else:
        raise ValueError(f"method must be 'teacher' or 'distilled', not {method!r}")
    return _project(table, dim, _whole_word_rows(teacher))


@torch.no_grad()
def init_from_teacher(student: Student, teacher: Teacher, method: str = "teacher") -> None:
    """Overwrite the student's token embeddings with the teacher's, compressed (`method`: see the module)."""
    if getattr(student, "text_encoder", None) is None:
        raise ValueError(
            f"student_init={method!r} starts a student's token embeddings from the teacher's, but "
            f"{type(student).__name__} has no token embeddings: use student_init='random' (--student-init random)"
        )
    weight = student.text_encoder.embedding.weight
    table = compressed_token_embeddings(teacher, weight.shape[1], method)
    if table.shape[0] != weight.shape[0]:
        raise ValueError(f"the teacher's vocabulary has {table.shape[0]} tokens, the student's {weight.shape[0]}")
    weight.copy_(table)
    weight[0].zero_()  # padding stays zero
