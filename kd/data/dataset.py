"""Multimodal datasets: (image, text, label) examples, split by group, in memory.

Two ways in, one dataset out:
- `DataConfig(source="emoji")`: the emoji dataset built from installed packages (`kd.data.emoji`);
- `DataConfig(source="my.csv")`: your own rows of image path, text and label.

Every picture is stored canonical (`kd.data.images.canonical_image`), so a model trained here
sees exactly what the demo will feed it. A built dataset is cached on disk, keyed by its
config and the versions of everything it was built from.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from kd import cache
from kd.config import DataConfig, to_dict
from kd.data import emoji
from kd.data.images import ImageError, canonical_image, load_canonical

SPLITS = ("train", "val", "test")
# Bump when the way a dataset is built changes (kd/data/images.py included), so old caches are not reused.
BUILD_VERSION = 2


class DataError(ValueError):
    """The data could not be built; the message lists every problem found."""


@dataclass
class MultimodalDataset:
    """Examples held as tensors and lists of equal length N."""

    images: torch.Tensor  # (N, 3, S, S) uint8 canonical pictures
    texts: list[str]  # "" where an example has no text
    labels: torch.Tensor  # (N,) int64 index into classes
    classes: list[str]
    groups: list[str]  # the split key: examples of one group share a split (an emoji's code points)
    styles: list[str]  # where each picture comes from: an art style, or "csv"
    splits: list[str]  # "train" | "val" | "test"
    name: str = "dataset"
    sources: list[dict] = field(default_factory=list)  # licence and attribution of each source
    notes: list[str] = field(default_factory=list)  # what was skipped while building, and why

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def has_text(self) -> torch.Tensor:
        return torch.tensor([bool(t.strip()) for t in self.texts], dtype=torch.bool)

    def subset(self, indices: list[int] | torch.Tensor) -> MultimodalDataset:
        idx = torch.as_tensor(indices, dtype=torch.long)
        pick = idx.tolist()
        return MultimodalDataset(
            images=self.images[idx],
            texts=[self.texts[i] for i in pick],
            labels=self.labels[idx],
            classes=self.classes,
            groups=[self.groups[i] for i in pick],
            styles=[self.styles[i] for i in pick],
            splits=[self.splits[i] for i in pick],
            name=self.name,
            sources=self.sources,
            notes=self.notes,
        )

    def split_indices(self, split: str) -> torch.Tensor:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        return torch.tensor([i for i, s in enumerate(self.splits) if s == split], dtype=torch.long)

    def split(self, split: str) -> MultimodalDataset:
        return self.subset(self.split_indices(split))

    def inputs_fingerprint(self) -> str:
        """A hash of the pictures and texts alone: what a model's features depend on (the
        category and subcategory datasets share it)."""
        h = hashlib.sha256()
        h.update(self.images.numpy().tobytes())
        h.update(json.dumps(self.texts).encode())
        return h.hexdigest()[:20]

    def fingerprint(self) -> str:
        """A hash of every example and its split: equal fingerprints, equal data."""
        h = hashlib.sha256()
        h.update(self.images.numpy().tobytes())
        h.update(self.labels.numpy().tobytes())
        h.update(json.dumps([self.texts, self.classes, self.groups, self.styles, self.splits]).encode())
        return h.hexdigest()[:20]

    def summary(self) -> dict:
        """Counts that identify this dataset in a metrics file."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint(),
            "examples": len(self),
            "classes": self.classes,
            "per_split": {s: self.splits.count(s) for s in SPLITS},
            "per_style": dict(Counter(self.styles)),
            "groups": len(set(self.groups)),
        }


def check_set(check, classes: list[str], name: str, source: dict) -> MultimodalDataset:
    """An out-of-domain check set (`kd.data.clipart` or `kd.data.stamps`, loaded: its images,
    texts, labels and folders) as a dataset: every example in the "test" split, labelled with
    `classes` (the emoji categories its folders were mapped to), grouped by folder; `ValueError`
    if a label is not one of `classes`."""
    images, texts, labels, folders = check.images, check.texts, check.labels, check.folders
    missing = sorted(set(labels) - set(classes))
    if missing:
        raise ValueError(f"the {name} check is labelled with emoji categories; these are not classes here: {missing}")
    return MultimodalDataset(
        images=images,
        texts=texts,
        labels=torch.tensor([classes.index(label) for label in labels], dtype=torch.long),
        classes=list(classes),
        groups=list(folders),
        styles=[name] * len(texts),
        splits=["test"] * len(texts),
        name=f"{name}-check",
        sources=[source],
    )


def assign_split(group: str, config: DataConfig) -> str:
    """The split of a group, from a hash of its key: stable, and independent of other groups."""
    digest = hashlib.sha256(f"{config.split_seed}/{group}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < config.test_fraction:
        return "test"
    if u < config.test_fraction + config.val_fraction:
        return "val"
    return "train"


def load_dataset(config: DataConfig, use_cache: bool = True, progress: bool = True) -> MultimodalDataset:
    """Build (or load from the cache) the dataset `config` describes."""
    if config.source == "emoji":
        key = cache.cache_key("emoji", BUILD_VERSION, to_dict(config), _emoji_provenance(config))
    else:
        path = Path(config.source)
        if not path.is_file():
            raise DataError(f"No CSV file at {path}. Pass the path of a CSV with columns image,text,label.")
        # The CSV and the pictures it names may change: key on their contents.
        key = cache.cache_key("csv", BUILD_VERSION, to_dict(config), _file_digest(path), _csv_image_stamps(path))
    path = cache.cached_tensors("datasets", key)
    if use_cache and (hit := cache.load_tensors(path)) is not None:
        tensors, meta = hit
        return MultimodalDataset(images=tensors["images"], labels=tensors["labels"], **meta)
    dataset = _build_emoji(config, progress) if config.source == "emoji" else _build_csv(config, progress)
    if use_cache:
        meta = {k: getattr(dataset, k) for k in ("texts", "classes", "groups", "styles", "splits", "name", "sources", "notes")}
        cache.save_tensors(path, {"images": dataset.images, "labels": dataset.labels}, meta)
    return dataset


def _emoji_provenance(config: DataConfig) -> dict:
    styles = {name: emoji.ART_STYLES[name] for name in config.styles if name in emoji.ART_STYLES}
    return {
        "labels": emoji.LABEL_SOURCE.version,
        "styles": {name: (style.available(), style.version) for name, style in styles.items()},
        "layout": emoji.layout_engine(),
    }


def _build_emoji(config: DataConfig, progress: bool) -> MultimodalDataset:
    if config.label not in ("category", "subcategory"):
        raise DataError(f"Unknown emoji label {config.label!r}: use 'category' or 'subcategory'.")
    unknown = [s for s in config.styles if s not in emoji.ART_STYLES]
    if unknown:
        raise DataError(f"Unknown art style(s) {unknown}: choose from {sorted(emoji.ART_STYLES)}.")
    styles, notes = [], []
    for name in config.styles:
        style = emoji.ART_STYLES[name]
        if style.available():
            styles.append(style)
        else:
            notes.append(f"style {name} skipped: not installed ({style.unavailable_reason()})")
    if not styles:
        raise DataError("No art style is available: " + "; ".join(notes))
    if emoji.layout_engine() != "raqm":
        notes.append("Pillow has no raqm layout: multi-code-point emoji are drawn as separate glyphs")

    emojis = emoji.emoji_list()
    classes = sorted({getattr(e, config.label) for e in emojis})
    class_index = {c: i for i, c in enumerate(classes)}
    images, texts, labels, groups, style_names = [], [], [], [], []
    missing = Counter()
    jobs = [(style, e) for style in styles for e in emojis]
    for style, e in tqdm(jobs, desc="drawing emoji", disable=not progress, mininterval=1.0):
        picture = style.draw(e)
        if picture is None:
            missing[style.name] += 1
            continue
        images.append(canonical_image(picture, config.image_size))
        texts.append(e.name)
        labels.append(class_index[getattr(e, config.label)])
        groups.append(e.unified)
        style_names.append(style.name)
    for name, count in missing.items():
        notes.append(f"style {name}: {count} emoji have no picture in this style")

    return MultimodalDataset(
        images=torch.stack(images),
        texts=texts,
        labels=torch.tensor(labels, dtype=torch.long),
        classes=classes,
        groups=groups,
        styles=style_names,
        splits=[assign_split(g, config) for g in groups],
        name=f"emoji-{config.label}",
        sources=[_source_dict(emoji.LABEL_SOURCE)] + [_source_dict(s.source, s.version) for s in styles],
        notes=notes,
    )


def _source_dict(source: emoji.Source, version: str | None = None) -> dict:
    return {
        "name": source.name,
        "provides": source.provides,
        "package": source.package,
        "version": version or source.version,
        "license": source.license,
        "attribution": source.attribution,
        "url": source.url,
    }


REQUIRED_COLUMNS = ("image", "text", "label")


def _build_csv(config: DataConfig, progress: bool) -> MultimodalDataset:
    """Your own data: one row per example; image paths are relative to the CSV's folder."""
    path = Path(config.source)
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing_columns = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing_columns:
            raise DataError(
                f"{path}: missing column(s) {', '.join(missing_columns)}; "
                f"the header must name {', '.join(REQUIRED_COLUMNS)} (and optionally split, group)."
            )
        rows = [(reader.line_num, row) for row in reader]

    problems: list[str] = []
    examples = []
    for line, row in tqdm(rows, desc="reading images", disable=not progress, mininterval=1.0):
        image_field = (row.get("image") or "").strip()
        label = (row.get("label") or "").strip()
        split = (row.get("split") or "").strip().lower()
        if not label:
            problems.append(f"line {line}: empty label")
            continue
        if split and split not in SPLITS:
            problems.append(f"line {line}: split {split!r} is not one of {', '.join(SPLITS)}")
            continue
        if not image_field:
            problems.append(f"line {line}: empty image path")
            continue
        image_path = (path.parent / image_field).resolve()
        if not image_path.is_file():
            problems.append(f"line {line}: image file not found: {image_field}")
            continue
        try:
            image = load_canonical(image_path, config.image_size)
        except ImageError as e:
            problems.append(f"line {line}: unreadable image {image_field}: {e}")
            continue
        group = (row.get("group") or "").strip() or image_field
        examples.append((image, (row.get("text") or "").strip(), label, group, split))

    notes = []
    if problems:
        report = "\n  ".join(problems)
        if not config.skip_bad_rows:
            raise DataError(
                f"{path}: {len(problems)} bad row(s) of {len(rows)}:\n  {report}\n"
                "Fix them, or pass --skip-bad-rows to leave them out."
            )
        notes = [f"skipped {len(problems)} bad row(s) of {len(rows)}:"] + problems
    if not examples:
        raise DataError(f"{path}: no usable rows.")

    classes = sorted({label for _, _, label, _, _ in examples})
    class_index = {c: i for i, c in enumerate(classes)}
    return MultimodalDataset(
        images=torch.stack([e[0] for e in examples]),
        texts=[e[1] for e in examples],
        labels=torch.tensor([class_index[e[2]] for e in examples], dtype=torch.long),
        classes=classes,
        groups=[e[3] for e in examples],
        styles=["csv"] * len(examples),
        splits=[e[4] or assign_split(e[3], config) for e in examples],
        name=path.stem,
        sources=[{"name": path.name, "provides": "your CSV", "license": "yours", "attribution": ""}],
        notes=notes,
    )


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _csv_image_stamps(path: Path) -> list:
    stamps = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            p = path.parent / (row.get("image") or "").strip()
            stat = p.stat() if p.is_file() else None
            stamps.append((str(p), stat.st_size if stat else None, stat.st_mtime_ns if stat else None))
    return stamps


def dataset_card(dataset: MultimodalDataset) -> str:
    """A plain-text card: counts per style, class and split; every source's licence."""
    lines = [f"# Dataset: {dataset.name}", ""]
    lines.append(
        f"{len(dataset)} examples of {len(set(dataset.groups))} groups, {dataset.num_classes} classes; "
        f"fingerprint {dataset.fingerprint()}"
    )
    lines.append("Splits are by group (an emoji's code points): no group is in two splits.")
    lines.append("")
    style_names = sorted(set(dataset.styles))
    header = f"{'split':<8}" + "".join(f"{s:>10}" for s in style_names) + f"{'groups':>9}{'total':>8}"
    lines += ["## Images per split and style", header]
    for split in SPLITS:
        rows = [i for i, s in enumerate(dataset.splits) if s == split]
        counts = Counter(dataset.styles[i] for i in rows)
        groups = len({dataset.groups[i] for i in rows})
        lines.append(f"{split:<8}" + "".join(f"{counts[s]:>10}" for s in style_names) + f"{groups:>9}{len(rows):>8}")
    lines.append(f"{'all':<8}" + "".join(f"{dataset.styles.count(s):>10}" for s in style_names) + f"{len(set(dataset.groups)):>9}{len(dataset):>8}")
    lines.append("")
    width = max(len(c) for c in dataset.classes) + 2
    lines += ["## Images per class and split", f"{'class':<{width}}" + "".join(f"{s:>8}" for s in SPLITS) + f"{'total':>8}"]
    labels = dataset.labels.tolist()
    for k, name in enumerate(dataset.classes):
        per_split = Counter(s for s, y in zip(dataset.splits, labels) if y == k)
        lines.append(f"{name:<{width}}" + "".join(f"{per_split[s]:>8}" for s in SPLITS) + f"{sum(per_split.values()):>8}")
    lines.append("")
    lines.append("## Sources, licences and attribution")
    for s in dataset.sources:
        version = f" {s['version']}" if s.get("version") else ""
        lines.append(f"- {s['name']} ({s.get('package', '')}{version}): {s['provides']}")
        lines.append(f"  licence: {s['license']}")
        if s.get("attribution"):
            lines.append(f"  attribution: {s['attribution']}")
        if s.get("url"):
            lines.append(f"  {s['url']}")
    if dataset.notes:
        lines += ["", "## Notes"] + [f"- {n}" for n in dataset.notes]
    return "\n".join(lines)
