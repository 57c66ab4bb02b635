"""The generalisation gap (kd.study.gap): the student against its teacher on pictures it trained on and unseen ones."""

from dataclasses import replace

import pytest
import torch

from kd.cli import build_parser, cmd_gap
from kd.config import DISTILL, DistillConfig
from kd.data import clipart, stamps
from kd.models.classifiers import create_model
from kd.study.evaluate import dataset_logits
from kd.study.gap import SURE, VIEWS, by_conviction, follows, gap_lines, gap_rows, picture_logits_at, sources


def test_each_source_pairs_the_pictures_trained_on_with_held_out_ones(emoji_dataset):
    pairs = sources(emoji_dataset, DISTILL, limit=8)
    expected = {"emoji"} | ({"clip art"} if clipart.available() else set()) | ({"stamps"} if stamps.available() else set())
    assert set(pairs) == expected
    seen, unseen = pairs["emoji"]
    assert set(seen.splits) == {"train"} and set(unseen.splits) == {"test"} and len(seen) == len(unseen) == 8
    for name in expected - {"emoji"}:
        seen, unseen = pairs[name]
        assert len(seen) == len(unseen) == 8 and seen.images.dtype == torch.uint8
        assert not any(torch.equal(a, b) for a in seen.images for b in unseen.images)  # held out means never trained on
    # A recipe without the transfer pictures trained on emoji alone: so is its gap.
    assert set(sources(emoji_dataset, DistillConfig(), limit=8)) == {"emoji"}
    assert set(sources(emoji_dataset, replace(DISTILL, stamps=False), limit=8)) == expected - {"stamps"}


def test_a_student_that_is_its_teacher_follows_it_everywhere_and_a_fresh_one_does_not(emoji_dataset, teacher):
    rows = gap_rows(teacher, teacher, emoji_dataset, DISTILL, limit=12)
    assert all(r[side][view] == 1.0 for r in rows for side in ("seen", "unseen") for view in VIEWS)
    assert all(c[side] in (1.0, None) for r in rows for c in r["unseen_by_conviction"].values() for side in ("sure", "unsure"))
    torch.manual_seed(0)
    fresh = gap_rows(create_model("student").eval(), teacher, emoji_dataset, DISTILL, limit=12)
    scores = [r[side][view] for r in fresh for side in ("seen", "unseen") for view in VIEWS]
    assert all(0 <= s <= 1 for s in scores) and min(scores) < 1.0
    lines = gap_lines(fresh)
    assert len(lines) == 3 + 3 * len(fresh) and lines[1].startswith("emoji (12 seen, 12 unseen): picture+text ")
    assert lines[2 + len(fresh)].startswith("emoji: picture+text ")
    assert lines[-len(fresh)].startswith("emoji: the teacher at 96 px ")


def test_conviction_splits_the_unseen_pictures_by_the_teachers_top_probability(emoji_dataset, teacher):
    unseen = emoji_dataset.split("test").subset(range(40))
    torch.manual_seed(0)
    student = create_model("student").eval()
    split, whole = by_conviction(student, teacher, unseen), follows(student, teacher, unseen)
    assert set(split) == set(VIEWS)
    for view, modalities in VIEWS.items():
        probs = dataset_logits(teacher, unseen, modalities).softmax(1).max(1).values
        assert split[view]["all"] == whole[view]
        share = split[view]["sure_share"]
        assert share == pytest.approx((probs >= SURE).float().mean().item())
        # The whole set's agreement is the two sides', weighted by their shares.
        sides = share * (split[view]["sure"] or 0) + (1 - share) * (split[view]["unsure"] or 0)
        assert sides == pytest.approx(whole[view])
    # The teacher against itself: full agreement wherever there are pictures, None where a side is empty.
    self_split = by_conviction(teacher, teacher, unseen)
    assert all(c[side] in (1.0, None) for c in self_split.values() for side in ("sure", "unsure"))


def test_the_command_is_wired():
    args = build_parser().parse_args(["gap", "--readme", "README.md"])
    assert args.run is cmd_gap and args.readme == "README.md"


def test_the_teacher_read_at_its_own_side_is_itself_and_at_the_students_it_is_not(emoji_dataset, teacher):
    unseen = emoji_dataset.split("test").subset(range(24))
    own = dataset_logits(teacher, unseen, VIEWS["picture"])
    assert torch.allclose(picture_logits_at(teacher, unseen.images, teacher.config.image_size), own, atol=1e-4)
    # Its pretrained blocks see a 96 px picture at another scale: other features, other logits.
    assert not torch.allclose(picture_logits_at(teacher, unseen.images, 96), own, atol=1e-2)
    # A student that is its teacher reads at the teacher's side, so the teacher there is itself.
    rows = gap_rows(teacher, teacher, emoji_dataset, DISTILL, limit=6)
    assert all(r["student_side"] == r["teacher_side"] == 224 and r["teacher_at_student_side"] == 1.0 for r in rows)
