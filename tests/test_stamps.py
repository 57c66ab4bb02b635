"""Tux Paint's stamps: captioned transfer pictures, never a copy of a check picture."""

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
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "stamps"


def test_each_stamp_is_captioned_with_its_english_description(tree):
    _stamp(tree / "animals/marsupials/kangaroo.png", (200, 60, 0, 255), "A red kangaroo.")
    _stamp(tree / "food/sweet_potato.png", (150, 0, 150, 255))  # no description: its file name
    loaded = stamps.load(16, progress=False)
    assert sorted(zip(loaded.folders, loaded.texts)) == [("animals/marsupials", "a red kangaroo"), ("food", "sweet potato")]
    assert loaded.images.shape == (2, 3, 16, 16) and loaded.images.dtype == torch.uint8


def test_a_copy_of_a_check_picture_is_left_out_and_folders_are_capped(tree, monkeypatch):
    _stamp(tree / "food/apple.png", (200, 0, 0, 255), "An apple.")
    _stamp(tree / "food/pear.png", (0, 160, 0, 255), "A pear.")
    both = stamps.load(16, progress=False)
    check = both.images[[both.texts.index("an apple")]]  # the apple, as if the clip-art check set held it
    assert stamps.load(16, exclude=check, progress=False).texts == ["a pear"]
    monkeypatch.setattr(stamps, "PER_FOLDER", 1)
    assert len(stamps.load(16, progress=False)) == 1


def test_a_missing_package_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(stamps, "ROOTS", (str(tmp_path / "nowhere"),))
    assert not stamps.available()
    with pytest.raises(stamps.StampsMissing, match="apt-get install tuxpaint-stamps-default"):
        stamps.load(progress=False)
    assert "Not installed: apt-get install tuxpaint-stamps-default" in stamps.card()


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
def test_the_installed_stamps_share_no_picture_with_the_check_set():
    check = clipart.load("check", progress=False).images
    installed = stamps.load(exclude=check, progress=False)
    assert 600 < len(installed) < 900
    assert not copies_of(installed.images, check).any()
    assert "a red kangaroo" in installed.texts
