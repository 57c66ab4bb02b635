"""Honest numbers: quality, agreement with the teacher, calibration, speed and size.

`evaluate_folder` evaluates every checkpoint in a folder on the test split and returns

    {"models":   {name: {accuracy, macro_f1, agreement, kl_to_teacher, ece, params,
                         size_mb, latency_ms_p50, latency_ms_p95, throughput_per_s, ...}},
     "dataset":  what was evaluated on,
     "settings": how (threads, repeats, batch sizes, machine)}

which `python -m kd evaluate --json PATH` writes and `checkpoints/metrics.json` holds.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import torch
from PIL import Image

from kd.config import SERVING_THREADS, DataConfig, from_dict
from kd.data import clipart, gcompris, stamps
from kd.data.clipart import CHECK_FOLDERS
from kd.data.dataset import MultimodalDataset, load_dataset
from kd.data.images import load_canonical
from kd.layout import Layout
from kd.models.checkpoint import CheckpointError, checkpoint_size_mb, load_checkpoint, pickle_hint, read_config
from kd.models.classifiers import MultimodalClassifier
from kd.training.features import teacher_features
from kd.training.losses import kl_divergence

ECE_BINS = 15


# ------------------------------------------------------------------------- quality


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return (logits.argmax(1) == labels).float().mean().item()


def macro_f1(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in the labels or predictions."""
    pred = logits.argmax(1)
    scores = []
    for k in range(num_classes):
        tp = ((pred == k) & (labels == k)).sum().item()
        fp = ((pred == k) & (labels != k)).sum().item()
        fn = ((pred != k) & (labels == k)).sum().item()
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


def agreement(logits: torch.Tensor, teacher_logits: torch.Tensor) -> float:
    """Fraction of examples where the top-1 class equals the teacher's."""
    return (logits.argmax(1) == teacher_logits.argmax(1)).float().mean().item()


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """ECE (Guo et al., 2017): sum over equal-width confidence bins of |B|/n * |acc(B) - conf(B)|."""
    confidence, pred = logits.softmax(1).max(1)
    correct = (pred == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += in_bin.float().mean().item() * abs(correct[in_bin].mean().item() - confidence[in_bin].mean().item())
    return ece


def per_class_accuracy(logits: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> dict[str, float | None]:
    pred = logits.argmax(1)
    return {c: ((pred[labels == k] == k).float().mean().item() if (labels == k).any() else None) for k, c in enumerate(classes)}


def quality_metrics(logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor, classes: list[str]) -> dict:
    return {
        "accuracy": accuracy(logits, labels),
        "macro_f1": macro_f1(logits, labels, len(classes)),
        "agreement": agreement(logits, teacher_logits),
        "kl_to_teacher": kl_divergence(teacher_logits, logits, temperature=1.0).mean().item(),
        "ece": expected_calibration_error(logits, labels),
        "per_class_accuracy": per_class_accuracy(logits, labels, classes),
    }


# -------------------------------------------------------------------------- logits


@torch.no_grad()
def dataset_logits(
    model: MultimodalClassifier,
    dataset: MultimodalDataset,
    modalities: tuple[str, ...] = ("image", "text"),
    batch_size: int = 256,
    progress: bool = False,
) -> torch.Tensor:
    """(N, K) logits on every example; a teacher answers from its cached backbone features."""
    model.eval()
    keep_image = torch.full((len(dataset),), "image" in modalities)
    keep_text = torch.full((len(dataset),), "text" in modalities)
    if model.is_teacher:
        features = teacher_features(model, dataset, progress=progress)
        return model.forward_head(features.masked(keep_image, keep_text))[0]
    out = []
    for start in range(0, len(dataset), batch_size):
        stop = min(start + batch_size, len(dataset))
        images = dataset.images[start:stop] if "image" in modalities else None
        texts = dataset.texts[start:stop] if "text" in modalities else None
        out.append(model(model.preprocess(images, texts)))
    return torch.cat(out)


# ------------------------------------------------------------------- out of domain


# What a model is shown of a picture-and-text example in the out-of-domain figures.
VIEWS = {"picture+text": ("image", "text"), "picture": ("image",)}


def out_of_domain(models: dict[str, MultimodalClassifier], teacher_name: str, check: MultimodalDataset) -> dict[str, dict]:
    """Each model on pictures never used in training (a check set of `kd.data.clipart` or
    `kd.data.stamps`): accuracy against the folders' categories and agreement with the teacher, from
    picture + text (an example whose text is empty answers from its picture) and from the
    picture only; a model that cannot read a view's modalities has no row for it."""
    teacher = models[teacher_name]
    teacher_logits = {view: dataset_logits(teacher, check, modalities) for view, modalities in VIEWS.items()}
    results = {}
    for name, model in models.items():
        row = {"examples": len(check)}
        for view, modalities in VIEWS.items():
            if not set(modalities) <= set(model.modalities):
                continue
            logits = teacher_logits[view] if name == teacher_name else dataset_logits(model, check, modalities)
            row[view] = {"accuracy": accuracy(logits, check.labels), "agreement": agreement(logits, teacher_logits[view])}
        results[name] = row
    return results


# The out-of-domain checks: the key each one's results go under in metrics.json, and what it
# holds in a few words (the Results tab's columns, the headline, the README's table).
CHECKS = {"out_of_domain": "clip art", "out_of_domain_stamps": "cut-out photos", "out_of_domain_photos": "photos"}


def out_of_domain_checks(data: DataConfig, classes: list[str], progress: bool = True) -> dict[str, tuple[MultimodalDataset, str]]:
    """The check sets installed (`CHECKS`), by the key their results go under, each with a
    sentence that says what it is: the held-out clip-art folders, the held-out Tux Paint stamps
    and GCompris's photographs. None unless the data is the emoji categories they are labelled
    with."""
    if not (data.source == "emoji" and data.label == "category"):
        return {}
    checks = {}
    if clipart.available():
        check = clipart.check_dataset(classes, data.image_size, progress=progress)
        checks["out_of_domain"] = (check, f"{len(check)} clip-art pictures of {len(CHECK_FOLDERS)} held-out openclipart-png folders "
                                          "(kd/data/clipart.py CHECK_FOLDERS), never used in training")
    if stamps.available():
        check = stamps.check_dataset(classes, data.image_size, progress=progress)
        checks["out_of_domain_stamps"] = (
            check, f"{len(check)} Tux Paint stamps (cut-out photographs and drawings; {stamps.CHECK_SHARE:.0%} of the stamps, "
                   "picked by file name and labelled by folder: kd/data/stamps.py), never used in training")
    if gcompris.available():
        check = gcompris.check_dataset(classes, data.image_size, progress=progress)
        checks["out_of_domain_photos"] = (
            check, f"{len(check)} photographs from GCompris (hand tools, fish, landmarks, animals; whole folders labelled by "
                   "what they show: kd/data/gcompris.py), never used in training")
    return checks


# --------------------------------------------------------------------------- speed


def _pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray(image.permute(1, 2, 0).numpy(), "RGB").convert("RGBA")


@torch.inference_mode()
def measure_latency(
    models: dict[str, MultimodalClassifier], dataset: MultimodalDataset, image_size: int, repeats: int = 200, block: int = 20
) -> dict[str, dict[str, float]]:
    """Batch-1 latency in ms, image + text, timed as the app times each model: from the
    prepared picture (decoded and canonicalised once per request, for every model:
    `kd.serving.infer.Predictor`) and the text to the logits, the model's own preprocessing
    (resizing, tokenising) included. The shared preparation is part of neither model's
    latency, as in the app (which shows it apart).

    Models take turns in blocks of `block` requests, so each is timed in its steady state
    (the first request of a block, which pays for the other model having run, is dropped)
    while machine noise is spread over all of them alike.
    """
    pictures = [_pil(dataset.images[i % len(dataset)]) for i in range(block)]
    texts = [dataset.texts[i % len(dataset)] for i in range(block)]
    prepared = [load_canonical(picture, image_size)[None] for picture in pictures]
    times = {name: [] for name in models}
    while min(len(t) for t in times.values()) < repeats:
        for name, model in models.items():
            for i, (images, text) in enumerate(zip(prepared, texts)):
                start = time.perf_counter()
                model(model.preprocess(images, [text]))
                if i > 0:
                    times[name].append((time.perf_counter() - start) * 1000)
    return {name: {"latency_ms_p50": _percentile(t, 50), "latency_ms_p95": _percentile(t, 95)} for name, t in times.items()}


@torch.inference_mode()
def measure_throughput(model: MultimodalClassifier, dataset: MultimodalDataset, batch_size: int = 64, seconds: float = 3.0) -> float:
    """Examples per second at `batch_size`, from canonical pictures and texts to logits."""
    images, texts = dataset.images[:batch_size], dataset.texts[:batch_size]
    model(model.preprocess(images, texts))  # warm-up
    done, start = 0, time.perf_counter()
    while True:
        model(model.preprocess(images, texts))
        done += len(texts)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and done >= 3 * batch_size:
            return done / elapsed


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def size_on_disk_mb(folder: Path, model: MultimodalClassifier) -> float:
    """Everything the model needs on disk to run: its checkpoint plus, for a teacher, the
    pretrained backbone files it loads from their packages."""
    size = checkpoint_size_mb(folder)
    if model.is_teacher:
        for backbone in (model.image_backbone, model.text_backbone):
            size += sum(p.numel() * p.element_size() for p in backbone.parameters()) / 1e6
    return size


# --------------------------------------------------------------------------- folder


def find_checkpoints(folder: str | Path) -> dict[str, Path]:
    """Subfolders of `folder` that hold a kd checkpoint, by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"No checkpoint folder at {folder}.")
    found = {p.name: p for p in sorted(folder.iterdir()) if (p / "config.json").is_file()}
    if not found:
        raise CheckpointError(
            f"{folder} holds no kd checkpoints (folders with a config.json).{pickle_hint(folder)} "
            "Train some with python -m kd reproduce."
        )
    return found


def evaluate_folder(
    folder: str | Path = Layout().root,
    split: str = "test",
    speed: bool = True,
    threads: int | None = None,
    latency_threads: int = SERVING_THREADS,
    latency_repeats: int = 200,
    progress: bool = True,
    out_of_domain_check: bool = True,
) -> dict:
    """Evaluate every checkpoint in `folder` against its teacher on one split: quality on
    `threads` torch threads (default: torch's), latency on `latency_threads`, as the app
    serves each request (`SERVING_THREADS`), so the speed-up it reports is the one a
    visitor sees."""
    if threads:
        torch.set_num_threads(threads)
    paths = find_checkpoints(folder)
    configs = {name: read_config(path) for name, path in paths.items()}
    # Teachers first, then students, each by name: the order tables show them in.
    order = sorted(paths, key=lambda name: (configs[name].get("kind") != "teacher", name))
    paths, configs = {n: paths[n] for n in order}, {n: configs[n] for n in order}
    teachers = [n for n, c in configs.items() if c.get("kind") == "teacher"]
    if not teachers:
        raise CheckpointError(f"{folder} has no teacher checkpoint: agreement and KL need one.")
    teacher_name = "teacher" if "teacher" in teachers else teachers[0]
    models = {name: load_checkpoint(path)[0] for name, path in paths.items()}
    # The student as deployed (`python -m kd export`), when its export is in the folder.
    files = {}
    if "student" in models:
        from kd.models.export import exported_students

        for name, (model, path) in exported_students(folder, models["student"]).items():
            models[name], files[name] = model, path

    data_config = from_dict(DataConfig, configs[teacher_name]["data"])
    dataset = load_dataset(data_config, progress=progress)
    for name, config in configs.items():
        trained_on = config.get("dataset", {}).get("fingerprint")
        if trained_on and trained_on != dataset.fingerprint():
            warnings.warn(
                f"{name} was trained on dataset {trained_on}, but the data built here is {dataset.fingerprint()} "
                "(a missing art style or different package versions?): its numbers will differ.",
                stacklevel=2,
            )
    evaluated = dataset.split(split)

    logits = {name: dataset_logits(model, evaluated, progress=progress) for name, model in models.items()}
    # Pictures never used in training, from each check set installed, when labelled like the data.
    checks = out_of_domain_checks(data_config, dataset.classes, progress) if out_of_domain_check else {}
    ood = {key: out_of_domain(models, teacher_name, check) for key, (check, _) in checks.items()}
    teacher_logits = logits[teacher_name]
    results = {}
    for name, model in models.items():
        row = quality_metrics(logits[name], evaluated.labels, teacher_logits, dataset.classes)
        for modalities in (("image",), ("text",)):
            if set(modalities) <= set(model.modalities):
                only = dataset_logits(model, evaluated, modalities=modalities)
                row[f"accuracy_{modalities[0]}_only"] = accuracy(only, evaluated.labels)
        row["params"] = model.num_params()
        for key in checks:
            row[key] = ood[key][name]
        if name in files:  # an exported student: its one file is all it needs
            row["size_mb"] = row["checkpoint_mb"] = files[name].stat().st_size / 1e6
        else:
            row["size_mb"] = size_on_disk_mb(paths[name], model)
            row["checkpoint_mb"] = checkpoint_size_mb(paths[name])
        results[name] = row

    settings = {
        "split": split,
        "threads": torch.get_num_threads(),
        "device": "cpu",
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.python_implementation()} {platform.python_version()}",
        "ece_bins": ECE_BINS,
        "kl_temperature": 1.0,
        "teacher": teacher_name,
    }
    if speed:
        quality_threads = torch.get_num_threads()
        torch.set_num_threads(latency_threads)
        try:
            latency = measure_latency(models, evaluated, data_config.image_size, repeats=latency_repeats)
        finally:
            torch.set_num_threads(quality_threads)
        for name, model in models.items():
            results[name].update(latency[name])
            results[name]["throughput_per_s"] = measure_throughput(model, evaluated)
        settings.update(
            {
                "latency": f"batch 1, image + text, from the prepared picture (decoded and made the {data_config.image_size} px canonical picture once per request, "
                f"as the app does, and timed as part of neither model) to logits (each model's own resizing and tokenising included), "
                f"median and 95th percentile of {latency_repeats} requests per model, models taking turns in blocks of 20, "
                f"{latency_threads} torch thread{'s' if latency_threads > 1 else ''} (as the app serves)",
                "latency_threads": latency_threads,
                "throughput": "batch 64, canonical pictures and texts to logits",
            }
        )
    settings.update({key: description for key, (_, description) in checks.items()})
    return {"models": results, "dataset": {**dataset.summary(), "split": split, "evaluated": len(evaluated)}, "settings": settings}


# What `keep_speed` carries over: each model's timings, and how they were taken.
SPEED_FIELDS = ("latency_ms_p50", "latency_ms_p95", "throughput_per_s")
SPEED_SETTINGS = ("latency", "latency_threads", "throughput")


def keep_speed(metrics: dict, earlier: dict) -> dict:
    """`metrics` (from `evaluate_folder(speed=False)`) with the timings of `earlier`, an earlier
    evaluation of the same checkpoints: to score new checks on a machine too busy to time the
    models fairly, keeping a speed-up measured in one quiet run. `ValueError` unless every model
    is in `earlier`, timed, with the same parameters and test accuracy to one example (the same
    checkpoints, as far as the metrics tell)."""
    for name, row in metrics["models"].items():
        before = earlier.get("models", {}).get(name)
        if before is None or not set(SPEED_FIELDS) <= set(before):
            raise ValueError(f"{name} has no timings in the earlier metrics: time it (python -m kd evaluate without --keep-speed)")
        if before["params"] != row["params"] or abs(before["accuracy"] - row["accuracy"]) > 1e-3:  # within one test example
            raise ValueError(f"{name} is not the checkpoint the earlier metrics timed (other parameters or test accuracy): time it again")
        row.update({field: before[field] for field in SPEED_FIELDS})
    metrics["settings"].update({key: earlier["settings"][key] for key in SPEED_SETTINGS})
    metrics["settings"]["speed"] = f"timed by an earlier run of python -m kd evaluate on {earlier['settings']['machine']}"
    return metrics
