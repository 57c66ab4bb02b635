"""The demo's Results tab as data: the test-set metrics and the training curves.

Everything comes from files the training and evaluation wrote, never from a hand:
`checkpoints/metrics.json` (`python -m kd evaluate --json`) for the tables, and each
checkpoint's `config.json` `history` (one row per epoch, recorded while training) for the
curves. The frames are shaped for Gradio's tables and plots.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from kd import layout
from kd.layout import Layout
from kd.models.checkpoint import read_config
from kd.study.evaluate import CHECKS
from kd.study.report import check_cell, in_words

# Curves worth plotting, and what to call them. A metric a model did not record (the
# teacher has no agreement with itself) is simply absent from its plot.
CURVES = {
    "val_accuracy": "validation accuracy",
    "val_agreement": "validation agreement",  # short: a phone's plot cuts a long title
    "loss": "training loss",
}
CURVE_CAPTIONS = {
    "val_agreement": "how often a student picks the teacher's answer on the validation split.",
    "loss": "a student taught by the teacher adds the KL term, scaled by T², to its loss, so its curve sits far above "
            "the labels-only student's.",
}
# Shown below the plots, not as their captions: a plot's fixed height cuts a long caption.
CURVES_CAPTION = "\n\n".join(f"**{CURVES[metric].capitalize()}**: {caption}" for metric, caption in CURVE_CAPTIONS.items())

# One colour per model, the same in every chart (Gradio's defaults colour by order of appearance).
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2")


def model_colors(names: list[str]) -> dict[str, str]:
    """A colour per model, keyed by the name the charts show (`kd.layout.display_name`)."""
    return {layout.display_name(name): PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def color_key(colors: dict[str, str]) -> str:
    """The charts' legend as HTML that wraps: a swatch and the full name of each model.

    A plot's own legend is one line as wide as the plot, and cuts names past it (a phone
    shows two of five); this one goes below the plots and wraps between models instead."""
    swatch = ('<span style="display:inline-block;white-space:nowrap;margin-right:1.2em">'
              '<span style="display:inline-block;width:0.8em;height:0.8em;border-radius:50%;'
              'background:{color};margin-right:0.35em;vertical-align:middle"></span>{name}</span>')
    return "".join(swatch.format(color=html.escape(color), name=html.escape(name)) for name, color in colors.items())


# A table's columns get widths in pixels (`gr.Dataframe(column_widths=...)`), or Gradio
# squeezes them to the page and breaks headers inside words ("accura|cy") and cuts the last
# columns. Wide enough for a header's longest word and a short cell; longer cells wrap
# between words. A phone scrolls such a table inside itself, not the page.
CHAR_PX = 9  # a character of the tables' monospace font, with room to spare
CELL_PAD_PX = 18  # a cell's padding (8 px a side) and border
CELL_CHARS = 12  # a cell longer than this wraps between words (a model's name, a latency)
WIDE_CELL_CHARS = 60  # ... in a column of sentences


def column_widths(frame: pd.DataFrame, wide: tuple[str, ...] = ()) -> list[str]:
    """Pixel widths for `frame`'s columns, in order; the `wide` ones hold sentences."""
    widths = []
    for column in frame.columns:
        header_word = max(len(word) for word in str(column).split())
        cells = frame[column].astype(str)
        cell_words = max((len(word) for cell in cells for word in cell.split()), default=0)
        cell = min(max(map(len, cells), default=0), WIDE_CELL_CHARS if column in wide else CELL_CHARS)
        widths.append(f"{CELL_PAD_PX + CHAR_PX * max(header_word, cell_words, cell)}px")
    return widths


class MetricsError(ValueError):
    """A metrics file that is missing or not what `python -m kd evaluate --json` writes."""


# Under the table: each column in plain words, for a reader who has not met the terms.
COLUMNS_EXPLAINED = (
    "**Agreement with teacher**: how often a model picks the teacher's answer. "
    "**Latency**: the time of one answer (picture and text in, probabilities out) on the CPU that evaluated them; "
    "p50 is the median, p95 the slowest one in twenty. "
    "**Clip art, cut-out photos, photos**: pictures from sources never used in training (drawings, Tux Paint's stamps, "
    "GCompris's photographs): each cell gives the agreement with the picture's file words or description as the text, "
    "then with the picture alone (– for a model that reads no text). "
    "**Picture only, text only**: test accuracy with the other input hidden. "
    "**Macro-F1**: accuracy that weighs every category equally, however many emoji it has. "
    "**KL to teacher**: how far a model's probabilities are from the teacher's (KL divergence at T = 1; 0 = the same). "
    "**ECE** (expected calibration error): how far a model's confidence is from how often it is right (0 = as often as it claims). "
    "Below, **transfer set**: inputs without labels (words, phrases, pictures) that the teacher answers for the student "
    "to copy; **augmented views**: pictures cropped, recoloured, blurred or put on new backgrounds, shown to both models."
)


def load_metrics(path: str | Path = Layout().metrics) -> dict:
    path = Path(path)
    redo = f"Write it again: python -m kd evaluate --json {path}"
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MetricsError(f"No evaluation yet at {path}. {redo}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MetricsError(f"{path} cannot be read ({e}). {redo}") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("models"), dict) or "dataset" not in metrics:
        raise MetricsError(f"{path} is not an evaluation (no models and dataset). {redo}")
    return metrics


def results_frame(metrics: dict) -> pd.DataFrame:
    """One row per model: the test-set figures of `metrics.json`, formatted for reading."""
    rows = []
    for name, m in metrics["models"].items():
        # What the headline says first (accuracy, agreement, size, speed), then the pictures never
        # trained on, then the details: a laptop's screen shows the first columns, the rest scroll.
        row = {
            "model": layout.display_name(name),
            "test accuracy": f"{m['accuracy']:.3f}",
            "agreement with teacher": f"{m['agreement']:.3f}",
            "parameters": f"{m['params'] / 1e6:.2f} M",
            "size on disk": f"{m['size_mb']:.1f} MB",
        }
        if "latency_ms_p50" in m:
            row["latency p50 / p95"] = f"{m['latency_ms_p50']:.2f} / {m['latency_ms_p95']:.2f} ms"
        # Pictures from sources never trained on (clip art, stamps, photographs): does it still follow the
        # teacher? Both ways of asking in one cell, as the README writes them: one column per check.
        for key, name in CHECKS.items():
            row[f"{name} agreement {PAIR}"] = check_cell(m.get(key, {}), "agreement")
        row |= {
            # A one-modality model is scored on the modality it reads; "" where it reads none.
            "picture only": _score(m.get("accuracy_image_only")),
            "text only": _score(m.get("accuracy_text_only")),
            "macro-F1": f"{m['macro_f1']:.3f}",
            "KL to teacher": f"{m['kl_to_teacher']:.3f}",
            "ECE": f"{m['ece']:.3f}",
        }
        rows.append(row)
    return pd.DataFrame(rows)


def headline(metrics: dict) -> str:
    """The one sentence the demo leads with: how much smaller and faster the student is, how
    often it picks the teacher's answer on emoji and on each out-of-domain check's pictures (`CHECKS`), with
    their text and from the picture alone, against the same student taught by labels alone. '' when the
    metrics lack a model it needs."""
    models = metrics.get("models", {})
    teacher, student, scratch = (models.get(n) for n in (layout.TEACHER, layout.STUDENT, layout.SCRATCH))
    if not teacher or not student:
        return ""
    line = f"The student is {teacher['params'] / student['params']:.0f}x smaller"
    if "latency_ms_p50" in teacher and "latency_ms_p50" in student:
        line += f" and {teacher['latency_ms_p50'] / student['latency_ms_p50']:.0f}x faster"
    followed = _agreements(student)
    line += f", and picks the teacher's answer for {in_words([f'{a:.0%} of {name}' for name, a in followed.items()])} it has never seen"
    # The same pictures shown without their text, what a visitor holding up a photo gets; the
    # figures bare, in the order just named, so only when every check named has one.
    alone = [student[key].get("picture", {}).get("agreement") for key, name in CHECKS.items() if name in followed]
    if alone and None not in alone:
        line += f" (from the picture alone: {in_words([f'{a:.0%}' for a in alone])})"
    if scratch:
        twin = _agreements(scratch)
        # Bare figures when they stand for the same pictures, in the same order; else each named.
        figures = [f"{a:.0%}" if list(twin) == list(followed) else f"{a:.0%} of {name}" for name, a in twin.items()]
        line += f"; taught by labels alone, the same student: {in_words(figures)}"
    return line + "."


def _agreements(model: dict) -> dict[str, float]:
    """{'emoji': 0.92, 'clip art': 0.79, ...}: agreement with the teacher, picture + text, on the
    test split and on each out-of-domain check the metrics hold, in `CHECKS`' order."""
    return {"emoji": model["agreement"]} | {
        name: model[key]["picture+text"]["agreement"] for key, name in CHECKS.items() if "picture+text" in model.get(key, {})
    }


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


# How a check's two agreements share a cell: from the picture and its text, and from the picture alone.
PAIR = "(picture + text / picture only)"


def training_summary(config: dict) -> str:
    """How a model learned, in words, from its checkpoint config: what taught it, what it
    reads, the share of labels it saw and its epochs."""
    modalities = config.get("model_args", {}).get("modalities", ["image", "text"])
    if config.get("kind") == "teacher":
        heads = config.get("model_args", {}).get("heads", 1)
        parts = [f"{heads} heads, their answers averaged, trained on frozen pretrained encoders" if heads > 1
                 else "head trained on frozen pretrained encoders"]
    else:
        distill = config.get("distill", {})
        if distill.get("alpha", 0) == 0 and not distill.get("hint_weight"):
            parts = ["labels only"]
        else:
            parts = [f"distilled at T = {distill.get('temperature', 1):g}, alpha = {distill.get('alpha', 0):g}"]
            transfer = [what for key, what in (("transfer", "words"), ("phrases", "phrases"), ("pictures", "clip art"),
                                               ("stamps", "cut-out photos"), ("views", "augmented views"),
                                               ("captions", "captioned pictures"))
                        if distill.get(key)]
            if transfer:
                parts.append("transfer set of " + ", ".join(transfer))
        init = {"teacher": "teacher's word embeddings to start", "distilled": "word vectors distilled from the teacher to start"}
        if distill.get("student_init") in init:
            parts.append(init[distill["student_init"]])
    if list(modalities) != ["image", "text"]:
        parts.append({"image": "picture only", "text": "text only"}.get(modalities[0], "+".join(modalities)))
    parts.append(f"{100 * config.get('train', {}).get('label_fraction', 1.0):.0f}% of labels")
    if config.get("history"):
        epochs = len(config["history"])
        parts.append(f"{epochs} epoch{'s' if epochs != 1 else ''}")
        kept = config.get("kept_epoch")  # recorded since students may keep their last epoch
        if kept == epochs:
            parts.append("kept the last")
        elif kept:
            judge = {"val_agreement": "agreement with the teacher"}.get(config.get("distill", {}).get("keep"), "accuracy")
            parts.append(f"kept epoch {kept}, the best on validation {judge}")
    return ", ".join(parts)


def how_it_learned(checkpoints: str | Path, name: str) -> str:
    """`training_summary` of a model in the folder; an exported row says so after its source's."""
    summary = training_summary(read_config(Layout(checkpoints).config_of(name)))
    return f"{summary}; {layout.EXPORTED[name][1]}" if name in layout.EXPORTED else summary


def training_table(checkpoints: str | Path, names: list[str]) -> pd.DataFrame:
    """`training_summary` of each named checkpoint: rows (model, how it learned)."""
    rows = [{"model": layout.display_name(name), "how it learned": how_it_learned(checkpoints, name)} for name in names]
    return pd.DataFrame(rows, columns=["model", "how it learned"])


def per_class_frame(metrics: dict) -> pd.DataFrame:
    """Test accuracy per class: one row per (class, model), classes in the models' order."""
    rows = [
        {"class": cls, "model": layout.display_name(name), "accuracy": acc}
        for name, m in metrics["models"].items()
        for cls, acc in m["per_class_accuracy"].items()
        if acc is not None
    ]
    return pd.DataFrame(rows, columns=["class", "model", "accuracy"])


def per_class_by_model(metrics: dict) -> dict[str, pd.DataFrame]:
    """The same, one frame per model: a chart each (stacked bars would add accuracies up)."""
    frame = per_class_frame(metrics)
    # An exported student's chart would repeat its source's (the table below has its numbers).
    return {name: frame[frame["model"] == layout.display_name(name)].reset_index(drop=True)
            for name in metrics["models"] if name not in layout.EXPORTED}


def per_class_table(metrics: dict) -> pd.DataFrame:
    """The same, one row per class and one column per model, formatted for reading."""
    wide = per_class_frame(metrics).pivot(index="class", columns="model", values="accuracy")
    columns = [layout.display_name(name) for name in metrics["models"]]
    wide = wide.reindex(index=list(next(iter(metrics["models"].values()))["per_class_accuracy"]), columns=columns)
    return wide.map(lambda a: "" if pd.isna(a) else f"{a:.3f}").rename_axis(columns=None).reset_index()


def training_histories(checkpoints: str | Path, names: list[str]) -> dict[str, list[dict]]:
    """Each named checkpoint's per-epoch training record (empty if it kept none)."""
    # An exported student has no training of its own: its source's curve is already there.
    return {name: read_config(Layout(checkpoints).model(name)).get("history", []) for name in names if name not in layout.EXPORTED}


def curve_names(histories: dict[str, list[dict]]) -> list[str]:
    """The models the curves draw (those that kept a record), as the plots name them."""
    return [layout.display_name(name) for name, history in histories.items() if history]


def curve_frame(histories: dict[str, list[dict]], metric: str) -> pd.DataFrame:
    """One metric over the epochs: one row per (model, epoch) that recorded it."""
    rows = [
        {"epoch": row["epoch"], metric: row[metric], "model": layout.display_name(name)}
        for name, history in histories.items()
        for row in history
        if row.get(metric) is not None
    ]
    return pd.DataFrame(rows, columns=["epoch", metric, "model"])


def dataset_line(metrics: dict) -> str:
    """Where the figures come from, in one sentence."""
    d, s = metrics["dataset"], metrics["settings"]
    return (
        f"Test split: {d['evaluated']} held-out examples of `{d['name']}` ({len(d['classes'])} classes), "
        f"evaluated on {s['machine']} with torch {s['torch']}."
    )
