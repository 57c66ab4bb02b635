"""Run settings as dataclasses, and the recipes that trained the shipped checkpoints.

Each setting travels inside the checkpoint it produced. Model shapes live next to their
models (`kd.models.classifiers`); this file holds what a run needs besides a model: which data, how to
train, how to distill, and at the end the recipes `python -m kd reproduce` follows, each
default written once and imported everywhere else (CLI, study, live tab, app).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class DataConfig:
    # "emoji" builds the emoji dataset from installed packages; anything else is the path
    # of a CSV with columns image,text,label (and optionally split, group).
    source: str = "emoji"
    # Emoji only: "category" (9 classes) or "subcategory" (~99 finer classes).
    label: str = "category"
    # Emoji only: art styles to draw; one whose package or font is missing is skipped and
    # reported by the dataset card.
    styles: tuple[str, ...] = ("twemoji", "openmoji", "noto")
    # Side of the canonical square picture every example is stored at. Twemoji ships 72 px
    # PNGs, so 72 loses nothing; each model resizes from here to its own input size.
    image_size: int = 72
    # Fractions of groups (emoji) held out; the rest is train. Splits are by group, so no
    # emoji appears in two splits in any style.
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    split_seed: int = 0
    # CSV only: drop rows that cannot be used (after reporting each with its line number)
    # instead of stopping.
    skip_bad_rows: bool = False


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    # Chance that a training example loses its image, or its text (never both), so the
    # model learns to answer from either modality alone.
    modality_dropout: float = 0.2
    # Fraction of training groups whose labels may be used (1.0 = all). The rest of the
    # training data stays available, unlabelled, for a teacher to label.
    label_fraction: float = 1.0
    # Torch threads for training; 0 leaves torch's default.
    threads: int = 0


@dataclass
class DistillConfig:
    # Softmax temperature T at which the student matches the teacher (Hinton et al., 2015).
    # Hinton's usual 4: the study's sweep (1 to 8) moves the student by about its seeds' spread.
    temperature: float = 4.0
    # Weight of the distillation term; 1 - alpha goes to cross-entropy on true labels.
    # alpha = 0 trains on labels alone (the scratch baseline).
    alpha: float = 0.9
    # Weight of the hint loss matching the student's fused embedding to the teacher's.
    hint_weight: float = 0.0
    # Weight of a hint on the picture branch (FitNets, Romero et al., 2015): the student's
    # picture features, projected, match the teacher's image-backbone features on every
    # picture it is shown, so the small CNN learns what the teacher sees, not only its 9
    # probabilities. Needs the real teacher (its cached features), not its recorded answers.
    picture_hint: float = 0.0
    # Distil on a transfer set as well (kd.training.transfer): vocabulary words alone, and training
    # pictures paired with words, labelled by the teacher. Needs alpha > 0.
    transfer: bool = False
    # With the transfer set: this many of the most common English words (wordfreq) join
    # the vocabulary's words, so the student meets the words people type, not only emoji names.
    words: int = 0
    # With the transfer set: clip art that is not emoji (kd.data.clipart, Debian's
    # openclipart-png), so the student meets pictures unlike its training emoji.
    pictures: bool = False
    # With clip art: at most this many pictures from each of its folders, picked by a hash of
    # the file name (0: every picture). The tree is lopsided (1,378 stars, 2,158 computer
    # icons): every picture, about 7,100 instead of about 3,500, made the student follow its
    # teacher less closely (the study's row "every clip-art picture").
    pictures_per_folder: int = 60
    # With clip art: Tux Paint's stamps too (kd.data.stamps, Debian's tuxpaint-stamps-default):
    # two thirds of its ~770 cut-out photographs and drawings of everyday things, the nearest to
    # a visitor's photo that installs offline (the other third is the stamps check).
    stamps: bool = False
    # With the transfer set: this many short phrases of frequent words (two to four), so the
    # student learns how the teacher reads texts of several words, not only single words.
    phrases: int = 0
    # With transfer pictures: each may also be shown with its own caption (a training emoji's
    # name, a clip-art file's words), so the student learns how the teacher weighs a picture
    # and a text that agree, as a visitor's caption agrees with their picture.
    captions: bool = False
    # Consistent augmentation (kd/training/augment.py): this many augmented views of each training
    # picture (and clip-art picture) join the transfer set, with the teacher's features
    # computed on each view. 0: none. About 60 ms per view and picture, once (cached). The
    # tenth release's six, trained 120 epochs: against one view at 60 epochs (3 seeds) it follows
    # the teacher about three points more closely on clip art from the picture alone, the text
    # about as closely; two views (seed 0) and three (3 seeds) at 60 epochs moved it within the spread.
    views: int = 0
    # Transfer examples per step, next to each batch of training examples.
    transfer_batch: int = 384
    # The share of each kind of transfer example (kd.training.transfer.TransferSet): a word
    # alone, a picture with a word, a picture alone, a picture with its own caption.
    transfer_mix: tuple[float, float, float, float] = (1.0, 0.5, 0.75, 0.5)
    # The student's token embeddings: "random", or from the teacher's text encoder,
    # compressed (kd.models.compress): "teacher" (its input embeddings) or "distilled" (its
    # outputs per token, Model2Vec's method). Works with any alpha, 0 included.
    student_init: str = "random"
    # Which epoch's weights the student keeps: "val_accuracy" (the best on the validation
    # labels, as a model trained on labels is picked), "val_agreement" (the one that follows
    # the teacher best there) or "last". Picked by validation accuracy, the shipped seven-block
    # student kept its 10th epoch of 30, though the teacher's answers on the transfer set were
    # still being learned (its loss there fell by a third after): validation accuracy on ~400
    # emoji wobbles by a point from epoch to epoch and says nothing of pictures unlike them.
    keep: str = "val_accuracy"

    @property
    def uses_teacher(self) -> bool:
        """False for the labels-only baseline, which never consults the teacher."""
        return self.alpha > 0 or self.hint_weight > 0 or self.picture_hint > 0


# DistillConfig.keep's choices.
KEEP = ("val_accuracy", "val_agreement", "last")


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(cls: type[T], values: dict[str, Any]) -> T:
    """Rebuild a config dataclass from `to_dict` output; unknown keys are an error."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"{cls.__name__} has no setting(s) {', '.join(unknown)}")
    kwargs = {}
    for key, value in values.items():
        default = names[key].default
        kwargs[key] = tuple(value) if isinstance(value, list) and isinstance(default, tuple) else value
    return cls(**kwargs)


# ---------------------------------------------------------------------------- recipes

# The temperatures a person may pick, on every surface (demo slider, API, live tab): below
# 1 the charts only sharpen what T = 1 shows, above 20 every distribution is flat.
TEMPERATURES = (1.0, 20.0)

# Torch threads to serve with (the app, and `python -m kd evaluate`'s latency, which times
# the models as they serve). A request is batch 1, so a second thread saves little, and on
# a busy or shared 2-core machine (a Space) the threads wait on each other and on the web
# server: we measured requests up to 100 times slower with 2 threads than with 1.
SERVING_THREADS = 1

# What `python -m kd reproduce` trains. Chosen on the validation split.
TEACHER_TRAIN = TrainConfig(epochs=40, batch_size=128, lr=1e-3, weight_decay=0.05, modality_dropout=0.2)
# 30 epochs: validation accuracy is flat after about 25. (The student's frozen trunk runs
# once per picture, not at every step: `Student.training_inputs`.) The cross-modal students
# and the study's earlier rows train this long.
STUDENT_TRAIN = TrainConfig(epochs=30, batch_size=128, lr=3e-3, weight_decay=1e-4, modality_dropout=0.2)
# The shipped student, and its twin on labels alone, train six times as long: the teacher's
# answers on the transfer set take longer to learn than the labels (a patient teacher, Beyer
# et al., 2022). At 30 epochs the student still missed the teacher's answer on a third of
# the clip-art pictures it trained on; 60 followed the teacher more closely on the test split
# and on clip art; 120, with six views of each transfer picture (DistillConfig.views), more
# closely again from the picture alone (the distillation study); 180, with wider trained stages
# (StudentConfig.channels), more closely again with the text; 240 no closer than 180. The twin on
# labels keeps its best validation epoch (SCRATCH's `keep`), so the longer run gives it more epochs to pick from.
DISTILL_TRAIN = dataclasses.replace(STUDENT_TRAIN, epochs=180)
# The shipped recipe: the student (kd.models.classifiers.StudentConfig: its picture branch on
# the teacher's first pretrained blocks) starts its token vectors from the teacher's text
# encoder (Model2Vec's method) and learns from the teacher on the training set and on a transfer
# set reaching beyond emoji: common English words and short phrases, clip art, Tux Paint's
# stamps and augmented views, shown alone, with a word or with their own caption, its picture features matching
# the teacher's on every picture (see the README's distillation study for what each part buys).
DISTILL = DistillConfig(
    transfer=True, words=50_000, phrases=50_000, pictures=True, stamps=True, captions=True, views=6, picture_hint=1.0,
    student_init="distilled", keep="last",
)
# The same student on labels alone: the baseline the KD gain is measured against.
SCRATCH = DistillConfig(alpha=0.0)
# The cross-modal students: the picture-only student transfers on pictures alone; the
# text-only student takes the recipe's words, phrases and word vectors (it never sees a picture).
CROSS_MODAL = {
    # Half the transfer batch: with no words, every transfer example is a picture for its CNN. One
    # view of each transfer picture: at its 30 epochs, the shipped recipe's six followed the
    # teacher less closely on the test split (one run of `python -m kd reproduce`).
    "student_image": DistillConfig(pictures=True, stamps=DISTILL.stamps, views=1, picture_hint=DISTILL.picture_hint,
                                   transfer_batch=192),
    "student_text": DistillConfig(transfer=True, words=DISTILL.words, phrases=DISTILL.phrases, student_init=DISTILL.student_init),
}
