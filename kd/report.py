"""Tables made from metrics files, for the terminal and for the README.

The README's results sit between two markers and are rewritten by `python -m kd report`,
so every figure it shows comes from `checkpoints/metrics.json` (and the timing of the
last `python -m kd reproduce`, `checkpoints/reproduce.json`), never from a hand.
"""

from __future__ import annotations

import json
from pathlib import Path

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}x" if a and b else "n/a"


def results_table(metrics: dict) -> str:
    models = metrics["models"]
    has_speed = all("latency_ms_p50" in m for m in models.values())
    header = ["model", "test acc", "macro-F1", "agree w/ teacher", "KL to teacher", "ECE", "params", "size MB"]
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
        summary += f"; it keeps {student['accuracy'] / teacher['accuracy']:.1%} of the teacher's accuracy."
        lines += ["", summary]
    d, s = metrics["dataset"], metrics["settings"]
    lines += [
        "",
        f"Test split: {d['evaluated']} examples of dataset `{d['name']}` (fingerprint `{d['fingerprint']}`); "
        f"{s['machine']}, {s['threads']} torch threads, torch {s['torch']}.",
    ]
    if has_speed:
        lines.append(f"Latency: {s['latency']}. Throughput: {s['throughput']}.")
    return "\n".join(lines)


def readme_section(checkpoints: Path) -> str:
    metrics = json.loads((checkpoints / "metrics.json").read_text(encoding="utf-8"))
    parts = [results_table(metrics)]
    timing = checkpoints / "reproduce.json"
    if timing.is_file():
        t = json.loads(timing.read_text(encoding="utf-8"))
        stages = ", ".join(f"{k} {v:.0f} s" for k, v in t["stages"].items())
        parts.append(
            f"\n`python -m kd reproduce` took {t['seconds'] / 60:.1f} min on {t['machine']} with an empty cache ({stages})."
            if t.get("cold_cache")
            else f"\n`python -m kd reproduce` took {t['seconds'] / 60:.1f} min on {t['machine']} ({stages})."
        )
    return "\n".join(parts)


def update_readme(readme: Path, checkpoints: Path) -> None:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} markers to write the results between")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{readme_section(checkpoints)}\n{END}{tail}", encoding="utf-8")
