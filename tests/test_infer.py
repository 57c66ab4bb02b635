"""The Predictor on the shipped checkpoints: the answer the demo shows and /predict returns."""

import threading

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo_helpers import torch_threads_as_in_the_app  # noqa: F401 (autouse fixture)
from demo_helpers import EXAMPLE_PICTURE, awkward_pictures, broken_pictures, shared_predictor
from kd.data.images import ImageError
from kd.serving.infer import MAX_TEXT_CHARS, InputError, Prediction
from kd.training.losses import kl_divergence


@pytest.fixture(scope="module")
def predictor():
    return shared_predictor()


def test_answer_has_the_documented_json_shape(predictor):
    answer = predictor.predict(EXAMPLE_PICTURE, "boar", temperature=4).to_dict()
    assert {"teacher", "student", "agree", "kl_teacher_student", "temperature"} <= set(answer)
    for model in ("teacher", "student"):
        assert {"label", "probs", "soft_probs", "latency_ms"} <= set(answer[model])
        assert list(answer[model]["probs"]) == predictor.classes
        assert sum(answer[model]["probs"].values()) == pytest.approx(1, abs=1e-5)
        assert sum(answer[model]["soft_probs"].values()) == pytest.approx(1, abs=1e-5)
        assert answer[model]["label"] == max(answer[model]["probs"], key=answer[model]["probs"].get)
        assert answer[model]["latency_ms"] > 0
    assert answer["temperature"] == 4.0
    assert answer["agree"] == (answer["teacher"]["label"] == answer["student"]["label"])


def test_soft_labels_are_flatter_at_a_higher_temperature(predictor):
    cold, hot = predictor.predict(text="grinning face", temperature=1), predictor.predict(text="grinning face", temperature=20)
    assert max(hot.teacher.soft_probs.values()) < max(cold.teacher.soft_probs.values())
    assert cold.teacher.soft_probs == pytest.approx(cold.teacher.probs)


def test_kl_is_the_kd_loss_kl_of_the_two_models_logits(predictor):
    answer = predictor.predict(EXAMPLE_PICTURE, "boar", temperature=4)
    expected = kl_divergence(torch.tensor([answer.teacher.logits]), torch.tensor([answer.student.logits]), 4.0).item()
    assert answer.kl_teacher_student == pytest.approx(expected)
    assert answer.kl_teacher_student >= 0


def test_resoftening_equals_asking_again_at_that_temperature(predictor):
    asked_cold = predictor.predict(EXAMPLE_PICTURE, "boar", temperature=1)
    asked_hot = predictor.predict(EXAMPLE_PICTURE, "boar", temperature=8)
    resoftened = asked_cold.at_temperature(8)
    assert resoftened.teacher.soft_probs == pytest.approx(asked_hot.teacher.soft_probs, abs=1e-6)
    assert resoftened.student.soft_probs == pytest.approx(asked_hot.student.soft_probs, abs=1e-6)
    assert resoftened.kl_teacher_student == pytest.approx(asked_hot.kl_teacher_student, abs=1e-6)
    assert resoftened.teacher.latency_ms == asked_cold.teacher.latency_ms  # nothing ran again


def test_json_round_trip_keeps_everything_the_page_needs(predictor):
    answer = predictor.predict(EXAMPLE_PICTURE, "boar", temperature=3)
    again = Prediction.from_dict(answer.to_dict())
    assert again.to_dict() == answer.to_dict()
    assert again.at_temperature(7).to_dict() == answer.at_temperature(7).to_dict()


def test_a_picture_is_prepared_once_for_every_model_and_left_out_of_their_latency(predictor, monkeypatch):
    from PIL import Image

    import kd.serving.infer as infer

    sizes = []
    real = infer.canonical_image

    def counting(picture, size):
        sizes.append(picture.size)
        return real(picture, size)

    monkeypatch.setattr(infer, "canonical_image", counting)
    photo = Image.new("RGB", (3000, 2000), (90, 140, 60))  # a camera's size: resizing it is real work
    answer = predictor.predict(photo, "a field", others=predictor.other_models)
    assert sizes == [(3000, 2000)]  # once, not once per model (teacher, student and the other students)
    assert answer.prepare_ms > 0 and answer.to_dict()["picture_prepare_ms"] == answer.prepare_ms
    assert Prediction.from_dict(answer.to_dict()).prepare_ms == answer.prepare_ms
    text_only = predictor.predict(None, "a field")
    assert text_only.prepare_ms is None and "picture_prepare_ms" not in text_only.to_dict()


def test_one_missing_modality_is_answered_from_the_other_and_said(predictor):
    text_only = predictor.predict(None, "red apple")
    assert text_only.used == ("text",) and "No picture was given." in " ".join(text_only.notes)
    image_only = predictor.predict(EXAMPLE_PICTURE, "")
    assert image_only.used == ("image",) and "No text was given." in " ".join(image_only.notes)


def test_nothing_to_answer_is_a_clear_input_error(predictor):
    with pytest.raises(InputError, match="Give an image, a text, or both"):
        predictor.predict(None, "   ")
    with pytest.raises(InputError, match="temperature"):
        predictor.predict(None, "cat", temperature=float("nan"))


@pytest.mark.parametrize("name", sorted(awkward_pictures()))
def test_awkward_pictures_are_answered(predictor, name):
    answer = predictor.predict(awkward_pictures()[name], "yellow circle")
    assert answer.teacher.label in predictor.classes and answer.student.label in predictor.classes


@pytest.mark.parametrize("name", sorted(broken_pictures()))
def test_broken_pictures_are_a_clear_image_error(predictor, name):
    data, message = broken_pictures()[name]
    with pytest.raises(ImageError, match=message):
        predictor.predict(data, "anything")


@pytest.mark.parametrize("repeats", [20, 500])  # past the models' tokens; past MAX_TEXT_CHARS too
def test_a_long_text_gets_one_note_saying_what_the_models_read(predictor, repeats):
    text = "smiling cat face " * repeats
    assert (len(text) > MAX_TEXT_CHARS) == (repeats == 500)
    notes = predictor.predict(None, text, modalities="text").notes
    assert notes == [f"The text is long: the models read only its first {predictor.teacher.model.config.max_tokens - 2} tokens "
                     "(words and pieces of words)."]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=200))
def test_any_unicode_text_gets_an_answer_or_a_clear_error(predictor, text):
    try:
        answer = predictor.predict(None, text)
    except InputError as e:  # only when nothing printable is left
        assert "Give an image, a text, or both" in str(e)
    else:
        assert answer.teacher.label in predictor.classes


def test_concurrent_requests_get_the_answers_they_would_get_alone(predictor):
    texts = ["boar " * 40, "mango", "chequered flag " * 30, "grinning face", "water closet " * 50, "eyeglasses"] * 2
    alone = [predictor.predict(None, t).to_dict() for t in texts]
    together: list = [None] * len(texts)

    def ask(i):
        together[i] = predictor.predict(None, texts[i]).to_dict()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, together):
        for model in ("teacher", "student"):
            assert b[model]["probs"] == pytest.approx(a[model]["probs"], abs=1e-5)
        assert b["notes"] == a["notes"]


def test_model_facts_and_settings_come_from_the_checkpoints(predictor):
    assert predictor.teacher.params > 20 * predictor.student.params
    assert predictor.teacher.size_mb > predictor.student.size_mb > 0
    assert predictor.distillation_temperature == predictor.student.config["distill"]["temperature"]
    assert len(predictor.fingerprint) == 16 and predictor.fingerprint == shared_predictor().fingerprint
