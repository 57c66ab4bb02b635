"""Tux Paint's stamps: cut-out photographs and drawings of everyday things, to teach the student.

Debian's `tuxpaint-stamps-default` holds about 800 PNG stamps for the children's paint
program, in a folder tree by topic (animals/birds, food/fruit, vehicles, household, town,
symbols/alphabet, ...). Many are photographs cut out on a transparent background: a horse,
an owl, binoculars, a pie. They are the closest thing to a visitor's photo that installs
offline. With `--stamps` (`DistillConfig.stamps`) the student is distilled on them too, as
unlabelled transfer pictures beside the clip art of `kd.data.clipart`; the shipped recipe
leaves them out (at seed 0 they bought nothing: the study's row).

Each stamp comes with a text file whose first line is its English description ("A red
kangaroo."): that is its caption, lower-cased, without the full stop. A stamp that is the
same picture as one of the clip-art check set's is left out (`load`): some stamps are Open
Clip Art drawings, and no held-out picture may reach training through another package.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from kd import cache
from kd.data.images import SAME_PICTURE, ImageError, copies_of, load_canonical

ROOTS = ("/usr/share/tuxpaint/stamps",)
PACKAGE = "tuxpaint-stamps-default"
LICENSE = "GPL-2, Tux Paint stamps by Bill Kendrick and contributors; Debian package tuxpaint-stamps-default"
# At most this many stamps from one folder (the alphabets and sign-language hands fill a few).
PER_FOLDER = 40
# Bump when the selection, the texts or the pictures change.
STAMPS_VERSION = 1


class StampsMissing(FileNotFoundError):
    """The stamps are not installed; the message says how to install them."""


@dataclass
class Stamps:
    images: torch.Tensor  # (N, 3, S, S) uint8 canonical pictures
    texts: list[str]  # each stamp's English description
    folders: list[str]  # each stamp's folder, relative to the root

    def __len__(self) -> int:
        return len(self.texts)


def root() -> Path:
    for candidate in ROOTS:
        if Path(candidate).is_dir():
            return Path(candidate)
    raise StampsMissing(f"Tux Paint's stamps are not installed (looked in {', '.join(ROOTS)}). Install them with: apt-get install {PACKAGE}")


def available() -> bool:
    return any(Path(p).is_dir() for p in ROOTS)


def caption(png: Path) -> str:
    """The stamp's description: the first line of its .txt file, else its file name's words."""
    description = png.with_suffix(".txt")
    if description.is_file():
        lines = description.read_text(encoding="utf-8", errors="replace").splitlines()
        if lines and lines[0].strip():
            return lines[0].strip().rstrip(".").lower()
    return " ".join(re.split(r"[^a-z]+", png.stem.lower())).strip()


def _pick(path: Path) -> str:
    return hashlib.sha256(path.name.encode()).hexdigest()


def load(image_size: int = 72, exclude: torch.Tensor | None = None, progress: bool = True) -> Stamps:
    """The stamps, at most `PER_FOLDER` a folder (picked by a hash of the file name), less any
    that is the same picture as one of `exclude` (the clip-art check set's pictures); cached
    on disk after the first build."""
    base = root()
    files = sorted(p for p in base.rglob("*.png") if p.is_file())
    excluded = hashlib.sha256(exclude.numpy().tobytes()).hexdigest() if exclude is not None else ""
    key = cache.cache_key("stamps", STAMPS_VERSION, image_size, len(files), PER_FOLDER, excluded, SAME_PICTURE)
    path = cache.cached_tensors("datasets", key)
    if (hit := cache.load_tensors(path)) is not None:
        tensors, meta = hit
        return Stamps(tensors["images"], meta["texts"], meta["folders"])
    by_folder = defaultdict(list)
    for p in files:
        by_folder[p.parent].append(p)
    chosen = [p for folder in sorted(by_folder) for p in sorted(by_folder[folder], key=_pick)[:PER_FOLDER]]
    images, kept = [], []
    for p in tqdm(chosen, desc="reading Tux Paint stamps", disable=not progress, mininterval=1.0):
        try:
            images.append(load_canonical(p, image_size))
            kept.append(p)
        except ImageError:
            continue
    pictures = torch.stack(images) if images else torch.zeros(0, 3, image_size, image_size, dtype=torch.uint8)
    keep = ~copies_of(pictures, exclude if exclude is not None else pictures[:0])
    kept = [p for p, k in zip(kept, keep.tolist()) if k]
    stamps = Stamps(pictures[keep], [caption(p) for p in kept], [p.parent.relative_to(base).as_posix() for p in kept])
    cache.save_tensors(path, {"images": stamps.images}, {"texts": stamps.texts, "folders": stamps.folders})
    return stamps


def card(progress: bool = False) -> str:
    """The stamps' card: how many transfer pictures they give, from how many folders."""
    if not available():
        return f"## Tux Paint stamps\nNot installed: apt-get install {PACKAGE} (only --stamps needs them)."
    from kd.data import clipart

    exclude = clipart.load("check", progress=progress).images if clipart.available() else None
    stamps = load(exclude=exclude, progress=progress)
    return (
        f"## Tux Paint stamps ({PACKAGE} {clipart.debian_version(PACKAGE)}, {LICENSE})\n"
        f"Transfer pictures (unlabelled, at most {PER_FOLDER} per folder, captioned with their descriptions): "
        f"{len(stamps)} from {len(set(stamps.folders))} folders, less any copy of a clip-art check picture."
    )
