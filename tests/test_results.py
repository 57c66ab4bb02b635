"""The Results tab's tables and curves come from metrics.json and the checkpoints' histories."""

import json

import pandas as pd
from conftest import CHECKPOINTS

from kd.layout import display_name
from kd.serving import results


def metrics(**teacher_overrides) -> dict:
    def row(acc, per_class, **extra):
        return {"accuracy": acc, "macro_f1": acc - 0.1, "agreement": 0.9, "kl_to_teacher": 0.25, "ece": 0.05,
                "params": 2_500_000, "size_mb": 10.04, "per_class_accuracy": per_class, **extra}

    return {
        "models": {
            "teacher": row(0.9, {"A": 1.0, "B": 0.8}, latency_ms_p50=20.0, latency_ms_p95=25.5, **teacher_overrides),
            "student": row(0.7, {"A": 0.5, "B": None}, latency_ms_p50=1.0, latency_ms_p95=1.25),
        },
        "dataset": {"evaluated": 10, "name": "toy", "classes": ["A", "B"]},
        "settings": {"machine": "x86_64, 2 cpus", "torch": "2.x"},
    }


def test_results_frame_formats_every_model_row():
    frame = results.results_frame(metrics())
    assert list(frame["model"]) == ["teacher", "student (taught by the teacher)"]  # the names the page uses
    teacher = frame.iloc[0]
    assert teacher["test accuracy"] == "0.900" and teacher["macro-F1"] == "0.800"
    assert teacher["parameters"] == "2.50 M" and teacher["size on disk"] == "10.0 MB"
    assert teacher["latency p50 / p95"] == "20.00 / 25.50 ms"
    # The headline's figures first: a laptop shows them without scrolling the table sideways.
    assert list(frame.columns[:6]) == ["model", "test accuracy", "agreement with teacher", "parameters", "size on disk",
                                       "latency p50 / p95"]


def test_per_class_frames_skip_classes_a_model_never_saw():
    long = results.per_class_frame(metrics())
    assert len(long) == 3 and set(long["model"]) == {"teacher", "student (taught by the teacher)"}
    by_model = results.per_class_by_model(metrics())
    assert list(by_model["student"]["class"]) == ["A"]
    table = results.per_class_table(metrics())
    assert list(table.columns) == ["class", "teacher", "student (taught by the teacher)"]
    assert table.set_index("class").loc["B", "student (taught by the teacher)"] == "" and table.set_index("class").loc["A", "teacher"] == "1.000"


def test_curve_frame_has_one_row_per_model_and_epoch_that_recorded_the_metric():
    histories = {
        "teacher": [{"epoch": 1, "val_accuracy": 0.5, "loss": 2.0}, {"epoch": 2, "val_accuracy": 0.7, "loss": 1.0}],
        "student": [{"epoch": 1, "val_accuracy": 0.4, "val_agreement": 0.6, "loss": 3.0}],
    }
    accuracy = results.curve_frame(histories, "val_accuracy")
    assert accuracy.values.tolist() == [[1, 0.5, "teacher"], [2, 0.7, "teacher"], [1, 0.4, "student (taught by the teacher)"]]
    assert results.curve_frame(histories, "val_agreement")["model"].tolist() == ["student (taught by the teacher)"]
    assert results.curve_frame(histories, "no_such_metric").empty


def test_shipped_metrics_and_histories_fill_the_tab():
    shipped = results.load_metrics(CHECKPOINTS / "metrics.json")
    frame = results.results_frame(shipped)
    assert set(frame["model"]) >= {display_name(n) for n in ("teacher", "student", "student_scratch")}
    for name, row in zip(shipped["models"], frame.to_dict("records")):
        assert row["model"] == display_name(name) and row["test accuracy"] == f"{shipped['models'][name]['accuracy']:.3f}"
    histories = results.training_histories(CHECKPOINTS, list(shipped["models"]))
    for name, history in histories.items():
        config = json.loads((CHECKPOINTS / name / "config.json").read_text())
        assert len(history) == len(config["history"]) > 0
    assert not results.curve_frame(histories, "val_accuracy").empty
    assert str(shipped["dataset"]["evaluated"]) in results.dataset_line(shipped)


def test_model_colours_are_stable_and_distinct():
    colors = results.model_colors(["teacher", "student", "student_scratch"])
    assert len(set(colors.values())) == 3
    assert results.model_colors(["teacher", "student"]) == {k: colors[k] for k in ("teacher", display_name("student"))}



def test_a_missing_or_broken_metrics_file_gets_a_sentence_saying_how_to_write_it(tmp_path):
    import pytest

    path = tmp_path / "metrics.json"
    for content, says in ((None, "No evaluation yet"), ('{"models": {', "cannot be read"), ("[1, 2]", "is not an evaluation"),
                          (b"\xff\xfe\x00", "cannot be read")):
        if content is not None:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(results.MetricsError, match=says) as refused:
            results.load_metrics(path)
        assert "python -m kd evaluate --json" in str(refused.value)
    path.write_text(json.dumps(metrics()))
    assert results.load_metrics(path)["models"]["teacher"]["accuracy"] == 0.9


def test_the_headline_says_smaller_faster_and_how_often_the_student_follows():
    m = metrics()
    m["models"]["teacher"].update(params=27_000_000)
    m["models"]["student"].update(params=1_000_000, agreement=0.87,
                                  out_of_domain={"picture+text": {"agreement": 0.7}, "picture": {"agreement": 0.68}},
                                  out_of_domain_stamps={"picture+text": {"agreement": 0.84}, "picture": {"agreement": 0.63}},
                                  out_of_domain_photos={"picture+text": {"agreement": 0.8}, "picture": {"agreement": 0.55}})
    m["models"]["student_scratch"] = {**m["models"]["student"], "agreement": 0.73, "out_of_domain": {"picture+text": {"agreement": 0.44}}}
    for check in ("out_of_domain_stamps", "out_of_domain_photos"):  # a check a model was not measured on is left out
        del m["models"]["student_scratch"][check]
    line = results.headline(m)
    assert line.startswith("The student is 27x smaller and 20x faster")
    assert ("picks the teacher's answer for 87% of emoji, 70% of clip art, 84% of cut-out photos and 80% of photos it has never seen "
            "(from the picture alone: 68%, 63% and 55%)") in line
    m["models"]["student_scratch"] = {**m["models"]["student"], "agreement": 0.73}  # the same checks: bare figures
    assert results.headline(m).endswith("taught by labels alone, the same student: 73%, 70%, 84% and 80%.")
    del m["models"]["student"]["out_of_domain"]["picture"]  # a figure missing: none, rather than figures under the wrong names
    assert "picture alone" not in results.headline(m)
    assert line.endswith("taught by labels alone, the same student: 73% of emoji and 44% of clip art.")  # not the same checks: named
    assert results.headline({"models": {}}) == ""


def test_column_widths_fit_a_header_word_and_let_long_cells_wrap():
    frame = results.results_frame(metrics())
    widths = [int(w.removesuffix("px")) for w in results.column_widths(frame)]
    assert len(widths) == len(frame.columns)
    for column, width in zip(frame.columns, widths):
        longest = max(len(word) for word in column.split())
        assert width >= results.CELL_PAD_PX + results.CHAR_PX * longest, column  # no header broken inside a word
    how = pd.DataFrame({"model": ["teacher"], "how it learned": ["word " * 40]})
    assert results.column_widths(how, wide=("how it learned",))[1] == f"{results.CELL_PAD_PX + results.CHAR_PX * results.WIDE_CELL_CHARS}px"


def test_the_color_key_names_every_model_in_full():
    key = results.color_key({"student (taught by the teacher)": "#f58518", "a <b>": "#000"})
    assert "student (taught by the teacher)" in key and "#f58518" in key and "a &lt;b&gt;" in key


def test_each_check_is_one_column_with_both_ways_of_asking():
    m = metrics()
    m["models"]["student"]["out_of_domain"] = {"picture+text": {"agreement": 0.795}, "picture": {"agreement": 0.6828}}
    m["models"]["teacher"]["out_of_domain"] = {"picture": {"agreement": 1.0}}  # as a picture-only model is scored
    frame = results.results_frame(m).set_index("model")
    column = f"clip art agreement {results.PAIR}"
    assert [c for c in frame.columns if "clip art" in c] == [column]
    assert frame.loc["student (taught by the teacher)", column] == "0.795 / 0.683"
    assert frame.loc["teacher", column] == "– / 1.000"
    assert frame.loc["teacher", f"photos agreement {results.PAIR}"] == ""  # a check the model was not scored on
