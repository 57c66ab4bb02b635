"""Tux Paint's stamps: captioned transfer pictures and a held-out check, never a copy of a check picture."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from kd.data import clipart, stamps
from kd.data.images import copies_of


def _stamp(path, colour, description=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.new("RGBA", (40, 40), (255, 255, 255, 0))
    picture.paste(Image.new("RGBA", (20, 30), colour), (10, 5))
    picture.save(path)
    if description is not None:
        path.with_suffix(".txt").write_text(description + "\nfr.utf8=Un kangourou roux.\n", encoding="utf-8")


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.setattr(stamps, "ROOTS", (str(tmp_path / "stamps"),))
    monkeypatch.setattr(clipart, "ROOTS", (str(tmp_path / "no clip art"),))
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "stamps"


def _named(held_out: bool, folder: str = "food") -> str:
    """A file name the split puts on the given side."""
    return next(f"{i}.png" for i in range(1000) if stamps.held_out(Path(f"{i}.png"), folder) == held_out)


def test_each_stamp_is_captioned_with_its_english_description(tree, monkeypatch):
    monkeypatch.setattr(stamps, "CHECK_SHARE", 0.0)  # every stamp a transfer picture
    _stamp(tree / "animals/marsupials/kangaroo.png", (200, 60, 0, 255), "A red kangaroo.")
    _stamp(tree / "food/sweet_potato.png", (150, 0, 150, 255))  # no description: its file name
    loaded = stamps.load("transfer", 16, progress=False)
    assert sorted(zip(loaded.folders, loaded.texts)) == [("animals/marsupials", "a red kangaroo"), ("food", "sweet potato")]
    assert loaded.images.shape == (2, 3, 16, 16) and loaded.images.dtype == torch.uint8
    assert loaded.labels == ["", ""] and len(stamps.load("check", 16, progress=False)) == 0


def test_one_stamp_in_three_is_held_out_by_file_name_and_labelled_by_its_folder(tree):
    noise = torch.Generator().manual_seed(0)

    def stamp(path):  # a picture of its own: noise is never a copy of other noise
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(torch.randint(0, 256, (40, 40, 3), generator=noise, dtype=torch.uint8).numpy()).save(path)

    for i in range(25):
        stamp(tree / f"food/fruit/{i}.png")
        stamp(tree / f"symbols/alphabets/filled/{i}.png")
        stamp(tree / f"symbols/alphabets/outlined/{i}.png")  # the same letter, another folder
        stamp(tree / f"seasonal/{i}.png")  # no one category fits: never checked
    check, transfer = stamps.load("check", 16, progress=False), stamps.load("transfer", 16, progress=False)
    assert len(check) + len(transfer) == 100
    assert 12 <= len(check) <= 40  # a third of the 75 stamps with a category, give or take the hash
    assert "seasonal" not in check.folders and transfer.folders.count("seasonal") == 25
    assert {(f, label) for f, label in zip(check.folders, check.labels)} <= {
        ("food/fruit", "Food & Drink"), ("symbols/alphabets/filled", "Symbols"), ("symbols/alphabets/outlined", "Symbols")}
    assert not copies_of(transfer.images, check.images).any()
    # A letter's filled and outlined stamps share a file name, so they fall on one side.
    assert check.folders.count("symbols/alphabets/filled") == check.folders.count("symbols/alphabets/outlined")
    assert stamps.category("symbols/alphabets/asl/a") == "People & Body" and stamps.category("military") is None
    dataset = stamps.check_dataset(["Food & Drink", "People & Body", "Symbols"], 16, progress=False)
    assert dataset.splits == ["test"] * len(check) and sorted(set(dataset.labels.tolist())) == [0, 2]
    with pytest.raises(ValueError, match="not classes here"):
        stamps.check_dataset(["Food & Drink"], 16, progress=False)


def test_a_transfer_stamp_that_copies_a_check_stamp_is_left_out_and_folders_are_capped(tree, monkeypatch):
    _stamp(tree / "food" / _named(True), (200, 0, 0, 255), "An apple.")
    _stamp(tree / "food" / _named(False), (200, 0, 0, 255), "The same apple.")
    _stamp(tree / "food" / "pear.png", (0, 160, 0, 255), "A pear.")
    assert stamps.load("check", 16, progress=False).texts in (["an apple"], ["an apple", "a pear"])
    assert "the same apple" not in stamps.load("transfer", 16, progress=False).texts
    monkeypatch.setattr(stamps, "PER_FOLDER", 1)
    assert len(stamps.load("check", 16, progress=False)) + len(stamps.load("transfer", 16, progress=False)) == 1


def test_a_missing_package_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(stamps, "ROOTS", (str(tmp_path / "nowhere"),))
    assert not stamps.available()
    with pytest.raises(stamps.StampsMissing, match="apt-get install tuxpaint-stamps-default"):
        stamps.load("transfer", progress=False)
    assert "Not installed: apt-get install tuxpaint-stamps-default" in stamps.card()
    with pytest.raises(ValueError, match="'check' or 'transfer'"):
        stamps.load("all", progress=False)


def test_copies_are_the_same_picture_recoloured_a_little_not_another_of_one_shape():
    def picture(colour):
        image = torch.full((1, 3, 32, 32), 255, dtype=torch.uint8)
        image[:, :, 4:28, 8:24] = torch.tensor(colour, dtype=torch.uint8).view(1, 3, 1, 1)
        return image

    red, reddish, blue = picture((200, 0, 0)), picture((205, 4, 0)), picture((0, 0, 200))
    blank = torch.full((1, 3, 32, 32), 255, dtype=torch.uint8)
    assert copies_of(reddish, red).tolist() == [True]
    assert copies_of(blue, red).tolist() == [False]
    assert copies_of(torch.cat([blank, red]), torch.cat([blank, blue])).tolist() == [True, False]  # blank pages are all alike
    assert copies_of(red[:0], red).shape == (0,) and copies_of(red, red[:0]).tolist() == [False]


@pytest.mark.skipif(not (stamps.available() and clipart.available()), reason="Debian's tuxpaint-stamps-default or openclipart-png is not installed")
def test_the_installed_stamps_check_is_never_trained_on_through_either_package():
    check, transfer = stamps.load("check", progress=False), stamps.load("transfer", progress=False)
    assert 200 < len(check) < 300 and 450 < len(transfer) < 650
    assert not copies_of(transfer.images, check.images).any()
    assert not copies_of(transfer.images, clipart.load("check", progress=False).images).any()
    assert not copies_of(check.images, clipart.load("transfer", progress=False, per_folder=0).images).any()
    assert "a red kangaroo" in check.texts + transfer.texts
