"""Distill it yourself: a fresh student trained live, in seconds, on the teacher's recorded answers.

The demo's "Distill it yourself" tab lets a visitor pick the temperature T, alpha, the
fraction of labels and the epochs, and trains a new student while they watch, and beside it
its labels-only twin (the same student, the same labels, alpha 0), so the page shows what
the teacher added. The teacher does not run: it answers from its record (`kd.study.record`),
so the project's own `Distiller` and `Trainer` train the student as `kd.study.pipeline.distill`
does (without a transfer set): the same losses, the same modality dropout with the teacher
shown the same view, the same history rows, the same best-epoch keeping.

    data = LiveData.prepare("checkpoints/teacher_outputs.safetensors", DataConfig())
    result = train_student(data, LiveSettings(temperature=4, alpha=0.9, label_fraction=0.1, epochs=2),
                           on_epoch=[lambda row: print(row["val_accuracy"], row["twin_val_accuracy"])])
    result.test["accuracy"]   # the student on the test split, scored like `kd.study.evaluate`
    result.kd_gain            # its test accuracy over the twin's, in points

A run stops at the next step when asked (`should_stop()`), and before an epoch that would
end past its time limit; it then keeps each student's best epoch so far. Runs in a web
server's threads, one per visitor's session, are `kd.serving.live_lab`; what the tab shows
of a run (tables, curves, sentences) is `kd.serving.live_page`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from kd.config import DISTILL, STUDENT_TRAIN, TEMPERATURES, DataConfig, DistillConfig, TrainConfig, to_dict
from kd.data.dataset import MultimodalDataset, load_dataset
from kd.models.checkpoint import checkpoint_config, weights_sha256
from kd.models.classifiers import MultimodalClassifier, Teacher, create_model
from kd.models.compress import INITS, init_from_teacher
from kd.study import pipeline
from kd.study.evaluate import quality_metrics
from kd.study.record import RecordedTeacher, TeacherOutputs, load_teacher_outputs
from kd.training.distill import Distiller
from kd.training.train import TensorLoader, Trainer, TrainingStopped

# What a visitor may choose. The students' frozen trunk runs once over the pictures as the
# data is prepared; a step then trains the conv stages above it, the text branch and the head.
# On a 2-core machine, on one torch thread (as the app trains), the default run (2 epochs,
# both students, the twin at 10% of the labels, scored at the end) takes a few seconds (README:
# python benchmarks/live_run.py). The limit is enforced anyway: a busier machine is slower.
TIME_LIMIT_S = 60.0
# More would not fit in the limit on such a machine (the run would stop before an epoch that
# could not end in time, its cosine schedule unfinished).
MAX_EPOCHS = 10
LABEL_FRACTIONS = (0.05, 1.0)
STUDENT_INITS = INITS  # random, or word vectors from the teacher (kd.models.compress)
DEFAULT_EPOCHS = 2
TEST_SECONDS = 2.0  # kept within the limit for scoring both students on the test split at the end


# The live student reads 48 px pictures, not the shipped student's 96: a quarter of the work a
# picture, so a run ends within the minute a visitor waits. Otherwise it is the shipped student.
LIVE_STUDENT = {"image_size": 48}


class LiveError(RuntimeError):
    """The live tab cannot train here; the message says why and what to do."""


class SettingsError(ValueError):
    """A visitor's setting is out of range; the message says which and what is allowed."""


# ------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class LiveSettings:
    """What a visitor chooses; `check()` says in words what is out of range."""

    # The shipped recipe's T and alpha, as the visitor first finds them.
    temperature: float = DISTILL.temperature
    alpha: float = DISTILL.alpha
    # Few labels, where the teacher's soft labels on the rest matter: 10% of the training
    # emoji (462 of the 3,936 training pictures); the labels-only twin gets the same ones.
    label_fraction: float = 0.1
    epochs: int = DEFAULT_EPOCHS
    student_init: str = "random"  # or "teacher" / "distilled": word vectors from the teacher's text encoder

    def check(self) -> LiveSettings:
        def number(value, low: float, high: float, what: str) -> float:
            try:
                x = float(value)
            except (TypeError, ValueError):
                raise SettingsError(f"{what} must be a number, not {value!r}.") from None
            if not low <= x <= high:  # NaN fails here too
                raise SettingsError(f"{what} must be between {low:g} and {high:g} (got {x:g}).")
            return x

        temperature = number(self.temperature, *TEMPERATURES, "The temperature T")
        alpha = number(self.alpha, 0.0, 1.0, "Alpha")
        low, high = LABEL_FRACTIONS
        try:
            fraction = number(self.label_fraction, low, high, "The labelled fraction")
        except SettingsError:
            given = self.label_fraction
            given = f"{100 * given:g}%" if isinstance(given, (int, float)) else repr(given)
            allowed = f"between {100 * low:g}% and {100 * high:g}%"
            raise SettingsError(f"The labelled fraction must be {allowed} (got {given}).") from None
        epochs = number(self.epochs, 1, MAX_EPOCHS, "Epochs")
        if epochs != int(epochs):
            raise SettingsError(f"Epochs must be a whole number (got {epochs:g}).")
        if self.student_init not in STUDENT_INITS:
            raise SettingsError(f"The student starts from {', '.join(STUDENT_INITS)} weights, not {self.student_init!r}.")
        return LiveSettings(temperature, alpha, fraction, int(epochs), self.student_init)

    @classmethod
    def from_page(cls, temperature, alpha, label_percent, epochs, student_init) -> LiveSettings:
        """The settings as the page gives them (the labelled fraction in percent), checked."""
        try:
            fraction = float(label_percent) / 100
        except (TypeError, ValueError):
            raise SettingsError(f"The labelled fraction must be a number of percent, not {label_percent!r}.") from None
        return cls(temperature, alpha, fraction, epochs, student_init).check()

    def distill_config(self) -> DistillConfig:
        return DistillConfig(temperature=self.temperature, alpha=self.alpha, transfer=False, student_init=self.student_init)

    def train_config(self) -> TrainConfig:
        """The shipped student's training, shortened; no transfer set (its vocabulary pass
        alone would take most of the minute)."""
        return dataclasses.replace(STUDENT_TRAIN, epochs=self.epochs, label_fraction=self.label_fraction)

    def twin(self) -> LiveSettings:
        """The labels-only twin's settings: the same, with alpha 0."""
        return dataclasses.replace(self, alpha=0.0)

    def describe(self) -> str:
        how = "labels only" if self.alpha == 0 else f"T = {self.temperature:g}, alpha = {self.alpha:g}"
        return f"{how}, labels for {percent(self.label_fraction)} of the training emoji, word vectors: {self.student_init}"


# ---------------------------------------------------------------------------------- data


@dataclass
class LiveData:
    """Everything a live run reads, prepared once per server: the examples built here that
    the teacher's record has an answer for, those answers, and the student's preprocessed
    inputs for every one of them."""

    dataset: MultimodalDataset
    outputs: TeacherOutputs  # in the dataset's order
    inputs: dict[str, torch.Tensor]  # `kd.study.pipeline.student_inputs` of the whole dataset
    recorded_styles: tuple[str, ...] = ()  # the art styles the record holds (some may be missing here)

    @classmethod
    def prepare(
        cls, outputs_path: str | Path, data: DataConfig | None = None, teacher_sha256: str | None = None, progress: bool = False
    ) -> LiveData:
        """Load (or, on a cold cache, build) the dataset, then take the examples the record
        holds: all of them where the data was built as the teacher's was, those of the art
        styles installed here otherwise (`TeacherOutputs.match`)."""
        record = load_teacher_outputs(outputs_path, teacher_sha256=teacher_sha256)  # fails before any building
        dataset = load_dataset(data or DataConfig(), progress=progress)
        rows, outputs = record.match(dataset)
        if len(rows) < len(dataset):
            dataset = dataset.subset(rows)
        return cls.of(dataset, outputs, tuple(record.styles))

    @classmethod
    def of(cls, dataset: MultimodalDataset, outputs: TeacherOutputs, recorded_styles: tuple[str, ...] = ()) -> LiveData:
        student = create_model("student", num_classes=dataset.num_classes, **LIVE_STUDENT)
        return cls(dataset, outputs, pipeline.student_inputs(student, dataset), recorded_styles)

    @property
    def styles(self) -> list[str]:
        """The art styles a live student trains and is scored on, in the data's order."""
        return list(dict.fromkeys(self.dataset.styles))

    @property
    def missing_styles(self) -> list[str]:
        """Styles the teacher's record holds that were not built here (a font not installed)."""
        return [style for style in self.recorded_styles if style not in self.styles]


# ------------------------------------------------------------------------------ training

TWIN = "twin_"  # the prefix of the labels-only twin's losses and scores in a run's history rows


@dataclass
class LiveResult:
    """A student trained live, its labels-only twin, and how both did."""

    student: MultimodalClassifier | None  # the best epoch's weights; None if no epoch ended
    settings: LiveSettings
    history: list[dict]  # one row per epoch; the twin's figures under TWIN-prefixed keys
    test: dict  # `kd.study.evaluate.quality_metrics` on the test split, against the recorded teacher
    seconds: float
    labelled_examples: int
    stopped: str = ""  # why training ended before the last epoch, in words ("" if it did not)
    twin: MultimodalClassifier | None = None  # the same student on labels alone (None with alpha 0: it is the student)
    twin_test: dict = dataclasses.field(default_factory=dict)

    @property
    def kd_gain(self) -> float | None:
        """Test accuracy points your student gained over its labels-only twin (None without a twin)."""
        if self.student is None or self.twin is None:
            return None
        return 100 * (self.test["accuracy"] - self.twin_test["accuracy"])

    def config(self, twin: bool = False) -> dict:
        """What a checkpoint of this student (or of its twin) would record about its training."""
        model, settings = (self.twin, self.settings.twin()) if twin else (self.student, self.settings)
        history = [{k.removeprefix(TWIN): v for k, v in row.items() if k.startswith(TWIN) or k in ("epoch", "seconds")}
                   for row in self.history] if twin else self.history
        return checkpoint_config(
            model, "student", weights_sha256(model), train=to_dict(settings.train_config()),
            distill=to_dict(settings.distill_config()), history=history, labelled_train_examples=self.labelled_examples,
        )


class _Budget:
    """Asked after every step: stop when told, or once the next epoch would end past the limit."""

    def __init__(self, time_limit: float | None, stop: Callable[[], bool] | None):
        self.start, self.time_limit, self.stop = time.perf_counter(), time_limit, stop or (lambda: False)
        self.reason = ""

    def epoch_ended(self, epoch: int, epochs: int, train_start: float) -> None:
        if self.time_limit is None or epoch == epochs or self.reason:
            return
        now = time.perf_counter()
        per_epoch = (now - train_start) / epoch
        if now - self.start + per_epoch + TEST_SECONDS > self.time_limit:
            limit = f"{self.time_limit:g} s"
            self.reason = f"Stopped after epoch {epoch} of {epochs}: the next one would have ended past the {limit} limit."

    def __call__(self) -> bool:
        if not self.reason and self.stop():
            self.reason = "Stopped, as you asked."
        elif not self.reason and self.time_limit is not None and time.perf_counter() - self.start > self.time_limit:
            self.reason = f"Stopped at the {self.time_limit:g} s limit."
        return bool(self.reason)


class SideBySide(nn.Module):
    """Your student and its labels-only twin, one step each on the same batch, for one `Trainer`.

    Why one Trainer and not two runs in turn: both students then grow epoch by epoch on the
    page, the time limit and the Stop button treat them alike, and a stopped run still has
    both. Their parameters are disjoint and nothing couples them (no clipping of a joint
    norm), so the summed loss gives each student exactly its own gradients, and AdamW
    updates each as if it trained alone. The twin learns from the batch's labelled rows
    only (what alpha = 0 gives it), so it takes as many steps as your student over the same
    labelled emoji, and costs a fraction of a step at a small label share.
    """

    def __init__(self, taught: Distiller, twin: Distiller | None):
        super().__init__()
        self.taught, self.twin = taught, twin

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits, losses = self.taught(batch)  # the Trainer's train accuracy is your student's
        if self.twin is not None:
            labelled = batch["labelled"]
            if labelled.any():
                _, twin_losses = self.twin({k: v[labelled] for k, v in batch.items()})
            else:  # no labelled row in this batch: nothing for the twin to learn from
                twin_losses = {"loss_ce": torch.zeros(())}
            losses |= {TWIN + name: value for name, value in twin_losses.items()}
        return logits, losses

    def trainable_parameters(self) -> list[nn.Parameter]:
        return self.taught.trainable_parameters() + (self.twin.trainable_parameters() if self.twin is not None else [])

    @property
    def generators(self) -> list[torch.Generator]:
        return self.taught.generators + (self.twin.generators if self.twin is not None else [])


class _BestTwin:
    """The twin's weights at its own best validation epoch (the Trainer keeps your student's)."""

    def __init__(self, twin: nn.Module):
        self.twin, self.best, self.state = twin, -math.inf, None

    def __call__(self, row: dict) -> None:
        if row[TWIN + "val_accuracy"] > self.best:
            self.best, self.state = row[TWIN + "val_accuracy"], copy.deepcopy(self.twin.state_dict())

    def restore(self) -> None:
        if self.state is not None:
            self.twin.load_state_dict(self.state)
        self.twin.eval()


def fresh_students(
    settings: LiveSettings, num_classes: int, teacher: Teacher | None = None, seed: int = 0
) -> tuple[MultimodalClassifier, MultimodalClassifier | None]:
    """Your student, initialised as `settings` say, and its twin with the very same weights
    (None with alpha 0: your student is then the labels-only one)."""
    torch.manual_seed(seed)
    student = create_model("student", num_classes=num_classes, **LIVE_STUDENT)
    if settings.student_init != "random":
        if teacher is None:
            raise LiveError("Starting from the teacher's word embeddings needs the teacher, and none is loaded here.")
        init_from_teacher(student, teacher, settings.student_init)
    return student, (copy.deepcopy(student) if settings.distill_config().uses_teacher else None)


def train_student(
    data: LiveData,
    settings: LiveSettings,
    teacher: Teacher | None = None,
    on_epoch: list[Callable[[dict], None]] = (),
    should_stop: Callable[[], bool] | None = None,
    time_limit: float | None = None,
    seed: int = 0,
) -> LiveResult:
    """Train a fresh `student` with `settings` by `Distiller` and `Trainer`, the teacher
    answering from its record, and beside it (`SideBySide`) its labels-only twin: the same
    student from the same initial weights, the same labelled emoji, epochs and time limit,
    alpha 0. `teacher` (the loaded teacher) is needed only to start from its word vectors.
    Stops early when `should_stop()` says so or before an epoch that would end past
    `time_limit` seconds, keeping each student's best epoch so far. With alpha 0 your
    student learns from labels alone: it is its own twin, and no other trains."""
    settings = settings.check()
    start = time.perf_counter()
    dataset, train, config = data.dataset, settings.train_config(), settings.distill_config()
    student, twin = fresh_students(settings, dataset.num_classes, teacher, seed)

    train_idx, tensors = pipeline.student_training_rows(dataset, data.inputs, train, config)
    if config.uses_teacher:
        tensors.update(RecordedTeacher.features(data.outputs.logits[train_idx], dataset.has_text[train_idx]))
    recorded = RecordedTeacher(dataset.num_classes)
    distiller = Distiller(recorded, student, config, train.modality_dropout, train.seed)
    twin_distiller = None
    if twin is not None:
        twin_distiller = Distiller(recorded, twin, settings.twin().distill_config(), train.modality_dropout, train.seed)
    step = SideBySide(distiller, twin_distiller)

    val_idx, test_idx = dataset.split_indices("val"), dataset.split_indices("test")
    val = ({k: v[val_idx] for k, v in data.inputs.items()}, dataset.labels[val_idx], data.outputs.view("image+text")[val_idx])
    scores = [(pipeline.validation(student, *val), "")]
    if twin is not None:
        scores.append((pipeline.validation(twin, *val), TWIN))

    def evaluate() -> dict[str, float]:
        return {prefix + k: v for score, prefix in scores for k, v in score().items()}

    budget, train_start = _Budget(time_limit, should_stop), time.perf_counter()
    best_twin = _BestTwin(twin) if twin is not None else None
    trainer = Trainer(
        nn.ModuleList([student] + ([twin] if twin is not None else [])), step, train, evaluate,
        parameters=step.trainable_parameters(),
        on_epoch=[
            lambda row: budget.epoch_ended(row["epoch"], train.epochs, train_start),
            *([best_twin] if best_twin else []),
            *on_epoch,
        ],
        progress=False, should_stop=budget, generators=step.generators,
    )
    result = LiveResult(None, settings, [], {}, 0.0, int(tensors["labelled"].sum()))
    try:
        result.history = trainer.fit(TensorLoader(tensors, train.batch_size, seed=train.seed))
    except TrainingStopped as stopped:  # the trainer has restored the best epoch so far
        result.stopped, result.history = budget.reason, stopped.history
        if not stopped.history:
            result.seconds = time.perf_counter() - start
            return result
    test_inputs, test_labels = {k: v[test_idx] for k, v in data.inputs.items()}, dataset.labels[test_idx]
    test_teacher = data.outputs.view("image+text")[test_idx]
    with torch.no_grad():
        result.student = student
        result.test = quality_metrics(pipeline.input_logits(student, test_inputs), test_labels, test_teacher, dataset.classes)
        if twin is not None:
            best_twin.restore()
            result.twin = twin
            result.twin_test = quality_metrics(pipeline.input_logits(twin, test_inputs), test_labels, test_teacher, dataset.classes)
    result.seconds = time.perf_counter() - start
    return result


def percent(fraction: float) -> str:
    return f"{100 * fraction:.0f}%"
