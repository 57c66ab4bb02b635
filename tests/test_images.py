"""Any picture a user has becomes the canonical picture, or a clear ImageError."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from kd.data.images import MAX_PIXELS, ImageError, at_side, canonical_image, load_canonical, open_image


def png_bytes(image: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def red_square(mode: str = "RGBA") -> Image.Image:
    image = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    image.paste((220, 20, 20, 255), (10, 5, 30, 25))
    return image if mode == "RGBA" else image.convert(mode)


def test_canonical_is_square_uint8_on_white_and_cropped():
    out = canonical_image(red_square(), 72)
    assert out.shape == (3, 72, 72) and out.dtype == torch.uint8
    assert out[:, 0, 0].tolist() == [255, 255, 255]  # transparent background became white
    centre = out[:, 36, 36].tolist()
    assert centre[0] > 200 and centre[1] < 60  # the red content fills the middle
    # Cropped to content: the red square spans most of the side, not a third of it.
    red = (out[0] > 150) & (out[1] < 100)
    assert red.float().mean() > 0.7


@pytest.mark.parametrize("mode", ["RGB", "L", "LA", "P", "CMYK", "1", "I", "F"])
def test_every_pillow_mode_gives_an_rgb_picture(mode):
    out = load_canonical(red_square().convert("RGB").convert(mode) if mode in ("I", "F") else red_square(mode), 32)
    assert out.shape == (3, 32, 32)


def test_16_bit_png_keeps_its_contrast():
    # Pillow's convert("RGB") clips 16-bit values at 255, which turns most pictures white.
    array = np.full((20, 20), 65535, dtype=np.uint16)
    array[5:15, 5:15] = 1000  # dark square on white
    data = png_bytes(Image.fromarray(array))
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = load_canonical(data, 32)
    assert out.min() < 30 and out.max() > 240


def test_palette_with_transparency_and_animated_gif():
    frames = [Image.new("P", (20, 20), i) for i in (1, 2, 3)]
    data = png_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], transparency=0)
    assert load_canonical(data, 16).shape == (3, 16, 16)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"this is not an image at all", "not an image"),
        (png_bytes(red_square())[:60], "damaged or truncated"),
    ],
)
def test_unreadable_input_is_an_image_error(data, words):
    with pytest.raises(ImageError, match=words):
        open_image(data)


def test_decompression_bomb_is_refused_before_decoding():
    side = int(MAX_PIXELS**0.5) + 10
    # A 1-bit PNG this size compresses to a few kB but would decode to gigabytes as RGBA.
    data = png_bytes(Image.new("1", (side, side)), optimize=True)
    assert len(data) < 200_000
    with pytest.raises(ImageError, match="larger than the 40 megapixels accepted"):
        open_image(data)


def test_pillows_own_bomb_guard_gets_the_same_clear_message():
    # Beyond Pillow's limit (~89 MP) Pillow refuses to open the file at all.
    data = png_bytes(Image.new("1", (12_000, 12_000)), optimize=True)
    with pytest.raises(ImageError, match="larger than the 40 megapixels accepted"):
        open_image(data)


def test_at_side_keeps_what_a_smaller_picture_keeps_and_loses_the_rest():
    # A 1-pixel checkerboard is detail no 36 px picture can hold; a flat half is not.
    stripes = (torch.arange(72)[None, :] + torch.arange(72)[:, None]) % 2 * 255
    half = torch.zeros(72, 72)
    half[:, 36:] = 255
    images = torch.stack([stripes.expand(3, 72, 72), half.expand(3, 72, 72)]).to(torch.uint8)
    shrunk = at_side(images, 36)
    assert shrunk.shape == images.shape and shrunk.dtype == torch.uint8
    assert (shrunk[0].float() - 127.5).abs().max() < 4  # the checkerboard is grey
    assert torch.equal(shrunk[1][:, :, :30], images[1][:, :, :30]) and torch.equal(shrunk[1][:, :, 42:], images[1][:, :, 42:])
    assert torch.equal(at_side(images, 72), images)  # at its own side nothing changes
