"""The README's generated sections: rewritten between their markers, nothing else touched."""

import json
import shutil

import pytest

from conftest import ROOT
from kd.layout import Layout
from kd.study.evaluate import CHECKS
from kd.study.report import RESULTS, STUDY, readme_section, replace_between, update_readme, write_command_output
from kd.study.tables import summarize
from test_experiments import fake_rows


def test_report_rewrites_only_what_lies_between_its_markers(tmp_path):
    text = f"intro\n{RESULTS[0]}\nold\n{RESULTS[1]}\nmiddle\n{STUDY[0]}\nold study\n{STUDY[1]}\nend\n"
    assert replace_between(text, STUDY, "new") == f"intro\n{RESULTS[0]}\nold\n{RESULTS[1]}\nmiddle\n{STUDY[0]}\nnew\n{STUDY[1]}\nend\n"
    with pytest.raises(ValueError, match="markers"):
        replace_between("no markers here", RESULTS, "new")

    experiments = tmp_path / "experiments"
    experiments.mkdir()
    (experiments / "tables.json").write_text(json.dumps(summarize(fake_rows(lambda run: 0.6))))
    readme = tmp_path / "README.md"
    readme.write_text(text)
    update_readme(readme, ROOT / "checkpoints", experiments)
    written = readme.read_text()
    assert written.startswith("intro\n") and "middle\n" in written and written.endswith("end\n")
    assert "\nold\n" not in written and "old study" not in written and "#### What each part of the recipe buys" in written and "| `teacher` |" in written
    # every out-of-domain check the shipped metrics hold, each with its columns and the sentence that says what it is
    settings = json.loads(Layout(ROOT / "checkpoints").metrics.read_text())["settings"]
    held = [(key, name) for key, name in CHECKS.items() if key in settings]
    assert [key for key, _ in held][:2] == ["out_of_domain", "out_of_domain_stamps"]
    for key, name in held:
        assert f"{name}: agree (picture + text / picture)" in written
        assert f"{name[0].upper() + name[1:]} (out of domain): {settings[key]}" in written
    assert f"of {held[-1][1]} it never saw" in written




def test_a_benchmark_writes_its_command_and_output_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- load:start -->\nold\n<!-- load:end -->\nafter\n")
    write_command_output(readme, "load", "python benchmarks/load.py", ["errors: 0 of 500"])
    assert readme.read_text() == (
        "before\n<!-- load:start -->\n```text\n$ python benchmarks/load.py\nerrors: 0 of 500\n```\n<!-- load:end -->\nafter\n"
    )
    with pytest.raises(ValueError, match="cold-start:start"):
        write_command_output(readme, "cold-start", "python benchmarks/cold_start.py", [])


def test_the_readme_has_the_markers_every_writer_needs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("results", "study", "cold-start", "predict", "load"):
        assert text.count(f"<!-- {name}:start -->") == 1 and text.count(f"<!-- {name}:end -->") == 1, name


def test_the_files_the_readme_points_to_exist():
    """Retraining re-picks the examples: the README must not point at one that is gone."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    paths = set(re.findall(r"\b((?:examples|checkpoints|benchmarks|kd|tests)/[\w./-]+\.(?:png|json|py))\b", text))
    assert paths, "the README names no files?"
    assert [p for p in sorted(paths) if not (ROOT / p).exists()] == []


def test_the_readme_gives_the_cold_reproduce_time_beside_the_last_one(tmp_path):
    folder = Layout(tmp_path)
    shutil.copy(Layout().metrics, folder.metrics)
    timing = {"seconds": 600.0, "stages": {"data": 1.0, "teacher": 20.0}, "machine": "m", "cold_cache": False}
    folder.reproduce.write_text(json.dumps(timing))
    assert "10.0 min on m with the cache of an earlier run" in readme_section(tmp_path)
    assert "empty cache" not in readme_section(tmp_path)
    cold = {**timing, "seconds": 1800.0, "cold_cache": True}
    folder.reproduce_cold.write_text(json.dumps(cold))
    section = readme_section(tmp_path)
    assert "10.0 min on m with the cache" in section and "30.0 min on m starting from an empty cache" in section
    folder.reproduce.write_text(json.dumps(cold))  # the last run was the cold one: said once
    assert readme_section(tmp_path).count("min on m") == 1
