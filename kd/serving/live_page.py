"""What the "Distill it yourself" tab shows of a live run: curves, tables and sentences.

Plain data the app only has to draw, each checked by a test without a browser; the run
itself is `kd.serving.live`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kd.layout import EXPORTED, display_name
from kd.serving.live import LiveResult, LiveSettings
from kd.serving.results import how_it_learned, training_summary


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


def training_line(epoch: int, settings: LiveSettings, seconds: float) -> str:
    """Where a run is while an epoch trains: shown from its first second."""
    return f"Training epoch {epoch} of {settings.epochs} ({seconds:.0f} s)…"


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
    rows = []

    def add(name: str, m: dict, how: str) -> None:
        rows.append({
            "model": display_name(name),
            "test accuracy": f"{m['accuracy']:.3f}",
            "agreement with teacher": f"{m['agreement']:.3f}",
            "KL to teacher": f"{m['kl_to_teacher']:.3f}",
            "how it learned": how,
        })

    for name, m in metrics["models"].items():
        if name not in EXPORTED:  # the same student as ours, deployed: nothing more to compare here
            add(name, m, how_it_learned(checkpoints, name))
    if result is not None and result.student is not None:
        add(YOUR_STUDENT, result.test, training_summary(result.config()))
    return pd.DataFrame(rows, columns=["model", "test accuracy", "agreement with teacher", "KL to teacher", "how it learned"])
