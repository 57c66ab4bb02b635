"""The exported student answers as the PyTorch one does; int8 is a third of the size."""

import json
import shutil

import pytest
import torch

from conftest import CHECKPOINTS
from kd import layout
from kd.models.checkpoint import load_checkpoint
from kd.study.evaluate import dataset_logits, evaluate_folder
from kd.models.export import OnnxStudent, export_student, exported_students
from kd.models.classifiers import create_model

# fp32 ONNX against PyTorch eager: the same arithmetic in another order.
PROBABILITY_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def shipped_student():
    return load_checkpoint(layout.Layout(CHECKPOINTS).student)


@pytest.fixture(scope="module")
def exported(shipped_student, tmp_path_factory):
    student, config = shipped_student
    return export_student(student, config["classes"], tmp_path_factory.mktemp("onnx") / "student.onnx", quantize="int8")


def test_the_contract_says_what_to_feed(exported, shipped_student):
    student, config = shipped_student
    contract = json.loads(exported[0].with_suffix(".json").read_text())
    assert list(contract["inputs"]) == ["pixels", "token_ids", "has_image", "has_text"]
    assert contract["inputs"]["pixels"]["shape"] == ["batch", 3, student.config.image_size, student.config.image_size]
    assert contract["classes"] == config["classes"] and contract["quantized"] is None
    assert json.loads(exported[1].with_suffix(".json").read_text())["quantized"].startswith("int8")


@pytest.mark.slow
def test_onnx_matches_pytorch_on_the_whole_test_split(exported, shipped_student, emoji_dataset):
    student, _ = shipped_student
    test = emoji_dataset.split("test")
    for modalities in (("image", "text"), ("image",), ("text",)):
        want = dataset_logits(student, test, modalities)
        got = dataset_logits(OnnxStudent(exported[0], student), test, modalities)
        assert (got.argmax(1) == want.argmax(1)).float().mean() >= 0.999, modalities
        assert torch.allclose(got.softmax(1), want.softmax(1), atol=PROBABILITY_TOLERANCE), modalities
    int8 = dataset_logits(OnnxStudent(exported[1], student), test)
    assert (int8.argmax(1) == dataset_logits(student, test).argmax(1)).float().mean() > 0.95


def test_int8_is_at_most_a_third_of_fp32(exported):
    fp32, int8 = (p.stat().st_size for p in exported)
    assert int8 <= fp32 / 3


def test_only_the_two_branch_student_exports(tmp_path):
    with pytest.raises(ValueError, match="two-branch"):
        export_student(create_model("student_text"), ["a"], tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="quantize"):
        export_student(create_model("student"), ["a"], tmp_path / "x.onnx", quantize="int4")


@pytest.mark.slow
def test_evaluate_measures_the_exports_of_this_student_only(exported, tmp_path):
    folder = layout.Layout(tmp_path)
    for name in (layout.TEACHER, layout.STUDENT):
        shutil.copytree(layout.Layout(CHECKPOINTS).model(name), folder.model(name))
    folder.onnx.mkdir()
    for path in exported:
        shutil.copy(path, folder.onnx / path.name)
        shutil.copy(path.with_suffix(".json"), folder.onnx / path.with_suffix(".json").name)
    student, _ = load_checkpoint(folder.student)
    assert set(exported_students(tmp_path, student)) == {"student_onnx", "student_onnx_int8"}
    metrics = evaluate_folder(tmp_path, speed=False, progress=False, out_of_domain_check=False)
    rows = metrics["models"]
    assert rows["student_onnx"]["agreement"] == pytest.approx(rows["student"]["agreement"], abs=0.002)
    assert rows["student_onnx_int8"]["size_mb"] <= rows["student_onnx"]["size_mb"] / 3
    # An export of another student is not taken for this one.
    assert exported_students(tmp_path, create_model("student")) == {}
