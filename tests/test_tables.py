"""The distillation study's tables, from rows of finished runs."""

import json

import pytest

from kd.study.experiments import (
    ANOTHER_TEACHER, AT_112_PX, AT_128_PX, EIGHT_BLOCKS, EIGHTH_RELEASE, FIFTH_RELEASE, HEAD_DROPOUT, LABELS_ONLY_48,
    LABELS_ONLY_NINTH, LABELS_ONLY_TENTH, LIGHTER_PICTURE_HINT, LONGER_MORE_VIEWS, LONGER_NO_DROPOUT, LONGER_T8, LONGEST,
    NINTH_RELEASE, NO_PICTURE_HINT, ONE_BLOCK_TUNED, SEEDS, SHIPPED, SHIPPED_LABELS_ONLY, SHIPPED_SETTING, TEACHER_AT_48,
    TENTH_LONGER, TENTH_RELEASE, THREE_VIEWS, TRANSFER_BATCH, TWO_BLOCKS_TUNED, TWO_VIEWS, WIDER_HEAD, study,
)
from kd.study.tables import headline, summarize, tables_markdown, write_tables
from test_experiments import fake_rows


def test_summarize_averages_over_seeds_in_the_study_order():
    rows = fake_rows(lambda run: 0.7 + 0.01 * run.seed + (0.1 if run.method.name.startswith("shipped") else 0.0))
    for row in rows:
        row.update(ood_agreement=0.6, ood_agreement_picture=0.5)
    tables = summarize(rows)
    fidelity = tables["fidelity"]
    assert [(r["setting"], r["method"]) for r in fidelity[:29]] == [
        (SHIPPED_SETTING, ANOTHER_TEACHER), (SHIPPED_SETTING, TEACHER_AT_48), (SHIPPED_SETTING, SHIPPED_LABELS_ONLY),
        (SHIPPED_SETTING, SHIPPED), (SHIPPED_SETTING, LABELS_ONLY_TENTH), (SHIPPED_SETTING, TENTH_RELEASE),
        (SHIPPED_SETTING, LABELS_ONLY_NINTH), (SHIPPED_SETTING, NINTH_RELEASE), (SHIPPED_SETTING, LABELS_ONLY_48),
        (SHIPPED_SETTING, EIGHTH_RELEASE), (SHIPPED_SETTING, THREE_VIEWS), (SHIPPED_SETTING, TENTH_LONGER), (SHIPPED_SETTING, LONGEST),
        (SHIPPED_SETTING, AT_112_PX), (SHIPPED_SETTING, AT_128_PX), (SHIPPED_SETTING, EIGHT_BLOCKS),
        (SHIPPED_SETTING, WIDER_HEAD), (SHIPPED_SETTING, TWO_VIEWS), (SHIPPED_SETTING, HEAD_DROPOUT), (SHIPPED_SETTING, TRANSFER_BATCH),
        (SHIPPED_SETTING, NO_PICTURE_HINT), (SHIPPED_SETTING, LIGHTER_PICTURE_HINT), (SHIPPED_SETTING, ONE_BLOCK_TUNED),
        (SHIPPED_SETTING, TWO_BLOCKS_TUNED), (SHIPPED_SETTING, LONGER_NO_DROPOUT), (SHIPPED_SETTING, LONGER_MORE_VIEWS),
        (SHIPPED_SETTING, LONGER_T8), ("all labels", ANOTHER_TEACHER),
        ("all labels", "labels only")]
    labels = fidelity[2]
    assert labels["seeds"] == [0, 1, 2]
    assert labels["test_accuracy"]["mean"] == pytest.approx(0.71)
    assert labels["test_accuracy"]["std"] == pytest.approx(0.01)
    line = headline(tables)
    assert "+10.0 points" in line and "3 seeds" in line and "on clip art it never saw" in line
    markdown = tables_markdown(tables)
    assert "0.710 ± 0.010" in markdown and "#### Temperature T" in markdown and "clip art agreement, picture only" in markdown


def test_the_table_is_read_against_two_teachers_that_differ_only_by_seed():
    """The reference row pairs each seed's teacher with the next seed's; the headline says how
    far they agree and how closely the student follows where every seed's teacher answers alike."""
    reference = [r for r in study(tables=("fidelity",)) if r.method.name == ANOTHER_TEACHER and r.setting.name == SHIPPED_SETTING]
    assert sorted(r.seed for r in reference) == list(SEEDS) and {r.method.student for r in reference} == {"teacher"}
    rows = fake_rows(lambda run: 0.8)
    for row in rows:
        row.update(ood_agreement=0.6, ood_agreement_picture=0.5)
        if row["method"] == ANOTHER_TEACHER:
            row.update(epochs=99, test_agreement=0.93, ood_agreement=0.82, ood_agreement_picture=0.74, ood_settled_share=0.7, ood_settled_share_picture=0.55)
            row.update(stamps_agreement=0.9, stamps_agreement_picture=0.7)
        if row["method"] == SHIPPED:
            row.update(ood_agreement_settled=0.87, ood_agreement_picture_settled=0.8, stamps_agreement=0.85, stamps_agreement_picture=0.6)
    tables = summarize(rows)
    line = headline(tables)
    assert "another seed" in line and "93.0% of the test split and on 82.0% and 74.0% of that clip art (and 90.0% and 70.0% of the stamps)" in line
    assert "on Tux Paint stamps it never saw (cut-out photographs and drawings), on 85.0% with their description and 60.0%" in line
    assert "| stamps agreement | stamps agreement, picture only |" in tables_markdown(tables)
    shipped = next(r for r in tables["fidelity"] if r["method"] == SHIPPED)
    assert shipped["stamps_agreement"]["mean"] == pytest.approx(0.85)
    assert "(70% of pictures with their text, 55% from the picture alone), the student agrees with its teacher on 87.0% and 80.0%" in line
    for row in rows:
        if row["method"] == TEACHER_AT_48:
            row.update(test_agreement=0.97, ood_agreement=0.86, ood_agreement_picture=0.79, stamps_agreement=0.9, stamps_agreement_picture=0.8)
    line = headline(summarize(rows))
    assert ("Shown each picture shrunk to 48 px (as the eighth release's student read it), the teacher itself keeps its answer on 97.0% "
            "of the test split, 86.0% and 79.0% of the clip art and 90.0% and 80.0% of the stamps.") in line
    # the footnote counts the students' schedules only, not the teachers'
    assert "students trained 40 epochs;" in tables_markdown(tables)
    for row in rows:
        row.pop("ood_agreement_settled", None)
    assert "the student agrees" not in headline(summarize(rows))  # runs recorded before the settled figures


def test_clip_art_figures_trained_with_copies_of_check_pictures_are_marked():
    rows = fake_rows(lambda run: 0.7)
    for row in rows:
        row.update(ood_agreement=0.6, ood_agreement_picture=0.5)
        if row["method"] == SHIPPED:
            row["clipart_version"] = 2  # rerun on the transfer clip art without the copies
    fidelity = {r["method"]: r for r in summarize(rows)["fidelity"]}
    assert fidelity[FIFTH_RELEASE]["clip_art_with_check_copies"]
    assert not fidelity[SHIPPED]["clip_art_with_check_copies"]
    assert not fidelity["labels only"]["clip_art_with_check_copies"]  # never shown clip art
    markdown = tables_markdown(summarize(rows))
    shipped = next(line for line in markdown.splitlines() if f"| {SHIPPED} |" in line)
    fifth = next(line for line in markdown.splitlines() if f"| {FIFTH_RELEASE} |" in line)
    assert "†" not in shipped and "0.600 ± 0.000 † | 0.500 ± 0.000 †" in fifth
    assert "272 transfer pictures were copies of 209 of the 990 check pictures" in markdown


def test_unfinished_runs_are_left_out_of_the_tables():
    rows = [r for r in fake_rows(lambda run: 0.5) if r["seed"] == 0 and r["student"] == "student"]
    tables = summarize(rows)
    assert "classic" not in tables and "cross-modal" not in tables
    assert all(r["seeds"] == [0] for t in tables.values() for r in t)


def test_writing_one_tables_runs_keeps_every_table(tmp_path):
    # `--tables fidelity --tables-only` once wrote the fidelity table alone, and the README lost the others.
    rows = fake_rows(lambda run: 0.6)
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    written = write_tables(tmp_path)
    assert {"fidelity", "temperature", "alpha", "main"} <= set(written)
    assert json.loads((tmp_path / "tables.json").read_text()) == written
    assert "#### Temperature T" in (tmp_path / "tables.md").read_text()
