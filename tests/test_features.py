"""The teacher's backbone features are cached, and the cache follows what they depend on."""

import dataclasses

import torch

from kd import cache
from kd.models.classifiers import create_model
from kd.training.features import features_key, teacher_features, trunk_maps


def test_cached_features_equal_fresh_ones(teacher, small_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path))
    ds = small_dataset.subset(list(range(12)))
    first = teacher_features(teacher, ds, progress=False)
    assert len(list(tmp_path.glob("features/*.safetensors"))) == 1
    again = teacher_features(teacher, ds, progress=False)
    assert torch.equal(first.image, again.image) and torch.equal(first.text, again.text)
    direct = teacher.forward_features(teacher.preprocess(ds.images, ds.texts))
    assert torch.allclose(first.image, direct.image, atol=1e-5)
    assert torch.allclose(first.text, direct.text, atol=1e-5)


def test_key_changes_with_data_weights_and_preprocessing(teacher, small_dataset, monkeypatch):
    a, b = small_dataset.subset([0, 1]), small_dataset.subset([0, 2])
    before = features_key(teacher, a)
    assert before != features_key(teacher, b)
    monkeypatch.setattr(teacher.config, "image_size", 128)
    assert features_key(teacher, a) != before
    monkeypatch.undo()
    other_weights = dataclasses.replace(teacher.image_backbone.weights, sha256="f" * 64)
    monkeypatch.setattr(teacher.image_backbone, "weights", other_weights)
    assert features_key(teacher, a) != before


def test_random_backbones_are_never_cached(small_dataset):
    random_teacher = create_model("teacher", pretrained=False)
    assert features_key(random_teacher, small_dataset) is None


def test_a_corrupt_cache_file_is_a_miss(tmp_path):
    path = tmp_path / "x.safetensors"
    cache.save_tensors(path, {"a": torch.ones(3)}, {"k": 1})
    assert cache.load_tensors(path)[1] == {"k": 1}
    path.write_bytes(path.read_bytes()[:20])
    assert cache.load_tensors(path) is None


def test_trunk_maps_are_cached_per_pictures_and_trunk(small_dataset, tmp_path, monkeypatch):
    """A frozen trunk's maps are read back from the cache only for the same pictures and
    the same trunk: other pictures, or a trunk with other weights, compute their own."""
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path))
    student = create_model("student", pretrained=False).eval()
    pictures = small_dataset.images[:6]
    first = trunk_maps(student, pictures)
    assert torch.equal(first, student.training_inputs(pictures, None)["trunk_maps"])
    assert len(list(tmp_path.glob("trunk-maps/*.safetensors"))) == 1
    assert torch.equal(trunk_maps(student, pictures), first)
    assert not torch.equal(trunk_maps(student, small_dataset.images[1:7])[0], first[0])
    other = create_model("student", pretrained=False).eval()  # another random trunk
    assert not torch.allclose(trunk_maps(other, pictures), first)
    assert len(list(tmp_path.glob("trunk-maps/*.safetensors"))) == 3
