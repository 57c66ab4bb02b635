"""The Predictor: one picture and/or one text in, teacher and student answers out.

Everything the demo shows is computed here: both models' top classes, their probabilities
at T = 1 and softened at a temperature T, each model's latency for this request, whether
they agree and KL(teacher || student) at T. The logits are kept, so a new temperature is
a cheap re-softening (`Prediction.at_temperature`) that never re-runs the backbones.
More students can answer the same request beside them (`others`): the cross-modal students
of the checkpoints folder, or a student a visitor trained in the demo.

    predictor = Predictor.from_folder("checkpoints")
    answer = predictor.predict(image="cat.png", text="grinning cat", temperature=4)
    answer.to_dict()   # the JSON the app's /predict endpoint returns
"""

from __future__ import annotations

import hashlib
import time
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

import torch

from kd import layout
from kd.config import TEMPERATURES
from kd.data.images import ImageError, canonical_image, open_image
from kd.models.checkpoint import CheckpointError, checkpoint_size_mb, load_checkpoint
from kd.models.classifiers import MultimodalClassifier
from kd.study.evaluate import size_on_disk_mb
from kd.study.familiar import Familiarity
from kd.training.losses import kl_divergence, soft_targets

# Texts longer than this many characters are cut before tokenising. The cut needs no note of its
# own: such a text is far past the models' tokens, and the answer says how much of it they read.
MAX_TEXT_CHARS = 2000
MODALITIES = ("image+text", "image", "text")


class InputError(ValueError):
    """The request cannot be answered as given; the message says what to change."""


@dataclass
class ModelAnswer:
    label: str
    logits: list[float]
    probs: dict[str, float]  # softmax at T = 1
    soft_probs: dict[str, float]  # softmax at the request's temperature
    # This request, from the picture as the models read it (`Prediction.prepare_ms` made it, once
    # for every model) and the text to the logits, the model's own preprocessing included
    # (resizing to its input side, normalising, tokenising). `python -m kd evaluate` times the same
    # from pictures already at 72 px, where making them canonical costs well under a millisecond.
    latency_ms: float

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "probs": self.probs,
            "soft_probs": self.soft_probs,
            "latency_ms": self.latency_ms,
            # The logits let a client (and the demo page) re-soften at any temperature itself.
            "logits": dict(zip(self.probs, self.logits)),
        }

    @classmethod
    def from_dict(cls, values: dict) -> ModelAnswer:
        logits = values["logits"]
        return cls(values["label"], list(logits.values()), values["probs"], values["soft_probs"], values["latency_ms"])


@dataclass
class Prediction:
    teacher: ModelAnswer
    student: ModelAnswer
    temperature: float
    classes: list[str]
    used: tuple[str, ...]  # the modalities the models answered from
    notes: list[str] = field(default_factory=list)  # what was missing, truncated or ignored
    # More students' answers to the same request, by name; a student that reads none of the
    # modalities used (an image-only student asked a text) is left out.
    others: dict[str, ModelAnswer] = field(default_factory=dict)
    # For a picture: (its similarity to the nearest training picture, the threshold below
    # which it is unlike them), from `kd.study.familiar`; None without a picture or a reference.
    familiarity: tuple[float, float] | None = None
    # Milliseconds to make the picture canonical (decoded, on white, `image_size` px): done once
    # and shared by every model, so it is not in their latency (a photo's share can be larger
    # than the student's whole answer). None without a picture.
    prepare_ms: float | None = None

    @property
    def unfamiliar(self) -> bool:
        """The picture is unlike those the models learnt from: their answers deserve less trust."""
        return self.familiarity is not None and self.familiarity[0] < self.familiarity[1]

    @property
    def agree(self) -> bool:
        return self.teacher.label == self.student.label

    @property
    def kl_teacher_student(self) -> float:
        """KL(p_teacher^T || p_student^T) in nats at this prediction's temperature."""
        return self.kl_to_teacher(self.student)

    def kl_to_teacher(self, answer: ModelAnswer) -> float:
        """KL(p_teacher^T || p^T) in nats of another answer to this request, at this temperature."""
        return kl_divergence(torch.tensor([self.teacher.logits]), torch.tensor([answer.logits]), self.temperature).item()

    @property
    def speedup(self) -> float:
        return self.teacher.latency_ms / max(self.student.latency_ms, 1e-9)

    def at_temperature(self, temperature: float) -> Prediction:
        """The same answers softened at another temperature; no model is run."""
        temperature = check_temperature(temperature)
        soften = lambda a: replace(a, soft_probs=_distribution(a.logits, self.classes, temperature))  # noqa: E731
        others = {name: soften(a) for name, a in self.others.items()}
        return replace(self, teacher=soften(self.teacher), student=soften(self.student), temperature=temperature, others=others)

    def to_dict(self) -> dict:
        """The /predict JSON; "others" only when more students answered."""
        others = {"others": {name: a.to_dict() for name, a in self.others.items()}} if self.others else {}
        if self.familiarity is not None:
            score, threshold = self.familiarity
            others["picture_familiarity"] = {"score": score, "threshold": threshold, "unfamiliar": self.unfamiliar}
        if self.prepare_ms is not None:
            others["picture_prepare_ms"] = self.prepare_ms
        return {
            "teacher": self.teacher.to_dict(),
            "student": self.student.to_dict(),
            "agree": self.agree,
            "kl_teacher_student": self.kl_teacher_student,
            "temperature": self.temperature,
            "used": list(self.used),
            "notes": self.notes,
            **others,
        }

    @classmethod
    def from_dict(cls, values: dict) -> Prediction:
        """The inverse of `to_dict`, e.g. to re-soften an answer the page already holds."""
        teacher, student = ModelAnswer.from_dict(values["teacher"]), ModelAnswer.from_dict(values["student"])
        classes = list(values["teacher"]["logits"])
        others = {name: ModelAnswer.from_dict(a) for name, a in values.get("others", {}).items()}
        used, notes = tuple(values["used"]), list(values["notes"])
        known = values.get("picture_familiarity")
        familiarity = (float(known["score"]), float(known["threshold"])) if known else None
        prepare_ms = values.get("picture_prepare_ms")
        return cls(teacher, student, float(values["temperature"]), classes, used, notes, others, familiarity,
                   None if prepare_ms is None else float(prepare_ms))


def _distribution(logits: list[float], classes: list[str], temperature: float) -> dict[str, float]:
    probs = soft_targets(torch.tensor(logits), temperature).tolist()
    return dict(zip(classes, probs))


def check_temperature(temperature: float | None) -> float:
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise InputError(f"The temperature must be a number, not {temperature!r}.") from None
    low, high = TEMPERATURES
    if not low <= t <= high:  # NaN fails here too
        raise InputError(f"The temperature must be between {low:g} and {high:g} (got {t:g}).")
    return t


def clean_text(text: str | None) -> str:
    """Normalised text: control characters dropped, overly long text cut."""
    if text is None:
        return ""
    # Cut very long input before any work on it; the exact limit is applied below.
    text = str(text)[: 2 * MAX_TEXT_CHARS]
    text = unicodedata.normalize("NFC", text)
    text = "".join(c if c.isprintable() or c in " \t\n" else " " for c in text)
    return " ".join(text.split())[:MAX_TEXT_CHARS]


@dataclass
class LoadedModel:
    name: str
    model: MultimodalClassifier
    config: dict
    folder: Path

    @property
    def params(self) -> int:
        return self.model.num_params()

    @property
    def size_mb(self) -> float:
        return size_on_disk_mb(self.folder, self.model)

    @property
    def checkpoint_mb(self) -> float:
        return checkpoint_size_mb(self.folder)


class Predictor:
    """Answers with a teacher and a student loaded once from their checkpoints, and with the
    other students (`others`, e.g. the cross-modal ones) when asked to."""

    def __init__(
        self, teacher: LoadedModel, student: LoadedModel, warmup: bool = True, others: list[LoadedModel] = (),
        familiarity: Familiarity | None = None,
    ):
        for loaded in (student, *others):
            if teacher.config["classes"] != loaded.config["classes"]:
                raise CheckpointError(f"{teacher.folder} and {loaded.folder} were trained on different classes.")
        self.teacher, self.student = teacher, student
        self.others: dict[str, LoadedModel] = {loaded.name: loaded for loaded in others}
        self.familiarity = familiarity  # says when a picture is unlike the training pictures
        self.classes: list[str] = teacher.config["classes"]
        self.image_size: int = teacher.config["data"]["image_size"]
        if warmup:
            self.warm_up()

    @classmethod
    def from_folder(
        cls, folder: str | Path = layout.DEFAULT_ROOT, student: str = layout.STUDENT, teacher: str = layout.TEACHER, warmup: bool = True,
        others: tuple[str, ...] = layout.OTHER_STUDENTS,
    ) -> Predictor:
        """Teacher and student from `folder`, and each of `others` whose checkpoint is there."""
        folder = layout.Layout(folder)

        def load(name: str) -> LoadedModel:
            model, config = load_checkpoint(folder.model(name))
            return LoadedModel(name, model, config, folder.model(name))

        present = [load(name) for name in others if folder.model(name).exists()]
        return cls(load(teacher), load(student), warmup=warmup, others=present, familiarity=Familiarity.load(folder.familiar))

    @property
    def other_models(self) -> dict[str, MultimodalClassifier]:
        """The other students by name, as `predict(..., others=)` takes them."""
        return {name: loaded.model for name, loaded in self.others.items()}

    @property
    def distillation_temperature(self) -> float:
        """The temperature the student learned the teacher's soft labels at (1 if it was not distilled)."""
        return float(self.student.config.get("distill", {}).get("temperature", 1.0))

    @property
    def fingerprint(self) -> str:
        """A short hash of the models' weights: equal fingerprints, equal answers."""
        weights = "/".join(m.config["weights_sha256"] for m in (self.teacher, self.student, *self.others.values()))
        return hashlib.sha256(weights.encode()).hexdigest()[:16]

    def warm_up(self) -> None:
        """One full request, so the first visitor does not pay for lazy initialisation."""
        blank = canonical_image(open_image(_blank_picture()), self.image_size)
        for loaded in (self.teacher, self.student, *self.others.values()):
            with torch.inference_mode():
                loaded.model(loaded.model.preprocess(blank[None], ["warm up"]))

    def predict(
        self, image=None, text: str | None = None, temperature: float = 1.0, modalities: str = "image+text",
        others: Mapping[str, MultimodalClassifier] | None = None,
    ) -> Prediction:
        """Answer for a picture (path, bytes or PIL image) and/or a text; `others` (e.g.
        `other_models`) answer it too, each from the modalities it reads.

        Raises `InputError` (or `ImageError`) with a message for the user when nothing
        usable was given.
        """
        temperature = check_temperature(temperature)
        if modalities not in MODALITIES:
            raise InputError(f"Modalities must be one of {', '.join(MODALITIES)}.")
        text, notes = clean_text(text), []
        want_image, want_text = modalities in ("image+text", "image"), modalities in ("image+text", "text")
        has_image, has_text = image is not None, bool(text)
        if want_image and not has_image and want_text and not has_text:
            raise InputError("Give an image, a text, or both.")
        if modalities == "image" and not has_image:
            raise InputError("Image only was chosen, but no image was given.")
        if modalities == "text" and not has_text:
            raise InputError("Text only was chosen, but no text was given.")
        if has_image and not want_image:
            notes.append("The image was ignored: text only was chosen.")
        if has_text and not want_text:
            notes.append("The text was ignored: image only was chosen.")
        use_image, use_text = has_image and want_image, has_text and want_text
        if want_image and want_text:
            if not use_image:
                notes.append("No picture was given.")
            if not use_text:
                notes.append("No text was given.")
        picture = open_image(image) if use_image else None  # decoding errors surface here
        if use_text:
            notes += self._token_notes(text)
        text = text if use_text else None
        images, prepare_ms = self._prepare(picture)
        pair, pictures = self._answers({"teacher": self.teacher.model, "student": self.student.model}, images, text, temperature)
        used = tuple(m for m, on in (("image", use_image), ("text", use_text)) if on)
        more, _ = self._answers(others or {}, images, text, temperature)
        familiarity = None
        if self.familiarity is not None and "teacher" in pictures:
            familiarity = (self.familiarity.score(pictures["teacher"]).item(), self.familiarity.threshold)
        return Prediction(pair["teacher"], pair["student"], temperature, self.classes, used, notes, more, familiarity, prepare_ms)

    def answer_with(
        self, prediction: Prediction, others: Mapping[str, MultimodalClassifier], image=None, text: str | None = None
    ) -> Prediction:
        """`prediction` with the answers of more students to the request it answered
        (`image` and `text` as given then), without running teacher and student again."""
        text = clean_text(text) if "text" in prediction.used else None
        if ("image" in prediction.used and image is None) or ("text" in prediction.used and not text):
            raise InputError("The picture or the text this answer was given for is gone: ask again.")
        images, _ = self._prepare(open_image(image) if "image" in prediction.used else None)
        answers, _ = self._answers(others, images, text, prediction.temperature)
        return replace(prediction, others={**prediction.others, **answers})

    def _token_notes(self, text: str) -> list[str]:
        tokens = self.teacher.model.text_backbone.count_tokens(text) if hasattr(self.teacher.model, "text_backbone") else 0
        limit = self.teacher.model.config.max_tokens
        return [f"The text is long: the models read only its first {limit - 2} tokens (words and pieces of words)."] if tokens > limit else []

    def _prepare(self, picture) -> tuple[torch.Tensor | None, float | None]:
        """The decoded picture as every model reads it, (1, 3, S, S) uint8, and the milliseconds
        that took; (None, None) without a picture. Done once per request: resizing a photo
        costs more than the student's whole answer, and each model would otherwise pay it again."""
        if picture is None:
            return None, None
        start = time.perf_counter()
        images = canonical_image(picture, self.image_size)[None]
        return images, (time.perf_counter() - start) * 1000

    def _answers(
        self, models: Mapping[str, MultimodalClassifier], images: torch.Tensor | None, text: str | None, temperature: float
    ) -> tuple[dict[str, ModelAnswer], dict[str, torch.Tensor]]:
        """Each model's answer, timed from the prepared picture (`_prepare`) and the text to the
        logits, and its picture features (when it saw one); a model that reads none of the
        modalities given is left out."""
        answers, pictures = {}, {}
        for name, model in models.items():
            image_in, text_in = "image" in model.modalities and images is not None, "text" in model.modalities and text is not None
            if not (image_in or text_in):
                continue
            start = time.perf_counter()
            with torch.inference_mode():
                features = model.forward_features(model.preprocess(images if image_in else None, [text] if text_in else None))
                logits = model.forward_head(features)[0][0]
            latency = (time.perf_counter() - start) * 1000
            if image_in:
                pictures[name] = features.image
            values = logits.tolist()
            answers[name] = ModelAnswer(
                label=self.classes[int(logits.argmax())],
                logits=values,
                probs=_distribution(values, self.classes, 1.0),
                soft_probs=_distribution(values, self.classes, temperature),
                latency_ms=latency,
            )
        return answers, pictures


def _blank_picture():
    from PIL import Image

    return Image.new("RGBA", (72, 72), (255, 200, 0, 255))


__all__ = [
    "Predictor", "Prediction", "ModelAnswer", "InputError", "ImageError", "clean_text", "check_temperature",
]
