"""Clip art: held-out check folders never feed training; the check set is labelled with emoji categories."""

from pathlib import Path

import pytest
import torch

from kd.data import clipart, emoji
from kd.models.classifiers import create_model
from kd.study.evaluate import out_of_domain

pytestmark = pytest.mark.skipif(not clipart.available(), reason="Debian's openclipart-png is not installed")


@pytest.fixture(scope="module")
def files():
    base = clipart.root()
    return base, clipart._files(base)


def test_every_check_folder_exists_and_maps_to_an_emoji_category(files):
    base, _ = files
    categories = {e.category for e in emoji.emoji_list()}
    for folder, category in clipart.CHECK_FOLDERS.items():
        assert (base / folder).is_dir(), folder
        assert category in categories, category


def test_check_and_transfer_folders_never_share_a_picture(files):
    base, paths = files
    held_out = [p for p in paths if clipart.check_folder(p.parent.relative_to(base))]
    assert 800 < len(held_out) < 1200
    assert all(clipart.check_folder(Path(f)) is None for f in ("animals", "animals/fish", "food/fruitcake", "food"))
    assert clipart.check_folder(Path("signs_and_symbols/flags/europe/france")) == "signs_and_symbols/flags/europe"


def test_texts_keep_words_and_drop_authors(files):
    base, paths = files
    texts = dict(zip(paths, clipart.file_texts(paths, base, {"bison", "dragon", "head", "park", "nicu"})))
    bison = next(p for p in paths if p.name.startswith("bison_leif"))
    assert texts[bison] == "bison"
    dragon = next(p for p in paths if p.name.startswith("dragon_head_nicu"))
    assert texts[dragon] == "dragon head"  # "nicu" is an author's name, seen in many topics


def test_the_check_set_is_labelled_like_the_emoji_data(emoji_dataset):
    check = clipart.check_dataset(emoji_dataset.classes, progress=False)
    assert len(check) == len(check.texts) == len(check.labels) and set(check.splits) == {"test"}
    assert check.images.shape[1:] == (3, 72, 72) and check.images.dtype == torch.uint8
    named = {emoji_dataset.classes[k] for k in check.labels.tolist()}
    assert named == set(clipart.CHECK_FOLDERS.values())
    with pytest.raises(ValueError, match="not classes here"):
        clipart.check_dataset(["a", "b"], progress=False)


def test_out_of_domain_scores_each_model_on_the_views_it_reads(emoji_dataset, teacher):
    check = clipart.check_dataset(emoji_dataset.classes, progress=False).subset(range(0, 990, 33))
    torch.manual_seed(0)
    models = {"teacher": teacher, "student": create_model("student"), "student_text": create_model("student_text"),
              "student_image": create_model("student_image")}
    scores = out_of_domain(models, "teacher", check)
    assert scores["teacher"]["picture+text"]["agreement"] == 1.0 and scores["teacher"]["picture"]["agreement"] == 1.0
    assert set(scores["student"]) == {"examples", "picture+text", "picture"}
    assert set(scores["student_image"]) == {"examples", "picture"} and set(scores["student_text"]) == {"examples"}
    for view in ("picture+text", "picture"):
        assert 0 <= scores["student"][view]["agreement"] <= 1 and 0 <= scores["student"][view]["accuracy"] <= 1


def test_the_card_counts_each_held_out_folder_and_the_transfer_pictures(monkeypatch):
    folders = {"check": ["animals/mammals", "animals/mammals/cats", "food/fruit"], "transfer": ["shapes", "shapes", "music"]}

    def load(part, image_size=72, progress=True):
        n = len(folders[part])
        return clipart.Clipart(torch.zeros(n, 3, 8, 8, dtype=torch.uint8), [""] * n, folders[part], [""] * n)

    monkeypatch.setattr(clipart, "load", load)
    card = clipart.card()
    assert "3 from 2 folders" in card and "3 pictures of 15 held-out folders" in card
    rows = {line.split()[0]: line.split()[1] for line in card.splitlines() if line.split()[0] in clipart.CHECK_FOLDERS}
    assert rows["animals/mammals"] == "2" and rows["food/fruit"] == "1" and rows["animals/birds"] == "0"
    assert len(rows) == len(clipart.CHECK_FOLDERS)


def test_transfer_pictures_are_capped_per_folder(tmp_path, monkeypatch):
    # A small tree: 3 pictures in one folder, 1 in another, 2 in a held-out folder.
    from PIL import Image

    for j, (folder, n) in enumerate((("shapes", 3), ("music", 1), ("food/fruit", 2))):
        (tmp_path / folder).mkdir(parents=True)
        for i in range(n):  # each picture another colour: none is a copy of another
            Image.new("RGBA", (20, 20), (60 * i, 100 * j, 0, 255)).save(tmp_path / folder / f"{folder.replace('/', '_')}_{i}.png")
    monkeypatch.setattr(clipart, "ROOTS", (str(tmp_path),))
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(clipart, "vocabulary_words", lambda: [])
    capped = clipart.load("transfer", 8, progress=False, per_folder=2)
    assert sorted(capped.folders) == ["music", "shapes", "shapes"]
    assert sorted(clipart.load("transfer", 8, progress=False, per_folder=0).folders) == ["music", "shapes", "shapes", "shapes"]
    assert sorted(clipart.load("check", 8, progress=False).folders) == ["food/fruit", "food/fruit"]  # never capped
    with pytest.raises(ValueError, match="per_folder"):
        clipart.load("transfer", 8, progress=False, per_folder=-1)
    assert "4 from 2 folders (4 files in those folders without the cap" in clipart.card()


def test_a_copy_of_a_check_picture_filed_under_another_folder_is_never_a_transfer_picture(tmp_path, monkeypatch):
    # The package files some drawings under several folders; the copy must not be trained on.
    from PIL import Image

    def draw(path, colour):
        path.parent.mkdir(parents=True, exist_ok=True)
        picture = Image.new("RGBA", (40, 40), (255, 255, 255, 0))
        picture.paste(Image.new("RGBA", (20, 30), colour), (10, 5))
        picture.save(path)

    draw(tmp_path / "food/fruit/apple.png", (200, 0, 0, 255))
    draw(tmp_path / "shapes/apple_copy.png", (200, 0, 0, 255))  # the same picture, another folder
    draw(tmp_path / "shapes/almost.png", (203, 2, 0, 255))  # re-saved with other colours: the same, to the eye
    draw(tmp_path / "shapes/square.png", (0, 0, 200, 255))
    monkeypatch.setattr(clipart, "ROOTS", (str(tmp_path),))
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(clipart, "vocabulary_words", lambda: ["apple", "square"])
    transfer = clipart.load("transfer", 16, progress=False)
    assert transfer.texts == ["square"]
    assert clipart.load("check", 16, progress=False).texts == ["apple"]
