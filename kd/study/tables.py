"""The distillation study's tables: its runs' rows, averaged over seeds, as Markdown.

    python -m kd experiments --tables-only   # rewrites them from the runs finished so far

`kd.study.experiments` defines the study and runs it, one JSON row per run in
`<out>/runs.jsonl`; this module turns those rows into `<out>/tables.json` (mean and std of
every figure, per table row) and `<out>/tables.md` (a headline sentence and the tables),
which `python -m kd report` copies into the README.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

from kd.study.experiments import ANOTHER_TEACHER, SEEDS, SHIPPED, SHIPPED_LABELS_ONLY, SHIPPED_SETTING, TEACHER_AT_48, read_runs, study


def write_tables(out: Path, seeds: tuple[int, ...] = SEEDS) -> dict:
    """Every table's rows finished so far in `out/runs.jsonl`, written to `out/tables.json`
    and `out/tables.md` (every table, not only those just run: the files feed the README whole)."""
    tables = summarize(read_runs(out), seeds)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tables.json").write_text(json.dumps(tables, indent=2) + "\n")
    (out / "tables.md").write_text(tables_markdown(tables) + "\n")
    return tables


def _mean_std(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0, "n": len(values)}


def summarize(rows: list[dict], seeds: tuple[int, ...] = SEEDS, only: tuple[str, ...] | None = None) -> dict:
    """Mean and std over seeds of each row of each table, in the study's order; rows whose
    runs have not finished yet are left out."""
    by_key = {row["key"]: row for row in rows}
    cells: dict[tuple, list[dict]] = defaultdict(list)
    pictures: dict[tuple, bool] = {}
    for run in study(seeds, only):
        if run.key() in by_key:  # rows not run yet (or run with other settings) are left out
            cell = (run.table, run.setting.name, run.method.name, run.method.student)
            cells[cell].append(by_key[run.key()])
            pictures[cell] = run.method.distill.pictures
    tables: dict[str, list[dict]] = defaultdict(list)
    for cell, group in cells.items():
        table, setting, method, student = cell
        tables[table].append(
            {
                "setting": setting,
                "method": method,
                "student": student,
                **{m: _mean_std([r[m] for r in group]) for m in METRICS if all(m in r for r in group)},
                "params": group[0]["params"],
                "epochs": group[0]["epochs"],
                "seeds": sorted(r["seed"] for r in group),
                # Trained on the first selection of transfer clip art, which held copies of check pictures.
                "clip_art_with_check_copies": pictures[cell] and any(r.get("clipart_version", 1) < 2 for r in group),
            }
        )
    return dict(tables)


METRICS = ("test_accuracy", "val_accuracy", "test_agreement", "ood_agreement", "ood_agreement_picture", "teacher_test_accuracy",
           # On the clip art every seed's teacher answers alike, and that clip art's share (`_settled`).
           "ood_agreement_settled", "ood_agreement_picture_settled", "ood_settled_share", "ood_settled_share_picture",
           # On the stamps check (`_on_stamps`).
           "stamps_agreement", "stamps_agreement_picture")


def _both(row: dict, metric: str) -> str:
    """A row's mean `metric` with the text and from the picture alone: "78.5% and 67.8%"."""
    return f"{row[metric]['mean']:.1%} and {row[metric + '_picture']['mean']:.1%}"


def headline(tables: dict) -> str | None:
    """The shipped recipe against labels only, all labels, over the seeds both ran."""
    rows = {r["method"]: r for name in ("fidelity", "main") for r in tables.get(name, []) if r["setting"] == SHIPPED_SETTING}
    shipped, labels = rows.get(SHIPPED), rows.get(SHIPPED_LABELS_ONLY)
    if not shipped or not labels:
        return None
    s, l, t = shipped["test_accuracy"], labels["test_accuracy"], shipped["teacher_test_accuracy"]
    gap = 100 * (s["mean"] - l["mean"])
    spread = 100 * max(s["std"], l["std"])
    line = (
        f"With every label, the shipped recipe beats the same student on labels only by {gap:+.1f} points "
        f"(test accuracy {s['mean']:.3f} against {l['mean']:.3f}; the larger std of the two is {spread:.1f} points, "
        f"{len(shipped['seeds'])} seeds) and keeps {s['mean'] / t['mean']:.1%} of its teacher's accuracy ({t['mean']:.3f})"
    )
    if "ood_agreement" in shipped and "ood_agreement" in labels:
        line += (
            f"; on clip art it never saw it agrees with its teacher on {shipped['ood_agreement']['mean']:.1%} of pictures with "
            f"their text and {shipped['ood_agreement_picture']['mean']:.1%} from the picture alone "
            f"(labels only: {_both(labels, 'ood_agreement')})"
        )
    if "stamps_agreement" in shipped:
        line += (
            f"; on Tux Paint stamps it never saw (cut-out photographs and drawings), on {shipped['stamps_agreement']['mean']:.1%} "
            f"with their description and {shipped['stamps_agreement_picture']['mean']:.1%} from the picture alone"
        )
        if "stamps_agreement" in labels:
            line += f" (labels only: {_both(labels, 'stamps_agreement')})"
    other = rows.get(ANOTHER_TEACHER)
    if other and "ood_agreement" in other:
        line += (
            f". For scale, a teacher agrees with the teacher of another seed (the same backbones and emoji, other seeds for "
            f"its heads) on {other['test_agreement']['mean']:.1%} of the test split and on {_both(other, 'ood_agreement')} "
            f"of that clip art"
        )
        if "stamps_agreement" in other:
            line += f" (and {_both(other, 'stamps_agreement')} of the stamps)"
        if "ood_agreement_settled" in shipped and "ood_settled_share" in other:
            line += (
                f". On the clip art every seed's teacher answers alike ({other['ood_settled_share']['mean']:.0%} of pictures with "
                f"their text, {other['ood_settled_share_picture']['mean']:.0%} from the picture alone), the student agrees with its "
                f"teacher on {shipped['ood_agreement_settled']['mean']:.1%} and {shipped['ood_agreement_picture_settled']['mean']:.1%}"
            )
    shrunk = rows.get(TEACHER_AT_48)
    if shrunk and "ood_agreement" in shrunk:
        line += (
            f". Shown each picture shrunk to 48 px (as the eighth release's student read it), the teacher itself keeps its answer on "
            f"{shrunk['test_agreement']['mean']:.1%} of the test split, {_both(shrunk, 'ood_agreement')} of the clip art"
        )
        if "stamps_agreement" in shrunk:
            line += f" and {_both(shrunk, 'stamps_agreement')} of the stamps"
    return line + "."


TABLE_TITLES = {
    "fidelity": "What each part of the recipe buys, on the test split and on clip art never trained on",
    "main": "Students by setting and method",
    "cross-modal": "Cross-modal students (one branch, taught by the multimodal teacher)",
    "temperature": "Temperature T (the fifth release's recipe, all labels)",
    "alpha": "Weight alpha of the KD terms (the fifth release's recipe, all labels)",
    "size": "Size frontier: student size against accuracy",
    "classic": "The seed's classic MLPs (28 px greyscale, picture only)",
}


def _pm(cell: dict) -> str:
    return f"{cell['mean']:.3f} ± {cell['std']:.3f}" if cell["n"] > 1 else f"{cell['mean']:.3f}"


def tables_markdown(tables: dict) -> str:
    parts = [line] if (line := headline(tables)) else []
    for table, title in TABLE_TITLES.items():
        rows = tables.get(table)
        if not rows:
            continue
        ood = any("ood_agreement" in r for r in rows)
        on_stamps = any("stamps_agreement" in r for r in rows)
        columns = ["setting", "student", "method", "params", "test acc", "val acc", "agreement"]
        columns += ["clip art agreement", "clip art agreement, picture only"] if ood else []
        columns += ["stamps agreement", "stamps agreement, picture only"] if on_stamps else []
        columns += ["teacher test acc", "seeds"]
        parts += ["", f"#### {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for r in rows:
            cells = [r["setting"], f"`{r['student']}`", r["method"], f"{r['params'] / 1e6:.2f} M", _pm(r["test_accuracy"]),
                     _pm(r["val_accuracy"]), _pm(r["test_agreement"])]
            if ood:
                mark = " †" if r.get("clip_art_with_check_copies") else ""
                cells += [_pm(r[m]) + mark if m in r else "–" for m in ("ood_agreement", "ood_agreement_picture")]
            if on_stamps:
                cells += [_pm(r[m]) if m in r else "–" for m in ("stamps_agreement", "stamps_agreement_picture")]
            cells += [_pm(r["teacher_test_accuracy"]), str(len(r["seeds"]))]
            parts.append("| " + " | ".join(cells) + " |")
    if any(r.get("clip_art_with_check_copies") for rows in tables.values() for r in rows):
        parts += ["", "† Trained before the transfer clip art left out copies of check pictures: Open Clip Art files some "
                  "drawings under several folders, and 272 transfer pictures were copies of 209 of the 990 check "
                  "pictures, so these clip-art figures are higher than the student's agreement on pictures it never saw. "
                  "Rows without the mark trained on the transfer clip art without them (`kd.data.clipart`)."]
    epochs = sorted({r["epochs"] for rows in tables.values() for r in rows if r["student"] != "teacher"})
    parts += ["", f"Test split unless marked val; mean ± std over seeds where a row ran more than one; students trained "
              f"{'/'.join(map(str, epochs))} epochs; each seed trains its own teacher. Written by `python -m kd experiments`."]
    return "\n".join(parts)
