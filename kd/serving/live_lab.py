"""The "Distill it yourself" tab's runs in a web server: one thread per run, one run per visitor.

A `LiveRun` is one `kd.serving.live.train_student` call in a background thread, reported
epoch by epoch; a `LiveLab` is what a server shares among its visitors: the data, prepared
once in the background as the server starts, the loaded teacher, and the run each session
has going, so a session's Stop button or its departure stops that run and no other.

    lab = LiveLab(Layout().teacher_outputs, DataConfig())
    lab.prepare_in_background()
    run = lab.start("session-1", LiveSettings())
    for row in run.epochs():      # each epoch's history row, as it ends (training runs in a thread)
        print(row["val_accuracy"], row["twin_val_accuracy"])
    run.result.kd_gain            # your student's test accuracy over its labels-only twin's, in points
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

from kd.config import DataConfig, from_dict
from kd.layout import Layout
from kd.models.classifiers import Teacher
from kd.models.compress import token_outputs
from kd.serving.live import TIME_LIMIT_S, LiveData, LiveResult, LiveSettings, train_student


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
    """What a server shares among its visitors: the data, prepared once (`prepare_in_background`
    at server start, or on first use), the loaded teacher (for a student that starts from its
    word vectors), and the run each session has going, so a session's Stop button or its
    departure stops that run and no other."""

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
        self._preparing: threading.Thread | None = None
        self.preparation_error = ""  # what went wrong preparing in the background, if anything

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

    @property
    def preparing(self) -> bool:
        return self._preparing is not None and self._preparing.is_alive()

    def prepare_in_background(self) -> threading.Thread | None:
        """Prepare the data in a thread, and the teacher's distilled word vectors a student may
        start from (cached on disk: a minute once per machine), so that no visitor's click
        waits for them. A failure is kept in `preparation_error`, and the click that needs the
        data tries again and says what is wrong."""
        if self.prepared or not self.recorded or self._preparing is not None:
            return None

        def prepare() -> None:
            try:
                self.data()
                if self.teacher is not None:
                    token_outputs(self.teacher)
            except Exception as e:  # noqa: BLE001 (said on the page, and raised again by the click)
                self.preparation_error = str(e)

        self._preparing = threading.Thread(target=prepare, name="kd-live-prepare", daemon=True)
        self._preparing.start()
        return self._preparing

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
