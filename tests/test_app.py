"""The app end to end through gradio_client: /predict answers as the Predictor does, bad
input gets a clear message, the server keeps serving, and 16 clients at once are answered."""

import subprocess
import sys
import threading

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from conftest import ROOT
from demo_helpers import torch_threads_as_in_the_app  # noqa: F401 (autouse fixture)
from demo_helpers import EXAMPLE_PICTURE, awkward_pictures, broken_pictures, launched_app, shared_predictor, write
from kd.examples import load_examples

pytestmark = [
    pytest.mark.slow,
    # Gradio 6.31's queue still uses options pandas 3 deprecates; nothing to do on our side.
    pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning"),
]


@pytest.fixture(scope="module")
def url():
    with launched_app() as demo:
        yield demo.local_url


@pytest.fixture(scope="module")
def client(url):
    return Client(url, verbose=False)


def predict(client, image, text, temperature=4.0) -> dict:
    return client.predict(handle_file(str(image)) if image else None, text, temperature, api_name="/predict")


def assert_same_answer(served: dict, direct: dict) -> None:
    """Equal up to float noise, except latency, which is this request's own."""
    for model in ("teacher", "student"):
        assert served[model]["label"] == direct[model]["label"]
        assert served[model]["probs"] == pytest.approx(direct[model]["probs"], abs=1e-6)
        assert served[model]["soft_probs"] == pytest.approx(direct[model]["soft_probs"], abs=1e-6)
        assert served[model]["latency_ms"] > 0
    assert served["agree"] == direct["agree"]
    assert served["kl_teacher_student"] == pytest.approx(direct["kl_teacher_student"], abs=1e-6)
    assert (served["temperature"], served["used"], served["notes"]) == (direct["temperature"], direct["used"], direct["notes"])


def test_importing_the_app_starts_no_server():
    code = "import app; print('imported', hasattr(app, 'demo'))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported False" and "Running on" not in result.stdout + result.stderr


def test_predict_is_the_one_documented_endpoint_taking_image_text_temperature(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert list(endpoints) == ["/predict"]
    assert [p["parameter_name"] for p in endpoints["/predict"]["parameters"]] == ["image", "text", "temperature"]


def test_both_models_answer_with_the_numbers_of_the_predictor_called_directly(client):
    served = predict(client, EXAMPLE_PICTURE, "boar", 4.0)
    direct = shared_predictor().predict(EXAMPLE_PICTURE, "boar", temperature=4.0).to_dict()
    assert_same_answer(served, direct)


@pytest.mark.parametrize("image, text, said", [(None, "red apple", "No image"), (EXAMPLE_PICTURE, "", "No text")])
def test_one_missing_input_is_answered_from_the_other_and_said(client, image, text, said):
    served = predict(client, image, text, 2.0)
    assert said in " ".join(served["notes"])
    assert_same_answer(served, shared_predictor().predict(image, text, temperature=2.0).to_dict())


def test_no_input_is_a_clear_message(client):
    with pytest.raises(AppError, match="Give an image, a text, or both"):
        predict(client, None, "")


def test_broken_files_get_a_clear_message_and_the_server_keeps_serving(client, tmp_path):
    for name, (data, message) in broken_pictures().items():
        with pytest.raises(AppError, match=message):
            predict(client, write(tmp_path, name, data), "anything")
    assert predict(client, EXAMPLE_PICTURE, "boar")["teacher"]["label"]


def test_awkward_pictures_are_answered(client, tmp_path):
    for name, data in awkward_pictures().items():
        served = predict(client, write(tmp_path, name, data), "yellow circle")
        assert served["teacher"]["label"] in shared_predictor().classes, name


def test_a_file_over_the_upload_limit_is_refused_with_a_message(url, client, tmp_path):
    big = write(tmp_path, "big.png", EXAMPLE_PICTURE.read_bytes() + b"\0" * 11_000_000)
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # gradio_client checks first
        predict(client, big, "boar")
    refused = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.png", big.read_bytes(), "image/png")})
    assert refused.status_code == 413 and "maximum allowed size" in refused.text  # and so does the server
    assert predict(client, None, "boar")["teacher"]["label"]


def test_long_and_unusual_texts_are_answered_and_cuts_are_said(client):
    served = predict(client, None, "grinning face " * 400)
    assert any("cut" in note for note in served["notes"])
    for text in ["😀 visage souriant", "وجه مبتسم", "微笑的脸", "zero\u200bwidth\u0000control", "e\u0301\u0301\u0301"]:
        assert predict(client, None, text)["student"]["label"] in shared_predictor().classes


def test_a_temperature_off_the_slider_is_a_clear_message(client):
    with pytest.raises(AppError, match="maximum value 20"):
        predict(client, None, "cat", 25.0)


def test_16_concurrent_clients_are_all_answered_correctly(url):
    examples = load_examples(ROOT / "examples")
    requests = [(ROOT / "examples" / examples[i % len(examples)].file, examples[i % len(examples)].text) for i in range(16)]
    expected = [shared_predictor().predict(image, text, temperature=4.0).to_dict() for image, text in requests]
    served: list = [None] * 16
    failures: list = []

    def visit(i):
        try:
            served[i] = predict(Client(url, verbose=False), *requests[i])
        except Exception as e:  # collected, then reported by the assertion below
            failures.append(f"client {i}: {e!r}")

    clients = [threading.Thread(target=visit, args=(i,)) for i in range(16)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(timeout=120)
    assert not failures
    for got, want in zip(served, expected):
        assert_same_answer(got, want)
