"""The student's pretrained trunk: the teacher's own first blocks, folded, frozen, saved."""

import json

import pytest
import torch

from kd.config import DataConfig, to_dict
from kd.models.backbones import EfficientNetLite0
from kd.models.checkpoint import load_checkpoint, save_checkpoint
from kd.models.classifiers import StudentConfig, TrunkCNN, create_model
from kd.models.trunk import MAX_BLOCKS, PretrainedTrunk

IMAGES = torch.randint(0, 256, (2, 3, 72, 72), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def lite0():
    return EfficientNetLite0(pretrained=True).net.eval()


@pytest.mark.parametrize("size", [48, 40])
def test_trunk_computes_what_the_teachers_first_blocks_compute(lite0, size):
    # Folded batch norms, "same" padding and the student's pixel scale change nothing but
    # rounding and a 0.4% grey border.
    trunk = PretrainedTrunk(blocks=5)
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = lite0._swish(lite0._bn0(lite0._conv_stem((x - 0.498) / 0.502)))
        for block in lite0._blocks[:5]:
            ref = block(ref)
        out = trunk((x - 0.5) / 0.5)
    assert out.shape == ref.shape == (2, 40, size // 8, size // 8)
    assert (out - ref).abs().max() < 0.01 * ref.abs().max()


def test_trunk_is_frozen_and_the_stages_above_it_train():
    student = create_model("student")
    encoder = student.image_encoder
    assert isinstance(encoder, TrunkCNN)
    assert not any(p.requires_grad for p in encoder.trunk.parameters())
    assert all(p.requires_grad for p in encoder.stages.parameters())
    pixels = student.preprocess(IMAGES, None)["pixels"]
    assert pixels.shape[-1] == StudentConfig.image_size
    encoder(pixels).sum().backward()
    assert all(p.grad is None for p in encoder.trunk.parameters())
    assert all(p.grad is not None for p in encoder.stages.parameters())


def test_the_trunks_last_blocks_may_train_from_the_maps_of_the_rest():
    student = create_model("student", trunk_tuned=2).eval()
    encoder = student.image_encoder
    layers = encoder.trunk.layers
    assert not any(p.requires_grad for p in layers[:-2].parameters())
    assert all(p.requires_grad for p in layers[-2:].parameters())
    # Training reads the frozen blocks' maps (computed once); from them the branch computes
    # what it computes from the pixels, and the tuned blocks get gradients.
    maps = student.training_inputs(IMAGES, None)["trunk_maps"]
    assert maps.shape[1] == layers[-3].out_channels
    pixels = student.preprocess(IMAGES, None)["pixels"]
    assert torch.allclose(encoder.from_frozen(maps), encoder(pixels), atol=1e-5)
    encoder.from_frozen(maps).sum().backward()
    assert all(p.grad is not None for p in layers[-2:].parameters())
    assert all(p.grad is None for p in layers[:-2].parameters())


def test_trunk_depth_is_checked():
    with pytest.raises(ValueError, match=f"between 1 and {MAX_BLOCKS}"):
        PretrainedTrunk(blocks=MAX_BLOCKS + 1, pretrained=False)
    with pytest.raises(ValueError, match="trunk_tuned must be between 0 and trunk_blocks"):
        create_model("student", trunk_blocks=3, trunk_tuned=4, pretrained=False)
    with pytest.raises(ValueError, match="unknown image_encoder 'vit'"):
        create_model("student", image_encoder="vit")


def test_a_saved_student_holds_its_trunk(tmp_path, monkeypatch):
    torch.manual_seed(0)
    student = create_model("student").eval()
    save_checkpoint(tmp_path / "student", student, "student", classes=list("abcdefghi"), data=to_dict(DataConfig()))
    # Loading reads no pretrained weights: everything comes from the checkpoint.
    monkeypatch.setattr(EfficientNetLite0, "__init__", _refuse_pretrained(EfficientNetLite0.__init__))
    loaded, _ = load_checkpoint(tmp_path / "student")
    assert torch.equal(loaded.predict_logits(IMAGES, ["dog", ""]), student.predict_logits(IMAGES, ["dog", ""]))


def _refuse_pretrained(init):
    def guarded(self, pretrained=True, **kwargs):
        assert not pretrained, "a student's checkpoint should not need the pretrained weights file"
        init(self, pretrained=pretrained, **kwargs)

    return guarded


def test_a_student_saved_before_the_trunk_loads_as_the_cnn_it_was(tmp_path):
    torch.manual_seed(0)
    old = create_model("student", image_encoder="cnn", image_size=32, channels=(24, 48, 96, 192)).eval()
    folder = tmp_path / "student"
    save_checkpoint(folder, old, "student", classes=list("abcdefghi"), data=to_dict(DataConfig()))
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    del config["model_args"]["image_encoder"], config["model_args"]["trunk_blocks"]  # as the first releases wrote it
    config_path.write_text(json.dumps(config))
    loaded, _ = load_checkpoint(folder)
    assert loaded.config.image_encoder == "cnn"
    assert torch.equal(loaded.predict_logits(IMAGES, ["dog", ""]), old.predict_logits(IMAGES, ["dog", ""]))


def test_training_reads_the_trunks_maps_computed_once():
    # A run computes the frozen trunk's maps once; the student answers the same from them.
    student = create_model("student").eval()
    inputs = student.training_inputs(IMAGES, ["dog", ""])
    assert "pixels" not in inputs and inputs["trunk_maps"].shape == (2, 80, 6, 6)  # seven blocks: 96 px / 16, 80 channels
    with torch.no_grad():
        from_maps = student(inputs)
    assert torch.allclose(from_maps, student.predict_logits(IMAGES, ["dog", ""]), atol=1e-5)
    cnn = create_model("student", image_encoder="cnn", image_size=32, channels=(24, 48, 96, 192))
    assert "pixels" in cnn.training_inputs(IMAGES, None)  # no trunk: nothing to compute ahead
