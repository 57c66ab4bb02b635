"""Clip art that is not emoji: pictures to teach the student beyond emoji, and a check set.

Debian's `openclipart-png` holds about 8,100 public-domain clip-art PNGs in a folder tree
by topic (animals/mammals, food/fruit, transportation/vehicles, ...). A student distilled
on emoji alone has never seen anything else, and on other pictures it stops following its
teacher. This module splits that tree in two, by folder, so no picture is in both:

- **the check set** (`CHECK_FOLDERS`): whole folders held out, each mapped by eye to the
  emoji category of what it shows. Never used in training: it measures how well the
  student follows its teacher (and how often either is right) on pictures unlike those it
  learned from ("out of domain").
- **the transfer pictures**: every other folder, at most `PER_FOLDER` pictures each (the
  tree is lopsided: 1,378 stars, 2,158 computer icons; `DistillConfig.pictures_per_folder`
  sets another cap), unlabelled, less every copy of a check picture (the package files
  some drawings under several folders: `kd.data.images.copies_of`). The teacher's answers
  on them are the student's targets (`kd.training.transfer`).

Each picture's text is the words of its file name that the teacher's vocabulary holds,
less the tokens that recur across many topics (mostly authors' names: "architetto",
"nicu", "ganson"); it may be empty.
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
from kd.config import DistillConfig
from kd.data.images import SAME_PICTURE, FolderPictures, ImageError, copies_of, load_canonical
from kd.data.text import vocabulary_words

ROOTS = ("/usr/share/openclipart/png",)
PACKAGE = "openclipart-png"
LICENSE = "public domain (CC0), Open Clip Art Library; Debian package openclipart-png"
# Held out for the out-of-domain check, with the emoji category of what each folder shows
# (subfolders included). Looked at by eye: most pictures fit; a few do not (a portrait in
# smilies, a traffic-light figure among the European flags), as in any real check set.
CHECK_FOLDERS = {
    "animals/mammals": "Animals & Nature",
    "animals/birds": "Animals & Nature",
    "animals/bugs": "Animals & Nature",
    "plants/flowers": "Animals & Nature",
    "food/fruit": "Food & Drink",
    "food/desserts": "Food & Drink",
    "food/beverages": "Food & Drink",
    "transportation/vehicles": "Travel & Places",
    "buildings/homes": "Travel & Places",
    "recreation/sports": "Activities",
    "people/smilies": "Smileys & Emotion",
    "people/stickmen": "People & Body",
    "office/telephone": "Objects",
    "signs_and_symbols/flags/europe": "Flags",
    "signs_and_symbols/flags/asia": "Flags",
}
# At most this many transfer pictures from one folder, picked by a hash of the file name.
PER_FOLDER = DistillConfig.pictures_per_folder
# A file-name token found in this many top-level topics or more is an author or filler.
COMMON_TOKEN_TOPICS = 4
# Bump when the selection, the texts or the pictures change.
CLIPART_VERSION = 2


class ClipartMissing(FileNotFoundError):
    """The clip art is not installed; the message says how to install it."""


def root() -> Path:
    for candidate in ROOTS:
        if Path(candidate).is_dir():
            return Path(candidate)
    raise ClipartMissing(
        f"The clip art is not installed (looked in {', '.join(ROOTS)}). "
        f"Install it with: apt-get install {PACKAGE}"
    )


def available() -> bool:
    return any(Path(p).is_dir() for p in ROOTS)


def version() -> str:
    return debian_version(PACKAGE)


def debian_version(package: str) -> str:
    """An installed Debian package's version, from dpkg's status file (or 'unknown')."""
    status = Path("/var/lib/dpkg/status")
    if status.is_file():
        match = re.search(rf"Package: {re.escape(package)}\n(?:.+\n)*?Version: (\S+)", status.read_text(encoding="utf-8", errors="replace"))
        if match:
            return match.group(1)
    return "unknown"


def check_folder(relative: Path) -> str | None:
    """The check-set folder `relative` (a folder under the root) belongs to, if any."""
    text = relative.as_posix()
    return next((f for f in CHECK_FOLDERS if text == f or text.startswith(f + "/")), None)


def _files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*.png") if p.is_file())


def _tokens(path: Path) -> list[str]:
    return [t for t in re.split(r"[^a-z]+", path.stem.lower()) if len(t) > 2]


def file_texts(files: list[Path], base: Path, vocabulary: set[str]) -> list[str]:
    """Each file's text: its name's vocabulary words, less tokens common across topics."""
    topics = defaultdict(set)
    for p in files:
        for t in _tokens(p):
            topics[t].add(p.relative_to(base).parts[0])
    common = {t for t, seen in topics.items() if len(seen) >= COMMON_TOKEN_TOPICS}
    texts = []
    for p in files:
        words = [t for t in _tokens(p) if t in vocabulary and t not in common]
        texts.append(" ".join(dict.fromkeys(words)))  # in order, each word once
    return texts


def _pick(path: Path) -> float:
    return int.from_bytes(hashlib.sha256(path.name.encode()).digest()[:8], "big") / 2**64


@dataclass
class Clipart(FolderPictures):
    """Clip-art pictures (folders relative to the root) and what leaving out copies took."""

    copies_left_out: int = 0  # transfer pictures left out as copies of check pictures
    check_pictures_copied: int = 0  # how many check pictures those were copies of


def check_dataset(classes: list[str], image_size: int = 72, progress: bool = True):
    """The check set as a `MultimodalDataset` (every example in the "test" split) labelled
    with `classes`, the emoji categories; `ValueError` if a folder's category is not one."""
    from kd.data.dataset import check_set

    check = load("check", image_size, progress)
    source = {"name": "Open Clip Art Library", "provides": "held-out clip-art folders", "package": PACKAGE, "version": version(),
              "license": LICENSE, "attribution": "", "url": ""}
    return check_set(check, classes, "openclipart", source)


def load(part: str, image_size: int = 72, progress: bool = True, per_folder: int = PER_FOLDER) -> Clipart:
    """`part` = "check" (the held-out folders, labelled) or "transfer" (the rest, at most
    `per_folder` pictures a folder, 0 for all, unlabelled), cached on disk after the first
    build (~1 minute)."""
    if part not in ("check", "transfer"):
        raise ValueError(f"part must be 'check' or 'transfer', not {part!r}")
    if per_folder < 0:
        raise ValueError(f"per_folder must be 0 (every picture) or more, not {per_folder}")
    base = root()
    files = _files(base)
    # (The check set's key names the default cap, as every key did before the cap could change.)
    cap = per_folder if part == "transfer" else PER_FOLDER
    key = cache.cache_key("clipart", CLIPART_VERSION, part, image_size, version(), len(files), CHECK_FOLDERS, cap, SAME_PICTURE)
    path = cache.cached_tensors("datasets", key)
    if (hit := cache.load_tensors(path)) is not None:
        tensors, meta = hit
        return Clipart(tensors["images"], meta["texts"], meta["folders"], meta["labels"], meta.get("copies_left_out", 0),
                       meta.get("check_pictures_copied", 0))

    texts = dict(zip(files, file_texts(files, base, set(vocabulary_words()))))
    chosen: list[Path] = []
    by_folder = defaultdict(list)
    for p in files:
        by_folder[p.parent.relative_to(base)].append(p)
    for folder, members in sorted(by_folder.items()):
        held_out = check_folder(folder)
        if part == "check" and held_out:
            chosen += members
        elif part == "transfer" and not held_out:
            chosen += sorted(members, key=_pick)[: per_folder or None]
    images, kept = [], []
    for p in tqdm(chosen, desc=f"reading clip art ({part})", disable=not progress, mininterval=1.0):
        try:
            images.append(load_canonical(p, image_size))
            kept.append(p)
        except ImageError:
            continue  # a few files of the package are damaged; they are simply left out
    pictures, copied = torch.stack(images), 0
    if part == "transfer":
        # The package files some drawings under several folders: a copy of a check picture
        # in a transfer folder would be trained on (272 of them, copies of 209 check pictures).
        check = load("check", image_size, progress).images
        unseen = ~copies_of(pictures, check)
        copied = int(copies_of(check, pictures).sum())
        pictures, kept = pictures[unseen], [p for p, keep in zip(kept, unseen.tolist()) if keep]
    folders = [p.parent.relative_to(base).as_posix() for p in kept]
    labels = [CHECK_FOLDERS[check_folder(Path(f))] if part == "check" else "" for f in folders]
    clipart = Clipart(pictures, [texts[p] for p in kept], folders, labels, len(images) - len(kept), copied)
    meta = {"texts": clipart.texts, "folders": folders, "labels": labels, "copies_left_out": clipart.copies_left_out,
            "check_pictures_copied": clipart.check_pictures_copied}
    cache.save_tensors(path, {"images": clipart.images}, meta)
    return clipart


def card(progress: bool = False) -> str:
    """The clip art's card: how many pictures each held-out folder gives the check set (and
    its category), and how many transfer pictures come from how many other folders."""
    if not available():
        return f"## Clip art\nNot installed: apt-get install {PACKAGE} (training beyond emoji and the out-of-domain check need it)."
    check, transfer = load("check", progress=progress), load("transfer", progress=progress)
    base = root()
    uncapped = sum(1 for p in _files(base) if not check_folder(p.parent.relative_to(base)))
    lines = [
        f"## Clip art ({PACKAGE} {version()}, {LICENSE})",
        f"Transfer pictures (unlabelled, at most {PER_FOLDER} per folder): {len(transfer)} from {len(set(transfer.folders))} folders "
        f"({uncapped} files in those folders without the cap: --pictures-per-folder 0), "
        f"less {transfer.copies_left_out} copies of {transfer.check_pictures_copied} check pictures filed under other folders.",
        f"Out-of-domain check (never trained on): {len(check)} pictures of {len(CHECK_FOLDERS)} held-out folders:",
        f"{'folder':34} {'pictures':>8}  category",
    ]
    counts = defaultdict(int)
    for folder in check.folders:
        counts[check_folder(Path(folder))] += 1
    lines += [f"{folder:34} {counts[folder]:>8}  {category}" for folder, category in CHECK_FOLDERS.items()]
    return "\n".join(lines)
