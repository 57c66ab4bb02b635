"""The project's jobs, end to end: train a teacher, distill a student, reproduce everything.

Each job wires data, models, the trainer and checkpoints together; the CLI and the app
call these functions and nothing below them.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable

import torch

from kd import cache
from kd.checkpoint import read_config, save_checkpoint
from kd.augment import mixed_views, view_features
from kd.compress import init_from_teacher
from kd.config import DataConfig, DistillConfig, TrainConfig, to_dict
from kd.data import MultimodalDataset, load_dataset
from kd.distill import STUDENT_INPUTS, Distiller
from kd.evaluate import accuracy, agreement, dataset_logits, evaluate_folder
from kd.features import teacher_features
from kd.models import MODELS, Features, MultimodalClassifier, create_model
from kd.train import LabelsOnly, TensorLoader, Trainer
from kd.transfer import TransferSet

# What `python -m kd reproduce` trains. Chosen on the validation split.
TEACHER_TRAIN = TrainConfig(epochs=40, batch_size=128, lr=1e-3, weight_decay=0.05, modality_dropout=0.2)
STUDENT_TRAIN = TrainConfig(epochs=40, batch_size=128, lr=3e-3, weight_decay=1e-4, modality_dropout=0.2)
# The shipped recipe: the student starts from the teacher's compressed token embeddings and
# learns from the teacher on the training set and on a transfer set of unlabelled words and
# picture + word pairs (see the README's distillation study for why).
DISTILL = DistillConfig(temperature=4.0, alpha=0.9, transfer=True, student_init="teacher")


# The cross-modal students: the image student has no text to transfer on; the text student
# takes the whole recipe.
CROSS_MODAL = {"student_image": DistillConfig(temperature=4.0, alpha=0.9), "student_text": DISTILL}


def set_seed(seed: int, threads: int = 0) -> None:
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)


def labelled_mask(dataset: MultimodalDataset, fraction: float, seed: int) -> torch.Tensor:
    """Which examples' labels training may use: whole groups (all styles of an emoji),
    picked by a hash of the group so the choice is stable across runs and machines."""
    if fraction >= 1:
        return torch.ones(len(dataset), dtype=torch.bool)

    def u(group: str) -> float:
        return int.from_bytes(hashlib.sha256(f"labels/{seed}/{group}".encode()).digest()[:8], "big") / 2**64

    return torch.tensor([u(g) < fraction for g in dataset.groups], dtype=torch.bool)


def _feature_tensors(features: Features, prefix: str = "") -> dict[str, torch.Tensor]:
    return {prefix + "image": features.image, prefix + "text": features.text, prefix + "has_image": features.has_image, prefix + "has_text": features.has_text}


def train_teacher(
    data: DataConfig,
    train: TrainConfig = TEACHER_TRAIN,
    model: str = "teacher",
    out: str | Path | None = None,
    pretrained: bool = True,
    progress: bool = True,
    dataset: MultimodalDataset | None = None,
    resume: bool = False,
    **model_args,
) -> tuple[MultimodalClassifier, dict]:
    """Train the teacher's fusion head on cached backbone features of the labelled train split.

    With `out`, training can be resumed (`resume=True`) after a crash: see `Trainer`.
    """
    set_seed(train.seed, train.threads)
    dataset = dataset or load_dataset(data, progress=progress)
    teacher = create_model(model, pretrained=pretrained, num_classes=dataset.num_classes, **model_args)
    if MODELS[model].kind != "teacher":
        raise ValueError(f"{model} is not a teacher")
    start = time.perf_counter()
    features = teacher_features(teacher, dataset, progress=progress)
    train_idx = dataset.split_indices("train")
    train_idx = train_idx[labelled_mask(dataset.subset(train_idx), train.label_fraction, train.seed)]
    val_idx = dataset.split_indices("val")

    def feature_rows(idx: torch.Tensor) -> Features:
        return Features(features.image[idx], features.text[idx], features.has_image[idx], features.has_text[idx])

    val_features, val_labels = feature_rows(val_idx), dataset.labels[val_idx]

    @torch.no_grad()
    def evaluate() -> dict[str, float]:
        return {"val_accuracy": accuracy(teacher.forward_head(val_features)[0], val_labels)}

    loader = TensorLoader({**_feature_tensors(feature_rows(train_idx)), "labels": dataset.labels[train_idx]}, train.batch_size, seed=train.seed)
    step = LabelsOnly(teacher, train.modality_dropout, train.seed)
    desc = Path(out).name if out else model
    trainer = Trainer(
        teacher.head, step, train, evaluate, progress=progress, desc=desc,
        state_path=training_state(out), generators=[step.generator],
    )
    history = trainer.fit(loader, resume=resume)
    info = {
        "classes": dataset.classes,
        "data": to_dict(data),
        "dataset": dataset.summary(),
        "train": to_dict(train),
        "history": history,
        "train_seconds": time.perf_counter() - start,
        "labelled_train_examples": len(train_idx),
    }
    if out is not None:
        save_checkpoint(out, teacher, model, **info)
        training_state(out).unlink(missing_ok=True)
    return teacher, info


def student_inputs(student: MultimodalClassifier, dataset: MultimodalDataset) -> dict[str, torch.Tensor]:
    """The student's preprocessed inputs for a whole dataset, computed once per run."""
    inputs = student.preprocess(dataset.images, dataset.texts)
    return {k: inputs[k] for k in STUDENT_INPUTS if k in inputs}


def student_training_rows(
    dataset: MultimodalDataset, inputs: dict[str, torch.Tensor], train: TrainConfig, config: DistillConfig
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training split's rows a student learns from, and their tensors: its `inputs`,
    the labels, and which labels it may use (`train.label_fraction`). Without a teacher the
    unlabelled rows teach nothing and are left out."""
    train_idx = dataset.split_indices("train")
    labelled = labelled_mask(dataset.subset(train_idx), train.label_fraction, train.seed)
    if not config.uses_teacher:
        train_idx, labelled = train_idx[labelled], labelled[labelled]
    tensors = {k: v[train_idx] for k, v in inputs.items()}
    tensors.update({"labels": dataset.labels[train_idx], "labelled": labelled})
    return train_idx, tensors


def validation(model: MultimodalClassifier, val: MultimodalDataset, teacher_logits: torch.Tensor) -> Callable[[], dict[str, float]]:
    """What a student's Trainer records after each epoch: accuracy on `val` and agreement
    with the teacher's logits there."""

    @torch.no_grad()
    def evaluate() -> dict[str, float]:
        logits = dataset_logits(model, val)
        return {"val_accuracy": accuracy(logits, val.labels), "val_agreement": agreement(logits, teacher_logits)}

    return evaluate


def distill(
    teacher: MultimodalClassifier,
    data: DataConfig,
    train: TrainConfig = STUDENT_TRAIN,
    config: DistillConfig = DISTILL,
    student: str = "student",
    out: str | Path | None = None,
    progress: bool = True,
    on_epoch: list[Callable[[dict], None]] = (),
    dataset: MultimodalDataset | None = None,
    teacher_ref: dict | None = None,
    resume: bool = False,
    should_stop: Callable[[], bool] | None = None,
    **student_args,
) -> tuple[MultimodalClassifier, dict]:
    """Train a student from scratch with `config` (alpha = 0: on labels alone).

    `teacher_ref` (which teacher checkpoint taught it) is stored with the student. With
    `out`, a crashed run continues with `resume=True`; `should_stop()` ends it early.
    """
    set_seed(train.seed, train.threads)
    dataset = dataset or load_dataset(data, progress=progress)
    if teacher.config.num_classes != dataset.num_classes:
        raise ValueError(f"the teacher knows {teacher.config.num_classes} classes, the data has {dataset.num_classes}")
    if MODELS[student].kind != "student":
        raise ValueError(f"{student} is not a student")
    model = create_model(student, num_classes=dataset.num_classes, **student_args)
    if config.student_init == "teacher":
        init_from_teacher(model, teacher)
    elif config.student_init != "random":
        raise ValueError(f"student_init must be 'random' or 'teacher', not {config.student_init!r}")
    start = time.perf_counter()

    train_idx, tensors = student_training_rows(dataset, student_inputs(model, dataset), train, config)
    transfer = None
    if config.uses_teacher:
        features = teacher_features(teacher, dataset, progress=progress)
        tensors.update({k: v[train_idx] for k, v in _feature_tensors(features, "teacher_").items()})
        if config.transfer or config.views:
            transfer = _transfer_set(teacher, model, dataset, train_idx, tensors, features, config, train.seed, progress)
    distiller = Distiller(teacher, model, config, train.modality_dropout, train.seed, transfer=transfer)

    val = dataset.split("val")
    evaluate = validation(model, val, dataset_logits(teacher, val))
    loader = TensorLoader(tensors, train.batch_size, seed=train.seed)
    trainer = Trainer(
        model, distiller, train, evaluate, parameters=distiller.trainable_parameters(), on_epoch=on_epoch,
        progress=progress, desc=Path(out).name if out else student, should_stop=should_stop,
        state_path=training_state(out), generators=distiller.generators,
    )
    history = trainer.fit(loader, resume=resume)
    info = {
        "classes": dataset.classes,
        "data": to_dict(data),
        "dataset": dataset.summary(),
        "train": to_dict(train),
        "distill": to_dict(config),
        "teacher": teacher_ref,
        "history": history,
        "train_seconds": time.perf_counter() - start,
        "labelled_train_examples": int(tensors["labelled"].sum()),
    }
    if out is not None:
        save_checkpoint(out, model, student, **info)
        training_state(out).unlink(missing_ok=True)
    return model, info


def _transfer_set(teacher, student, dataset, train_idx, tensors, features, config, seed, progress) -> TransferSet:
    """The unlabelled examples the teacher labels for the student (kd/transfer.py)."""
    # No text of a held-out example is ever shown, though it is unlabelled: the test
    # measures how the student does on emoji it has never met, in any form.
    held_out = {text for text, split in zip(dataset.texts, dataset.splits) if split != "train"}
    pixels = tensors.get("pixels", torch.zeros(len(train_idx), 0))
    view_pixels = view_teacher_image = None
    if config.views:
        # One fixed set of views for every run: computing the teacher's features of new
        # views costs ~10 ms per picture, and the cache keeps them for the next run.
        views = mixed_views(dataset.images[train_idx], config.views, seed=0)  # (V, N, 3, S, S)
        view_teacher_image = view_features(teacher, views, progress=progress).flatten(0, 1)
        view_pixels = student.preprocess(views.flatten(0, 1), None)["pixels"]
    return TransferSet(
        teacher,
        student,
        pixels,
        features.image[train_idx],
        exclude=held_out,
        words=None if config.transfer else [],
        view_pixels=view_pixels,
        view_teacher_image=view_teacher_image,
        seed=seed,
    )


def reproduce(out: str | Path = "checkpoints", data: DataConfig | None = None, progress: bool = True) -> dict:
    """From nothing to `out/{teacher,student,student_scratch,student_image,student_text}`,
    `out/teacher_outputs.safetensors` (the teacher's answers, for the live tab),
    `out/metrics.json` (the evaluation) and `out/reproduce.json` (how long each stage took)."""
    out = Path(out)
    data = data or DataConfig()
    cold_cache = not any(cache.cache_dir().glob("*/*.safetensors"))
    stages, start = {}, time.perf_counter()

    def lap(stage: str, since: float) -> float:
        stages[stage] = time.perf_counter() - since
        return time.perf_counter()

    t = time.perf_counter()
    dataset = load_dataset(data, progress=progress)
    t = lap("data", t)
    teacher, _ = train_teacher(data, out=out / "teacher", progress=progress, dataset=dataset)
    # The teacher's answers on every example, for the demo's "Distill it yourself" tab.
    from kd.live import OUTPUTS_FILE, save_teacher_outputs  # kd.live builds on this module

    save_teacher_outputs(teacher, dataset, out / OUTPUTS_FILE)
    t = lap("teacher", t)
    ref = teacher_reference(out / "teacher")
    distill(teacher, data, out=out / "student", progress=progress, dataset=dataset, teacher_ref=ref)
    t = lap("student", t)
    scratch = DistillConfig(alpha=0.0)
    distill(teacher, data, config=scratch, out=out / "student_scratch", progress=progress, dataset=dataset, teacher_ref=ref)
    t = lap("student_scratch", t)
    # Cross-modal students: one branch each, taught by the multimodal teacher.
    distill(teacher, data, config=CROSS_MODAL["student_image"], student="student_image", out=out / "student_image",
            progress=progress, dataset=dataset, teacher_ref=ref)
    t = lap("student_image", t)
    distill(teacher, data, config=CROSS_MODAL["student_text"], student="student_text", out=out / "student_text",
            progress=progress, dataset=dataset, teacher_ref=ref)
    t = lap("student_text", t)
    metrics = evaluate_folder(out, progress=progress)
    write_json(out / "metrics.json", metrics)
    lap("evaluate", t)
    timing = {
        "seconds": time.perf_counter() - start,
        "stages": stages,
        "cold_cache": cold_cache,
        "machine": metrics["settings"]["machine"],
        "threads": metrics["settings"]["threads"],
    }
    write_json(out / "reproduce.json", timing)
    return metrics


def training_state(out: str | Path | None) -> Path | None:
    """Where a run writing to `out` keeps what it needs to resume (removed once it is saved)."""
    return Path(out) / ".training-state.safetensors" if out is not None else None


def teacher_reference(folder: str | Path) -> dict:
    """How a student names the teacher checkpoint that taught it."""
    config = read_config(folder)
    return {"path": str(folder), "model": config["model"], "weights_sha256": config["weights_sha256"]}


def write_json(path: str | Path, value: dict) -> None:
    with cache.atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
