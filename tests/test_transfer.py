"""Transfer sets: unlabelled words and pictures the teacher labels for the student."""

import pytest
import torch

from kd.config import DistillConfig
from kd.data.text import vocabulary_words
from kd.models.classifiers import create_model
from kd.models.compress import compressed_token_embeddings, init_from_teacher, token_outputs
from kd.training.augment import background_mask, photo_views
from kd.training.distill import Distiller
from kd.training.transfer import TransferSet, common_phrases, common_words, transfer_words, word_features


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


def nearest_rows(samples, table):
    """Which row of `table` each sample is, for rows computed twice: a frozen trunk's maps from
    the disk cache and computed again may differ in their last bits (another thread count
    sums in another order), never more."""
    distances = torch.cdist(samples.flatten(1), table.flatten(1))
    rows = distances.argmin(1)
    assert torch.allclose(samples, table[rows], atol=1e-4, rtol=1e-4)
    return rows.tolist()


def picture_rows(student, batch, images):
    """Which of `images` each picture of a transfer batch is, by the student's inputs of it
    (its pixels, or its frozen trunk's maps)."""
    key = "trunk_maps" if "trunk_maps" in batch else "pixels"
    return (nearest_rows if key == "trunk_maps" else rows_of)(batch[key], student.training_inputs(images, None)[key])


def pictures(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 72, 72), dtype=torch.uint8, generator=g), torch.randn(n, 1280, generator=g)


def test_transfer_batches_pair_the_same_inputs_for_teacher_and_student(teacher):
    student = create_model("student")
    images, teacher_image = pictures(10)
    transfer = TransferSet(teacher, student, images, teacher_image, words=["dog", "pizza", "violin"])
    b = transfer.sample(256)
    word_only = ~b["has_image"]
    pair = b["has_image"] & b["has_text"]
    alone = b["has_image"] & ~b["has_text"]
    assert word_only.any() and pair.any() and alone.any()
    assert torch.equal(b["teacher_has_image"], b["has_image"]) and torch.equal(b["teacher_has_text"], b["has_text"])
    assert (b["teacher_image"][word_only] == 0).all() and (b["teacher_text"][alone] == 0).all()
    # Each picture's teacher features are those of that very picture, shown to the student as it preprocesses it.
    shown = b["has_image"]
    assert torch.equal(b["teacher_image"][shown], teacher_image[picture_rows(student, {"trunk_maps": b["trunk_maps"][shown]}, images)])
    # ... and each word's teacher features are that word's.
    words = word_features(teacher, ["dog", "pizza", "violin"])
    assert torch.equal(b["teacher_text"][word_only], words[rows_of(b["token_ids"][word_only], transfer.token_ids)])


def test_the_mix_sets_the_share_of_each_kind_of_example(teacher):
    student = create_model("student")
    images, teacher_image = pictures(6)
    captions = ["dog", "", "cat", "", "", "dog"]
    # Pictures alone and with their captions only, two of the first for one of the second.
    transfer = TransferSet(teacher, student, images, teacher_image, words=["pizza"], captions=captions, mix=(0, 0, 2, 1))
    b = transfer.sample(3000)
    alone = b["has_image"] & ~b["has_text"]
    assert b["has_image"].all() and 0.62 < alone.float().mean() < 0.71
    # A captioned example shows one of the captioned pictures, never the word.
    captioned = picture_rows(student, {"trunk_maps": b["trunk_maps"][~alone]}, images)
    assert set(captioned) <= {0, 2, 5}
    for mix in ((1, 1, 1), (1, 1, -1, 1)):
        with pytest.raises(ValueError, match="four shares"):
            TransferSet(teacher, student, images, teacher_image, words=["pizza"], mix=mix)


def test_held_out_texts_are_never_shown(teacher):
    student = create_model("student")
    transfer = TransferSet(teacher, student, *pictures(2), exclude={"dog"}, words=["dog", "pizza"])
    assert transfer.size == 1
    assert torch.equal(transfer.token_ids, student.preprocess(None, ["pizza"])["token_ids"])


def test_an_image_only_student_transfers_on_pictures_alone(teacher):
    student = create_model("student_image")
    with pytest.raises(ValueError, match="nothing to transfer"):
        TransferSet(teacher, student, *pictures(0))
    transfer = TransferSet(teacher, student, *pictures(3))
    b = transfer.sample(16)
    assert b["has_image"].all() and not b["has_text"].any() and "token_ids" not in b


def test_a_text_only_student_is_never_shown_pictures(teacher):
    transfer = TransferSet(teacher, create_model("student_text"), *pictures(3), words=["dog", "cat"])
    b = transfer.sample(32)
    assert not b["has_image"].any() and "pixels" not in b


def test_distiller_adds_a_transfer_loss_only_with_a_teacher(teacher):
    student = create_model("student")
    transfer = TransferSet(teacher, student, *pictures(4), words=["dog", "cat"])
    with pytest.raises(ValueError, match="needs alpha > 0"):
        Distiller(teacher, student, DistillConfig(alpha=0.0), transfer=transfer)
    size = student.config.image_size
    batch = {
        "pixels": torch.randn(4, 3, size, size), "token_ids": torch.ones(4, 2, dtype=torch.long), "has_text": torch.ones(4, dtype=torch.bool),
        "labels": torch.zeros(4, dtype=torch.long), "teacher_image": torch.randn(4, 1280), "teacher_text": torch.randn(4, 384),
        "teacher_has_image": torch.ones(4, dtype=torch.bool), "teacher_has_text": torch.ones(4, dtype=torch.bool),
    }
    _, losses = Distiller(teacher, student, DistillConfig(alpha=0.5, transfer_batch=8), transfer=transfer)(batch)
    assert set(losses) == {"loss_ce", "loss_kd", "loss_kd_transfer"} and losses["loss_kd_transfer"] > 0


def test_common_words_reach_beyond_the_vocabulary(words):
    common = common_words(2000)
    assert 1500 < len(common) <= 2000 and common[0] == "the"
    assert all(w.isalpha() and w.isascii() and len(w) > 1 for w in common)
    everything = transfer_words(2000)
    assert everything[: len(words)] == words and len(everything) == len(set(everything))
    assert common_words(0) == []


@pytest.mark.parametrize("method", ["teacher", "distilled"])
def test_compressed_init_keeps_related_words_close(teacher, method):
    student = create_model("student")
    init_from_teacher(student, teacher, method)
    table = student.text_encoder.embedding.weight
    assert table.shape == (30522, student.config.text_dim) and (table[0] == 0).all()
    vocab = student.tokenizer.get_vocab()
    e = torch.nn.functional.normalize(table[[vocab["dog"], vocab["puppy"], vocab["tuesday"]]], dim=1)
    assert e[0] @ e[1] > e[0] @ e[2]
    assert compressed_token_embeddings(teacher, 8, method).shape == (30522, 8)


def test_distilled_token_vectors_are_the_teachers_outputs_for_the_token_alone(teacher):
    table = token_outputs(teacher)
    vocab = teacher.text_backbone.tokenizer.get_vocab()
    with torch.no_grad():
        want = teacher.text_backbone(**teacher.text_backbone.tokenize(["violin"]))[0]
    assert torch.allclose(table[vocab["violin"]], want, atol=1e-5)


def test_views_are_deterministic_and_put_the_subject_on_new_backgrounds(small_dataset):
    images = small_dataset.images[:6]
    a, b = photo_views(images, 2, seed=0), photo_views(images, 2, seed=0)
    assert a.shape == (2, 6, 3, 72, 72) and a.dtype == torch.uint8 and torch.equal(a, b)
    assert not torch.equal(a[0], images) and not torch.equal(a[0], a[1])
    assert not torch.equal(photo_views(images, 1, seed=1)[0], a[0])
    # The white around an emoji is background; the views replace much of it.
    mask = background_mask(images)
    assert 0.2 < mask.float().mean() < 0.9
    assert (a == 255).all(dim=2).float().mean() < (images == 255).all(dim=1).float().mean()


def test_white_inside_a_drawing_is_not_background():
    picture = torch.full((1, 3, 9, 9), 255, dtype=torch.uint8)
    picture[..., 2:7, 2:7] = 0  # a black square
    picture[..., 4, 4] = 255  # with a white dot inside
    mask = background_mask(picture)[0, 0]
    assert mask[0, 0] and not mask[4, 4] and not mask[3, 3]


def test_captioned_pictures_are_shown_with_their_own_caption(teacher):
    student = create_model("student")
    images, teacher_image = pictures(4)
    captions = ["red apple", "", "dog", "secret"]  # the second has none; "secret" is held out
    transfer = TransferSet(teacher, student, images, teacher_image, exclude={"secret"}, words=["pizza"], captions=captions)
    b = transfer.sample(512)
    shown = picture_rows(student, b, images)
    caption_ids = student.preprocess(None, ["red apple", "dog"])["token_ids"]
    pizza = student.preprocess(None, ["pizza"])["token_ids"]
    seen = set()
    for i, (row, has_image, has_text) in enumerate(zip(shown, b["has_image"], b["has_text"])):
        if not (has_image and has_text):
            continue
        ids = b["token_ids"][i]
        own = {0: caption_ids[0], 2: caption_ids[1]}.get(row)
        if own is not None and torch.equal(ids[: own.shape[0]], own) and not ids[own.shape[0]:].any():
            seen.add(row)
            assert torch.allclose(b["teacher_text"][i], word_features(teacher, [captions[row]])[0], atol=1e-5)
        else:  # a picture with a random word
            assert torch.equal(ids[: pizza.shape[1]], pizza[0]) and not ids[pizza.shape[1]:].any()
    assert seen == {0, 2}  # both captioned pictures were shown with their caption; the held-out one never
    # With no words at all, a captioned picture still reaches the student with its caption.
    b = TransferSet(teacher, student, images, teacher_image, words=[], captions=captions).sample(64)
    with_text = b["has_text"]
    assert with_text.any() and (b["token_ids"][with_text] != 0).any(1).all()
    with pytest.raises(ValueError, match="captions"):
        TransferSet(teacher, student, images, teacher_image, captions=["one"])


def test_phrases_are_a_few_frequent_words_the_same_every_run():
    phrases = common_phrases(500)
    assert phrases == common_phrases(500) and phrases != common_phrases(500, seed=1)
    assert all(2 <= len(p.split()) <= 4 for p in phrases) and len(set(phrases)) > 490
    pool = common_words(20_000)
    rank = {w: i for i, w in enumerate(pool)}
    drawn = [rank[w] for p in phrases for w in p.split()]  # every word is a frequent word
    # The more frequent half of the pool gives more than half of the words (weight 1 / sqrt(rank)).
    assert sum(r < len(pool) // 2 for r in drawn) > 0.6 * len(drawn)
    assert transfer_words(0, phrases=10)[-10:] == common_phrases(10)
