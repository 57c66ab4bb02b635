"""GCompris's photographs: read from Qt resource files, labelled by folder, never a copy of a transfer picture."""

import io

import pytest
import torch
from PIL import Image

from kd.data import clipart, gcompris, stamps
from kd.data.images import copies_of

installed = pytest.mark.skipif(not gcompris.available(), reason=f"{gcompris.PACKAGE} is not installed")


@installed
def test_the_reader_finds_the_photographs_in_a_real_resource_file():
    files = gcompris.read_resources(gcompris.root() / "categorization.rcc")
    tools = [p for p in files if p.startswith("gcompris/src/activities/categorization/resource/images/tools/")]
    assert len(tools) >= 30 and "gcompris/src/activities/categorization/resource/images/tools/hammer1.webp" in tools
    picture = Image.open(io.BytesIO(files[tools[0]]))
    assert picture.size[0] > 100 and picture.size[1] > 100  # a photograph, decoded whole


def test_a_file_that_is_not_a_resource_file_is_refused(tmp_path):
    path = tmp_path / "fake.rcc"
    path.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(ValueError, match="not a Qt resource file"):
        gcompris.read_resources(path)


def test_a_picture_belongs_to_the_longest_check_folder_that_holds_it():
    assert gcompris.check_folder("gcompris/src/activities/categorization/resource/images/fishes/fish1.webp") == "categorization/images/fishes"
    assert gcompris.check_folder("gcompris/src/activities/explore_monuments/resource/india/tajMahal.webp") == "explore_monuments"
    assert gcompris.check_folder("gcompris/src/activities/categorization/resource/images/renewable/dam1.webp") is None
    assert gcompris.check_folder("gcompris/src/activities/paintings/resource/x.webp") is None


def test_a_photograph_is_captioned_with_its_file_names_words():
    vocabulary = {"leaning", "tower", "of", "pisa", "fish", "screw", "driver"}
    assert gcompris.caption("a/b/leaningTowerOfPisa.webp", vocabulary) == "leaning tower of pisa"
    assert gcompris.caption("a/fish12.webp", vocabulary) == "fish"
    assert gcompris.caption("a/screwDriver2.webp", vocabulary) == "screw driver"
    assert gcompris.caption("a/zimniPalace.webp", vocabulary) == ""  # no word the teacher knows


@installed
def test_the_check_holds_every_folder_labelled_by_category_and_no_copy_of_a_training_picture(emoji_dataset):
    photos = gcompris.load(progress=False)
    assert len(photos) >= 150 and set(photos.folders) == set(gcompris.CHECK_FOLDERS)
    assert set(photos.labels) <= set(emoji_dataset.classes) and len(set(photos.labels)) == 3
    assert photos.labels == [gcompris.CHECK_FOLDERS[f] for f in photos.folders]
    # One photograph counts once (the landmarks filed in two activities), and none is a transfer picture.
    for i in range(1, len(photos)):
        assert not copies_of(photos.images[i : i + 1], photos.images[:i], gcompris.SAME_PHOTO)[0], photos.texts[i]
    seen = [clipart.load("transfer", progress=False, per_folder=0).images] if clipart.available() else []
    seen += [stamps.load("transfer", progress=False).images] if stamps.available() else []
    if seen:
        assert not copies_of(photos.images, torch.cat(seen), gcompris.SAME_PHOTO).any()


@installed
def test_the_check_is_a_test_split_labelled_with_the_emoji_categories(emoji_dataset):
    check = gcompris.check_dataset(emoji_dataset.classes, progress=False)
    assert set(check.splits) == {"test"} and len(check) == len(gcompris.load(progress=False))
    assert [check.classes[i] for i in check.labels.tolist()] == gcompris.load(progress=False).labels
    with pytest.raises(ValueError, match="not classes here"):
        gcompris.check_dataset(["Objects", "Symbols"], progress=False)
    assert f"{len(check)} photographs of 6 folders" in gcompris.card()


def test_without_the_package_the_card_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(gcompris, "ROOTS", (str(tmp_path / "none"),))
    assert "apt-get install --no-install-recommends gcompris-qt-data" in gcompris.card()
    with pytest.raises(gcompris.GcomprisMissing, match="apt-get install"):
        gcompris.root()
