"""The distillation study: when does a small student learn more from the teacher than from labels?

    python -m kd experiments                 # every run, 2 worker processes; resumable
    python -m kd experiments --seeds 0       # one seed: a quicker, rougher table

Each run trains a student (and, once per setting and seed, its teacher's head) and records
the student's validation and test accuracy and its agreement with its teacher. Finished
runs are appended to `<out>/runs.jsonl` as they end, so an interrupted study resumes where
it stopped. The comparisons the targets are judged on, the few-label settings and the
cross-modal students run every seed (3), the rest the first seed: about 2 hours on 2 cores.
`kd.study.tables` averages the rows over seeds into `<out>/tables.md` and `<out>/tables.json`;
`python -m kd report` copies them into the README.

What is compared (see `study`):
- settings: all labels; few labels (5%, 10%, 25% of training emoji labelled, the teacher
  trained on the same labels and soft-labelling the rest); the ~99 subcategories;
- methods: labels only; logit KD (Hinton); KD + hint on the fused embedding (FitNets);
  KD + consistent augmentation (function matching); KD + transfer set (kd/training/transfer.py);
  compressed teacher init (kd/models/compress.py), with labels only and combined;
- cross-modal students: the image branch alone and the text branch alone, taught by the
  multimodal teacher, against their labels-only twins;
- for scale, each seed's teacher against the next seed's: how far a teacher's own answers
  move with its head's seed, on the test split and on clip art (the fidelity table's first row);
- the temperature T and the weight alpha of the shipped recipe;
- the size frontier: smaller and larger students, labels only against the shipped recipe;
- the seed's classic MLP pair on 28 px greyscale pictures.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from kd.config import DISTILL, DISTILL_TRAIN, SCRATCH, STUDENT_TRAIN, TEACHER_TRAIN, DataConfig, DistillConfig, TrainConfig
from kd.models.classifiers import CNN_STUDENT, MODELS, StudentConfig, TeacherConfig

SEEDS = (0, 1, 2)
# The file in the study's folder that holds one JSON row per finished run.
RUNS = "runs.jsonl"


@dataclass(frozen=True)
class Setting:
    name: str
    label: str = "category"
    label_fraction: float = 1.0
    teacher: str = "teacher"
    # Heads of the teacher (TeacherConfig.heads). Every setting before the five-head teacher
    # trained teachers of one head, and their runs' keys do not name it.
    teacher_heads: int = 1


@dataclass(frozen=True)
class Method:
    name: str
    distill: DistillConfig
    student: str = "student"
    student_args: dict = field(default_factory=dict)
    # Epochs of the student's training; None: STUDENT_TRAIN's (30), every earlier run's.
    epochs: int | None = None


@dataclass(frozen=True)
class Run:
    table: str
    setting: Setting
    method: Method
    seed: int

    def key(self) -> str:
        """What the run computes: two rows of different tables (the shipped recipe in the main
        table and at T = 4 in the temperature sweep) share one run. Settings added after runs
        were recorded are left out at their default, so those runs still count."""
        m = self.method
        distill = {k: v for k, v in asdict(m.distill).items() if not (k in ADDED_LATER and v == ADDED_LATER[k])}
        setting = {k: v for k, v in asdict(self.setting).items() if not (k == "teacher_heads" and v == 1)}
        parts = [setting, m.student, distill, _shape_key(m.student, m.student_args), self.seed]
        return json.dumps(parts + ([{"epochs": m.epochs}] if m.epochs is not None else []), sort_keys=True)


# DistillConfig settings newer than the first recorded runs, with their defaults.
ADDED_LATER = {"phrases": 0, "captions": False, "pictures_per_folder": 60, "keep": "val_accuracy", "transfer_mix": DistillConfig.transfer_mix, "stamps": False}
# CNN_STUDENT (kd.models.classifiers), the student's picture branch before the pretrained
# trunk, was the default then: every run recorded before the trunk came was trained with it,
# and the rows that keep it say so.


# The trunk's depth when the first runs with a trunk were recorded: their keys do not name it.
FIRST_TRUNK_BLOCKS = 5


def _shape_key(student: str, args: dict) -> dict:
    """The student's settings as a run's key writes them: those of the picture branch only
    where they differ from `CNN_STUDENT` (and not at all for a student without pictures),
    so runs recorded with the CNN keep their keys and runs with the trunk get new ones; and
    a trunk's depth wherever it is not the first trunk runs' (their keys stay, and a run
    with the default depth is keyed by the depth, not by the default of the day)."""
    spec = MODELS[student]
    if spec.config_class is not StudentConfig:
        return dict(args)
    config = StudentConfig(**{**spec.defaults, **args})
    key = {k: v for k, v in args.items() if k not in CNN_STUDENT and k != "trunk_blocks"}
    if "image" in config.modalities:
        key.update({k: getattr(config, k) for k, before in CNN_STUDENT.items() if _tuple(getattr(config, k)) != before})
        if config.image_encoder == "trunk" and config.trunk_blocks != FIRST_TRUNK_BLOCKS:
            key["trunk_blocks"] = config.trunk_blocks
    return key


def _with_tenth_stages(method: Method) -> Method:
    """`method` as it was run: a student that names no trained stages trained the tenth release's."""
    if MODELS[method.student].config_class is not StudentConfig or "channels" in method.student_args:
        return method
    return replace(method, student_args={**TENTH_STAGES, **method.student_args})


def _tuple(value):
    return tuple(value) if isinstance(value, list) else value


def study(seeds: tuple[int, ...] = SEEDS, tables: tuple[str, ...] | None = None) -> list[Run]:
    """Every row of the study's tables (or of `tables` only), one Run per seed. The
    comparisons the targets are judged on, the few-label settings and the cross-modal
    students take every seed; the other rows and the sweeps take the first seed only."""
    labels_only = SCRATCH
    kd = DistillConfig(temperature=DISTILL.temperature, alpha=DISTILL.alpha)
    first_recipe = DistillConfig(transfer=True, student_init="teacher")  # the first shipped student's
    # The seventh to ninth releases' recipe: the shipped one with one augmented view of each transfer
    # picture, not six (its student trained 60 epochs, not 120).
    one_view = replace(DISTILL, views=1)
    # The sixth release's recipe: the seventh's before Tux Paint's stamps joined it. The rows
    # that extend the shipped student one change at a time were run on it.
    sixth = replace(one_view, stamps=False)
    # The recipe of the second to fifth releases: each kept the epoch best on validation accuracy.
    released = replace(sixth, keep="val_accuracy")
    long = RELEASED_EPOCHS

    def cnn(name: str, distill: DistillConfig) -> Method:  # the first releases' picture branch
        return Method(name, distill, student_args=CNN_STUDENT)

    methods = {
        # For scale: a teacher against the teacher of the next seed (same backbones, same emoji,
        # another head seed), measured as a student is measured against its teacher.
        "another teacher": Method(ANOTHER_TEACHER, SCRATCH, student="teacher"),
        # For scale: the teacher shown each picture at the eighth release's student's side, against itself.
        "teacher at 48 px": Method(TEACHER_AT_48, SCRATCH, student="teacher", student_args=AT_48),
        "labels only": cnn("labels only", labels_only),
        "logit KD": cnn("logit KD", kd),
        "KD + hint": cnn("KD + hint (fused embedding)", replace(kd, hint_weight=1.0)),
        "KD + augmentation": cnn("KD + consistent augmentation", replace(kd, views=1)),
        "KD + transfer": cnn("KD + transfer set", replace(kd, transfer=True)),
        "init": cnn("compressed teacher init, labels only", replace(labels_only, student_init="teacher")),
        "first": cnn("first recipe: init + KD + vocabulary words", first_recipe),
        "+ distilled": cnn("first + token vectors distilled from the teacher", replace(first_recipe, student_init="distilled")),
        "+ words": cnn("first + 50k common English words", replace(first_recipe, words=DISTILL.words)),
        "+ pictures": cnn("first + clip art", replace(first_recipe, pictures=True)),
        "+ views": cnn("first + augmented views (function matching)", replace(first_recipe, views=1)),
        "+ phrases": cnn("first + 50k short phrases", replace(first_recipe, phrases=DISTILL.phrases)),
        "second": cnn("second release: all of the above but phrases and captions", replace(released, phrases=0, captions=False)),
        "third": cnn("third release: all of the above", released),
        # The same recipe, the picture branch on the teacher's first five pretrained blocks (the fourth release).
        "labels only, five blocks": Method("labels only, five trunk blocks", labels_only, student_args=FIVE_BLOCKS),
        "fourth": Method("fourth release: third + the teacher's first five blocks in the picture branch", released,
                         student_args=FIVE_BLOCKS),
        # Seven blocks at 48 px (the fifth release), then what the shipped student changed, one part at a time.
        "labels only, seven blocks": Method("labels only, seven trunk blocks", labels_only, student_args=FIFTH),
        "fifth": Method(FIFTH_RELEASE, released, student_args=FIFTH),
        "+ last": Method("fifth, kept at its last epoch (not its best on validation accuracy)", sixth, student_args=FIFTH),
        "+ last, longer": Method(f"fifth, last epoch, {2 * long} epochs", sixth, student_args=FIFTH, epochs=2 * long),
        "+ last, 64 px": Method("fifth, last epoch, reading 64 px pictures", sixth, student_args=AT_64),
        # The sixth to eighth releases' student (48 px) on labels alone, the sixth release's recipe,
        # the seventh's: the sixth + two stamps in three (the third is the stamps check); the eighth
        # is the seventh taught by a teacher of five heads.
        "labels only, 48 px": Method(LABELS_ONLY_48, labels_only, student_args=AT_48, epochs=long),
        "sixth": Method(SIXTH_RELEASE, sixth, student_args=AT_48, epochs=long),
        "seventh": Method(SEVENTH_RELEASE, one_view, student_args=AT_48, epochs=long),
        "eighth": Method(EIGHTH_RELEASE, one_view, student_args=AT_48, epochs=long),
        # The ninth release's student (96 px) on labels alone, and the ninth release.
        "labels only, ninth": Method(LABELS_ONLY_NINTH, labels_only, epochs=long),
        "ninth": Method(NINTH_RELEASE, one_view, epochs=long),
        # The tenth release's student on labels alone, as long as the tenth release trained it, and the tenth release.
        "labels only, tenth": Method(LABELS_ONLY_TENTH, labels_only, epochs=TENTH_EPOCHS),
        "tenth": Method(TENTH_RELEASE, DISTILL, epochs=TENTH_EPOCHS),
        # The sixth release reading 64 px pictures, and the same student on labels alone.
        "labels only, 64 px": Method(f"labels only, seven trunk blocks at 64 px, {long} epochs", labels_only, student_args=AT_64,
                                     epochs=long),
        "shipped, 64 px": Method("sixth release, reading 64 px pictures", sixth, student_args=AT_64, epochs=long),
        # The frontier around the speed budget (benchmarks/trunk_speed.py times each shape).
        "four blocks": Method("fifth release, four trunk blocks", released, student_args={**FIFTH, "trunk_blocks": 4}),
        "six blocks": Method("fifth release, six trunk blocks", released, student_args={**FIFTH, "trunk_blocks": 6}),
        "eight blocks, 64 px": Method("fifth release, eight trunk blocks at 64 px", released, student_args={"trunk_blocks": 8, "image_size": 64}),
        # More pictures from the same package: every picture of the transfer folders, not 60 a folder.
        "all clip art": Method("fifth release, every clip-art picture (no cap per folder)", replace(released, pictures_per_folder=0),
                               student_args=FIFTH),
        # More pictures in each transfer batch.
        "+ picture share": Method("sixth release, twice the share of pictures alone and captioned in the transfer batch",
                                  replace(sixth, transfer_mix=(1.0, 0.5, 1.5, 1.0)), student_args=AT_48, epochs=long),
        # What else the picture branch was given, each beside the sixth release's row at seed 0 (none moved
        # clip-art agreement past the seeds' spread): patience, width, depth and pixels beyond the
        # budgets, a heavier picture hint, more clip art.
        "64 px, longer": Method(f"sixth release at 64 px, {2 * long} epochs", sixth, student_args=AT_64, epochs=2 * long),
        "64 px, wider": Method("sixth release at 64 px, wider trained stages (192, 288): over the parameter budget", sixth,
                               student_args={**AT_64, "channels": (192, 288)}, epochs=long),
        "ten blocks, 64 px": Method("sixth release, ten trunk blocks at 64 px: over the parameter budget", sixth,
                                    student_args={**AT_64, "trunk_blocks": 10}, epochs=long),
        "96 px": Method("sixth release reading 96 px pictures", sixth, student_args={"image_size": 96},
                        epochs=long),
        "+ picture hint 5": Method("sixth release, the picture hint weighted 5 (not 1)", replace(sixth, picture_hint=5.0),
                                   student_args=AT_48, epochs=long),
        # More pixels than the ninth release's 96, at seed 0: the step the speed budget left open (128 px
        # is at its edge, benchmarks/trunk_speed.py).
        "112 px": Method(AT_112_PX, one_view, student_args={"image_size": 112}, epochs=long),
        "128 px": Method(AT_128_PX, one_view, student_args={"image_size": 128}, epochs=long),
        # More room after the frozen trunk at 96 px (seed 0): one more pretrained block
        # (within the parameter budget), and a fusion head twice as wide.
        "eight blocks": Method(EIGHT_BLOCKS, one_view, student_args={"trunk_blocks": 8}, epochs=long),
        "wider head": Method(WIDER_HEAD, one_view, student_args=WIDER_HEAD_ARGS, epochs=long),
        # More of the teacher's function on each picture (Beyer et al., 2022, show a fresh view at every
        # step): two and three augmented views of each transfer picture, not one (two: seed 0; three,
        # the closest follower from the picture alone at seed 0: every seed). Six for twice as long
        # (patient and consistent, as far as views made once allow) is the tenth release.
        "two views": Method(TWO_VIEWS, replace(one_view, views=2), epochs=long),
        "three views": Method(THREE_VIEWS, replace(one_view, views=3), epochs=long),
        # More patience still: the tenth release trained half as long again (every seed), and so with no
        # dropout in its fusion head (seed 0), as it fits its teacher on only three in four of the clip art it
        # trains on. (Half as long again with wider trained stages, every seed, is the shipped recipe.)
        "longer": Method(TENTH_LONGER, DISTILL, epochs=LONGER_EPOCHS),
        "longer, no dropout": Method(LONGER_NO_DROPOUT, DISTILL, student_args={"dropout": 0.0}, epochs=LONGER_EPOCHS),
        # And with twice the views of each transfer picture (seed 0): more of the teacher's function.
        "longer, more views": Method(LONGER_MORE_VIEWS, replace(DISTILL, views=2 * DISTILL.views), epochs=LONGER_EPOCHS),
        # Softer still (T = 8, which the fifth release's sweep found as close as 4), seed 0; and twice as long (every seed).
        "longer, T = 8": Method(LONGER_T8, replace(DISTILL, temperature=SOFTER_TEMPERATURE), epochs=LONGER_EPOCHS),
        "longest": Method(LONGEST, DISTILL, epochs=LONGEST_EPOCHS),
        # Regularised and fed more (seed 0): the student fits its teacher from the picture alone on
        # only four in five of the clip art it trains on (`python -m kd gap`).
        "head dropout": Method(HEAD_DROPOUT, one_view, student_args=HEAD_DROPOUT_ARGS, epochs=long),
        "transfer batch": Method(TRANSFER_BATCH, replace(one_view, transfer_batch=2 * DISTILL.transfer_batch), epochs=long),
        # The picture hint lighter and off (seed 0): `python -m kd gap` finds the picture branch fitting
        # the teacher's answers on the clip art it trains on only four times in five; the hint holds
        # the branch to the teacher's features as well.
        "no picture hint": Method(NO_PICTURE_HINT, replace(one_view, picture_hint=0.0), epochs=long),
        "lighter picture hint": Method(LIGHTER_PICTURE_HINT, replace(one_view, picture_hint=0.3), epochs=long),
        # The trunk's last blocks trained too, from their pretrained weights (seed 0): the frozen
        # blocks learnt at 224 px and the student reads 96.
        "one block tuned": Method(ONE_BLOCK_TUNED, one_view, student_args={"trunk_tuned": 1}, epochs=long),
        "two blocks tuned": Method(TWO_BLOCKS_TUNED, one_view, student_args={"trunk_tuned": 2}, epochs=long),
        "120 a folder": Method("sixth release, 120 clip-art pictures a folder (not 60)", replace(sixth, pictures_per_folder=120),
                               student_args=AT_48, epochs=long),
    }
    # Every student above trained the tenth release's stages; the shipped student trains StudentConfig's.
    methods = {name: _with_tenth_stages(m) for name, m in methods.items()}
    # The shipped student on labels alone, as long as the shipped recipe trains it, and the shipped recipe.
    methods["labels only, shipped"] = Method(SHIPPED_LABELS_ONLY, labels_only, epochs=DISTILL_TRAIN.epochs)
    methods["shipped"] = Method(SHIPPED, DISTILL, epochs=DISTILL_TRAIN.epochs)
    first = seeds[:1]
    runs: list[Run] = []

    def add(table: str, setting: Setting, names: list[str] | list[Method], seeds: tuple[int, ...] = first) -> None:
        if tables is not None and table not in tables:
            return
        for m in names:
            method = methods[m] if isinstance(m, str) else m
            runs.extend(Run(table, setting, method, seed) for seed in seeds)

    everything = Setting("all labels")
    # The sweeps and the other tables were run with the third release's recipe and CNN.
    full_cnn = replace(methods["third"], name="full recipe (CNN picture branch)")
    # What each part of the shipped recipe buys, in and out of domain.
    # (The rows of every seed first: the study runs in this order, and they are the comparison that counts.)
    # The shipped teacher has five heads: its rows come first; every other row was taught by a teacher of one.
    five_heads = Setting(SHIPPED_SETTING, teacher_heads=TeacherConfig.heads)
    add("fidelity", five_heads, ["another teacher", "teacher at 48 px", "labels only, shipped", "shipped", "labels only, tenth", "tenth",
                                 "labels only, ninth", "ninth", "labels only, 48 px", "eighth", "three views", "longer", "longest"],
        seeds)
    add("fidelity", five_heads, ["112 px", "128 px", "eight blocks", "wider head", "two views",
                                 "head dropout", "transfer batch", "no picture hint", "lighter picture hint", "one block tuned",
                                 "two blocks tuned", "longer, no dropout", "longer, more views", "longer, T = 8"])
    add("fidelity", everything, ["another teacher"], seeds)
    add("fidelity", everything, ["labels only", "first", "second", "third", "labels only, five blocks", "fourth",
                                 "labels only, seven blocks", "fifth", "labels only, 48 px", "sixth", "seventh", "labels only, 64 px",
                                 "shipped, 64 px"], seeds)
    add("fidelity", everything, ["+ distilled", "+ words", "+ pictures", "+ views", "+ phrases", "+ last", "+ last, longer",
                                 "+ last, 64 px", "four blocks", "six blocks", "eight blocks, 64 px", "all clip art",
                                 "+ picture share", "64 px, longer", "64 px, wider", "ten blocks, 64 px", "96 px", "+ picture hint 5",
                                 "120 a folder"])
    add("main", everything, ["logit KD", "KD + hint"], seeds)
    add("main", everything, ["KD + augmentation", "KD + transfer", "init"])
    for fraction in (0.25, 0.10, 0.05):
        add("main", Setting(f"{fraction:.0%} labels", label_fraction=fraction), ["labels only", "logit KD", full_cnn], seeds)
    add("main", Setting("subcategories", label="subcategory"), ["labels only", "logit KD", full_cnn])

    for student, kinds in (("student_image", (methods["labels only"], methods["logit KD"])), ("student_text", (methods["labels only"], full_cnn))):
        add("cross-modal", everything, [replace(m, student=student) for m in kinds], seeds)

    for size, args in SIZES.items():
        for method in (methods["labels only"], full_cnn):
            add("size", everything, [replace(method, name=f"{size}: {method.name}", student_args={**CNN_STUDENT, **args})])

    classic = Setting("all labels", teacher="mlp_teacher")
    add("classic", classic, [Method("labels only", labels_only, student="mlp_student"), Method("logit KD", kd, student="mlp_student")], seeds)

    # The fifth release's student at other temperatures and weights (seed 0; its T and the
    # closest other, T = 8, every seed). The first student's sweeps are in experiments/first-student/.
    fifth = methods["fifth"]
    for t in (2.0, 4.0, 8.0, 16.0):
        sweep = [replace(fifth, name=f"T = {t:g}", distill=replace(released, temperature=t))]
        add("temperature", everything, sweep, seeds if t in (DISTILL.temperature, 8.0) else first)
    for a in (0.9, 1.0):
        add("alpha", everything, [replace(fifth, name=f"alpha = {a:g}", distill=replace(released, alpha=a))])
    return runs


# The student's epochs in the sixth to ninth releases, and in the tenth (the shipped one trains DISTILL_TRAIN's).
RELEASED_EPOCHS = 60
TENTH_EPOCHS = 120
# The trained stages of every student before the shipped one (StudentConfig.channels until the tenth release).
TENTH_STAGES = {"channels": (128, 192)}
# The fidelity table's pair the headline compares: the shipped student against itself on labels only.
SHIPPED_LABELS_ONLY = f"labels only, the shipped student (96 px, stages {StudentConfig.channels}, {DISTILL_TRAIN.epochs} epochs)"
LABELS_ONLY_TENTH = f"labels only, the tenth release's student (96 px, {TENTH_EPOCHS} epochs)"
LABELS_ONLY_NINTH = f"labels only, the ninth release's student (96 px, {RELEASED_EPOCHS} epochs)"
LABELS_ONLY_48 = f"labels only, the sixth to eighth releases' student (48 px, {RELEASED_EPOCHS} epochs)"
SEVENTH_RELEASE = "seventh release: sixth + two in three of Tux Paint's stamps"
EIGHTH_RELEASE = "eighth release: the seventh's recipe, taught by a teacher of five heads"
# The ninth release: the eighth's recipe, its student reading 96 px pictures (StudentConfig.image_size).
NINTH_RELEASE = "ninth release: the eighth reading 96 px pictures"
# The tenth release: the ninth's recipe with six augmented views of each transfer picture, not one
# (DistillConfig.views), for twice the epochs.
TENTH_RELEASE = f"tenth release: the ninth, six augmented views of each transfer picture, {TENTH_EPOCHS} epochs"
# The shipped recipe is the tenth release's, its student's trained stages wider (StudentConfig.channels)
# and trained half as long again (DISTILL_TRAIN); its teacher has five heads (TeacherConfig.heads).
# The headline compares the rows of its setting.
SHIPPED = (f"shipped: the tenth release, trained stages {StudentConfig.channels} wide (not {TENTH_STAGES['channels']}), "
           f"{DISTILL_TRAIN.epochs} epochs")
SHIPPED_SETTING = "all labels, a teacher of five heads"
# The ninth release at larger sides than its 96 px (seed 0).
AT_112_PX = "ninth release reading 112 px pictures"
AT_128_PX = "ninth release reading 128 px pictures: at the edge of the speed budget"
# More room after the trunk at 96 px (seed 0).
EIGHT_BLOCKS = "ninth release, eight trunk blocks"
WIDER_HEAD_ARGS = {"hidden": 2 * StudentConfig.hidden}
WIDER_HEAD = f"ninth release, a fusion head twice as wide (hidden {WIDER_HEAD_ARGS['hidden']})"
# More augmented views of each transfer picture than the ninth release's one (two: seed 0; three: every seed).
TWO_VIEWS = "ninth release, two augmented views of each transfer picture (not one)"
THREE_VIEWS = "ninth release, three augmented views of each transfer picture (not one)"
# The tenth release trained half as long again (every seed), and so without dropout in the fusion head,
# with twice the views and at T = 8 (seed 0); and twice as long (every seed).
LONGER_EPOCHS = 180
TENTH_LONGER = f"tenth release, {LONGER_EPOCHS} epochs (not {TENTH_EPOCHS})"
LONGER_NO_DROPOUT = f"tenth release, {LONGER_EPOCHS} epochs and no dropout in the fusion head (not {StudentConfig.dropout})"
LONGER_MORE_VIEWS = f"tenth release, {LONGER_EPOCHS} epochs and {2 * DISTILL.views} augmented views of each transfer picture (not {DISTILL.views})"
SOFTER_TEMPERATURE = 8.0
LONGER_T8 = f"tenth release, {LONGER_EPOCHS} epochs at T = {SOFTER_TEMPERATURE:g} (not {DISTILL.temperature:g})"
LONGEST_EPOCHS = 240
LONGEST = f"tenth release, {LONGEST_EPOCHS} epochs (not {TENTH_EPOCHS})"
# The ninth release fitting less (more dropout in the fusion head) and more (twice the transfer batch), seed 0.
HEAD_DROPOUT_ARGS = {"dropout": 0.3}
HEAD_DROPOUT = f"ninth release, dropout {HEAD_DROPOUT_ARGS['dropout']} in the fusion head (not {StudentConfig.dropout})"
TRANSFER_BATCH = f"ninth release, twice the transfer examples a step ({2 * DISTILL.transfer_batch}, not {DISTILL.transfer_batch})"
# The ninth release with the picture hint off and lighter, and with the trunk's last blocks trained (seed 0).
NO_PICTURE_HINT = f"ninth release without the picture hint (weight 0, not {DISTILL.picture_hint:g})"
LIGHTER_PICTURE_HINT = f"ninth release, the picture hint weighted 0.3 (not {DISTILL.picture_hint:g})"
ONE_BLOCK_TUNED = "ninth release, the trunk's last block trained too (from its pretrained weights)"
TWO_BLOCKS_TUNED = "ninth release, the trunk's last two blocks trained too (from their pretrained weights)"
SIXTH_RELEASE = f"sixth release: fifth, {RELEASED_EPOCHS} epochs, kept at its last epoch"
# The fidelity table's reference row: each seed's teacher against the next seed's (`run_one`).
ANOTHER_TEACHER = "for scale: another seed's teacher (same backbones and emoji, other seeds for its heads)"
# The other reference row: the teacher against itself, shown the pictures at the side the eighth
# release's student read them (`_teacher_at_side`).
TEACHER_AT_48 = "for scale: the teacher shown each picture shrunk to 48 px (as the eighth release's student read them)"
# The fourth release's student: the trunk's first five blocks, 48 px pictures; the fifth's: seven.
FIVE_BLOCKS = {"trunk_blocks": 5, "image_size": 48}
FIFTH = {"trunk_blocks": 7, "image_size": 48}
AT_48 = {"image_size": 48}  # the sixth to eighth releases' student: seven blocks at 48 px
AT_64 = {"image_size": 64}
FIFTH_RELEASE = "fifth release: third + the teacher's first seven blocks in the picture branch"

# The size frontier (with the CNN picture branch): the student's image and text widths scaled down and up.
SIZES = {
    "S": {"channels": (16, 32, 64, 128), "text_dim": 12, "hidden": 48},
    "M (shipped)": {},
    "L": {"channels": (48, 96, 192, 384), "text_dim": 48, "hidden": 96},
}


# -------------------------------------------------------------------------------- runs


def _recipe(train: TrainConfig, model: str) -> TrainConfig:
    """The classic MLPs train at their own learning rate, on every picture: they read no
    text, so hiding a modality would hide everything."""
    return replace(train, lr=1e-3, modality_dropout=0.0) if model.startswith("mlp_") else train


_TEACHERS: dict = {}  # per worker process: (setting, seed) -> (dataset, teacher)


def _teacher(setting: Setting, seed: int):
    """The dataset and the teacher of (setting, seed), trained once per worker process."""
    from kd.data.dataset import load_dataset
    from kd.study.pipeline import train_teacher

    if (setting, seed) not in _TEACHERS:
        data = DataConfig(label=setting.label)
        dataset = load_dataset(data, progress=False)
        train = _recipe(replace(TEACHER_TRAIN, seed=seed, label_fraction=setting.label_fraction), setting.teacher)
        heads = {"heads": setting.teacher_heads} if MODELS[setting.teacher].config_class is TeacherConfig else {}
        teacher, _ = train_teacher(data, train, model=setting.teacher, dataset=dataset, progress=False, **heads)
        _TEACHERS[(setting, seed)] = dataset, teacher
    return _TEACHERS[(setting, seed)]


def run_one(run: Run, epochs: int | None = None) -> dict:
    """Train the student of one run and measure it against its teacher."""
    import torch

    from kd.data import clipart
    from kd.study.evaluate import out_of_domain
    from kd.study.pipeline import distill

    torch.set_num_threads(1)  # one worker process per core
    if run.method.student == "teacher":
        return _teacher_at_side(run) if "image_size" in run.method.student_args else _another_teacher(run)
    dataset, teacher = _teacher(run.setting, run.seed)
    start = time.perf_counter()
    epochs = epochs or run.method.epochs or STUDENT_TRAIN.epochs
    train = replace(STUDENT_TRAIN, seed=run.seed, label_fraction=run.setting.label_fraction, epochs=epochs)
    train = _recipe(train, run.method.student)
    data = DataConfig(label=run.setting.label)
    student, _ = distill(teacher, data, train, run.method.distill, student=run.method.student, dataset=dataset,
                         progress=False, **run.method.student_args)
    ood, extra = {}, {}
    if run.setting.label == "category" and clipart.available() and not run.method.student.startswith("mlp_"):
        check = clipart.check_dataset(dataset.classes, data.image_size, progress=False)
        ood = out_of_domain({"teacher": teacher, "student": student}, "teacher", check)["student"]
        if run.seed in SEEDS and student.modalities == ("image", "text"):  # every seed's teacher decides what is settled
            extra = _on_settled(student, teacher, run, check)
        extra.update(_on_stamps(student, teacher, dataset))
    if run.method.distill.pictures:  # which selection of transfer clip art it trained on
        extra["clipart_version"] = clipart.CLIPART_VERSION
    return _row(run, train.epochs, student, teacher, dataset, ood, start, **extra)


def _row(run: Run, epochs: int, model, teacher, dataset, ood: dict, start: float, **extra) -> dict:
    """What a run records: `model` measured against `teacher` on the test split, its validation
    accuracy, its `ood` (`out_of_domain`'s row) and whatever else the run adds."""
    from kd.study.evaluate import accuracy, agreement, dataset_logits

    test, val = dataset.split("test"), dataset.split("val")
    logits, teacher_test = dataset_logits(model, test), dataset_logits(teacher, test)
    return {
        "key": run.key(),
        "setting": run.setting.name,
        "method": run.method.name,
        "student": run.method.student,
        "seed": run.seed,
        "epochs": epochs,
        "test_accuracy": accuracy(logits, test.labels),
        "val_accuracy": accuracy(dataset_logits(model, val), val.labels),
        "test_agreement": agreement(logits, teacher_test),
        "teacher_test_accuracy": accuracy(teacher_test, test.labels),
        **({"ood_agreement": ood["picture+text"]["agreement"]} if "picture+text" in ood else {}),
        **({"ood_agreement_picture": ood["picture"]["agreement"]} if "picture" in ood else {}),
        "params": model.num_params(),
        "seconds": time.perf_counter() - start,
        **extra,
    }


# The clip-art views a run's settled figures are measured in: the suffix of their names, and
# what the models read (picture + text, picture only).
CLIP_ART_VIEWS = (("", ("image", "text")), ("_picture", ("image",)))


def _on_settled(student, teacher, run: Run, check) -> dict[str, float]:
    """The student's agreement with its teacher on the clip art whose answer is settled: the
    pictures every seed's teacher answers alike, with the text and from the picture only, where
    the answer is what the teachers learned, not their heads' seed."""
    from kd.study.evaluate import agreement, dataset_logits

    out = {}
    for view, modalities in CLIP_ART_VIEWS:
        settled = _settled(run.setting, check, modalities)
        out[f"ood_agreement{view}_settled"] = agreement(dataset_logits(student, check, modalities)[settled],
                                                      dataset_logits(teacher, check, modalities)[settled])
    return out


def _on_stamps(model, teacher, dataset) -> dict[str, float]:
    """`model`'s agreement with `teacher` on the stamps check (`kd.data.stamps`: held-out
    cut-out photographs and drawings), with the text and from the picture only; nothing where
    the stamps are not installed."""
    from kd.data import stamps
    from kd.study.evaluate import out_of_domain

    if not stamps.available():
        return {}
    check = stamps.check_dataset(dataset.classes, progress=False)
    row = out_of_domain({"teacher": teacher, "model": model}, "teacher", check)["model"]
    return {f"stamps_agreement{view}": row[name]["agreement"] for view, name in (("", "picture+text"), ("_picture", "picture")) if name in row}


def _settled(setting: Setting, check, modalities: tuple[str, ...]):
    """(N,) bool: the check pictures every seed's teacher of `setting` answers alike."""
    import torch

    from kd.study.evaluate import dataset_logits

    answers = torch.stack([dataset_logits(_teacher(setting, seed)[1], check, modalities).argmax(1) for seed in SEEDS])
    return (answers == answers[0]).all(dim=0)


def _another_teacher(run: Run) -> dict:
    """The reference row: the teacher of `run.seed` measured against the teacher of the next
    of the study's seeds, as a student is measured against its teacher. Both share frozen
    backbones and training data, so what differs is only their head's seed: how far a teacher's
    own answers move with it, on the test split and on clip art neither saw."""
    from kd.data import clipart
    from kd.study.evaluate import out_of_domain

    other_seed = SEEDS[(SEEDS.index(run.seed) + 1) % len(SEEDS)] if run.seed in SEEDS else run.seed + 1
    start = time.perf_counter()
    dataset, teacher = _teacher(run.setting, run.seed)
    _, other = _teacher(run.setting, other_seed)
    ood, shares = {}, {}
    if run.setting.label == "category" and clipart.available():
        check = clipart.check_dataset(dataset.classes, progress=False)
        ood = out_of_domain({"teacher": other, "other": teacher}, "teacher", check)["other"]
        # The share of clip art every seed's teacher answers alike (students' "settled" pictures).
        shares = {f"ood_settled_share{view}": _settled(run.setting, check, modalities).float().mean().item()
                  for view, modalities in CLIP_ART_VIEWS}
        shares.update(_on_stamps(teacher, other, dataset))
    return _row(run, TEACHER_TRAIN.epochs, teacher, other, dataset, ood, start, other_seed=other_seed, **shares)


def _teacher_at_side(run: Run) -> dict:
    """The reference row for the student's picture size: the teacher of `run.seed` shown every
    picture shrunk to the student's side (`at_side`), measured against itself shown the picture
    as it is. What it no longer answers alike it answered from detail a student reading that
    side never sees: on the test split, the clip art and the stamps, with text and picture only."""
    from kd.data import clipart, stamps
    from kd.data.images import at_side
    from kd.study.evaluate import accuracy, agreement, dataset_logits

    side = run.method.student_args["image_size"]
    start = time.perf_counter()
    dataset, teacher = _teacher(run.setting, run.seed)

    def shrunk(data):
        return replace(data, images=at_side(data.images, side))

    test, val = dataset.split("test"), dataset.split("val")
    whole_test, shrunk_test = dataset_logits(teacher, test), dataset_logits(teacher, shrunk(test))
    row = {
        "key": run.key(), "setting": run.setting.name, "method": run.method.name, "student": run.method.student,
        "seed": run.seed, "epochs": TEACHER_TRAIN.epochs,
        "test_accuracy": accuracy(shrunk_test, test.labels),
        "val_accuracy": accuracy(dataset_logits(teacher, shrunk(val)), val.labels),
        "test_agreement": agreement(shrunk_test, whole_test),
        "teacher_test_accuracy": accuracy(whole_test, test.labels),
        "params": teacher.num_params(),
    }
    checks = {}
    if run.setting.label == "category" and clipart.available():
        checks["ood"] = clipart.check_dataset(dataset.classes, progress=False)
    if run.setting.label == "category" and stamps.available():
        checks["stamps"] = stamps.check_dataset(dataset.classes, progress=False)
    for name, check in checks.items():
        small = shrunk(check)
        for view, modalities in CLIP_ART_VIEWS:
            row[f"{name}_agreement{view}"] = agreement(dataset_logits(teacher, small, modalities),
                                                       dataset_logits(teacher, check, modalities))
    return {**row, "seconds": time.perf_counter() - start}


def read_runs(out: Path) -> list[dict]:
    """The rows of the runs finished so far in `out` (none when it holds no runs file)."""
    log = out / RUNS
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def run_study(
    out: Path, seeds: tuple[int, ...] = SEEDS, workers: int = 2, epochs: int | None = None, tables: tuple[str, ...] | None = None,
) -> None:
    """Run every run of `tables` (default: all) not yet in `out/runs.jsonl`, in the study's
    order (the comparisons the targets are judged on first), appending each row as it ends.
    `kd.study.tables.write_tables` turns the rows into tables."""
    out.mkdir(parents=True, exist_ok=True)
    log = out / RUNS
    done = {row["key"] for row in read_runs(out)}
    pending = {r.key(): r for r in study(seeds, tables) if r.key() not in done}
    print(f"{len(pending)} runs to do, {len(done)} already done", flush=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_one, run, epochs) for run in pending.values()]
        for finished, future in enumerate(as_completed(futures), 1):
            row = future.result()
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"[{finished}/{len(futures)}, {(time.perf_counter() - start) / 60:.0f} min] {row['setting']} | "
                  f"{row['student']} | {row['method']} | seed {row['seed']}: test {row['test_accuracy']:.3f} "
                  f"({row['seconds']:.0f} s)", flush=True)
