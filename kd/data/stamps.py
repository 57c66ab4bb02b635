"""Tux Paint's stamps: cut-out photographs and drawings of everyday things, to teach and to check.

Debian's `tuxpaint-stamps-default` holds about 800 PNG stamps for the children's paint
program, in a folder tree by topic (animals/birds, food/fruit, vehicles, household, town,
symbols/alphabet, ...). Many are photographs cut out on a transparent background: a horse,
an owl, binoculars, a pie. They are the closest thing to a visitor's photo that installs
offline, so they serve twice, split by file name so no stamp is on both sides:

- **the transfer pictures** (`load("transfer")`): two stamps in three, unlabelled, on which
  the student is distilled beside the clip art of `kd.data.clipart` (`DistillConfig.stamps`);
- **the stamps check** (`load("check")`, `check_dataset`): the third stamp, where its folder
  says what it shows (`FOLDER_CATEGORIES`), never trained on: the second out-of-domain check,
  closer to a photo than the clip art's drawings.

Each stamp comes with a text file whose first line is its English description ("A red
kangaroo."): that is its caption, lower-cased, without the full stop. No picture of a check
set reaches training through another package: a transfer stamp that is the same picture as
a check picture (the stamps' or the clip art's) is left out, and so is a check stamp that is
the same picture as any clip-art picture (some stamps are Open Clip Art drawings).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from kd import cache
from kd.data import clipart
from kd.data.images import SAME_PICTURE, FolderPictures, ImageError, copies_of, load_canonical

ROOTS = ("/usr/share/tuxpaint/stamps",)
PACKAGE = "tuxpaint-stamps-default"
LICENSE = "GPL-2, Tux Paint stamps by Bill Kendrick and contributors; Debian package tuxpaint-stamps-default"
# At most this many stamps from one folder (the alphabets and sign-language hands fill a few).
PER_FOLDER = 40
# The share of stamps held out for the check: those whose file name hashes below it.
CHECK_SHARE = 1 / 3
# The emoji category of what each folder's stamps show (subfolders included; the longest
# matching folder wins), for the check's accuracy. Looked at by eye. A stamp of a folder not
# here (seasonal, military, natural forces: no one category fits) is never in the check and
# is always a transfer picture.
FOLDER_CATEGORIES = {
    "animals": "Animals & Nature",
    "cartoon/tux": "Animals & Nature",
    "plants": "Animals & Nature",
    "food": "Food & Drink",
    "clothes": "Objects",
    "household": "Objects",
    "hobbies/music": "Objects",
    "medical": "Objects",
    "people": "People & Body",
    "space": "Travel & Places",
    "sports": "Activities",
    "symbols/alphabets": "Symbols",
    "symbols/alphabets/asl": "People & Body",
    "symbols/chess": "Activities",
    "symbols/faces": "Smileys & Emotion",
    "symbols/math": "Symbols",
    "symbols/money": "Objects",
    "symbols/shapes": "Symbols",
    "town": "Travel & Places",
    "town/flags": "Flags",
    "town/roadsigns": "Symbols",
    "vehicles": "Travel & Places",
}
# Bump when the selection, the split, the texts or the pictures change.
STAMPS_VERSION = 2


class StampsMissing(FileNotFoundError):
    """The stamps are not installed; the message says how to install them."""


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


def category(folder: str) -> str | None:
    """The emoji category of the stamps in `folder` (relative to the root), if one fits."""
    matches = [f for f in FOLDER_CATEGORIES if folder == f or folder.startswith(f + "/")]
    return FOLDER_CATEGORIES[max(matches, key=len)] if matches else None


def _hash(name: str) -> float:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") / 2**64


def held_out(png: Path, folder: str) -> bool:
    """Whether the stamp belongs to the check. By its file name without the folder, so the
    variants of one stamp in two folders (a letter filled and outlined) fall on one side."""
    return category(folder) is not None and _hash("check " + png.name) < CHECK_SHARE


def load(part: str, image_size: int = 72, progress: bool = True) -> FolderPictures:
    """`part` = "check" (one stamp in three, labelled by its folder, less any copy of a clip-art
    picture) or "transfer" (the rest, unlabelled, less any copy of a check picture of either
    package); at most `PER_FOLDER` stamps a folder (picked by a hash of the file name) before
    the split. Cached on disk after the first build."""
    if part not in ("check", "transfer"):
        raise ValueError(f"part must be 'check' or 'transfer', not {part!r}")
    base = root()
    files = sorted(p for p in base.rglob("*.png") if p.is_file())
    with_clipart = clipart.available()
    key = cache.cache_key("stamps", STAMPS_VERSION, part, image_size, len(files), PER_FOLDER, CHECK_SHARE, FOLDER_CATEGORIES,
                          SAME_PICTURE, clipart.CLIPART_VERSION if with_clipart else None)
    path = cache.cached_tensors("datasets", key)
    if (hit := cache.load_tensors(path)) is not None:
        tensors, meta = hit
        return FolderPictures(tensors["images"], meta["texts"], meta["folders"], meta["labels"])
    by_folder = defaultdict(list)
    for p in files:
        by_folder[p.parent.relative_to(base).as_posix()].append(p)
    chosen = [(p, folder) for folder in sorted(by_folder) for p in sorted(by_folder[folder], key=lambda p: _hash(p.name))[:PER_FOLDER]]
    chosen = [(p, folder) for p, folder in chosen if held_out(p, folder) == (part == "check")]
    images, kept = [], []
    for p, folder in tqdm(chosen, desc=f"reading Tux Paint stamps ({part})", disable=not progress, mininterval=1.0):
        try:
            images.append(load_canonical(p, image_size))
            kept.append((p, folder))
        except ImageError:
            continue
    pictures = torch.stack(images) if images else torch.zeros(0, 3, image_size, image_size, dtype=torch.uint8)
    if part == "check":
        # Never a picture the student trains on through the clip art, whatever its cap a folder.
        seen = [clipart.load("transfer", image_size, progress, per_folder=0).images] if with_clipart else []
    else:
        seen = [load("check", image_size, progress).images] + ([clipart.load("check", image_size, progress).images] if with_clipart else [])
    keep = ~copies_of(pictures, torch.cat(seen)) if seen else torch.ones(len(kept), dtype=torch.bool)
    kept = [k for k, keep_it in zip(kept, keep.tolist()) if keep_it]
    labels = [category(folder) if part == "check" else "" for _, folder in kept]
    stamps = FolderPictures(pictures[keep], [caption(p) for p, _ in kept], [folder for _, folder in kept], labels)
    cache.save_tensors(path, {"images": stamps.images}, {"texts": stamps.texts, "folders": stamps.folders, "labels": labels})
    return stamps


def check_dataset(classes: list[str], image_size: int = 72, progress: bool = True):
    """The stamps check as a `MultimodalDataset` (every example in the "test" split), labelled
    with `classes`, the emoji categories; `ValueError` if a folder's category is not one."""
    from kd.data.dataset import check_set

    check = load("check", image_size, progress)
    source = {"name": "Tux Paint stamps", "provides": "held-out stamps (one in three)", "package": PACKAGE,
              "version": clipart.debian_version(PACKAGE), "license": LICENSE, "attribution": "", "url": ""}
    return check_set(check, classes, "tuxpaint", source)


def card(progress: bool = False) -> str:
    """The stamps' card: how many transfer pictures and check stamps they give, from how many folders."""
    if not available():
        return f"## Tux Paint stamps\nNot installed: apt-get install {PACKAGE} (the recipe's transfer pictures and the stamps check need them)."
    transfer, check = load("transfer", progress=progress), load("check", progress=progress)
    counts = defaultdict(int)
    for label in check.labels:
        counts[label] += 1
    return (
        f"## Tux Paint stamps ({PACKAGE} {clipart.debian_version(PACKAGE)}, {LICENSE})\n"
        f"Transfer pictures (unlabelled, at most {PER_FOLDER} per folder, captioned with their descriptions): "
        f"{len(transfer)} from {len(set(transfer.folders))} folders, less any copy of a check picture.\n"
        f"Out-of-domain check (never trained on; {CHECK_SHARE:.0%} of the stamps whose folder names a category, "
        f"picked by file name; kd/data/stamps.py FOLDER_CATEGORIES): {len(check)} stamps of {len(set(check.folders))} folders: "
        + ", ".join(f"{label} {n}" for label, n in sorted(counts.items()))
        + "."
    )
