"""Transfer sets: unlabelled inputs the teacher labels for the student.

A student can be distilled on inputs nobody labelled: the teacher's soft labels are the
targets (Hinton, Vinyals & Dean, 2015, section 3, "a transfer set"). Two such sets cost
nothing here, because the teacher's backbone features for them are cached:

- **words**: every whole word of the teacher's WordPiece vocabulary (about 21,700: "dog",
  "pizza", "violin", ...), shown as a text without a picture. The teacher's text
  encoder was pretrained on a billion sentences and knows what most words are; the
  student has only read the ~1,300 emoji names of the training split. It learns the rest
  from the teacher's answers.
- **recombined pairs**: a training picture shown with another text (a word of the
  vocabulary). The teacher answers every such pair; the student learns how the teacher
  weighs a picture against a text (function matching, Beyer et al., 2022, "Knowledge
  distillation: A good teacher is patient and consistent", arXiv:2106.05237).

No label is used. The words come from the tokenizer, not from the dataset: the names of
test emoji are never shown, though many of their words are English words the vocabulary
holds, as it holds most others.
"""

from __future__ import annotations

import hashlib
import json

import torch

from kd import cache
from kd.models import Student, Teacher, wordpiece_tokenizer

# Bump when the word list or the way its features are computed changes.
TRANSFER_VERSION = 1


def vocabulary_words(max_tokens: int = 32) -> list[str]:
    """Whole alphabetic words of the WordPiece vocabulary, in vocabulary order: no
    sub-word pieces ("##ing"), no single letters, no special or unused tokens."""
    vocab = wordpiece_tokenizer(max_tokens).get_vocab()
    return [w for w, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if len(w) > 1 and w.isascii() and w.isalpha()]


@torch.no_grad()
def word_features(teacher: Teacher, words: list[str], batch_size: int = 256) -> torch.Tensor:
    """The teacher's text-backbone features of each word, (W, Dt), cached on disk."""
    weights = teacher.text_backbone.weights.to_dict()
    digest = hashlib.sha256(json.dumps(words).encode()).hexdigest()
    key = cache.cache_key("word-features", TRANSFER_VERSION, weights, teacher.config.max_tokens, digest) if weights["sha256"] else None
    path = cache.cached_tensors("features", key) if key else None
    if path is not None and (hit := cache.load_tensors(path)) is not None:
        return hit[0]["text"]
    backbone = teacher.text_backbone.eval()
    text = torch.cat([backbone(**backbone.tokenize(words[i : i + batch_size])) for i in range(0, len(words), batch_size)])
    if path is not None:
        cache.save_tensors(path, {"text": text}, {"words": len(words), "backbone": weights})
    return text


class TransferSet:
    """Samples unlabelled transfer batches, each example one of:

    - a word alone (text only);
    - a training picture with a word;
    - an augmented, mixed view of training pictures alone (`kd.augment`), if views are given.

    Each batch carries the student's inputs and the teacher's cached features for exactly
    the same inputs, so the teacher's soft labels are computed on what the student sees.
    """

    def __init__(
        self,
        teacher: Teacher,
        student: Student,
        pixels: torch.Tensor,  # (P, 3, s, s) the student's training pictures, preprocessed
        teacher_image: torch.Tensor,  # (P, Di) the teacher's features of the same pictures
        exclude: set[str] = frozenset(),  # texts never to show: those of held-out examples
        words: list[str] | None = None,  # None: the vocabulary's words; []: no words at all
        view_pixels: torch.Tensor | None = None,  # (V, s', s') student inputs of augmented views, flattened
        view_teacher_image: torch.Tensor | None = None,  # (V, Di) the teacher's features of the same views
        seed: int = 0,
    ):
        has_image = "image" in student.config.modalities
        has_text = "text" in student.config.modalities
        words = vocabulary_words(student.config.max_tokens) if words is None else words
        words = [w for w in words if w not in exclude] if has_text else []
        self.token_ids = student.preprocess(None, words)["token_ids"] if words else None  # (W, L)
        self.teacher_text = word_features(teacher, words) if words else torch.zeros(1, teacher.text_backbone.out_dim)
        self.pixels, self.teacher_image = pixels, teacher_image
        self.view_pixels, self.view_teacher_image = view_pixels, view_teacher_image
        # Share of each kind of example: word alone, picture + word, augmented view alone.
        shares = [1.0 if words else 0.0, 0.5 if words and has_image else 0.0, 0.5 if has_image and view_pixels is not None else 0.0]
        if not any(shares):
            raise ValueError("nothing to transfer to this student: no words it can read and no augmented views")
        self.shares = torch.tensor(shares)
        self.generator = torch.Generator().manual_seed(seed + 2)
        self.size = max(len(words), 1)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        g = self.generator
        kind = torch.multinomial(self.shares, batch_size, replacement=True, generator=g)  # 0 word, 1 pair, 2 view
        word = torch.randint(0, self.size, (batch_size,), generator=g)
        picture = torch.randint(0, len(self.pixels), (batch_size,), generator=g)
        pixels, teacher_image = self.pixels[picture], self.teacher_image[picture]
        if self.view_pixels is not None:
            view = torch.randint(0, len(self.view_pixels), (batch_size,), generator=g)
            is_view = kind == 2
            pixels = torch.where(is_view[:, None, None, None], self.view_pixels[view], pixels)
            teacher_image = torch.where(is_view[:, None], self.view_teacher_image[view], teacher_image)
        has_image, has_text = kind > 0, kind < 2
        batch = {
            "pixels": pixels,
            "has_text": has_text,
            "has_image": has_image,
            "teacher_image": teacher_image * has_image[:, None],
            "teacher_text": self.teacher_text[word] * has_text[:, None],
            "teacher_has_image": has_image,
            "teacher_has_text": has_text,
        }
        if self.token_ids is not None:
            batch["token_ids"] = self.token_ids[word]
        return batch
