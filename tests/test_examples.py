"""The demo's examples are held-out test emoji, as in the dataset, and some are disagreements."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT
from demo_helpers import torch_threads_as_in_the_app  # noqa: F401 (autouse fixture)
from demo_helpers import shared_predictor
from kd.data.dataset import MultimodalDataset
from kd.serving.examples import Example, choose, example_rows, find_in_dataset, load_examples, split_by_agreement

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def examples():
    found = load_examples(EXAMPLES)
    assert found, "no examples/examples.json: run python -m kd examples"
    return found


def test_examples_are_test_split_emoji_with_their_dataset_name_label_and_picture(examples, emoji_dataset):
    checked = 0
    for example in examples:
        index = find_in_dataset(emoji_dataset, example)
        if index is None:  # an art style this machine cannot draw (e.g. no Noto font)
            assert example.style not in set(emoji_dataset.styles), example
            continue
        assert emoji_dataset.splits[index] == "test", example
        assert emoji_dataset.texts[index] == example.text
        assert emoji_dataset.classes[int(emoji_dataset.labels[index])] == example.label
        pixels = np.array(Image.open(EXAMPLES / example.file).convert("RGB"))
        assert torch.equal(torch.from_numpy(pixels).permute(2, 0, 1), emoji_dataset.images[index]), example.file
        checked += 1
    assert checked >= len(examples) // 2


def test_every_art_style_of_the_dataset_has_examples(examples, emoji_dataset):
    assert set(emoji_dataset.styles) <= {e.style for e in examples}
    assert len({e.group for e in examples}) == len(examples)  # each emoji once


def test_some_examples_are_disagreements_for_the_current_checkpoints(examples):
    predictor = shared_predictor()
    answers = [predictor.predict(EXAMPLES / e.file, e.text) for e in examples]
    assert any(not a.agree for a in answers), "no disagreement left: rerun python -m kd examples"
    assert any(a.agree for a in answers)


def test_examples_are_small_enough_to_commit(examples):
    total = sum(p.stat().st_size for p in EXAMPLES.iterdir())
    assert total < 200_000


def test_example_rows_are_the_demos_inputs(examples):
    rows = example_rows(EXAMPLES)
    assert len(rows) == len(examples)
    for (path, text, modalities), example in zip(rows, examples):
        assert path.endswith(example.file) and text == example.text and modalities == "image+text"
    assert example_rows(EXAMPLES / "missing") == []


def test_the_page_opens_on_agreement_and_offers_disagreements_apart():
    agree = Example("a.png", "a", "X", "s", "1", teacher="X", student="X")
    disagree = Example("b.png", "b", "X", "s", "2", teacher="X", student="Y")
    assert split_by_agreement([disagree, agree]) == ([agree], [disagree])
    assert split_by_agreement([agree]) == ([agree], [])


def toy_test_split() -> MultimodalDataset:
    """Eight emoji in two styles; labels alternate between two classes."""
    n = 16
    return MultimodalDataset(
        images=torch.zeros(n, 3, 4, 4, dtype=torch.uint8),
        texts=[f"emoji {i % 8}" for i in range(n)],
        labels=torch.tensor([i % 2 for i in range(n)]),
        classes=["A", "B"],
        groups=[str(i % 8) for i in range(n)],
        styles=["one"] * 8 + ["two"] * 8,
        splits=["test"] * n,
    )


def test_choose_picks_agreements_and_teacher_right_disagreements_per_style_each_emoji_once():
    test = toy_test_split()
    truth = ["A", "B"]

    def answers(i):  # the student gets every third example wrong
        right = truth[i % 2]
        return right, ("A" if right == "B" else "B") if i % 3 == 0 else right

    chosen = choose(test, answers)
    assert len({test.groups[i] for i in chosen}) == len(chosen)  # each emoji once
    for style in ("one", "two"):
        mine = [i for i in chosen if test.styles[i] == style]
        verdicts = [answers(i)[0] == answers(i)[1] for i in mine]
        assert verdicts.count(True) == 2 and verdicts.count(False) >= 1
    assert chosen == choose(test, answers)  # deterministic


def test_the_readme_names_only_example_pictures_that_exist():
    # `python -m kd examples` picks new pictures after retraining; the README's code must still run.
    import re

    named = set(re.findall(r"examples/[\w-]+\.png", (ROOT / "README.md").read_text()))
    assert named and all((ROOT / path).is_file() for path in named), sorted(p for p in named if not (ROOT / p).is_file())
