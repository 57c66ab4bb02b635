"""Shared by the demo's tests: one loaded Predictor per test session, a launched app,
pictures of every awkward kind a visitor might upload, what a good answer and a clear
message look like, and a pickle that tells whether anything loaded it."""

from __future__ import annotations

import functools
import io
import os
import pickle
import socket
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import conftest
from conftest import ROOT
from kd.config import SERVING_THREADS
from kd.serving.examples import load_examples

# The checkpoints the demo's tests run on: the shipped ones, or KD_CHECKPOINTS (as app.py).
CHECKPOINTS = Path(os.environ.get("KD_CHECKPOINTS") or conftest.CHECKPOINTS)


@pytest.fixture(scope="module", autouse=True)
def torch_threads_as_in_the_app():
    """Run the models with the torch threads the app serves with, then restore: that is what
    the demo's tests should see, and the rest of the suite keeps torch's default. Test
    modules import this fixture to use it."""
    before = torch.get_num_threads()
    torch.set_num_threads(SERVING_THREADS)
    yield
    torch.set_num_threads(before)


@functools.cache
def shared_predictor():
    """The shipped teacher and student, loaded (and warmed up) once for all the demo's tests."""
    from kd.serving.infer import Predictor

    return Predictor.from_folder(CHECKPOINTS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def launched_app(predictor=None, **build_options):
    """The real app (app.build_demo, by default on the shipped checkpoints), served on a free port."""
    import app

    demo = app.build_demo(predictor or shared_predictor(), **build_options)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **app.LAUNCH_OPTIONS)
    try:
        yield demo
    finally:
        demo.close()


# A held-out test emoji the demo offers (whichever `python -m kd examples` picked first).
EXAMPLE_PICTURE = ROOT / "examples" / load_examples(ROOT / "examples")[0].file


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def emoji_like(mode: str = "RGBA") -> Image.Image:
    """A yellow disc on a transparent background, converted to `mode`."""
    picture = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 32) ** 2 + (xx - 32) ** 2 < 28**2
    pixels = np.array(picture)
    pixels[disc] = (255, 200, 0, 255)
    picture = Image.fromarray(pixels, "RGBA")
    return picture if mode == "RGBA" else picture.convert("RGB").convert(mode)


def decompression_bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny file whose header claims width x height pixels (10 gigapixels by default)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def awkward_pictures() -> dict[str, bytes]:
    """Files a model can answer (after decoding), by what is awkward about them."""
    grey16 = Image.fromarray(np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16))  # mode I;16
    frames = [emoji_like("RGB"), Image.new("RGB", (64, 64), (0, 0, 255))]
    palette = emoji_like("RGBA").convert("P", palette=Image.Palette.ADAPTIVE)
    return {
        "rgba.png": encode(emoji_like("RGBA")),
        "greyscale.png": encode(emoji_like("L")),
        "palette.png": encode(palette),
        "palette-transparent.gif": encode(emoji_like("RGBA").convert("P"), "GIF", transparency=0),
        "cmyk.jpg": encode(emoji_like("CMYK"), "JPEG"),
        "animated.gif": encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
        "16-bit.png": encode(grey16),
    }


def broken_pictures() -> dict[str, tuple[bytes, str]]:
    """Files no model should see, with a phrase the visitor's message must contain."""
    good = EXAMPLE_PICTURE.read_bytes()
    return {
        "not-an-image.png": (b"this is a text file, not a picture", "not an image we can read"),
        # Other documents, renamed or not: the same plain message as a broken picture.
        "report.pdf.png": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n", "not an image we can read"),
        "notes.txt": (b"shopping list: apples, pears\n", "not an image we can read"),
        "report.pdf": (b"%PDF-1.4\n%%EOF\n", "not an image we can read"),
        "truncated.png": (good[: len(good) // 2], "damaged or truncated"),
        "64-megapixels.png": (decompression_bomb_png(8_000, 8_000), "megapixels accepted"),
        "bomb.png": (decompression_bomb_png(), "megapixels accepted"),
        "empty.png": (b"", "empty"),
    }


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def assert_valid_answer(answer: dict, classes: list[str]) -> None:
    """Both models named one of the classes, with probabilities that sum to 1."""
    for model in ("teacher", "student"):
        assert answer[model]["label"] in classes
        for distribution in (answer[model]["probs"], answer[model]["soft_probs"]):
            assert list(distribution) == classes
            assert sum(distribution.values()) == pytest.approx(1.0, abs=1e-4)


def assert_same_answer(served: dict, direct: dict) -> None:
    """The app's answer equals the Predictor's, up to float noise, except latency, which is
    this request's own."""
    for model in ("teacher", "student"):
        assert served[model]["label"] == direct[model]["label"]
        assert served[model]["probs"] == pytest.approx(direct[model]["probs"], abs=1e-6)
        assert served[model]["soft_probs"] == pytest.approx(direct[model]["soft_probs"], abs=1e-6)
        assert served[model]["latency_ms"] > 0
    assert served["agree"] == direct["agree"]
    assert served["kl_teacher_student"] == pytest.approx(direct["kl_teacher_student"], abs=1e-6)
    assert (served["temperature"], served["used"], served["notes"]) == (direct["temperature"], direct["used"], direct["notes"])


def assert_clear_message(message: str) -> None:
    """A sentence written for a person: not Gradio's bare "Error", not a traceback."""
    assert message.strip() and message.strip() != "Error"
    assert "Traceback" not in message and 'File "' not in message
    assert message[0].isupper() and message.rstrip().endswith((".", "!", "?")), message


def pickle_that_writes(marker: Path) -> bytes:
    """A pickle whose loading creates the file `marker`, so the marker's existence proves that
    something unpickled it. The pickle is checked live here (loaded once, the marker removed),
    so a test built on it cannot pass because the payload is a dud."""

    class Payload:
        def __reduce__(self):
            return open, (str(marker), "w")

    data = pickle.dumps(Payload())
    pickle.loads(data).close()
    assert marker.exists(), "the planted pickle does not run its payload"
    marker.unlink()
    return data
