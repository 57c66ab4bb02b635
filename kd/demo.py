"""What the demo page shows for one answer, as plain data the app only has to draw.

Every number on the demo tab comes from here: the charts' data, the side-by-side table
(latency, speed-up, parameters, size), the verdict (agreement, KL) and the notes, so each
is checked by a test without a browser. The Results tab's data lives in `kd.results`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from kd.infer import LoadedModel, ModelAnswer, Prediction

TOP_K = 3  # classes each model's answer lists


@dataclass(frozen=True)
class ModelFacts:
    """What a model costs, whatever it is asked."""

    params: int
    size_mb: float  # on disk, including a teacher's frozen pretrained backbones

    @classmethod
    def of(cls, loaded: LoadedModel) -> ModelFacts:
        return cls(loaded.params, loaded.size_mb)


def top_classes(answer: ModelAnswer) -> dict[str, float]:
    """The model's probabilities at T = 1 (what it answers), for a `gr.Label`."""
    return dict(answer.probs)


def soft_label_frame(answer: ModelAnswer, model: str) -> pd.DataFrame:
    """The softened distribution at the request's temperature: one row per class, classes in
    the models' order so the teacher's and the student's charts line up bar for bar."""
    classes = list(answer.soft_probs)
    return pd.DataFrame({"class": classes, "probability": list(answer.soft_probs.values()), "model": [model] * len(classes)})


def side_by_side(prediction: Prediction, teacher: ModelFacts, student: ModelFacts) -> list[tuple[str, str, str]]:
    """Rows of (what, teacher, student) for the comparison table."""
    t, s = prediction.teacher, prediction.student
    return [
        ("answer", t.label, s.label),
        ("confidence (T = 1)", percent(t.probs[t.label]), percent(s.probs[s.label])),
        ("latency, this request", milliseconds(t.latency_ms), milliseconds(s.latency_ms)),
        ("speed-up", "baseline", speedup(prediction.speedup)),
        ("parameters", millions(teacher.params), millions(student.params)),
        ("size on disk", megabytes(teacher.size_mb), megabytes(student.size_mb)),
    ]


def verdict(prediction: Prediction) -> str:
    """One line: do they agree, and how far apart their soft labels are."""
    t, s = prediction.teacher.label, prediction.student.label
    head = f"**They agree**: both say {t}." if prediction.agree else f"**They disagree**: the teacher says {t}, the student {s}."
    return f"{head} KL(teacher ‖ student) at T = {prediction.temperature:g}: **{prediction.kl_teacher_student:.3f}** nats."


def notes(prediction: Prediction) -> str:
    """What the models answered from, and anything that was missing, cut or ignored."""
    return " ".join([f"Both models answered from the {' and '.join(prediction.used)}."] + prediction.notes)


def comparison_markdown(prediction: Prediction, teacher: ModelFacts, student: ModelFacts) -> str:
    """The verdict, then the side-by-side table, as Markdown."""
    rows = ["| | teacher | student |", "|---|---|---|"]
    rows += [f"| {what} | {a} | {b} |" for what, a, b in side_by_side(prediction, teacher, student)]
    return verdict(prediction) + "\n\n" + "\n".join(rows)


# Names the page gives the other students (a name not listed is shown as it is).
OTHER_NAMES = {"student_image": "image-only student", "student_text": "text-only student"}
_READS = {"image": "picture", "text": "text"}


def others_markdown(prediction: Prediction, readers: dict[str, tuple[str, ...]]) -> str:
    """A row per other student (`readers`: name -> the modalities it reads): its answer and
    confidence at T = 1, whether it agrees with the teacher, and KL(teacher ‖ it) at T.
    A student that reads none of the modalities used says so; '' when there are none."""
    if not readers:
        return ""
    kl = f"KL(teacher ‖ it) at T = {prediction.temperature:g}"
    rows = [f"| more students | reads | answer (T = 1) | agrees with the teacher | {kl} |", "|---|---|---|---|---|"]
    for name, modalities in readers.items():
        what, reads = OTHER_NAMES.get(name, name), " + ".join(_READS[m] for m in modalities)
        answer = prediction.others.get(name)
        if answer is not None:
            agrees = "yes" if answer.label == prediction.teacher.label else "no"
            cells = (f"{answer.label} ({percent(answer.probs[answer.label])})", agrees, f"{prediction.kl_to_teacher(answer):.3f}")
        elif not set(modalities) & set(prediction.used):
            cells = (f"none: it reads the {reads} only, and this request has none", "", "")
        else:
            cells = ("not asked yet: press Ask both models", "", "")
        rows.append(f"| {what} | {reads} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- format


def speedup(ratio: float) -> str:
    return f"{ratio:.0f}x faster" if ratio >= 10 else f"{ratio:.1f}x faster"


def percent(p: float) -> str:
    return f"{100 * p:.1f}%"


def milliseconds(ms: float) -> str:
    return f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


def millions(n: int) -> str:
    return f"{n / 1e6:.2f} M"


def megabytes(mb: float) -> str:
    return f"{mb:.1f} MB"
