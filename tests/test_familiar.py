"""The demo's "unlike the training pictures" signal: measured on emoji, checked on photographs."""

from pathlib import Path

import pytest
import torch

from conftest import CHECKPOINTS, ROOT
from kd.serving.examples import load_examples
from kd.study.familiar import EMOJI_FLAGGED, Familiarity, fit
from kd.data.images import load_canonical
from kd.layout import Layout

# Photographs shipped with scikit-image (public domain / CC0), none of them like an emoji.
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "brick.png", "grass.png", "moon.png", "camera.png")


def test_score_is_the_cosine_to_the_nearest_reference_and_survives_a_round_trip(tmp_path):
    reference = torch.eye(3)[:2]  # two unit vectors
    known = Familiarity(reference, 0.5, {"emoji_val_flagged": 0.02})
    scores = known.score(torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 5.0], [1.0, 1.0, 0.0]]))
    assert scores.tolist() == pytest.approx([1.0, 0.0, 2**-0.5])
    assert known.unfamiliar(torch.tensor([[0.0, 0.0, 1.0]])).tolist() == [True]
    known.save(tmp_path / "f.safetensors")
    again = Familiarity.load(tmp_path / "f.safetensors")
    assert torch.equal(again.reference, reference) and again.threshold == 0.5 and again.measured == known.measured
    assert Familiarity.load(tmp_path / "missing.safetensors") is None


def test_fit_lets_the_chosen_share_of_held_out_emoji_through(teacher, small_dataset):
    fitted = fit(teacher, small_dataset)
    assert fitted.measured["emoji_val_flagged"] <= EMOJI_FLAGGED + 1 / max(1, small_dataset.splits.count("val"))
    assert -1 <= fitted.threshold <= 1 and len(fitted.reference) <= small_dataset.splits.count("train")


@pytest.mark.slow
def test_the_shipped_signal_flags_photographs_and_not_the_demos_emoji():
    skimage = pytest.importorskip("skimage")
    from kd.serving.infer import Predictor

    shipped = Familiarity.load(Layout(CHECKPOINTS).familiar)
    assert shipped is not None, "python -m kd reproduce writes the reference beside the checkpoints"
    teacher = Predictor.from_folder(CHECKPOINTS, warmup=False).teacher.model
    folder = Path(skimage.__file__).parent / "data"
    photos = torch.stack([load_canonical(folder / name, 72) for name in PHOTOS])
    emoji = torch.stack([load_canonical(ROOT / "examples" / e.file, 72) for e in load_examples(ROOT / "examples")])
    with torch.no_grad():
        flagged_photos = shipped.unfamiliar(teacher.image_backbone(teacher.image_backbone.preprocess(photos)))
        flagged_emoji = shipped.unfamiliar(teacher.image_backbone(teacher.image_backbone.preprocess(emoji)))
    assert flagged_photos.float().mean() >= 0.75, dict(zip(PHOTOS, flagged_photos.tolist()))
    assert flagged_emoji.float().mean() <= 0.1
