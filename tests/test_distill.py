"""The Distiller: frozen teacher, student-only optimisation, named losses."""

import pytest
import torch

from kd.config import DistillConfig, TrainConfig
from kd.training.distill import Distiller
from kd.training.losses import hinton_loss
from kd.models.classifiers import create_model
from kd.study.pipeline import input_logits, student_inputs, validation
from kd.training.train import Trainer, TensorLoader, drop_modalities


@pytest.fixture
def batch(small_dataset, teacher):
    from kd.training.features import teacher_features

    ds = small_dataset.subset(list(range(32)))
    student = create_model("student")
    f = teacher_features(teacher, ds, progress=False)
    b = dict(student_inputs(student, ds))
    b.update(labels=ds.labels, teacher_image=f.image, teacher_text=f.text, teacher_has_image=f.has_image, teacher_has_text=f.has_text)
    return student, b


def test_losses_are_named_and_sum_to_hinton_loss(teacher, batch):
    student, b = batch
    distiller = Distiller(teacher, student, DistillConfig(temperature=3.0, alpha=0.6))
    distiller.eval()  # no dropout: comparable to a direct computation
    logits, losses = distiller(b)
    assert set(losses) == {"loss_kd", "loss_ce"}
    from kd.training.train import features_from_batch

    teacher_logits = teacher.forward_head(features_from_batch(b, "teacher_"))[0]
    expected = hinton_loss(logits, teacher_logits, b["labels"], 3.0, 0.6)
    assert sum(losses.values()).item() == pytest.approx(expected.item(), rel=1e-5)


def test_alpha_zero_never_consults_the_teacher(teacher, batch):
    student, b = batch
    distiller = Distiller(teacher, student, DistillConfig(alpha=0.0))
    b = {k: v for k, v in b.items() if not k.startswith("teacher_")}  # no teacher features at all
    _, losses = distiller(b)
    assert set(losses) == {"loss_ce"}


def test_unlabelled_examples_get_no_cross_entropy(teacher, batch):
    student, b = batch
    b = dict(b, labelled=torch.zeros(len(b["labels"]), dtype=torch.bool))
    _, losses = Distiller(teacher, student, DistillConfig(alpha=0.5))(b)
    assert losses["loss_ce"].item() == 0.0 and losses["loss_kd"].item() > 0


def test_hint_loss_is_added_when_asked(teacher, batch):
    student, b = batch
    distiller = Distiller(teacher, student, DistillConfig(alpha=0.5, hint_weight=1.0))
    _, losses = distiller(b)
    assert "loss_hint" in losses and losses["loss_hint"].item() > 0
    assert set(map(id, distiller.trainable_parameters())) > {id(p) for p in student.parameters() if p.requires_grad}


def test_training_moves_only_the_student_and_keeps_the_teacher_in_eval(teacher, batch):
    student, b = batch
    distiller = Distiller(teacher, student, DistillConfig())
    head_before = {k: v.clone() for k, v in teacher.head.state_dict().items()}
    student_before = {k: v.clone() for k, v in student.state_dict().items()}
    trainer = Trainer(student, distiller, TrainConfig(epochs=2, batch_size=16), lambda: {"val_accuracy": 0.0},
                      parameters=distiller.trainable_parameters(), progress=False)
    optimised = {id(p) for p in trainer.parameters}
    assert optimised == {id(p) for p in student.parameters() if p.requires_grad}  # not the frozen trunk
    assert all(id(p) not in optimised for p in student.trunk.parameters())
    distiller.train()
    assert not teacher.training and not teacher.head.training
    trainer.fit(TensorLoader(b, 16))
    assert all(torch.equal(v, teacher.head.state_dict()[k]) for k, v in head_before.items())
    assert any(not torch.equal(v, student.state_dict()[k]) for k, v in student_before.items())


def test_modality_dropout_never_drops_both():
    keep_image, keep_text = drop_modalities(10_000, 0.3, torch.Generator().manual_seed(0))
    assert (keep_image | keep_text).all()
    assert 0.27 < (~keep_image).float().mean() < 0.33 and 0.27 < (~keep_text).float().mean() < 0.33


@pytest.mark.parametrize("keep, epoch", [("val_accuracy", 2), ("val_agreement", 3), ("last", 4)])
def test_the_trainer_keeps_the_epoch_its_rule_names(keep, epoch):
    from kd.training.train import kept_row

    model = torch.nn.Linear(3, 2)
    data = {"x": torch.randn(8, 3), "labels": torch.randint(0, 2, (8,))}

    def step(batch):
        logits = model(batch["x"])
        return logits, {"loss_ce": torch.nn.functional.cross_entropy(logits, batch["labels"])}

    scores = iter([(0.5, 0.5), (0.9, 0.6), (0.7, 0.8), (0.6, 0.7)])  # (accuracy, agreement) by epoch
    weights = []

    def evaluate():
        weights.append(model.weight.detach().clone())
        accuracy, agreement = next(scores)
        return {"val_accuracy": accuracy, "val_agreement": agreement}

    history = Trainer(model, step, TrainConfig(epochs=4, batch_size=4, lr=0.1), evaluate, progress=False, keep=keep).fit(TensorLoader(data, 4))
    assert kept_row(history, keep)["epoch"] == epoch
    assert torch.equal(model.weight, weights[epoch - 1])
    assert len({tuple(w.flatten().tolist()) for w in weights}) == 4  # every epoch moved the weights


def test_validation_reads_the_trunks_maps_and_answers_as_the_pictures_do(small_dataset):
    # Each epoch's validation reads the student's inputs computed once (the frozen trunk's
    # maps), not the pictures: the same logits, without running the trunk again.
    from kd.study.evaluate import accuracy, agreement, dataset_logits

    torch.manual_seed(0)
    student = create_model("student").eval()
    inputs = student_inputs(student, small_dataset)
    assert "trunk_maps" in inputs and "pixels" not in inputs
    from_pictures = dataset_logits(student, small_dataset)
    assert torch.allclose(input_logits(student, inputs, batch_size=50), from_pictures, atol=1e-4)
    teacher_logits = torch.randn_like(from_pictures)
    scores = validation(student, inputs, small_dataset.labels, teacher_logits)()
    assert scores == {"val_accuracy": pytest.approx(accuracy(from_pictures, small_dataset.labels)),
                      "val_agreement": pytest.approx(agreement(from_pictures, teacher_logits))}
