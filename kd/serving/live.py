"""Distill it yourself: a fresh student trained live, in a minute, on the teacher's recorded answers.

The demo's "Distill it yourself" tab lets a visitor pick the temperature T, alpha, the
fraction of labels and the epochs, and trains a new student while they watch. The teacher
does not run: it answers from its record (`kd.study.record`), so the project's own `Distiller`
and `Trainer` train the student as `kd.study.pipeline.distill` does (without a transfer set): the
same losses, the same modality dropout with the teacher shown the same view, the same
history rows, the same best-epoch keeping.

    lab = LiveLab(Layout().teacher_outputs, DataConfig())
    run = lab.start("session-1", LiveSettings(temperature=4, alpha=0.9, label_fraction=0.1, epochs=8))
    for row in run.epochs():      # each epoch's history row, as it ends (training runs in a thread)
        print(row["val_accuracy"])
    run.result.test["accuracy"]   # the student on the test split, scored like `kd.study.evaluate`

A run stops at the next step when asked (`lab.stop(session)`, or closing `run.epochs()`),
and before an epoch that would end past its time limit; it then keeps its best epoch so far.
What the tab shows of a run (tables, curves, sentences) is `kd.serving.live_page`.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch

from kd.config import STUDENT_TRAIN, TEMPERATURES, DataConfig, DistillConfig, TrainConfig, from_dict, to_dict
from kd.data.dataset import MultimodalDataset, load_dataset
from kd.layout import Layout
from kd.models.checkpoint import checkpoint_config, weights_sha256
from kd.models.classifiers import MultimodalClassifier, Teacher, create_model
from kd.models.compress import INITS, init_from_teacher
from kd.study import pipeline
from kd.study.evaluate import dataset_logits, quality_metrics
from kd.study.record import RecordedTeacher, TeacherOutputs, load_teacher_outputs
from kd.training.distill import Distiller
from kd.training.train import TensorLoader, Trainer, TrainingStopped

# What a visitor may choose. Measured on a 2-core x86_64 machine busy with other jobs, on
# one torch thread (as the app trains): 3 to 3.7 s per epoch, so the default run takes ~25 s
# and the cap ~55 s; the limit is enforced anyway (a busier machine is slower).
TIME_LIMIT_S = 60.0
MAX_EPOCHS = 15
LABEL_FRACTIONS = (0.05, 1.0)
STUDENT_INITS = INITS  # random, or word vectors from the teacher (kd.models.compress)
DEFAULT_EPOCHS = 8
TEST_SECONDS = 1.0  # kept within the limit for scoring the student on the test split at the end


class LiveError(RuntimeError):
    """The live tab cannot train here; the message says why and what to do."""


class SettingsError(ValueError):
    """A visitor's setting is out of range; the message says which and what is allowed."""


# ------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class LiveSettings:
    """What a visitor chooses; `check()` says in words what is out of range."""

    temperature: float = 4.0
    alpha: float = 0.9
    label_fraction: float = 0.1  # of the training emoji whose labels the student may use
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

    def describe(self) -> str:
        how = "labels only" if self.alpha == 0 else f"T = {self.temperature:g}, alpha = {self.alpha:g}"
        return f"{how}, {percent(self.label_fraction)} of the labels, {self.student_init} start"


# ---------------------------------------------------------------------------------- data


@dataclass
class LiveData:
    """Everything a live run reads, prepared once per server: the dataset, the teacher's
    record checked against it, and the student's preprocessed inputs for every example."""

    dataset: MultimodalDataset
    outputs: TeacherOutputs
    inputs: dict[str, torch.Tensor]  # `kd.study.pipeline.student_inputs` of the whole dataset

    @classmethod
    def prepare(
        cls, outputs_path: str | Path, data: DataConfig | None = None, teacher_sha256: str | None = None, progress: bool = False
    ) -> LiveData:
        """Load (or, on a cold cache, build) the dataset, then the record checked against it."""
        load_teacher_outputs(outputs_path)  # a missing or broken record fails before any building
        dataset = load_dataset(data or DataConfig(), progress=progress)
        outputs = load_teacher_outputs(outputs_path, dataset, teacher_sha256)
        return cls.of(dataset, outputs)

    @classmethod
    def of(cls, dataset: MultimodalDataset, outputs: TeacherOutputs) -> LiveData:
        student = create_model("student", num_classes=dataset.num_classes)
        return cls(dataset, outputs, pipeline.student_inputs(student, dataset))


# ------------------------------------------------------------------------------ training


@dataclass
class LiveResult:
    """A student trained live, and how it did."""

    student: MultimodalClassifier | None  # the best epoch's weights; None if no epoch ended
    settings: LiveSettings
    history: list[dict]
    test: dict  # `kd.study.evaluate.quality_metrics` on the test split, against the recorded teacher
    seconds: float
    labelled_examples: int
    stopped: str = ""  # why training ended before the last epoch, in words ("" if it did not)

    def config(self) -> dict:
        """What a checkpoint of this student would record about its training."""
        return checkpoint_config(
            self.student, "student", weights_sha256(self.student), train=to_dict(self.settings.train_config()),
            distill=to_dict(self.settings.distill_config()), history=self.history,
            labelled_train_examples=self.labelled_examples,
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
    answering from its record; `teacher` (the loaded teacher) is needed only for
    `student_init="teacher"`. Stops early when `should_stop()` says so or before an epoch
    that would end past `time_limit` seconds, keeping the best epoch so far."""
    settings = settings.check()
    start = time.perf_counter()
    dataset, train, config = data.dataset, settings.train_config(), settings.distill_config()
    torch.manual_seed(seed)
    student = create_model("student", num_classes=dataset.num_classes)
    if config.student_init != "random":
        if teacher is None:
            raise LiveError("Starting from the teacher's word embeddings needs the teacher, and none is loaded here.")
        init_from_teacher(student, teacher, config.student_init)

    train_idx, tensors = pipeline.student_training_rows(dataset, data.inputs, train, config)
    if config.uses_teacher:
        tensors.update(RecordedTeacher.features(data.outputs.logits[train_idx], dataset.has_text[train_idx]))
    distiller = Distiller(RecordedTeacher(dataset.num_classes), student, config, train.modality_dropout, train.seed)

    val_idx, test_idx = dataset.split_indices("val"), dataset.split_indices("test")
    evaluate = pipeline.validation(student, dataset.subset(val_idx), data.outputs.view("image+text")[val_idx])

    budget, train_start = _Budget(time_limit, should_stop), time.perf_counter()
    trainer = Trainer(
        student, distiller, train, evaluate, parameters=distiller.trainable_parameters(),
        on_epoch=[lambda row: budget.epoch_ended(row["epoch"], train.epochs, train_start), *on_epoch],
        progress=False, should_stop=budget, generators=distiller.generators,
    )
    result = LiveResult(None, settings, [], {}, 0.0, int(tensors["labelled"].sum()))
    try:
        result.history = trainer.fit(TensorLoader(tensors, train.batch_size, seed=train.seed))
    except TrainingStopped as stopped:  # the trainer has restored the best epoch so far
        result.stopped, result.history = budget.reason, stopped.history
        if not stopped.history:
            result.seconds = time.perf_counter() - start
            return result
    test = dataset.subset(test_idx)
    with torch.no_grad():
        logits = dataset_logits(student, test)
    result.student = student
    result.test = quality_metrics(logits, test.labels, data.outputs.view("image+text")[test_idx], dataset.classes)
    result.seconds = time.perf_counter() - start
    return result


# ------------------------------------------------------------------- runs in the server


class LiveRun:
    """One `train_student` call in a background thread, reported epoch by epoch.

    `epochs()` starts it and yields each history row as its epoch ends; once exhausted,
    `result` holds the `LiveResult`. Closing the iterator early (a visitor who left: the
    web server closes the generator that reads it) or `stop()` stops training at its next
    step, and the thread ends within a step.
    """

    JOIN_SECONDS = 10.0  # how long closing waits for the thread to finish its step

    def __init__(
        self, data: LiveData, settings: LiveSettings, teacher: Teacher | None = None, time_limit: float | None = TIME_LIMIT_S
    ):
        self.settings = settings.check()
        self.result: LiveResult | None = None
        self._stop = threading.Event()
        self._events: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._train, args=(data, teacher, time_limit), name="kd-live-run", daemon=True)

    def _train(self, data: LiveData, teacher: Teacher | None, time_limit: float | None) -> None:
        try:
            on_epoch = [lambda row: self._events.put(("epoch", dict(row)))]
            result = train_student(data, self.settings, teacher, on_epoch, self._stop.is_set, time_limit)
            self._events.put(("done", result))
        except BaseException as e:  # handed to the reader, which raises it in its own thread
            self._events.put(("error", e))

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def epochs(self, heartbeat: float | None = None) -> Iterator[dict | None]:
        """Each epoch's history row as it ends; with `heartbeat`, also None whenever that many
        seconds pass without one, so a reader in a web server gets a chance to be cancelled
        (Gradio cancels a generator between two items, never inside one)."""
        self._thread.start()
        try:
            while True:
                try:
                    kind, value = self._events.get(timeout=heartbeat)
                except queue.Empty:
                    yield None
                    continue
                if kind == "epoch":
                    yield value
                elif kind == "done":
                    self.result = value
                    return
                else:
                    raise value
        finally:
            self.stop()
            self._thread.join(timeout=self.JOIN_SECONDS)


class LiveLab:
    """What a server shares among its visitors: the data, prepared on first use (once), the
    loaded teacher (for `student_init="teacher"`), and the run each session has going, so a
    session's Stop button or its departure stops that run and no other."""

    def __init__(
        self,
        outputs_path: str | Path,
        data_config: DataConfig | None = None,
        teacher: Teacher | None = None,
        teacher_sha256: str | None = None,
        time_limit: float | None = TIME_LIMIT_S,
        data: LiveData | None = None,  # already prepared (tests)
    ):
        self.outputs_path, self.data_config, self.teacher = Path(outputs_path), data_config, teacher
        self.teacher_sha256, self.time_limit = teacher_sha256, time_limit
        self._data = data
        self._prepare_lock, self._runs_lock = threading.Lock(), threading.Lock()
        self._runs: dict[str, LiveRun] = {}

    @classmethod
    def beside(cls, teacher: Teacher, config: dict, checkpoints: str | Path, **options) -> LiveLab:
        """The lab of a teacher loaded from `checkpoints/` (`config`: its config.json): the
        record in that folder, checked against that teacher and the data it was trained on."""
        data = from_dict(DataConfig, config["data"])
        return cls(Layout(checkpoints).teacher_outputs, data, teacher, config["weights_sha256"], **options)

    @property
    def recorded(self) -> bool:
        """Whether the teacher's record is there at all (the tab needs it)."""
        return self.outputs_path.is_file()

    @property
    def prepared(self) -> bool:
        return self._data is not None

    def data(self) -> LiveData:
        """The data, prepared on the first call (a cold cache builds the dataset: ~1 minute
        on 2 cores); `LiveError` if the record is missing or does not match."""
        with self._prepare_lock:
            if self._data is None:
                self._data = LiveData.prepare(self.outputs_path, self.data_config, self.teacher_sha256)
            return self._data

    def start(self, session: str, settings: LiveSettings) -> LiveRun:
        """A new run for `session` (any run it still has is stopped); iterate its `epochs()`."""
        run = LiveRun(self.data(), settings, self.teacher, self.time_limit)
        with self._runs_lock:
            if (old := self._runs.get(session)) is not None:
                old.stop()
            self._runs[session] = run
        return run

    def finish(self, session: str, run: LiveRun) -> None:
        """Forget `run` once it has ended (and stop it, if it has not)."""
        run.stop()
        with self._runs_lock:
            if self._runs.get(session) is run:
                del self._runs[session]

    def stop(self, session: str) -> bool:
        """Stop `session`'s run, if it has one going; True if it had."""
        with self._runs_lock:
            run = self._runs.get(session)
        if run is None:
            return False
        run.stop()
        return True

    def running(self) -> list[str]:
        """Sessions with a run whose thread is still going."""
        with self._runs_lock:
            return [s for s, run in self._runs.items() if run.running]


def percent(fraction: float) -> str:
    return f"{100 * fraction:.0f}%"
