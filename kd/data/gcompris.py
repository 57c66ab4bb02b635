"""Photographs from GCompris: a third out-of-domain check, the nearest to a visitor's photo.

The clip art (`kd.data.clipart`) is drawings and Tux Paint's stamps (`kd.data.stamps`) are
cut-out pictures on a blank background. What a visitor most often holds up is neither: a
photograph, its subject in a scene. Debian's `gcompris-qt-data` (the educational games'
data) ships a few hundred photographs, among them whole folders of one kind: hand tools,
fish, monuments, farm and wild animals. Those folders, each mapped by eye to the emoji
category of what it shows (`CHECK_FOLDERS`), are the photo check. Never used in training, and
no photograph that is a copy of a picture the students learn from (the clip art's and the
stamps' transfer pictures) is kept; a photograph filed in two folders counts once.

GCompris keeps its pictures in Qt resource files (`.rcc`, one per activity), not as files:
`read_resources` reads that format. Each photograph's text is its file name's words that the
teacher's vocabulary holds ("leaningTowerOfPisa" -> "leaning tower of pisa"; "fish12" -> "fish").
"""

from __future__ import annotations

import re
import struct
import zlib
from collections import Counter
from pathlib import Path

import torch

from kd import cache
from kd.data import clipart, stamps
from kd.data.images import FolderPictures, ImageError, copies_of, load_canonical
from kd.data.text import vocabulary_words

ROOTS = ("/usr/share/gcompris-qt/rcc",)
PACKAGE = "gcompris-qt-data"
LICENSE = "GPL-3+ and other free licences (see the package's copyright file), GCompris by KDE; Debian package gcompris-qt-data"
# The photo check: folders of one kind of photograph, as "<activity>/<folder under its resource/>",
# with the emoji category of what they show. Looked at by eye: hand tools (a spray bottle among
# them), fish under water, landmarks (towers, temples, castles, pyramids, a canyon), animals.
CHECK_FOLDERS = {
    "categorization/images/tools": "Objects",
    "categorization/images/fishes": "Animals & Nature",
    "categorization/images/monuments": "Travel & Places",
    "explore_farm_animals/animals": "Animals & Nature",
    "explore_world_animals/animals": "Animals & Nature",
    "explore_monuments": "Travel & Places",
}
# The games (one .rcc file each) that hold the check folders.
ACTIVITIES = tuple(sorted({folder.split("/")[0] for folder in CHECK_FOLDERS}))
PHOTO_SUFFIXES = (".webp", ".jpg", ".jpeg", ".png")
# Two pictures are one photograph above this thumbnail similarity (`copies_of`), not the
# drawings' `SAME_PICTURE`: a landscape photograph, padded to a square on white, shares its
# white bands with every picture of its shape, so a dark fish photograph and a pirate flag score
# 0.95-0.97 and two fish of one set up to 0.99 (looked at by eye), while a landmark filed in
# two activities scores 1.000.
SAME_PHOTO = 0.995
# Bump when the selection, the texts or the pictures change.
GCOMPRIS_VERSION = 1


class GcomprisMissing(FileNotFoundError):
    """GCompris's data is not installed; the message says how to install it."""


def root() -> Path:
    for candidate in ROOTS:
        if Path(candidate).is_dir():
            return Path(candidate)
    raise GcomprisMissing(
        f"GCompris's data is not installed (looked in {', '.join(ROOTS)}). "
        f"Install it with: apt-get install --no-install-recommends {PACKAGE}"
    )


def available() -> bool:
    return any(Path(p).is_dir() for p in ROOTS)


def read_resources(path: str | Path) -> dict[str, bytes]:
    """Every file in a Qt resource file (`.rcc`, format versions 1 to 3), by its path inside it.

    The format: a header ("qres", version, then the offsets of the tree, the data and the
    names), a tree of entries (a name's offset, flags, then a directory's child count and first
    child, or a file's locale and data offset; 8 more bytes from version 2), names in UTF-16,
    and each file's data after its length, zlib-compressed (`qCompress`) where its flags say so.
    """
    blob = Path(path).read_bytes()
    if blob[:4] != b"qres":
        raise ValueError(f"{path} is not a Qt resource file")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    entry_size = 22 if version >= 2 else 14

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", blob[names + offset : names + offset + 2])
        return blob[names + offset + 6 : names + offset + 6 + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}
    pending = [(0, "")]
    while pending:
        index, parent = pending.pop()
        at = tree + index * entry_size
        name_offset, flags = struct.unpack(">IH", blob[at : at + 6])
        path_here = f"{parent}/{name(name_offset)}".lstrip("/") if index else ""
        if flags & 2:  # a directory
            count, first = struct.unpack(">II", blob[at + 6 : at + 14])
            pending.extend((child, path_here) for child in range(first, first + count))
            continue
        (offset,) = struct.unpack(">I", blob[at + 10 : at + 14])
        (size,) = struct.unpack(">I", blob[data + offset : data + offset + 4])
        content = blob[data + offset + 4 : data + offset + 4 + size]
        if flags & 1:  # qCompress: the uncompressed size, then a zlib stream
            content = zlib.decompress(content[4:])
        elif flags & 4:  # zstd (Qt 6's default for some builds): not used by the photographs
            continue
        files[path_here] = content
    return files


def check_folder(resource_path: str) -> str | None:
    """The check folder a picture inside an activity's resources belongs to, if any:
    "gcompris/src/activities/<activity>/resource/<folder>/<file>" -> "<activity>/<folder>"."""
    match = re.match(r"gcompris/src/activities/([^/]+)/resource/(?:(.+)/)?[^/]+$", resource_path)
    if not match:
        return None
    folder = "/".join(part for part in match.groups() if part)
    matches = [f for f in CHECK_FOLDERS if folder == f or folder.startswith(f + "/")]
    return max(matches, key=len) if matches else None


def caption(resource_path: str, vocabulary: set[str]) -> str:
    """A photograph's file-name words that the teacher's vocabulary holds, camel case split."""
    stem = resource_path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    words = re.split(r"[^a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", stem).lower())
    return " ".join(w for w in words if len(w) > 1 and w in vocabulary)


def _photo_files(base: Path) -> list[tuple[str, str, bytes]]:
    """(check folder, path inside the resource file, bytes) of every check photograph."""
    found = []
    for activity in ACTIVITIES:
        rcc = base / f"{activity}.rcc"
        if not rcc.is_file():
            continue
        for path, content in sorted(read_resources(rcc).items()):
            folder = check_folder(path)
            if folder is not None and path.lower().endswith(PHOTO_SUFFIXES):
                found.append((folder, path, content))
    return found


def load(image_size: int = 72, progress: bool = True) -> FolderPictures:
    """The photo check, labelled by folder, less any copy of a transfer picture (clip art,
    stamps) and any second copy of one photograph. Cached on disk after the first build."""
    base = root()
    sizes = sorted((p.name, p.stat().st_size) for p in base.glob("*.rcc") if p.stem in ACTIVITIES)
    key = cache.cache_key("gcompris", GCOMPRIS_VERSION, image_size, sizes, CHECK_FOLDERS, SAME_PHOTO,
                          clipart.CLIPART_VERSION if clipart.available() else None,
                          stamps.STAMPS_VERSION if stamps.available() else None)
    path = cache.cached_tensors("datasets", key)
    if (hit := cache.load_tensors(path)) is not None:
        tensors, meta = hit
        return FolderPictures(tensors["images"], meta["texts"], meta["folders"], meta["labels"])
    vocabulary = set(vocabulary_words())
    images, found = [], []
    for folder, resource_path, content in _photo_files(base):
        try:
            images.append(load_canonical(content, image_size))
            found.append((folder, resource_path))
        except ImageError:
            continue
    pictures = torch.stack(images) if images else torch.zeros(0, 3, image_size, image_size, dtype=torch.uint8)
    # The same photograph in another folder (the landmarks are in two games) counts once: its first copy.
    first = [i for i in range(len(pictures)) if i == 0 or not copies_of(pictures[i : i + 1], pictures[:i], SAME_PHOTO)[0]]
    pictures, kept = pictures[first], [found[i] for i in first]
    seen = []
    if clipart.available():
        seen.append(clipart.load("transfer", image_size, progress, per_folder=0).images)
    if stamps.available():
        seen.append(stamps.load("transfer", image_size, progress).images)
    keep = ~copies_of(pictures, torch.cat(seen), SAME_PHOTO) if seen else torch.ones(len(kept), dtype=torch.bool)
    kept = [k for k, keep_it in zip(kept, keep.tolist()) if keep_it]
    photos = FolderPictures(pictures[keep], [caption(p, vocabulary) for _, p in kept], [f for f, _ in kept],
                    [CHECK_FOLDERS[f] for f, _ in kept])
    cache.save_tensors(path, {"images": photos.images}, {"texts": photos.texts, "folders": photos.folders, "labels": photos.labels})
    return photos


def check_dataset(classes: list[str], image_size: int = 72, progress: bool = True):
    """The photo check as a `MultimodalDataset` (every example in the "test" split), labelled
    with `classes`, the emoji categories; `ValueError` if a folder's category is not one."""
    from kd.data.dataset import check_set

    source = {"name": "GCompris photographs", "provides": "held-out folders of photographs", "package": PACKAGE,
              "version": clipart.debian_version(PACKAGE), "license": LICENSE, "attribution": "", "url": ""}
    return check_set(load(image_size, progress), classes, "gcompris", source)


def card(progress: bool = False) -> str:
    """The photo check's card: how many photographs of which folders and categories."""
    if not available():
        return f"## GCompris photographs\nNot installed: apt-get install --no-install-recommends {PACKAGE} (the photo check needs it)."
    photos = load(progress=progress)
    counts = Counter(photos.labels)
    return (
        f"## GCompris photographs ({PACKAGE} {clipart.debian_version(PACKAGE)}, {LICENSE})\n"
        f"Out-of-domain check (never trained on; whole folders of one kind, kd/data/gcompris.py CHECK_FOLDERS): "
        f"{len(photos)} photographs of {len(set(photos.folders))} folders: "
        + ", ".join(f"{label} {n}" for label, n in sorted(counts.items()))
        + "."
    )
