"""Start a student from compressed teacher weights, as DistilBERT started from BERT's.

The student reads text with the teacher's WordPiece vocabulary, so each of its token
embeddings has a counterpart in the teacher's text encoder: a 384-d input embedding.
Projected onto their first principal components, down to the student's width, those
30,522 vectors give every token (seen in training or not) a starting point that already
places related words near each other. Sanh et al. (2019), "DistilBERT, a distilled
version of BERT", arXiv:1910.01108, initialise the student from the teacher likewise.
"""

from __future__ import annotations

import torch

from kd.models import Student, Teacher

# Standard deviation of the initial embeddings: larger than the random init's 0.02, so the
# structure the projection carries is not washed out by the first updates.
INIT_STD = 0.1


@torch.no_grad()
def compressed_token_embeddings(teacher: Teacher, dim: int) -> torch.Tensor:
    """The teacher's input token embeddings (V, D) projected on their top `dim` principal
    components: (V, dim), scaled to INIT_STD."""
    table = teacher.text_backbone.net.get_input_embeddings().weight  # (V, D)
    centred = table - table.mean(0)
    _, _, components = torch.pca_lowrank(centred, q=dim, center=False, niter=4)  # (D, dim)
    projected = centred @ components[:, :dim]  # (V, dim)
    return projected / projected.std() * INIT_STD


@torch.no_grad()
def init_from_teacher(student: Student, teacher: Teacher) -> None:
    """Overwrite the student's token embeddings with the teacher's, compressed."""
    if getattr(student, "text_encoder", None) is None:
        raise ValueError(
            f"student_init='teacher' starts a student's token embeddings from the teacher's, but "
            f"{type(student).__name__} has no token embeddings: use student_init='random' (--student-init random)"
        )
    weight = student.text_encoder.embedding.weight
    table = compressed_token_embeddings(teacher, weight.shape[1])
    if table.shape[0] != weight.shape[0]:
        raise ValueError(f"the teacher's vocabulary has {table.shape[0]} tokens, the student's {weight.shape[0]}")
    weight.copy_(table)
    weight[0].zero_()  # padding stays zero
