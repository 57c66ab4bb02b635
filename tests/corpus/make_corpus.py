"""The abuse corpus: malformed and odd picture files a visitor could upload to the demo.

    python tests/corpus/make_corpus.py     # (re)writes every file of this folder from nothing

`tests/test_abuse.py` sends each file through the running app's `/predict`. `CORPUS` below
lists them: what each file is and what the demo must do with it, either answer it (exactly
as `kd.serving.infer.Predictor` answers the same file) or refuse it with a message containing the
phrase given. Every file is small: a decompression bomb is a file whose header claims a
huge picture, not a huge file. The files are made from nothing (a drawn yellow disc, seeded
noise), so rerunning this script gives the same corpus.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent

NOT_AN_IMAGE = "not an image we can read"
DAMAGED = "damaged or truncated"
TOO_LARGE = "megapixels accepted"


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    make: Callable[[], bytes]
    refusal: str | None = None  # a phrase of the message the visitor must get; None: answered

    @property
    def path(self) -> Path:
        return HERE / self.name


def disc(mode: str = "RGBA", size: int = 48) -> Image.Image:
    """A yellow disc with a dark eye on a transparent background, converted to `mode`."""
    yy, xx = np.mgrid[:size, :size]
    centre, radius = size / 2, size * 0.42
    pixels = np.zeros((size, size, 4), np.uint8)
    pixels[(yy - centre) ** 2 + (xx - centre) ** 2 < radius**2] = (255, 200, 0, 255)
    pixels[(yy - size * 0.4) ** 2 + (xx - size * 0.35) ** 2 < (size * 0.07) ** 2] = (60, 40, 0, 255)
    picture = Image.fromarray(pixels, "RGBA")
    if mode == "RGBA":
        return picture
    if mode == "LA":
        return picture.convert("LA")
    return picture.convert("RGB").convert(mode)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def handmade_png(width: int, height: int, bit_depth: int, colour_type: int, pixel_data: bytes) -> bytes:
    """A PNG written chunk by chunk, so that its header can claim any size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(pixel_data, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def claimed_size_png(width: int, height: int) -> bytes:
    """A PNG of a few bytes whose header claims width x height 8-bit RGB pixels."""
    return handmade_png(width, height, 8, 2, b"\0" * 64)


def blank_bilevel_png(width: int, height: int) -> bytes:
    """A real, fully decodable 1-bit PNG of width x height white pixels: its rows compress
    about 1000 to 1, so tens of megapixels fit in a few kilobytes."""
    row = b"\0" + b"\xff" * ((width + 7) // 8)  # filter byte "none", then the packed pixels
    return handmade_png(width, height, 1, 0, row * height)


def bad_crc_png() -> bytes:
    good = bytearray(encode(disc(), "PNG"))
    idat = good.index(b"IDAT")
    good[idat + 8] ^= 0xFF  # a pixel byte changed after its checksum was written
    return bytes(good)


def exif_rotated_jpeg() -> bytes:
    """A JPEG stored on its side with an EXIF orientation tag (6: turn 90 degrees clockwise)."""
    picture = disc("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(picture, "JPEG", exif=exif.tobytes())


def animated(fmt: str) -> bytes:
    frames = [disc("RGB"), Image.new("RGB", (48, 48), (0, 0, 255)), Image.new("RGB", (48, 48), (255, 0, 0))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def high_bit_depth(mode: str) -> Image.Image:
    """A 48 x 48 ramp in a Pillow mode beyond 8 bits: I;16 (16-bit), I (32-bit int), F (float)."""
    ramp = np.linspace(0, 1, 48 * 48).reshape(48, 48)
    if mode == "I;16":
        return Image.fromarray((ramp * 65535).astype(np.uint16))
    if mode == "I":
        return Image.fromarray((ramp * 1_000_000).astype(np.int32), "I")
    return Image.fromarray(ramp.astype(np.float32), "F")


def svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48"><circle cx="24" cy="24" r="20" fill="gold"/></svg>'


def first_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def solid(width: int, height: int, colour) -> bytes:
    return encode(Image.new("RGB", (width, height), colour), "PNG")


CORPUS = [
    # Not pictures at all, or pictures Pillow cannot finish decoding: a message.
    Case("empty.png", "a file of 0 bytes", lambda: b"", refusal="The image file is empty"),
    Case("random-bytes.png", "4 KB of seeded random bytes named .png", lambda: random.Random(0).randbytes(4096), NOT_AN_IMAGE),
    Case("web-page.png", "an HTML page named .png", lambda: b"<!doctype html><img src=x onerror=alert(1)>", NOT_AN_IMAGE),
    Case("drawing.svg", "an SVG drawing: vector graphics, which Pillow cannot decode", svg, NOT_AN_IMAGE),
    Case("truncated.png", "a PNG cut in half", lambda: first_half(encode(disc(), "PNG")), DAMAGED),
    Case("truncated.jpg", "a JPEG cut in half", lambda: first_half(encode(disc("RGB"), "JPEG")), DAMAGED),
    Case("truncated.gif", "a GIF cut in half", lambda: first_half(encode(disc("P"), "GIF")), DAMAGED),
    Case("bad-checksum.png", "a PNG whose pixel data fails its CRC", bad_crc_png, DAMAGED),
    # Decompression bombs: refused from the header, before any pixel is decoded.
    Case("bomb-49-megapixels.png", "a real 7000 x 7000 1-bit PNG: over the demo's 40 MP, under Pillow's 89 MP",
         lambda: blank_bilevel_png(7000, 7000), TOO_LARGE),
    Case("bomb-100-megapixels.png", "a real 10000 x 10000 1-bit PNG: over Pillow's 89 MP warning",
         lambda: blank_bilevel_png(10_000, 10_000), TOO_LARGE),
    Case("bomb-10-gigapixels.png", "a header claiming 100000 x 100000 pixels: over Pillow's 179 MP error",
         lambda: claimed_size_png(100_000, 100_000), TOO_LARGE),
    # Every colour mode and format an upload may come in: answered, exactly as kd answers it.
    Case("rgba.png", "RGBA with a transparent background", lambda: encode(disc(), "PNG")),
    Case("greyscale-alpha.png", "LA: grey with transparency", lambda: encode(disc("LA"), "PNG")),
    Case("greyscale.png", "L: 8-bit grey", lambda: encode(disc("L"), "PNG")),
    Case("1-bit.png", "1: black and white", lambda: encode(disc("1"), "PNG")),
    Case("palette-transparent.png", "P with a transparent palette entry",
         lambda: encode(disc().convert("P"), "PNG", transparency=0)),
    Case("palette.gif", "a still GIF (palette)", lambda: encode(disc("P"), "GIF")),
    Case("animated.gif", "an animated GIF of 3 frames: the first is answered", lambda: animated("GIF")),
    Case("animated.png", "an animated PNG (APNG) of 3 frames", lambda: animated("PNG")),
    Case("animated.webp", "an animated WebP of 3 frames", lambda: animated("WEBP")),
    Case("cmyk.jpg", "a CMYK JPEG", lambda: encode(disc("CMYK"), "JPEG")),
    Case("exif-rotated.jpg", "a JPEG stored on its side, with EXIF orientation 6", exif_rotated_jpeg),
    Case("jpeg-named.png", "a JPEG with a .png name", lambda: encode(disc("RGB"), "JPEG")),
    Case("16-bit.png", "I;16: a 16-bit grey PNG", lambda: encode(high_bit_depth("I;16"), "PNG")),
    Case("32-bit-int.tiff", "I: a 32-bit integer TIFF", lambda: encode(high_bit_depth("I"), "TIFF")),
    Case("float.tiff", "F: a 32-bit float TIFF", lambda: encode(high_bit_depth("F"), "TIFF")),
    Case("lossless.webp", "a WebP with transparency", lambda: encode(disc(), "WEBP", lossless=True)),
    Case("bitmap.bmp", "a Windows BMP", lambda: encode(disc("RGB"), "BMP")),
    Case("icon.ico", "a Windows icon", lambda: encode(disc(), "ICO", sizes=[(48, 48)])),
    Case("1x1.png", "a single pixel", lambda: solid(1, 1, (255, 200, 0))),
    Case("all-white.png", "nothing drawn: no content to crop to", lambda: solid(48, 48, "white")),
    Case("wide-10000x1.png", "a 10000 x 1 strip: extreme aspect ratio", lambda: solid(10_000, 1, (200, 0, 0))),
    Case("tall-1x10000.png", "a 1 x 10000 strip: extreme aspect ratio", lambda: solid(1, 10_000, (0, 0, 200))),
]


def main() -> None:
    for case in CORPUS:
        data = case.make()
        case.path.write_bytes(data)
        print(f"{case.name:26} {len(data):>7} B  {case.what}")
    print(f"{len(CORPUS)} files, {sum(case.path.stat().st_size for case in CORPUS) / 1000:.0f} KB in all")


if __name__ == "__main__":
    main()
