"""Distill it yourself: a fresh student trained live, in a minute, on the teacher's recorded answers.

The demo's "Distill it yourself" tab lets a visitor pick the temperature T, alpha, the
fraction of labels and the epochs, and trains a new student while they watch. Running the
teacher's pretrained backbones over the 5,680 examples takes ~3 minutes on 2 cores, so the
teacher's answers are recorded once, when the checkpoints are made:

    save_teacher_outputs(teacher, dataset, "checkpoints/teacher_outputs.safetensors")

holds its logits on every example for each view a student can be shown (picture and text,
picture only, text only, nothing), with the fingerprint of the data and the hash of the
teacher's weights they were recorded on. `RecordedTeacher` answers from that record, so the
project's own `Distiller` and `Trainer` train the student as `kd.pipeline.distill` does
(without a transfer set): the same losses, the same modality dropout with the teacher shown
the same view, the same history rows.

    lab = LiveLab("checkpoints/teacher_outputs.safetensors", DataConfig())
    run = lab.start("session-1", LiveSettings(temperature=4, alpha=0.9, label_fraction=0.1, epochs=8))
    for row in run.epochs():      # each epoch's history row, as it ends (training runs in a thread)
        print(row["val_accuracy"])
    run.result.test["accuracy"]   # the student on the test split, scored like `kd.evaluate`

A run stops at the next step when asked (`lab.stop(session)`, or closing `run.epochs()`),
and before an epoch that would end past its time limit; it then keeps its best epoch so far.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
import torch
from safetensors.torch import save as safetensors_bytes
from torch import nn

# kd.pipeline as a module, read when called: it may import this one (to record the teacher).
from kd import cache, pipeline
from kd.checkpoint import read_config
from kd.compress import init_from_teacher
from kd.config import DataConfig, DistillConfig, TrainConfig, from_dict, to_dict
from kd.data import MultimodalDataset, load_dataset
from kd.distill import Distiller
from kd.evaluate import dataset_logits, quality_metrics
from kd.models import Features, MultimodalClassifier, Teacher, create_model
from kd.train import TensorLoader, Trainer, TrainingStopped

OUTPUTS_FILE = "teacher_outputs.safetensors"  # in the checkpoints folder, beside teacher/
OUTPUTS_FORMAT = "kd-teacher-outputs"
OUTPUTS_VERSION = 1
# The views a student may be shown, in the order the record holds the teacher's logits.
VIEWS = ("image+text", "image", "text", "none")
_VIEW_MODALITIES = {"image+text": ("image", "text"), "image": ("image",), "text": ("text",), "none": ()}

# What a visitor may choose. Measured on a 2-core x86_64 machine busy with other jobs, on
# one torch thread (as the app trains): 3 to 3.7 s per epoch, so the default run takes ~25 s
# and the cap ~55 s; the limit is enforced anyway (a busier machine is slower).
TIME_LIMIT_S = 60.0
MAX_EPOCHS = 15
TEMPERATURES = (1.0, 20.0)
LABEL_FRACTIONS = (0.05, 1.0)
STUDENT_INITS = ("random", "teacher")
DEFAULT_EPOCHS = 8
TEST_SECONDS = 1.0  # kept within the limit for scoring the student on the test split at the end


class LiveError(RuntimeError):
    """The live tab cannot train here; the message says why and what to do."""


class SettingsError(ValueError):
    """A visitor's setting is out of range; the message says which and what is allowed."""


# --------------------------------------------------------------------- the teacher's record


def weights_sha256(model: MultimodalClassifier) -> str:
    """The sha256 a checkpoint of `model` records as `weights_sha256` (its trained weights,
    serialised as `kd.checkpoint.save_checkpoint` writes them)."""
    state = {k: v.detach().contiguous() for k, v in model.trainable_state_dict().items()}
    return hashlib.sha256(safetensors_bytes(state)).hexdigest()


@dataclass
class TeacherOutputs:
    """The teacher's logits on every example of one dataset, for each view in `VIEWS`."""

    logits: torch.Tensor  # (N, V, K), examples in the dataset's order
    classes: list[str]
    dataset_fingerprint: str  # `MultimodalDataset.fingerprint()` of the data they were recorded on
    teacher_sha256: str  # the teacher checkpoint's `weights_sha256`

    def view(self, name: str) -> torch.Tensor:
        """(N, K): the teacher's logits when shown `name` (one of `VIEWS`)."""
        return self.logits[:, VIEWS.index(name)]


@torch.no_grad()
def save_teacher_outputs(teacher: Teacher, dataset: MultimodalDataset, path: str | Path) -> Path:
    """Record `teacher`'s logits on every example of `dataset`, per view, in a safetensors
    file at `path` (~0.6 MB for 5,680 examples and 9 classes). Computed from the teacher's
    cached backbone features, so after training it takes a second."""
    if teacher.config.num_classes != dataset.num_classes:
        raise ValueError(f"the teacher knows {teacher.config.num_classes} classes, the data has {dataset.num_classes}")
    logits = torch.stack([dataset_logits(teacher, dataset, _VIEW_MODALITIES[v]) for v in VIEWS], dim=1)  # (N, V, K)
    meta = {
        "format": OUTPUTS_FORMAT,
        "format_version": OUTPUTS_VERSION,
        "views": list(VIEWS),
        "classes": dataset.classes,
        "dataset": dataset.summary(),
        "teacher_sha256": weights_sha256(teacher),
    }
    cache.save_tensors(Path(path), {"logits": logits.float()}, meta)
    return Path(path)


def load_teacher_outputs(
    path: str | Path, dataset: MultimodalDataset | None = None, teacher_sha256: str | None = None
) -> TeacherOutputs:
    """The record at `path`, checked against the data built here and the teacher loaded here
    (when given); anything else is a `LiveError` that says what to do."""
    path = Path(path)
    redo = "Record it again: python -m kd reproduce writes it beside the checkpoints."
    if not path.is_file():
        raise LiveError(f"No recorded teacher outputs at {path}. {redo}")
    loaded = cache.load_tensors(path)
    if loaded is None:
        raise LiveError(f"The file {path} is not a readable safetensors file (truncated or damaged?). {redo}")
    tensors, meta = loaded
    if meta.get("format") != OUTPUTS_FORMAT or meta.get("format_version") != OUTPUTS_VERSION or meta.get("views") != list(VIEWS):
        raise LiveError(f"The file {path} is not a record of teacher outputs that this kd reads. {redo}")
    logits, classes = tensors.get("logits"), meta.get("classes", [])
    examples = meta.get("dataset", {}).get("examples")
    if logits is None or logits.dtype != torch.float32 or tuple(logits.shape) != (examples, len(VIEWS), len(classes)):
        raise LiveError(f"The file {path} does not hold one row of logits per example, view and class. {redo}")
    fingerprint = meta["dataset"].get("fingerprint")
    if dataset is not None and fingerprint != dataset.fingerprint():
        raise LiveError(
            f"The teacher outputs in {path} were recorded on dataset {fingerprint}, but the data built here is "
            f"{dataset.fingerprint()} (a missing art style or other package versions?). {redo}"
        )
    if teacher_sha256 is not None and meta.get("teacher_sha256") != teacher_sha256:
        raise LiveError(f"The teacher outputs in {path} were recorded with another teacher than the one loaded here. {redo}")
    return TeacherOutputs(logits, classes, fingerprint, meta.get("teacher_sha256", ""))


class RecordedTeacher(nn.Module):
    """The teacher as the `Distiller` sees it, answering from its record instead of its head.

    Its "features" are its recorded logits per view, (B, V, K): the `Distiller` carries them
    through the batch's `teacher_*` keys untouched, as it carries the classic MLP's pixels,
    and masks modalities on the presence flags beside them. `forward_head` then returns the
    logits the real teacher gave for the view left: what its head computes on the masked
    features, without the backbones.
    """

    def __init__(self, num_classes: int):
        super().__init__()
        self.fused_dim = num_classes  # no embedding was recorded: hints are not available

    def forward_head(self, features: Features) -> tuple[torch.Tensor, torch.Tensor]:
        has_image, has_text = features.has_image, features.has_text
        view = torch.where(has_image & has_text, 0, torch.where(has_image, 1, torch.where(has_text, 2, 3)))  # (B,)
        logits = features.image[torch.arange(len(view)), view]  # (B, K)
        return logits, logits

    @staticmethod
    def features(logits: torch.Tensor, has_text: torch.Tensor) -> dict[str, torch.Tensor]:
        """Batch tensors under the `teacher_*` keys the `Distiller` reads, for (N, V, K) logits."""
        n = len(logits)
        return {
            "teacher_image": logits,
            "teacher_text": torch.zeros(n, 1),
            "teacher_has_image": torch.ones(n, dtype=torch.bool),
            "teacher_has_text": has_text,
        }


# ------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class LiveSettings:
    """What a visitor chooses; `check()` says in words what is out of range."""

    temperature: float = 4.0
    alpha: float = 0.9
    label_fraction: float = 0.1  # of the training emoji whose labels the student may use
    epochs: int = DEFAULT_EPOCHS
    student_init: str = "random"  # or "teacher": token embeddings from the teacher's, compressed

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
            raise SettingsError(f"The student starts from {' or '.join(STUDENT_INITS)} weights, not {self.student_init!r}.")
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
        return dataclasses.replace(pipeline.STUDENT_TRAIN, epochs=self.epochs, label_fraction=self.label_fraction)

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
    inputs: dict[str, torch.Tensor]  # `kd.pipeline.student_inputs` of the whole dataset

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
    test: dict  # `kd.evaluate.quality_metrics` on the test split, against the recorded teacher
    seconds: float
    labelled_examples: int
    stopped: str = ""  # why training ended before the last epoch, in words ("" if it did not)

    def config(self) -> dict:
        """What a checkpoint of this student would record about its training."""
        return {
            "kind": "student",
            "model": "student",
            "model_args": {"modalities": ["image", "text"]},
            "train": to_dict(self.settings.train_config()),
            "distill": to_dict(self.settings.distill_config()),
            "history": self.history,
            "labelled_train_examples": self.labelled_examples,
        }


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
    if config.student_init == "teacher":
        if teacher is None:
            raise LiveError("Starting from the teacher's word embeddings needs the teacher, and none is loaded here.")
        init_from_teacher(student, teacher)

    train_idx, tensors = pipeline.student_training_rows(dataset, data.inputs, train, config)
    if config.uses_teacher:
        tensors.update(RecordedTeacher.features(data.outputs.logits[train_idx], dataset.has_text[train_idx]))
    distiller = Distiller(RecordedTeacher(dataset.num_classes), student, config, train.modality_dropout, train.seed)

    val_idx, test_idx = dataset.split_indices("val"), dataset.split_indices("test")
    evaluate = pipeline.validation(student, dataset.subset(val_idx), data.outputs.view("image+text")[val_idx])

    budget, best, rows = _Budget(time_limit, should_stop), {"score": -math.inf, "state": None}, []
    train_start = time.perf_counter()

    def keep_best(row: dict) -> None:  # as the Trainer does, but kept for a run that is stopped too
        rows.append(row)
        if row["val_accuracy"] > best["score"]:
            best["score"], best["state"] = row["val_accuracy"], copy.deepcopy(student.state_dict())
        budget.epoch_ended(row["epoch"], train.epochs, train_start)

    trainer = Trainer(
        student, distiller, train, evaluate, parameters=distiller.trainable_parameters(),
        on_epoch=[keep_best, *on_epoch], progress=False, should_stop=budget, generators=distiller.generators,
    )
    result = LiveResult(None, settings, rows, {}, 0.0, int(tensors["labelled"].sum()))
    try:
        trainer.fit(TensorLoader(tensors, train.batch_size, seed=train.seed))
    except TrainingStopped:
        result.stopped = budget.reason
        if best["state"] is None:
            result.seconds = time.perf_counter() - start
            return result
        student.load_state_dict(best["state"])
        student.eval()
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
        return cls(Path(checkpoints) / OUTPUTS_FILE, data, teacher, config["weights_sha256"], **options)

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


# ------------------------------------------------------------------- what the tab shows


# Short: the plot's legend cuts long names.
CURVE_LABELS = {
    "train_accuracy": "train accuracy",  # on the examples whose labels it may use
    "val_accuracy": "val accuracy",
    "val_agreement": "val agreement",  # with the teacher
}
LOSS_TERMS = {"loss": "total", "loss_kd": "KD (teacher)", "loss_ce": "CE (labels)"}


def loss_frame(history: list[dict]) -> pd.DataFrame:
    """Each epoch's training loss, in total and by term: rows (epoch, loss, term)."""
    rows = [
        {"epoch": row["epoch"], "loss": value, "term": LOSS_TERMS.get(name, name)}
        for row in history
        for name, value in row.items()
        if name == "loss" or name.startswith("loss_")
    ]
    return pd.DataFrame(rows, columns=["epoch", "loss", "term"])


def accuracy_frame(history: list[dict]) -> pd.DataFrame:
    """Each epoch's accuracies: rows (epoch, value, curve), curves named for reading."""
    rows = [
        {"epoch": row["epoch"], "value": row[key], "curve": label}
        for row in history
        for key, label in CURVE_LABELS.items()
        if key in row
    ]
    return pd.DataFrame(rows, columns=["epoch", "value", "curve"])


def epoch_line(row: dict, settings: LiveSettings, seconds: float) -> str:
    """One line of progress, as an epoch ends."""
    return (
        f"Epoch {row['epoch']} of {settings.epochs} ({seconds:.0f} s): training loss {row['loss']:.3f}, "
        f"validation accuracy {row['val_accuracy']:.3f}, agreement with the teacher {row['val_agreement']:.3f}."
    )


def result_summary(result: LiveResult) -> str:
    """What came of a run, in two sentences."""
    if result.student is None:
        return f"{result.stopped} No epoch ended, so there is no student to compare: try again."
    done = len(result.history)
    best = max(result.history, key=lambda row: row["val_accuracy"])["epoch"]
    kept = f" The student kept is epoch {best}, the best on the validation split." if done > 1 else ""
    head = f"{result.stopped} " if result.stopped else ""
    return (
        f"{head}Your student trained {done} epoch{'s' if done > 1 else ''} in {result.seconds:.0f} s "
        f"({result.settings.describe()}, {result.labelled_examples} labelled examples).{kept} "
        f"On the test split: accuracy **{result.test['accuracy']:.3f}**, agreement with the teacher "
        f"**{result.test['agreement']:.3f}**."
    )


YOUR_STUDENT = "your student"


def comparison_frame(metrics: dict, checkpoints: str | Path, result: LiveResult | None = None) -> pd.DataFrame:
    """The shipped models' test figures from `metrics.json`, and the visitor's student
    (scored the same way, against the teacher's recorded test answers) below them."""
    from kd.results import training_summary

    rows = []

    def add(name: str, m: dict, config: dict) -> None:
        rows.append({
            "model": name,
            "test accuracy": f"{m['accuracy']:.3f}",
            "agreement with teacher": f"{m['agreement']:.3f}",
            "KL to teacher": f"{m['kl_to_teacher']:.3f}",
            "how it learned": training_summary(config),
        })

    for name, m in metrics["models"].items():
        add(name, m, read_config(Path(checkpoints) / name))
    if result is not None and result.student is not None:
        add(YOUR_STUDENT, result.test, result.config())
    return pd.DataFrame(rows, columns=["model", "test accuracy", "agreement with teacher", "KL to teacher", "how it learned"])


def percent(fraction: float) -> str:
    return f"{100 * fraction:.0f}%"


__all__ = [
    "LiveData", "LiveError", "LiveLab", "LiveResult", "LiveRun", "LiveSettings", "RecordedTeacher", "SettingsError",
    "TeacherOutputs", "load_teacher_outputs", "save_teacher_outputs", "train_student",
]
