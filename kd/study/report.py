"""Tables made from metrics files, for the terminal and for the README.

The README's results sit between markers and are rewritten by `python -m kd report`, so
every figure it shows comes from `checkpoints/metrics.json` (and the timing of the last
`python -m kd reproduce`, `checkpoints/reproduce.json`) or from the distillation study
(`experiments/tables.json`, written by `python -m kd experiments`), never from a hand.
"""

from __future__ import annotations

import json
from pathlib import Path

from kd.layout import Layout
from kd.study.evaluate import CHECKS

RESULTS = ("<!-- results:start -->", "<!-- results:end -->")
STUDY = ("<!-- study:start -->", "<!-- study:end -->")


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}x" if a and b else "n/a"


def results_table(metrics: dict) -> str:
    models = metrics["models"]
    has_speed = all("latency_ms_p50" in m for m in models.values())
    checks = {key: name for key, name in CHECKS.items() if any(key in m for m in models.values())}
    header = ["model", "test acc", "macro-F1", "agree w/ teacher", "KL to teacher", "ECE"]
    for name in checks.values():
        header += [f"{name}: agree (picture + text / picture)", f"{name}: acc (picture + text / picture)"]
    header += ["params", "size MB"]
    if has_speed:
        header += ["latency p50 / p95 ms", "throughput /s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, m in models.items():
        row = [
            f"`{name}`",
            f"{m['accuracy']:.3f}",
            f"{m['macro_f1']:.3f}",
            f"{m['agreement']:.3f}",
            f"{m['kl_to_teacher']:.3f}",
            f"{m['ece']:.3f}",
        ]
        for key in checks:
            row += [check_cell(m.get(key, {}), "agreement"), check_cell(m.get(key, {}), "accuracy")]
        row += [
            f"{m['params'] / 1e6:.2f} M",
            f"{m['size_mb']:.1f}",
        ]
        if has_speed:
            row += [f"{m['latency_ms_p50']:.2f} / {m['latency_ms_p95']:.2f}", f"{m['throughput_per_s']:.0f}"]
        lines.append("| " + " | ".join(row) + " |")
    teacher = models.get(metrics["settings"].get("teacher", "teacher"))
    student = models.get("student")
    if teacher and student:
        summary = f"The student has {_ratio(teacher['params'], student['params'])} fewer parameters than the teacher"
        if has_speed:
            summary += f" and answers {_ratio(teacher['latency_ms_p50'], student['latency_ms_p50'])} faster (p50 latency)"
        summary += f"; it keeps {student['accuracy'] / teacher['accuracy']:.1%} of the teacher's accuracy"
        summary += f" and agrees with it on {student['agreement']:.1%} of the test split"
        seen = [(student[key], name) for key, name in checks.items() if "picture+text" in student.get(key, {})]
        parts = [f"{ood['picture+text']['agreement']:.1%}{' (picture + text)' if i == 0 else ''} and "
                 f"{ood['picture']['agreement']:.1%}{' (picture only)' if i == 0 else ''} of {name}" for i, (ood, name) in enumerate(seen)]
        if parts:
            summary += f", and on {in_words(parts)} it never saw"
        summary += "."
        lines += ["", summary]
    d, s = metrics["dataset"], metrics["settings"]
    lines += [
        "",
        f"Test split: {d['evaluated']} examples of dataset `{d['name']}` (fingerprint `{d['fingerprint']}`); "
        f"{s['machine']}, {s['threads']} torch threads, torch {s['torch']}.",
    ]
    for i, (key, name) in enumerate(checks.items()):
        how = ("agreement with the teacher and accuracy against each folder's category, from picture + text and from the "
               "picture only" if i == 0 else f"measured as the {next(iter(checks.values()))} is")
        lines.append(f"{name[0].upper() + name[1:]} (out of domain): {s[key]}; {how}.")
    if has_speed:
        lines.append(f"Latency: {s['latency']}. Throughput: {s['throughput']}." + (f" Both {s['speed']}." if "speed" in s else ""))
    return "\n".join(lines)


def check_cell(ood: dict, metric: str) -> str:
    """One out-of-domain check's `metric` from picture + text and from the picture only,
    '0.795 / 0.683'; '–' for a way a model was not asked (a picture-only model: '– / 0.648');
    '' for a model the check did not score."""
    cells = [f"{ood[view][metric]:.3f}" if view in ood else "–" for view in ("picture+text", "picture")]
    return " / ".join(cells) if ood else ""


def in_words(words: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def readme_section(checkpoints: Path) -> str:
    folder = Layout(checkpoints)
    metrics = json.loads(folder.metrics.read_text(encoding="utf-8"))
    parts = [results_table(metrics)]
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in (folder.reproduce, folder.reproduce_cold) if p.is_file()]
    if len(runs) == 2 and runs[0] == runs[1]:  # the last run was the cold one
        runs = runs[:1]
    parts += ["\n" + reproduce_sentence(t) for t in runs]
    return "\n".join(parts)


def reproduce_sentence(t: dict) -> str:
    """How long one `python -m kd reproduce` took, per stage, as `reproduce.json` records it."""
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in t["stages"].items())
    cache = " starting from an empty cache" if t.get("cold_cache") else " with the cache of an earlier run"
    return f"`python -m kd reproduce` took {t['seconds'] / 60:.1f} min on {t['machine']}{cache} ({stages})."


def study_section(experiments: Path) -> str:
    from kd.study.tables import tables_markdown

    return tables_markdown(json.loads((experiments / "tables.json").read_text(encoding="utf-8")))


def replace_between(text: str, markers: tuple[str, str], body: str) -> str:
    start, end = markers
    if start not in text or end not in text:
        raise ValueError(f"the README has no {start} ... {end} markers to write between")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def write_command_output(readme: Path, name: str, command: str, lines: list[str]) -> None:
    """A benchmark's command and what it printed, between the README's `<!-- name:start -->`
    and `<!-- name:end -->` markers."""
    markers = (f"<!-- {name}:start -->", f"<!-- {name}:end -->")
    block = "\n".join(["```text", f"$ {command}", *lines, "```"])
    readme.write_text(replace_between(readme.read_text(encoding="utf-8"), markers, block), encoding="utf-8")


def update_readme(readme: Path, checkpoints: Path, experiments: Path | None = None) -> None:
    """Rewrite the results section, and the study's section when its tables exist."""
    text = replace_between(readme.read_text(encoding="utf-8"), RESULTS, readme_section(checkpoints))
    if experiments is not None and (experiments / "tables.json").is_file():
        text = replace_between(text, STUDY, study_section(experiments))
    readme.write_text(text, encoding="utf-8")
