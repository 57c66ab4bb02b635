"""Transfer sets: unlabelled inputs the teacher labels for the student.

A student can be distilled on inputs nobody labelled: the teacher's soft labels are the
targets (Hinton, Vinyals & Dean, 2015, section 3, "a transfer set"). A student matches its
teacher only where it has seen the teacher's function, so the transfer set reaches well
beyond the emoji the student trains on (Beyer et al., 2022, "Knowledge distillation: A
good teacher is patient and consistent", arXiv:2106.05237; Stanton et al., 2021, "Does
Knowledge Distillation Really Work?", arXiv:2106.05945):

- **words**: every whole word of the teacher's WordPiece vocabulary (about 21,700: "dog",
  "pizza", "violin", ...) and, per the recipe, the most common English words (`wordfreq`),
  each shown as a text without a picture. The teacher's text encoder was pretrained on a
  billion sentences and knows what most words are; the student has only read the ~1,300
  emoji names of the training split. It learns the rest from the teacher's answers.
- **pictures**: the training emoji, clip art that is not emoji (`kd.data.clipart`) and
  augmented views of both (`kd.training.augment`), shown alone or with a word. The teacher answers
  each; the student learns how the teacher sees pictures unlike emoji and how it weighs a
  picture against a text (function matching).

No label is used. The words come from the tokenizer and from word-frequency lists, not
from the dataset, and any text of a held-out emoji is left out.
"""

from __future__ import annotations

import hashlib
import json

import torch

from kd import cache
from kd.config import DistillConfig
from kd.data.text import vocabulary_words
from kd.models.classifiers import Student, Teacher
from kd.training.features import picture_inputs

# Bump when the word list or the way its features are computed changes.
TRANSFER_VERSION = 1


def common_words(count: int) -> list[str]:
    """The `count` most frequent English words of `wordfreq` that are alphabetic and
    longer than one letter, most frequent first."""
    if count <= 0:
        return []
    try:
        from wordfreq import top_n_list
    except ImportError as e:
        raise ImportError("The common-words transfer set needs wordfreq: pip install -r requirements.txt") from e
    return [w for w in top_n_list("en", count) if len(w) > 1 and w.isascii() and w.isalpha()]


# Words per phrase, and how many of the most frequent words phrases draw from.
PHRASE_WORDS = (2, 3, 4)
PHRASE_POOL = 20_000


def common_phrases(count: int, seed: int = 0) -> list[str]:
    """`count` short phrases of two to four frequent English words, drawn at random with a
    fixed seed, the more frequent words more often (weight 1 / sqrt(rank)): texts of several
    words, as a visitor types, on which the student learns how the teacher combines words
    (a text's mixup)."""
    if count <= 0:
        return []
    pool = common_words(PHRASE_POOL)
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(PHRASE_WORDS)[torch.randint(0, len(PHRASE_WORDS), (count,), generator=g)]
    weights = torch.arange(1, len(pool) + 1, dtype=torch.float).rsqrt()
    picks = torch.multinomial(weights, count * max(PHRASE_WORDS), replacement=True, generator=g).view(count, -1)
    return [" ".join(pool[i] for i in row[:n].tolist()) for row, n in zip(picks, lengths.tolist())]


def transfer_words(common: int, max_tokens: int = 32, phrases: int = 0) -> list[str]:
    """The vocabulary's whole words, then `common` frequent English words not among them,
    then `phrases` short phrases of frequent words."""
    words = vocabulary_words(max_tokens)
    return list(dict.fromkeys(words + common_words(common) + common_phrases(phrases)))


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
    - a picture with a word;
    - a picture alone;
    - a picture with its own caption (an emoji's name, a clip-art file's words), when the
      pictures come with captions: how the teacher weighs a picture and a text that agree.

    The pictures are canonical uint8 pictures, each with the teacher's cached image
    features: the training emoji, and (per the recipe) clip art that is not emoji and
    augmented views of both (`kd.training.augment`). Each batch carries the student's inputs and the
    teacher's features for exactly the same inputs, so the teacher's soft labels are
    computed on what the student sees.
    """

    def __init__(
        self,
        teacher: Teacher,
        student: Student,
        pictures: torch.Tensor,  # (P, 3, S, S) uint8 canonical pictures
        teacher_image: torch.Tensor,  # (P, Di) the teacher's features of the same pictures
        exclude: set[str] = frozenset(),  # texts never to show: those of held-out examples
        words: list[str] | None = None,  # None: the vocabulary's words; []: no words at all
        seed: int = 0,
        captions: list[str] | None = None,  # each picture's own text, "" for none; None: no captions
        mix: tuple[float, float, float, float] = DistillConfig.transfer_mix,  # share of each kind of example
    ):
        if len(pictures) != len(teacher_image):
            raise ValueError(f"{len(pictures)} pictures but {len(teacher_image)} rows of teacher features")
        if captions is not None and len(captions) != len(pictures):
            raise ValueError(f"{len(pictures)} pictures but {len(captions)} captions")
        self.student = student
        has_image = "image" in student.modalities
        has_text = "text" in student.modalities
        words = vocabulary_words(student.config.max_tokens) if words is None else words
        words = [w for w in words if w not in exclude] if has_text else []
        self.token_ids = student.preprocess(None, words)["token_ids"] if words else None  # (W, L)
        self.teacher_text = word_features(teacher, words) if words else torch.zeros(1, teacher.text_backbone.out_dim)
        if not has_image:
            pictures, teacher_image = pictures[:0], teacher_image[:0]
        self.pictures, self.teacher_image = pictures, teacher_image
        # The student's inputs of every picture, computed once ("pixels" or "trunk_maps").
        self.picture_inputs = picture_inputs(student, pictures) if len(pictures) else {}
        has_pictures = len(pictures) > 0
        # Captioned pictures: which pictures have one, and each caption's inputs (texts
        # shared by many pictures, an emoji's name by its views, are encoded once).
        captions = [c if c not in exclude else "" for c in captions] if captions is not None and has_image and has_text else []
        unique = sorted({c for c in captions if c})
        index = {c: i for i, c in enumerate(unique)}
        self.caption_of = torch.tensor([index.get(c, -1) for c in captions], dtype=torch.long)  # -1: none
        self.captioned = torch.nonzero(self.caption_of >= 0).flatten()  # the pictures that have one
        self.caption_ids = student.preprocess(None, unique)["token_ids"] if unique else None
        self.teacher_caption = word_features(teacher, unique) if unique else None
        if len(mix) != 4 or min(mix) < 0:
            raise ValueError(f"mix is four shares, none negative (word, picture + word, picture, picture + caption), not {mix}")
        word, pair, alone, captioned = mix
        shares = [word if words else 0.0, pair if words and has_pictures else 0.0, alone if has_pictures else 0.0,
                  captioned if len(self.captioned) else 0.0]
        if not any(shares):
            raise ValueError("nothing to transfer to this student: no words it can read and no pictures it can see")
        self.shares = torch.tensor(shares, dtype=torch.float)
        self.generator = torch.Generator().manual_seed(seed + 2)
        self.size = max(len(words), 1)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        g = self.generator
        # 0 word, 1 picture + word, 2 picture alone, 3 picture + its caption
        kind = torch.multinomial(self.shares, batch_size, replacement=True, generator=g)
        word = torch.randint(0, self.size, (batch_size,), generator=g)
        picture = torch.randint(0, max(len(self.pictures), 1), (batch_size,), generator=g)
        captioned = kind == 3
        if captioned.any():
            picture[captioned] = self.captioned[torch.randint(0, len(self.captioned), (int(captioned.sum()),), generator=g)]
        has_image, has_text = kind > 0, kind != 2
        teacher_text = self.teacher_text[word]
        if captioned.any():
            teacher_text[captioned] = self.teacher_caption[self.caption_of[picture[captioned]]]
        batch = {
            "has_text": has_text,
            "has_image": has_image,
            "teacher_text": teacher_text * has_text[:, None],
            "teacher_has_image": has_image,
            "teacher_has_text": has_text,
        }
        if len(self.pictures):
            batch.update({k: v[picture] for k, v in self.picture_inputs.items()})
            batch["teacher_image"] = self.teacher_image[picture] * has_image[:, None]
        else:
            batch["teacher_image"] = torch.zeros(batch_size, self.teacher_image.shape[1])
        if self.token_ids is not None or captioned.any():
            token_ids = self.token_ids[word] if self.token_ids is not None else torch.zeros(batch_size, 0, dtype=torch.long)
            if captioned.any():
                token_ids = _with_rows(token_ids, captioned, self.caption_ids[self.caption_of[picture[captioned]]])
            batch["token_ids"] = token_ids
        return batch


def _with_rows(ids: torch.Tensor, rows: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """`ids` (B, L) with the `rows` mask replaced by `values` (R, L'), padding with 0 to the longer width."""
    width = max(ids.shape[1], values.shape[1])
    out = torch.nn.functional.pad(ids, (0, width - ids.shape[1]))
    out[rows] = torch.nn.functional.pad(values, (0, width - values.shape[1]))
    return out
