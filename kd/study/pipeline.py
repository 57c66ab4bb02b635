"""The project's jobs, end to end: train a teacher, distill a student, reproduce everything.

Each job wires data, models, the trainer and checkpoints together; the CLI and the app
call these functions and nothing below them.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch

from kd import cache, layout
from kd.config import CROSS_MODAL, DISTILL, DISTILL_TRAIN, KEEP, SCRATCH, STUDENT_TRAIN, TEACHER_TRAIN, DataConfig, DistillConfig, TrainConfig, to_dict
from kd.data import clipart, stamps
from kd.data.dataset import MultimodalDataset, load_dataset
from kd.models.checkpoint import read_config, save_checkpoint
from kd.models.classifiers import MODELS, EnsembleHead, Features, MultimodalClassifier, create_model
from kd.models.compress import INITS, init_from_teacher
from kd.study import familiar
from kd.study.evaluate import accuracy, agreement, dataset_logits, evaluate_folder
from kd.study.record import save_teacher_outputs
from kd.training import distributed
from kd.training.augment import cached_views, picture_features
from kd.training.distill import STUDENT_INPUTS, Distiller
from kd.training.distributed import World
from kd.training.features import picture_inputs, teacher_features
from kd.training.train import LabelsOnly, TensorLoader, Trainer, kept_row
from kd.training.transfer import TransferSet, transfer_words


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
    train_tensors = {**_feature_tensors(feature_rows(train_idx)), "labels": dataset.labels[train_idx]}
    # Each head of an ensemble trains as a teacher of one head would, on a seed of its own (its
    # batches, dropped modalities and dropout), keeping its own best epoch: trained together
    # on one loss they would learn as one model, and share more of their seed's answers.
    heads = teacher.head.members if isinstance(teacher.head, EnsembleHead) else [teacher.head]
    histories = []
    for i, head in enumerate(heads):
        head_train = replace(train, seed=train.seed + HEAD_SEED_STRIDE * i)
        answer = teacher.forward_head if len(heads) == 1 else head

        @torch.no_grad()
        def evaluate(answer=answer) -> dict[str, float]:
            return {"val_accuracy": accuracy(answer(val_features)[0], val_labels)}

        loader = TensorLoader(train_tensors, train.batch_size, seed=head_train.seed)
        step = LabelsOnly(answer, train.modality_dropout, head_train.seed)
        desc = (Path(out).name if out else model) + (f" head {i + 1}/{len(heads)}" if len(heads) > 1 else "")
        trainer = Trainer(
            head, step, head_train, evaluate, progress=progress, desc=desc,
            state_path=training_state(out, i), generators=[step.generator],
        )
        histories.append(trainer.fit(loader, resume=resume))
    history = _mean_history(histories)
    extra = {"heads_val_accuracy": [kept_row(h)["val_accuracy"] for h in histories]} if len(heads) > 1 else {}
    info = _run_info(dataset, data, train, history, start, labelled_train_examples=len(train_idx), **extra)
    _save(out, teacher, model, info)
    return teacher, info


# Head i of a teacher trains on seed `train.seed + HEAD_SEED_STRIDE * i`: far from the seeds
# the study gives whole teachers (0, 1, 2), so no two heads of its teachers share one.
HEAD_SEED_STRIDE = 1000


def _mean_history(histories: list[list[dict]]) -> list[dict]:
    """The heads' histories as one: each epoch's figures averaged over the heads."""
    return [{k: rows[0][k] if k == "epoch" else sum(row[k] for row in rows) / len(rows) for k in rows[0]}
            for rows in zip(*histories)]


def student_inputs(student: MultimodalClassifier, dataset: MultimodalDataset) -> dict[str, torch.Tensor]:
    """The student's preprocessed inputs for a whole dataset, computed once per run. A frozen
    trunk's maps of the pictures are the same for every run of that trunk: cached on disk."""
    inputs = student.preprocess(None, dataset.texts) | picture_inputs(student, dataset.images)
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


@torch.no_grad()
def input_logits(model: MultimodalClassifier, inputs: dict[str, torch.Tensor], batch_size: int = 256) -> torch.Tensor:
    """(N, K) logits of `model` on its `student_inputs` rows: a frozen trunk's maps are read,
    not recomputed (what `dataset_logits` answers from the pictures, without the trunk)."""
    model.eval()
    n = len(inputs["has_text"])
    return torch.cat([model({k: v[i : i + batch_size] for k, v in inputs.items()}) for i in range(0, n, batch_size)])


def validation(
    model: MultimodalClassifier, inputs: dict[str, torch.Tensor], labels: torch.Tensor, teacher_logits: torch.Tensor,
) -> Callable[[], dict[str, float]]:
    """What a student's Trainer records after each epoch: accuracy on the validation rows
    (their `student_inputs` and `labels`) and agreement with the teacher's logits there. Read
    from the frozen trunk's maps, an epoch's validation costs a few milliseconds; run through
    the trunk, it was a quarter of the shipped student's training and half its twin's."""

    def evaluate() -> dict[str, float]:
        logits = input_logits(model, inputs)
        return {"val_accuracy": accuracy(logits, labels), "val_agreement": agreement(logits, teacher_logits)}

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
    world: World = World(),
    **student_args,
) -> tuple[MultimodalClassifier, dict]:
    """Train a student from scratch with `config` (alpha = 0: on labels alone).

    `teacher_ref` (which teacher checkpoint taught it) is stored with the student. With
    `out`, a crashed run continues with `resume=True`; `should_stop()` ends it early. With
    a `world` of several processes (torchrun, kd.training.distributed), each trains on its share of
    every batch, DDP averages the gradients, and rank 0 saves.
    """
    set_seed(train.seed, train.threads)
    dataset = dataset or load_dataset(data, progress=progress)
    if teacher.config.num_classes != dataset.num_classes:
        raise ValueError(f"the teacher knows {teacher.config.num_classes} classes, the data has {dataset.num_classes}")
    if MODELS[student].kind != "student":
        raise ValueError(f"{student} is not a student")
    model = create_model(student, num_classes=dataset.num_classes, **student_args)
    if (config.pictures or config.views or config.picture_hint) and not teacher.is_teacher:
        raise ValueError("transfer pictures, views and the picture hint need a teacher with an image backbone")
    if config.keep not in KEEP:
        raise ValueError(f"keep must be one of {', '.join(KEEP)}, not {config.keep!r}")
    if config.student_init not in INITS:
        raise ValueError(f"student_init must be one of {', '.join(INITS)}, not {config.student_init!r}")
    if config.student_init != "random":
        init_from_teacher(model, teacher, config.student_init)
    start = time.perf_counter()

    inputs = student_inputs(model, dataset)
    train_idx, tensors = student_training_rows(dataset, inputs, train, config)
    transfer = None
    if config.uses_teacher:
        features = teacher_features(teacher, dataset, progress=progress)
        tensors.update({k: v[train_idx] for k, v in _feature_tensors(features, "teacher_").items()})
        if config.transfer or config.views or config.pictures:
            # Each rank samples its own transfer examples, its share of the transfer batch.
            config = replace(config, transfer_batch=world.share(config.transfer_batch, "transfer batch"))
            transfer = _transfer_set(teacher, model, dataset, train_idx, features, config, train.seed + world.rank, progress)
    distiller = Distiller(teacher, model, config, train.modality_dropout, train.seed, transfer=transfer)

    val_idx = dataset.split_indices("val")
    val_inputs = {k: v[val_idx] for k, v in inputs.items()}
    evaluate = validation(model, val_inputs, dataset.labels[val_idx], dataset_logits(teacher, dataset.subset(val_idx)))
    loader = TensorLoader(tensors, train.batch_size, seed=train.seed, world=world)
    trainer = Trainer(
        model, distributed.wrap(distiller, world), train, evaluate, parameters=distiller.trainable_parameters(),
        on_epoch=on_epoch, progress=progress, desc=Path(out).name if out else student, should_stop=should_stop,
        state_path=training_state(out), generators=distiller.generators, world=world,
        keep=config.keep,
    )
    history = trainer.fit(loader, resume=resume)
    info = _run_info(dataset, data, train, history, start, distill=to_dict(config), teacher=teacher_ref,
                     labelled_train_examples=int(tensors["labelled"].sum()), kept_epoch=kept_row(history, config.keep)["epoch"])
    if world.main:
        _save(out, model, student, info)
    return model, info


def _transfer_set(teacher, student, dataset, train_idx, features, config, seed, progress) -> TransferSet:
    """The unlabelled examples the teacher labels for the student (kd/training/transfer.py)."""
    # No text of a held-out example is ever shown, though it is unlabelled: the test
    # measures how the student does on emoji it has never met, in any form.
    held_out = {text for text, split in zip(dataset.texts, dataset.splits) if split != "train"}
    if "image" in student.modalities:
        train_texts = [dataset.texts[i] for i in train_idx.tolist()]
        pictures, teacher_image, captions = transfer_pictures(
            teacher, dataset.images[train_idx], features.image[train_idx], train_texts, config, progress
        )
    else:
        pictures, teacher_image, captions = dataset.images[:0], features.image[:0], []
    words = (transfer_words(config.words, student.config.max_tokens, config.phrases) if config.transfer else [])
    return TransferSet(teacher, student, pictures, teacher_image, exclude=held_out, words=words, seed=seed,
                       captions=captions if config.captions else None, mix=config.transfer_mix)


def transfer_pictures(
    teacher: MultimodalClassifier, train_images: torch.Tensor, train_features: torch.Tensor, train_texts: list[str],
    config: DistillConfig, progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The transfer set's pictures, (P, 3, S, S) uint8, the teacher's features of each and
    each one's caption: the training pictures (their emoji's name), clip art
    (`config.pictures`; its file name's words), Tux Paint's stamps (`config.stamps`; their
    descriptions) and `config.views` augmented views of all (their picture's caption). The same for every run and seed, so the teacher's features
    are computed once (about 60 ms a picture on 2 cores) and then read from the cache."""
    parts, part_features, captions = [train_images], [train_features], [list(train_texts)]
    clip = clipart.load("transfer", train_images.shape[-1], progress=progress, per_folder=config.pictures_per_folder) if config.pictures else None
    if clip is not None:
        parts.append(clip.images)
        part_features.append(picture_features(teacher, clip.images, progress=progress, desc="teacher features of clip art"))
        captions.append(clip.texts)
    if clip is not None and config.stamps:
        drawn = stamps.load("transfer", train_images.shape[-1], progress=progress)
        parts.append(drawn.images)
        part_features.append(picture_features(teacher, drawn.images, progress=progress, desc="teacher features of Tux Paint stamps"))
        captions.append(drawn.texts)
    if config.views:
        # Clip art, when used, is the views' backgrounds too: busier than solid colours.
        sources = list(zip(parts, captions))
        pool = clip.images if clip is not None else None
        for i, (source, texts) in enumerate(sources):
            for view in cached_views(source, config.views, seed=i, pool=pool):  # each (N, 3, S, S), cached one by one
                parts.append(view)
                part_features.append(picture_features(teacher, view, progress=progress, desc="teacher features of augmented views"))
                captions.append(texts)
    return torch.cat(parts), torch.cat(part_features), [c for part in captions for c in part]


def reproduce(out: str | Path = layout.DEFAULT_ROOT, data: DataConfig | None = None, progress: bool = True) -> dict:
    """From nothing to every model of `kd.layout.SHIPPED` in `out`, the teacher's recorded
    answers (for the live tab), the reference that says when a picture is unlike the
    training pictures (`kd.study.familiar`), `metrics.json` (the evaluation) and `reproduce.json`
    (how long each stage took)."""
    folder = layout.Layout(out)
    data = data or DataConfig()
    cold_cache = not any(cache.cache_dir().glob("*/*.safetensors"))
    stages, start = {}, time.perf_counter()

    def lap(stage: str, since: float) -> float:
        stages[stage] = time.perf_counter() - since
        return time.perf_counter()

    t = time.perf_counter()
    dataset = load_dataset(data, progress=progress)
    t = lap("data", t)
    teacher, _ = train_teacher(data, out=folder.teacher, progress=progress, dataset=dataset)
    save_teacher_outputs(teacher, dataset, folder.teacher_outputs)
    labelled_like_emoji = clipart.available() and data.source == "emoji" and data.label == "category"
    check = clipart.check_dataset(dataset.classes, data.image_size, progress) if labelled_like_emoji else None
    familiar.fit(teacher, dataset, check).save(folder.familiar)
    t = lap(layout.TEACHER, t)
    ref = teacher_reference(folder.teacher)
    students = {
        layout.STUDENT: ("student", DISTILL, DISTILL_TRAIN),
        # The same student on labels alone, as long: the baseline of the KD gain.
        layout.SCRATCH: ("student", SCRATCH, DISTILL_TRAIN),
        # Cross-modal students: one branch each, taught by the multimodal teacher.
        layout.IMAGE_STUDENT: ("student_image", CROSS_MODAL["student_image"], STUDENT_TRAIN),
        layout.TEXT_STUDENT: ("student_text", CROSS_MODAL["student_text"], STUDENT_TRAIN),
    }
    for name, (model, config, train) in students.items():
        distill(teacher, data, train, config=config, student=model, out=folder.model(name), progress=progress, dataset=dataset,
                teacher_ref=ref)
        t = lap(name, t)
    metrics = evaluate_folder(folder.root, progress=progress)
    write_json(folder.metrics, metrics)
    lap("evaluate", t)
    timing = {
        "seconds": time.perf_counter() - start,
        "stages": stages,
        "cold_cache": cold_cache,
        "machine": metrics["settings"]["machine"],
        "threads": metrics["settings"]["threads"],
    }
    write_json(folder.reproduce, timing)
    if cold_cache:  # kept apart, so a later warm run does not hide what a fresh machine takes
        write_json(folder.reproduce_cold, timing)
    return metrics


def _run_info(dataset: MultimodalDataset, data: DataConfig, train: TrainConfig, history: list[dict], start: float, **extra) -> dict:
    """What a checkpoint records about the run that made it, besides the model."""
    return {
        "classes": dataset.classes, "data": to_dict(data), "dataset": dataset.summary(), "train": to_dict(train),
        **extra, "history": history, "train_seconds": time.perf_counter() - start,
    }


def _save(out: str | Path | None, model: MultimodalClassifier, name: str, info: dict) -> None:
    """Save a finished run (if it has a folder) and drop the state it kept to resume."""
    if out is not None:
        save_checkpoint(out, model, name, **info)
        for state in Path(out).glob(".training-state*.safetensors"):
            state.unlink()


def training_state(out: str | Path | None, head: int = 0) -> Path | None:
    """Where a run writing to `out` keeps what it needs to resume (removed once it is saved);
    a teacher's heads after the first keep one each."""
    if out is None:
        return None
    return Path(out) / (".training-state.safetensors" if head == 0 else f".training-state-head{head}.safetensors")


def teacher_reference(folder: str | Path) -> dict:
    """How a student names the teacher checkpoint that taught it."""
    config = read_config(folder)
    return {"path": str(folder), "model": config["model"], "weights_sha256": config["weights_sha256"]}


def write_json(path: str | Path, value: dict) -> None:
    with cache.atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
