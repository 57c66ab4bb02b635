"""The app end to end through gradio_client: /predict answers as the Predictor does, bad
input gets a clear message, the server keeps serving, and 16 clients at once are answered;
visitors train students of their own, each seeing only theirs, and one who leaves mid-run
leaves no training behind."""

import subprocess
import sys
import threading
import time

import httpx
import pytest
from conftest import ROOT
from demo_helpers import (
    CHECKPOINTS,
    EXAMPLE_PICTURE,
    assert_same_answer,
    awkward_pictures,
    broken_pictures,
    launched_app,
    shared_predictor,
    torch_threads_as_in_the_app,  # noqa: F401 (autouse fixture)
    write,
)
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from kd.layout import EXPORTED, TEACHER_OUTPUTS_FILE, display_name
from kd.serving import live, live_page
from kd.serving.examples import load_examples
from kd.serving.live_lab import LiveLab

pytestmark = [
    pytest.mark.slow,
    # Gradio 6.31's queue still uses options pandas 3 deprecates; nothing to do on our side.
    pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning"),
]


@pytest.fixture(scope="module")
def lab():
    """The app's live lab, held here to see which sessions have training going."""
    teacher = shared_predictor().teacher
    return LiveLab.beside(teacher.model, teacher.config, CHECKPOINTS)


@pytest.fixture(scope="module")
def url(lab):
    with launched_app(lab=lab) as demo:
        yield demo.local_url


@pytest.fixture(scope="module")
def client(url):
    return Client(url, verbose=False)


def predict(client, image, text, temperature=4.0) -> dict:
    return client.predict(handle_file(str(image)) if image else None, text, temperature, api_name="/predict")


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


@pytest.mark.parametrize("image, text, said", [(None, "red apple", "No picture was given"), (EXAMPLE_PICTURE, "", "No text was given")])
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


def test_on_the_demo_tab_a_file_that_is_not_a_picture_clears_the_answer_and_says_so_plainly(client, tmp_path):
    """A text file or a PDF, renamed .png or not, gets the broken picture's message."""
    for name, (data, message) in broken_pictures().items():
        answer, notes = client.predict(handle_file(str(write(tmp_path, name, data))), "anything", 4.0, "image+text", api_name="/ask")
        assert answer is None and notes.startswith("⚠️") and message in notes, name


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


def test_long_and_unusual_texts_are_answered_and_what_is_read_is_said(client):
    served = predict(client, None, "grinning face " * 400)
    assert any("the models read only its first" in note for note in served["notes"])
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


# ------------------------------------------------------------------- distill it yourself


@pytest.fixture
def recorded(lab):
    if not lab.recorded:
        pytest.skip(f"no {TEACHER_OUTPUTS_FILE} in {CHECKPOINTS}: the live tab is off (python -m kd reproduce writes it)")


def train(client, alpha=0.9, epochs=1, label_percent=10, temperature=4.0, student_init="random"):
    """Submits the live tab's training as the page does; the Job yields (status, loss, accuracy, table)."""
    return client.submit(temperature, alpha, label_percent, epochs, student_init, api_name="/distill")


def ask(client, text="skunk") -> dict:
    """The Demo tab's question, as the page asks it (with the session's own student, if any)."""
    return client.predict(handle_file(str(EXAMPLE_PICTURE)), text, 4.0, "image+text", api_name="/ask")[0]


def no_training_left(lab, seconds=15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not lab.running() and not [t for t in threading.enumerate() if t.name == "kd-live-run"]:
            return True
        time.sleep(0.1)
    return False


def test_two_visitors_train_students_of_their_own_and_each_sees_only_theirs(url, lab, recorded):
    alice, bob, carol = (Client(url, verbose=False) for _ in range(3))
    jobs = {"alice": train(alice, alpha=0.0), "bob": train(bob, alpha=0.9)}
    at_once = set()
    while not all(job.done() for job in jobs.values()):
        at_once.add(len(lab.running()))
        time.sleep(0.05)
    assert max(at_once) == 1  # one trains while the other waits its turn in the queue
    finals = {name: job.result(timeout=120) for name, job in jobs.items()}
    shipped = [display_name(model) for model in shared_predictor_metrics() if model not in EXPORTED]
    for name, (status, _, _, table) in finals.items():
        assert "Your student trained 1 epoch" in status and "scores **0." in status, name
        models = [row[0] for row in table["data"]]
        assert models[0] == live_page.YOURS and models[-len(shipped):] == shipped, name
    # Bob's student has its labels-only twin beside it; Alice's, at alpha 0, is its own twin.
    assert [row[0] for row in finals["bob"][3]["data"]][1] == "same student, labels only, same 10% of labels"
    assert "+" in finals["bob"][0] or "cost" in finals["bob"][0]  # the KD gain, in points
    assert len(finals["alice"][3]["data"]) == len(shipped) + 1 and "its own labels-only twin" in finals["alice"][0]
    how = {name: final[3]["data"][0][-1] for name, final in finals.items()}  # the table's last column
    assert how["alice"].startswith("labels only") and how["bob"].startswith("distilled")

    answers = {name: ask(client) for name, client in (("alice", alice), ("bob", bob), ("carol", carol))}
    assert "your student" in answers["alice"]["others"] and "your student" in answers["bob"]["others"]
    assert answers["alice"]["others"]["your student"]["logits"] != answers["bob"]["others"]["your student"]["logits"]
    assert "your student" not in answers["carol"].get("others", {})  # never trained one
    assert no_training_left(lab)


def test_the_live_data_is_prepared_at_server_start_not_on_the_first_click(url, lab, recorded):
    assert lab.prepared or lab.preparing  # build_demo started it; nobody has clicked yet
    deadline = time.monotonic() + 120
    while not lab.prepared:
        assert time.monotonic() < deadline and not lab.preparation_error, lab.preparation_error
        time.sleep(0.2)
    assert live_page.data_line(lab.data()).startswith("Training pictures: ")


def shared_predictor_metrics() -> dict:
    from kd.serving.results import load_metrics

    return load_metrics(CHECKPOINTS / "metrics.json")["models"]


def first_epoch(job, seconds=60.0) -> None:
    deadline = time.monotonic() + seconds
    while not any(str(out[0]).startswith("Epoch 1 of") for out in job.outputs()):
        assert time.monotonic() < deadline and not job.done(), "no epoch ended"
        time.sleep(0.1)


def test_a_visitor_who_leaves_mid_run_stops_their_training(url, lab, recorded):
    """The page's heartbeat connection closes when a visitor leaves: the app's unload stops the run."""
    visitor = Client(url, verbose=False)
    job = train(visitor, epochs=live.MAX_EPOCHS)
    first_epoch(job)
    assert lab.running() == [visitor.session_hash]
    with httpx.stream("GET", f"{url}gradio_api/heartbeat/{visitor.session_hash}", timeout=10) as heartbeat:
        next(heartbeat.iter_lines())  # the page is there ... and then it is gone
    assert no_training_left(lab)
    status = job.result(timeout=30)[0]
    assert status.startswith("Stopped, as you asked.") and f"of {live.MAX_EPOCHS}" not in status


def test_a_cancelled_run_leaves_no_thread_behind_and_the_server_keeps_serving(url, lab, recorded, client):
    """A cancelled event closes the generator that reads the run: its thread stops too."""
    visitor = Client(url, verbose=False)
    job = train(visitor, epochs=live.MAX_EPOCHS)
    first_epoch(job)
    job.cancel()
    assert no_training_left(lab)
    assert predict(client, EXAMPLE_PICTURE, "skunk")["teacher"]["label"]


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(epochs=0), "Value 0 is less than minimum value 1"),  # the page's sliders check their ranges first,
        (dict(alpha=1.5), "Value 1.5 is greater than maximum value 1"),
        (dict(student_init="pretrained"), "Value: 'pretrained' .*is not in the list of choices"),
        (dict(epochs=2.5), r"Epochs must be a whole number \(got 2.5\)\."),  # then kd.serving.live
    ],
)
def test_bad_training_settings_get_a_clear_message_and_the_server_keeps_serving(url, client, recorded, settings, message):
    with pytest.raises(AppError, match=message):
        train(Client(url, verbose=False), **settings).result(timeout=30)
    assert predict(client, None, "skunk")["teacher"]["label"]


def test_a_broken_metrics_file_leaves_the_results_tab_saying_so_and_the_demo_running(tmp_path):
    import app

    (tmp_path / "metrics.json").write_text('{"models": {"teacher": ')  # cut off mid-write
    demo = app.build_demo(shared_predictor(), checkpoints=tmp_path)
    shown = [c.value for c in demo.blocks.values() if getattr(c, "value", None) and isinstance(c.value, str)]
    assert any("metrics.json cannot be read" in text and "python -m kd evaluate --json" in text for text in shown)
