"""Images in, one canonical picture out: every model sees images through `canonical_image`.

Training data (rendered emoji) and uploads in the demo (any file a visitor has) go through
the same two steps, so the models never meet a preprocessing they were not trained on:

1. `open_image` decodes a path, bytes or PIL image into a plain RGBA picture, or raises
   `ImageError` with a message a person can act on (broken file, decompression bomb,
   16-bit or CMYK colour, animated GIF: first frame).
2. `canonical_image` composites it on white, crops to its content, pads it to a square
   and resizes it to `size` x `size`: a (3, size, size) uint8 tensor. Each model then
   resizes and normalises that tensor in its own `preprocess`.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

# A decoded image larger than this is refused before its pixels are read: a 40 MP RGBA
# picture is already 160 MB in memory, and a crafted PNG can claim far more.
MAX_PIXELS = 40_000_000
WHITE = (255, 255, 255)
# Pixels this close to white count as background when cropping to the content.
BACKGROUND_TOLERANCE = 8
# Margin kept around the content, as a fraction of its longer side.
MARGIN = 0.06
# Pictures longer than this on a side are reduced to it before their content is found.
PREVIEW_SIDE = 1024
# What a file that is not a picture (a text file, a PDF) gets told, here and by the demo's page.
NOT_AN_IMAGE = "This file is not an image we can read: upload a PNG, JPEG, GIF, WebP or BMP picture."


class ImageError(ValueError):
    """The input could not be used as an image; the message says why and what to do."""


def open_image(source: str | os.PathLike | bytes | Image.Image) -> Image.Image:
    """Decode `source` into an RGBA image, refusing what cannot or should not be decoded."""
    if isinstance(source, Image.Image):
        image = source
    else:
        data = Path(source).read_bytes() if not isinstance(source, bytes) else source
        if not data:
            raise ImageError("The image file is empty. Upload a PNG, JPEG, GIF or WebP picture.")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            # Pillow's own guard, for sizes far beyond ours: the same message as below.
            raise ImageError(_too_large_message()) from e
        except UnidentifiedImageError as e:
            raise ImageError(NOT_AN_IMAGE) from e
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(_too_large_message(f"{width}x{height} pixels"))
    if width == 0 or height == 0:
        raise ImageError("The image has no pixels.")
    try:
        image.seek(0)  # animated GIF / WebP / APNG: the first frame stands for the file
    except (AttributeError, EOFError):
        pass
    try:
        image = ImageOps.exif_transpose(image)
        return _to_rgba(image)
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt pixel data
        raise ImageError(f"The image file is damaged or truncated ({_short(e)}).") from e


def _to_rgba(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Pillow's convert("RGB") clips these high-bit-depth modes at 255: rescale instead.
        array = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if image.mode.startswith("I;16") else max(float(array.max()), 1.0)
        array = np.clip(array / scale * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(array, "L").convert("RGBA")
    if image.mode == "CMYK":
        image = image.convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert("RGBA")


def canonical_image(image: Image.Image, size: int) -> torch.Tensor:
    """An RGBA picture as a white-backed, content-cropped, square (3, size, size) uint8 tensor.

    The content is resized before it is padded, so a long thin picture (say 100000 x 1)
    costs what a small one does, not the memory of a full-size square.
    """
    rgba = _to_rgba(image)
    if max(rgba.size) > PREVIEW_SIDE:
        # Large uploads: find the content on a reduced copy; it is shrunk far more anyway.
        rgba = rgba.copy()
        rgba.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.BOX)
    background = Image.new("RGBA", rgba.size, WHITE + (255,))
    rgb = Image.alpha_composite(background, rgba).convert("RGB")

    pixels = np.asarray(rgb, dtype=np.int16)
    content = (np.abs(pixels - 255) > BACKGROUND_TOLERANCE).any(axis=2)
    if content.any():
        rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
        rgb = rgb.crop((cols[0], rows[0], cols[-1] + 1, rows[-1] + 1))

    # The content's longer side fills the square but for a margin on each side.
    scale = size / (max(rgb.size) * (1 + 2 * MARGIN))
    width, height = (max(1, round(side * scale)) for side in rgb.size)
    square = Image.new("RGB", (size, size), WHITE)
    square.paste(rgb.resize((width, height), Image.Resampling.LANCZOS), ((size - width) // 2, (size - height) // 2))
    return torch.from_numpy(np.array(square, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def load_canonical(source: str | os.PathLike | bytes | Image.Image, size: int) -> torch.Tensor:
    """`open_image` then `canonical_image`: the one call the data pipeline and the demo use."""
    return canonical_image(open_image(source), size)


def at_side(images: torch.Tensor, side: int) -> torch.Tensor:
    """Canonical pictures (N, 3, S, S) uint8 shrunk to `side` x `side` as a student reading
    `side` px shrinks them (bilinear, antialiased) and brought back to S x S: what a model
    reading S px can still see of a picture once a smaller model's size has thrown detail away."""
    size = images.shape[-1]
    x = F.interpolate(images.float(), size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.round_().clamp_(0, 255).to(torch.uint8)


# Two canonical pictures are the same picture when their 16 x 16 colour thumbnails, less
# their mean, point the same way (cosine similarity above this): Open Clip Art files the same
# drawing under several folders, and Tux Paint's stamps reuse some of its drawings. Looked at
# by eye: copies (re-saved, recoloured a little) score above 0.95; different things of one
# colour and shape (an orange and an orange smiley) 0.8-0.95.
SAME_PICTURE = 0.95


def thumbnails(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """16 x 16 colour thumbnails of canonical pictures (N, 3, S, S), less their mean, of
    length 1 (N, 768), and whether each is flat (N,): a blank page has no direction."""
    small = torch.nn.functional.adaptive_avg_pool2d(images.float(), 16).flatten(1)
    centred = small - small.mean(dim=1, keepdim=True)
    return torch.nn.functional.normalize(centred, dim=1), small.std(dim=1) < 1.0


def copies_of(images: torch.Tensor, others: torch.Tensor, threshold: float = SAME_PICTURE) -> torch.Tensor:
    """(N,) bool: each of `images` is the same picture as one of `others` (thumbnails' cosine
    similarity above `threshold`)."""
    if not len(images) or not len(others):
        return torch.zeros(len(images), dtype=torch.bool)
    (mine, mine_flat), (theirs, theirs_flat) = thumbnails(images), thumbnails(others)
    same = torch.cat([(chunk @ theirs.T).max(dim=1).values > threshold for chunk in mine.split(1024)])
    # Flat pictures (some files draw nothing on white) are all the same blank page.
    return same | (mine_flat & theirs_flat.any())


def _too_large_message(size: str = "") -> str:
    size = f" ({size})" if size else ""
    return (
        f"The image is larger than the {MAX_PIXELS // 1_000_000} megapixels accepted{size}. "
        "Please upload a smaller picture."
    )


def _short(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass
class FolderPictures:
    """Canonical pictures from a package's folder tree (clip art, stamps, photographs), with their
    texts, their folders and, in a check set, each folder's emoji category."""

    images: torch.Tensor  # (N, 3, S, S) uint8 canonical pictures
    texts: list[str]  # each picture's text (a caption, a description, its file name's words)
    folders: list[str]  # each picture's folder
    labels: list[str]  # its folder's emoji category (check set), or "" (transfer pictures)

    def __len__(self) -> int:
        return len(self.texts)
