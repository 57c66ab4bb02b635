"""What the "Distill it yourself" tab shows of a live run: curves, tables and sentences.

Plain data the app only has to draw, each checked by a test without a browser; the run
itself is `kd.serving.live`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kd.layout import EXPORTED, display_name
from kd.serving.live import TWIN, LiveData, LiveResult, LiveSettings, percent
from kd.serving.results import how_it_learned, training_summary
from kd.study.report import in_words

YOUR_STUDENT = "your student"  # how the Demo tab and the curves name it
YOURS = "your student (taught by the teacher)"  # its row in the comparison, beside its twin's


def twin_name(settings: LiveSettings) -> str:
    return f"same student, labels only, same {percent(settings.label_fraction)} of labels"


# ------------------------------------------------------------------------------ curves

# One line per student in each plot, your student in orange (the student's colour on the
# Demo tab), its labels-only twin in blue. One measure per plot: two measures of one student
# (accuracy and agreement, or the loss's two terms) lie close and hide each other.
TWIN_NAME = "labels-only twin"  # short: a plot's legend cuts long names
LOSS_CURVES = {"loss": (YOUR_STUDENT, "#f58518"), TWIN + "loss_ce": (TWIN_NAME, "#4c78a8")}
ACCURACY_CURVES = {"val_accuracy": (YOUR_STUDENT, "#f58518"), TWIN + "val_accuracy": (TWIN_NAME, "#4c78a8")}
CURVES_CAPTION = (
    "**Training loss**: what each student minimises. Yours: alpha × T² × the KL divergence from the teacher's soft "
    "labels at T, plus (1 − alpha) × the cross-entropy on the labelled emoji; the labels-only student: that "
    "cross-entropy alone. The two sums differ, so compare how each falls, not their heights. **Validation accuracy**: "
    "on emoji neither student trains on, after each epoch."
)


def curve_colors(curves: dict[str, tuple[str, str]]) -> dict[str, str]:
    return dict(curves.values())


def _curve_frame(history: list[dict], curves: dict[str, tuple[str, str]], value: str) -> pd.DataFrame:
    rows = [{"epoch": row["epoch"], value: row[key], "model": name} for row in history for key, (name, _) in curves.items() if key in row]
    return pd.DataFrame(rows, columns=["epoch", value, "model"])


def loss_frame(history: list[dict]) -> pd.DataFrame:
    """Each epoch's training loss, the whole of what each student minimises: rows (epoch, loss, model)."""
    return _curve_frame(history, LOSS_CURVES, "loss")


def accuracy_frame(history: list[dict]) -> pd.DataFrame:
    """Each epoch's validation accuracy, for both students: rows (epoch, accuracy, model)."""
    return _curve_frame(history, ACCURACY_CURVES, "accuracy")


# ----------------------------------------------------------------------------- sentences


def data_line(data: LiveData) -> str:
    """What a live student trains and is scored on: the art styles built here."""
    styles = data.styles
    train = len(data.dataset.split_indices("train"))
    line = f"Training pictures: {train:,} in {_styles(styles)}."
    if data.missing_styles:
        missing, many = in_words(data.missing_styles), len(data.missing_styles) > 1
        line += (f" The {missing} style{'s are' if many else ' is'} not installed on this server: the teacher learned "
                 f"from {'them' if many else 'it'} too, but here the students train and are scored on {in_words(styles)} "
                 "pictures only.")
    return line


def _styles(styles: list[str]) -> str:
    return f"the {styles[0]} art style" if len(styles) == 1 else f"{len(styles)} art styles ({in_words(styles)})"


def training_line(epoch: int, settings: LiveSettings, seconds: float) -> str:
    """Where a run is while an epoch trains (shown from its first second), or once the last
    has ended, while the students are scored."""
    if epoch > settings.epochs:
        return f"Scoring the students on the test split ({seconds:.0f} s)…"
    return f"Training epoch {epoch} of {settings.epochs} ({seconds:.0f} s)…"


def epoch_line(row: dict, settings: LiveSettings, seconds: float) -> str:
    """One line of progress, as an epoch ends."""
    twin = f" (labels only: {row[TWIN + 'val_accuracy']:.3f})" if TWIN + "val_accuracy" in row else ""
    return (
        f"Epoch {row['epoch']} of {settings.epochs} ({seconds:.0f} s): validation accuracy {row['val_accuracy']:.3f}"
        f"{twin}, agreement with the teacher {row['val_agreement']:.3f}."
    )


def gain_sentence(result: LiveResult) -> str:
    """The KD gain in plain words: what the teacher's soft labels added over labels alone."""
    if result.settings.alpha == 0:
        return (f"With alpha 0 your student learned from the labels alone and scores **{result.test['accuracy']:.3f}** "
                "on the test split: it is its own labels-only twin, so there is no teacher's gain to show. Raise alpha "
                "to let the teacher teach.")
    gain, share = result.kd_gain, percent(result.settings.label_fraction)
    yours, twin = result.test["accuracy"], result.twin_test["accuracy"]
    if round(gain, 1) > 0:
        what = f"the teacher added **{gain:+.1f} points**"
    elif round(gain, 1) < 0:
        what = f"here the teacher's soft labels cost **{-gain:.1f} points**"
    else:
        what = "the teacher made no difference"
    return (f"On the test split your student scores **{yours:.3f}**, the same student on the same {share} of labels "
            f"alone **{twin:.3f}**: {what}.")


def result_summary(result: LiveResult) -> str:
    """What came of a run: how it trained, the KD gain, how close it follows the teacher."""
    if result.student is None:
        return f"{result.stopped} No epoch ended, so there is no student to compare: try again."
    done = len(result.history)
    best = max(result.history, key=lambda row: row["val_accuracy"])["epoch"]
    kept = f" The student kept is epoch {best}, the best on the validation split." if done > 1 else ""
    head = f"{result.stopped} " if result.stopped else ""
    both = " with its labels-only twin" if result.twin is not None else ""
    return (
        f"{head}Your student trained {done} epoch{'s' if done > 1 else ''}{both} in {result.seconds:.0f} s "
        f"({result.settings.describe()}: {result.labelled_examples:,} labelled pictures, each emoji in every style).{kept} "
        f"{gain_sentence(result)} It agrees with the teacher on **{result.test['agreement']:.3f}** of the test emoji."
    )


# ------------------------------------------------------------------------------ the table

COMPARISON_COLUMNS = ["model", "test accuracy", "agreement with teacher", "KL to teacher", "how it learned"]


def comparison_frame(metrics: dict, checkpoints: str | Path, result: LiveResult | None = None) -> pd.DataFrame:
    """The visitor's student and its labels-only twin (scored against the teacher's recorded
    test answers, as ours were) above the shipped models' test figures from `metrics.json`."""
    rows = []

    def add(name: str, m: dict, how: str) -> None:
        rows.append({
            "model": display_name(name),
            "test accuracy": f"{m['accuracy']:.3f}",
            "agreement with teacher": f"{m['agreement']:.3f}",
            "KL to teacher": f"{m['kl_to_teacher']:.3f}",
            "how it learned": how,
        })

    if result is not None and result.student is not None:
        add(YOURS, result.test, training_summary(result.config()))
        if result.twin is not None:
            add(twin_name(result.settings), result.twin_test, training_summary(result.config(twin=True)))
    for name, m in metrics["models"].items():
        if name not in EXPORTED:  # the same student as ours, deployed: nothing more to compare here
            add(name, m, how_it_learned(checkpoints, name))
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


HIGHLIGHT = "font-weight: bold; background-color: #fff1e0"  # the orange of the student's curves, pale


def highlighted(frame: pd.DataFrame):
    """The comparison with your student's row in bold on a pale orange (a pandas Styler, which
    `gr.Dataframe` draws)."""
    return frame.style.apply(lambda row: [HIGHLIGHT if row["model"] == YOURS else ""] * len(row), axis=1)
