"""What the demo page shows for one answer, as plain data the app only has to draw.

Every number on the demo tab comes from here: the soft-label chart, the side-by-side table
(latency, speed-up, parameters, size), the verdict (agreement, KL) and the notes, so each
is checked by a test without a browser. The Results tab's data lives in `kd.serving.results`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass

from kd.layout import display_name
from kd.serving.infer import LoadedModel, Prediction
from kd.study.evaluate import CHECKS
from kd.study.report import in_words


@dataclass(frozen=True)
class ModelFacts:
    """What a model costs, whatever it is asked."""

    params: int
    size_mb: float  # on disk, including a teacher's frozen pretrained backbones

    @classmethod
    def of(cls, loaded: LoadedModel) -> ModelFacts:
        return cls(loaded.params, loaded.size_mb)


def side_by_side(prediction: Prediction, teacher: ModelFacts, student: ModelFacts) -> list[tuple[str, str, str]]:
    """Rows of (what, teacher, student) for the comparison table."""
    t, s = prediction.teacher, prediction.student
    return [
        ("answer", t.label, s.label),
        ("confidence (T = 1)", percent(t.probs[t.label]), percent(s.probs[s.label])),
        ("latency", milliseconds(t.latency_ms), milliseconds(s.latency_ms)),
        ("speed-up", "baseline", speedup(prediction.speedup)),
        ("parameters", millions(teacher.params), millions(student.params)),
        ("size on disk", megabytes(teacher.size_mb), megabytes(student.size_mb)),
    ]


def verdict(prediction: Prediction) -> str:
    """One line in plain words: do they agree, and how far apart their soft labels are."""
    t, s = prediction.teacher.label, prediction.student.label
    head = f"**They agree**: both say {t}." if prediction.agree else f"**They disagree**: the teacher says {t}, the student {s}."
    return (
        f"{head} The student answered {speedup(prediction.speedup)}. Difference between their soft labels at "
        f"T = {prediction.temperature:g} (KL divergence, 0 = identical): **{prediction.kl_teacher_student:.3f}**."
    )


def notes(prediction: Prediction) -> str:
    """What the models answered from, and anything that was missing, cut or ignored."""
    used = " and ".join({"image": "picture", "text": "text"}[m] for m in prediction.used)
    prepared = []
    if prediction.prepare_ms is not None:
        prepared = [f"Preparing the picture (shrinking it to the size both models read) took {milliseconds(prediction.prepare_ms)}, "
                    "once for both: their latencies leave it out."]
    return " ".join([f"Both models answered from the {used}.", *prepared, *prediction.notes])


def unfamiliar_warning(prediction: Prediction, student_metrics: Mapping[str, Mapping] | None = None) -> str:
    """A plain warning when the picture is unlike anything the models learnt from ('' if not).

    `student_metrics`: the student's row of `metrics.json`, whose out-of-domain checks (`CHECKS`
    key -> {"picture+text": {"agreement": ...}, "picture": {...}}) say how often
    it follows the teacher on each, asked as this request was: from the picture alone, the
    student follows far less often than with a text, and a visitor should hear the right figure."""
    if not prediction.unfamiliar:
        return ""
    score, threshold = prediction.familiarity
    alone = "text" not in prediction.used
    view = "picture" if alone else "picture+text"
    shares = [f"{percent(figures[view]['agreement'])} of {name}" for key, name in CHECKS.items()
              if view in (figures := (student_metrics or {}).get(key, {}))]
    followed = (
        f" Asked as here (from the {'picture alone' if alone else 'picture and its text'}), the student picks the "
        f"teacher's answer for {in_words(shares)} it never saw." if shares else ""
    )
    return (
        f"⚠️ **This picture is unlike the emoji these models learnt from** (similarity {score:.2f} to the closest "
        f"training picture; emoji they have not seen score above {threshold:.2f}). Both models still answer with one of "
        f"the 9 emoji categories, often confidently and wrongly.{followed}"
    )


def soft_label_chart(prediction: Prediction, names: tuple[str, str] = ("teacher", "student")) -> str:
    """Both models' soft labels at T as one HTML chart: per class, the teacher's bar beside
    the student's, on one 0-1 axis, its title giving T. Plain HTML and CSS, so it draws the
    same on a phone and needs no plotting library."""
    t, s = prediction.teacher.soft_probs, prediction.student.soft_probs
    rows = []
    for cls in t:
        cells = "".join(
            f'<div class="kd-bar kd-{who}" style="width:{100 * p:.1f}%" title="{html.escape(name)}: {100 * p:.1f}%"></div>'
            f'<span class="kd-value">{100 * p:.0f}%</span>'
            for who, name, p in (("teacher", names[0], t[cls]), ("student", names[1], s[cls]))
        )
        top = " kd-top" if cls in (prediction.teacher.label, prediction.student.label) else ""
        rows.append(f'<div class="kd-row{top}"><div class="kd-class">{html.escape(cls)}</div><div class="kd-bars">{cells}</div></div>')
    legend = (f'<span class="kd-key kd-teacher"></span>{html.escape(names[0])} '
              f'<span class="kd-key kd-student"></span>{html.escape(names[1])}')
    title = f"Soft labels at temperature T = {prediction.temperature:g}"
    return f'<div class="kd-chart"><div class="kd-title">{title} <span class="kd-legend">{legend}</span></div>{"".join(rows)}</div>'


CHART_CSS = """
.kd-chart { font-size: 14px; }
.kd-title { font-weight: 600; margin-bottom: 6px; }
.kd-legend { font-weight: 400; margin-left: 8px; white-space: nowrap; }
.kd-key { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 8px; vertical-align: -1px; border-radius: 2px; }
.kd-row { display: grid; grid-template-columns: minmax(96px, 30%) 1fr; gap: 8px; align-items: center; margin: 3px 0; }
.kd-row.kd-top .kd-class { font-weight: 700; }
.kd-class { text-align: right; overflow-wrap: anywhere; line-height: 1.1; }
.kd-bars { display: grid; grid-template-columns: 1fr 38px; row-gap: 2px; column-gap: 6px; align-items: center;
           background: linear-gradient(90deg, transparent calc(50% - 22px), rgba(128,128,128,.25) calc(50% - 22px),
           rgba(128,128,128,.25) calc(50% - 21px), transparent calc(50% - 21px)); }
.kd-bar { height: 10px; border-radius: 2px; min-width: 1px; }
.kd-value { font-size: 12px; font-variant-numeric: tabular-nums; opacity: .8; }
.kd-teacher { background: #4c78a8; }
.kd-student { background: #f58518; }
"""


def comparison_markdown(prediction: Prediction, teacher: ModelFacts, student: ModelFacts) -> str:
    """The side-by-side table (answers, confidence, latency, speed-up, size) as Markdown."""
    rows = ["| | teacher | student |", "|---|---|---|"]
    rows += [f"| {what} | {a} | {b} |" for what, a, b in side_by_side(prediction, teacher, student)]
    return "\n".join(rows)


_READS = {"image": "picture", "text": "text"}


def others_markdown(prediction: Prediction, readers: dict[str, tuple[str, ...]]) -> str:
    """A row per other student (`readers`: name -> the modalities it reads): its answer and
    confidence at T = 1, whether it picks the teacher's category, and how far its soft labels
    are from the teacher's at T. A student that reads none of the modalities used says so;
    '' when there are none."""
    if not readers:
        return ""
    kl = f"difference from the teacher at T = {prediction.temperature:g} (KL)"
    rows = [f"| more students | reads | answer (T = 1) | same as the teacher | {kl} |", "|---|---|---|---|---|"]
    for name, modalities in readers.items():
        what, reads = display_name(name), " + ".join(_READS[m] for m in modalities)
        answer = prediction.others.get(name)
        if answer is not None:
            agrees = "yes" if answer.label == prediction.teacher.label else "no"
            cells = (f"{answer.label} ({percent(answer.probs[answer.label])})", agrees, f"{prediction.kl_to_teacher(answer):.3f}")
        elif not set(modalities) & set(prediction.used):
            cells = (f"none: it reads the {reads} only, and this request has none", "", "")
        else:
            cells = ("not asked yet: ask again", "", "")
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
