"""The demo's examples: held-out test emoji in every art style, some the models disagree on.

    python -m kd examples            # (re)write examples/ for the checkpoints in checkpoints/

writes one small PNG per example and `examples/examples.json`, the manifest the app reads:
which emoji (its group, style, name and category) each picture is, and what the teacher
and the student answered when the examples were chosen. Rerun it after retraining: which
examples the models disagree on depends on the checkpoints.

Only the test split is used, so a visitor never sees the models answer a picture they
were trained on. The PNGs are the dataset's canonical 72 px pictures, unchanged.
"""

from __future__ import annotations

import argparse
import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from PIL import Image

from kd.config import DataConfig, from_dict
from kd.data.dataset import MultimodalDataset, load_dataset
from kd.layout import Layout

MANIFEST = "examples.json"
# Per art style: examples both models get right, and examples they disagree on.
AGREEING_PER_STYLE = 2
DISAGREEING_PER_STYLE = 2


@dataclass(frozen=True)
class Example:
    file: str  # PNG file name, in the examples folder
    text: str  # the emoji's Unicode name, as in the dataset
    label: str  # its category
    style: str  # art style the picture is drawn in
    group: str  # the emoji's code points: with `style`, finds it in the dataset
    teacher: str  # what each model answered when the examples were chosen
    student: str

    @property
    def disagreement(self) -> bool:
        return self.teacher != self.student


def load_examples(folder: str | Path = "examples") -> list[Example]:
    """The examples listed in `folder`'s manifest (an empty list if there is none)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return []
    manifest = json.loads(path.read_text(encoding="utf-8"))
    return [Example(**row) for row in manifest["examples"]]


def example_rows(folder: str | Path, examples: list[Example] | None = None) -> list[list]:
    """The examples as the demo's inputs: picture path, text, modalities (the temperature is
    the visitor's: an example keeps the one the slider shows)."""
    folder = Path(folder)
    return [[str(folder / e.file), e.text, "image+text"] for e in (load_examples(folder) if examples is None else examples)]


def split_by_agreement(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """(examples both models answered alike, examples where the student still differs): the
    page opens on the first kind and offers the second as what distillation did not transfer."""
    return [e for e in examples if not e.disagreement], [e for e in examples if e.disagreement]


def find_in_dataset(dataset: MultimodalDataset, example: Example) -> int | None:
    """The index of the example's emoji, in its style, in `dataset` (None if absent)."""
    for i, (group, style) in enumerate(zip(dataset.groups, dataset.styles)):
        if group == example.group and style == example.style:
            return i
    return None


Answers = Callable[[int], tuple[str, str]]  # test index -> (teacher's label, student's label)


def choose(test: MultimodalDataset, answers: Answers) -> list[int]:
    """Indices of test examples to show: per style, some both models get right and some the
    models disagree on (the teacher right, preferably), covering as many classes as possible.

    `answers` is asked lazily, in order of preference, until each slot is filled.
    Deterministic: ties go to the earlier index. Each emoji appears once, in one style.
    """
    truth = [test.classes[k] for k in test.labels.tolist()]
    chosen: list[int] = []
    used_groups: set[str] = set()
    class_counts = dict.fromkeys(test.classes, 0)

    def both_right(i: int, teacher: str, student: str) -> bool:
        return teacher == student == truth[i]

    def teacher_right_only(i: int, teacher: str, student: str) -> bool:
        return teacher == truth[i] != student

    def disagree(i: int, teacher: str, student: str) -> bool:
        return teacher != student

    def pick(in_style: list[int], wanted: Callable[..., bool], how_many: int) -> int:
        picked = 0
        while picked < how_many:
            fresh = sorted((i for i in in_style if test.groups[i] not in used_groups), key=lambda i: (class_counts[truth[i]], i))
            found = next((i for i in fresh if wanted(i, *answers(i))), None)
            if found is None:
                break
            chosen.append(found)
            used_groups.add(test.groups[found])
            class_counts[truth[found]] += 1
            picked += 1
        return picked

    for style in dict.fromkeys(test.styles):  # styles in the dataset's order
        in_style = [i for i, s in enumerate(test.styles) if s == style and test.texts[i].strip()]
        pick(in_style, both_right, AGREEING_PER_STYLE)
        found = pick(in_style, teacher_right_only, DISAGREEING_PER_STYLE)
        pick(in_style, disagree, DISAGREEING_PER_STYLE - found)
    return chosen


def write_examples(folder: str | Path = "examples", checkpoints: str | Path = Layout().root) -> list[Example]:
    """Choose examples for the checkpoints in `checkpoints` and write them to `folder`.

    Each candidate is asked through the `Predictor`, from its picture and its name, exactly
    as the app asks it; the manifest records those answers.
    """
    from kd.serving.infer import Predictor

    predictor = Predictor.from_folder(checkpoints)
    dataset = load_dataset(from_dict(DataConfig, predictor.teacher.config["data"]), progress=False)
    test = dataset.split("test")

    @functools.cache
    def answers(i: int) -> tuple[str, str]:
        answer = predictor.predict(picture(test, i), test.texts[i])
        return answer.teacher.label, answer.student.label

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    examples = []
    for i in choose(test, answers):
        file = f"{test.styles[i]}-{test.groups[i]}.png"
        picture(test, i).save(folder / file, optimize=True)
        label = test.classes[int(test.labels[i])]
        examples.append(Example(file, test.texts[i], label, test.styles[i], test.groups[i], *answers(i)))
    manifest = {
        "about": "Held-out test emoji for the demo; written by python -m kd examples. Rerun it after retraining.",
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint()},
        "checkpoints": predictor.fingerprint,
        "examples": [asdict(e) for e in examples],
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return examples


def picture(dataset: MultimodalDataset, index: int) -> Image.Image:
    """The dataset's canonical picture as a PIL image (saved as PNG, it is the same pixels)."""
    return Image.fromarray(dataset.images[index].permute(1, 2, 0).numpy(), "RGB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kd examples", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="examples", help="folder to write the PNGs and examples.json to")
    parser.add_argument("--checkpoints", default=str(Layout().root), help="folder holding teacher/ and student/")
    args = parser.parse_args(argv)
    examples = write_examples(args.out, args.checkpoints)
    for e in examples:
        verdict = "agree" if not e.disagreement else f"disagree (teacher {e.teacher}, student {e.student})"
        print(f"{e.file:<28} {e.label:<18} {verdict}")
    print(f"{len(examples)} examples, {sum(e.disagreement for e in examples)} disagreements, written to {args.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
