"""Transfer sets: unlabelled words and recombined pairs the teacher labels for the student."""

import pytest
import torch

from kd.compress import compressed_token_embeddings, init_from_teacher
from kd.config import DistillConfig
from kd.distill import Distiller
from kd.models import create_model
from kd.transfer import TransferSet, vocabulary_words, word_features


@pytest.fixture(scope="module")
def words():
    return vocabulary_words()


def test_vocabulary_words_are_whole_english_words(words):
    assert 20_000 < len(words) < 23_000
    assert all(w.isalpha() and w.isascii() and len(w) > 1 for w in words)
    assert {"pizza", "violin", "zoo", "dog"} <= set(words)
    assert not any(w.startswith("[") or w.startswith("#") for w in words)


def test_word_features_are_the_teachers_text_features(teacher):
    few = ["dog", "pizza", "airplane"]
    got = word_features(teacher, few)
    with torch.no_grad():
        want = teacher.text_backbone(**teacher.text_backbone.tokenize(few))
    assert torch.allclose(got, want, atol=1e-5)


def test_the_teacher_knows_words_no_emoji_name_taught_it(teacher):
    # The head was never trained: just check the features separate unrelated words.
    f = torch.nn.functional.normalize(word_features(teacher, ["puppy", "dog", "violin"]), dim=1)
    assert f[0] @ f[1] > f[0] @ f[2]


def test_transfer_batches_pair_the_same_inputs_for_teacher_and_student(teacher):
    student = create_model("student")
    pixels = torch.randn(10, 3, 32, 32)
    teacher_image = torch.randn(10, 1280)
    transfer = TransferSet(teacher, student, pixels, teacher_image, words=["dog", "pizza", "violin"], with_picture=0.5)
    batch = transfer.sample(64)
    assert batch["token_ids"].shape[0] == 64 and batch["pixels"].shape == (64, 3, 32, 32)
    with_picture = batch["has_image"]
    assert 0 < with_picture.sum() < 64 and torch.equal(batch["teacher_has_image"], with_picture)
    assert (batch["teacher_image"][~with_picture] == 0).all()
    # Each example's teacher features are those of its own picture.
    rows = [int(torch.nonzero((pixels == p).flatten(1).all(1))[0]) for p in batch["pixels"][with_picture]]
    assert torch.equal(batch["teacher_image"][with_picture], teacher_image[rows])


def test_distiller_adds_a_transfer_loss_only_with_a_teacher(teacher):
    student = create_model("student")
    transfer = TransferSet(teacher, student, torch.randn(4, 3, 32, 32), torch.randn(4, 1280), words=["dog", "cat"])
    with pytest.raises(ValueError, match="needs alpha > 0"):
        Distiller(teacher, student, DistillConfig(alpha=0.0), transfer=transfer)
    batch = {
        "pixels": torch.randn(4, 3, 32, 32), "token_ids": torch.ones(4, 2, dtype=torch.long), "has_text": torch.ones(4, dtype=torch.bool),
        "labels": torch.zeros(4, dtype=torch.long), "teacher_image": torch.randn(4, 1280), "teacher_text": torch.randn(4, 384),
        "teacher_has_image": torch.ones(4, dtype=torch.bool), "teacher_has_text": torch.ones(4, dtype=torch.bool),
    }
    _, losses = Distiller(teacher, student, DistillConfig(alpha=0.5, transfer_batch=8), transfer=transfer)(batch)
    assert set(losses) == {"loss_ce", "loss_kd", "loss_kd_transfer"} and losses["loss_kd_transfer"] > 0


def test_compressed_init_keeps_related_words_close(teacher):
    student = create_model("student")
    init_from_teacher(student, teacher)
    table = student.text_encoder.embedding.weight
    assert table.shape == (30522, student.config.text_dim) and (table[0] == 0).all()
    vocab = student.tokenizer.get_vocab()
    e = torch.nn.functional.normalize(table[[vocab["dog"], vocab["cat"], vocab["tuesday"]]], dim=1)
    assert e[0] @ e[1] > e[0] @ e[2]
    assert compressed_token_embeddings(teacher, 8).shape == (30522, 8)
