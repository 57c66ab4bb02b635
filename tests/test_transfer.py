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


def rows_of(samples, table):
    """Which row of `table` each sample is (they are exact copies)."""
    return [int(torch.nonzero((table == x).flatten(1).all(1))[0]) for x in samples]


def test_transfer_batches_pair_the_same_inputs_for_teacher_and_student(teacher):
    student = create_model("student")
    pixels, teacher_image = torch.randn(10, 3, 32, 32), torch.randn(10, 1280)
    view_pixels, view_image = torch.randn(6, 3, 32, 32), torch.randn(6, 1280)
    transfer = TransferSet(teacher, student, pixels, teacher_image, words=["dog", "pizza", "violin"],
                           view_pixels=view_pixels, view_teacher_image=view_image)
    b = transfer.sample(256)
    word_only = ~b["has_image"]
    pair = b["has_image"] & b["has_text"]
    view = b["has_image"] & ~b["has_text"]
    assert word_only.any() and pair.any() and view.any()
    assert torch.equal(b["teacher_has_image"], b["has_image"]) and torch.equal(b["teacher_has_text"], b["has_text"])
    assert (b["teacher_image"][word_only] == 0).all() and (b["teacher_text"][view] == 0).all()
    # Each picture's teacher features are those of that very picture, or of that very view.
    assert torch.equal(b["teacher_image"][pair], teacher_image[rows_of(b["pixels"][pair], pixels)])
    assert torch.equal(b["teacher_image"][view], view_image[rows_of(b["pixels"][view], view_pixels)])
    # ... and each word's teacher features are that word's.
    words = word_features(teacher, ["dog", "pizza", "violin"])
    assert torch.equal(b["teacher_text"][word_only], words[rows_of(b["token_ids"][word_only], transfer.token_ids)])


def test_held_out_texts_are_never_shown(teacher):
    student = create_model("student")
    transfer = TransferSet(teacher, student, torch.randn(2, 3, 32, 32), torch.randn(2, 1280),
                           exclude={"dog"}, words=["dog", "pizza"])
    assert transfer.size == 1
    assert torch.equal(transfer.token_ids, student.preprocess(None, ["pizza"])["token_ids"])


def test_an_image_only_student_transfers_on_views_alone(teacher):
    student = create_model("student_image")
    with pytest.raises(ValueError, match="nothing to transfer"):
        TransferSet(teacher, student, torch.randn(2, 3, 32, 32), torch.randn(2, 1280))
    transfer = TransferSet(teacher, student, torch.randn(2, 3, 32, 32), torch.randn(2, 1280),
                           view_pixels=torch.randn(3, 3, 32, 32), view_teacher_image=torch.randn(3, 1280))
    b = transfer.sample(16)
    assert b["has_image"].all() and not b["has_text"].any() and "token_ids" not in b


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


def test_mixed_views_are_deterministic_and_differ_from_the_pictures(small_dataset):
    from kd.augment import mixed_views

    images = small_dataset.images[:6]
    a, b = mixed_views(images, 2, seed=0), mixed_views(images, 2, seed=0)
    assert a.shape == (2, 6, 3, 72, 72) and a.dtype == torch.uint8 and torch.equal(a, b)
    assert not torch.equal(a[0], images) and not torch.equal(a[0], a[1])
    assert not torch.equal(mixed_views(images, 1, seed=1)[0], a[0])
