"""What the demo page shows, from answers with known numbers: no model, no browser."""

import math
from dataclasses import replace

import pytest

from kd.serving import demo as page
from kd.serving.infer import ModelAnswer, Prediction

CLASSES = ["Animals", "Flags", "Food"]


def answer(logits: list[float], latency_ms: float, temperature: float = 2.0) -> ModelAnswer:
    def softmax(t):
        e = [math.exp(z / t) for z in logits]
        return {c: v / sum(e) for c, v in zip(CLASSES, e)}

    probs = softmax(1.0)
    return ModelAnswer(max(probs, key=probs.get), logits, probs, softmax(temperature), latency_ms)


def prediction(student_logits=(0.0, 1.0, 3.0), notes=(), used=("image", "text")) -> Prediction:
    teacher = answer([0.0, 0.0, 4.0], latency_ms=25.0)
    student = answer(list(student_logits), latency_ms=0.5)
    return Prediction(teacher, student, 2.0, CLASSES, used, list(notes))


TEACHER = page.ModelFacts(params=26_500_361, size_mb=106.01)
STUDENT = page.ModelFacts(params=1_094_041, size_mb=4.396)


def test_side_by_side_rows_hold_this_requests_numbers():
    rows = {what: (t, s) for what, t, s in page.side_by_side(prediction(), TEACHER, STUDENT)}
    assert rows["answer"] == ("Food", "Food")
    assert rows["latency"] == ("25.0 ms", "0.50 ms")
    assert rows["speed-up"] == ("baseline", "50x faster")
    assert rows["parameters"] == ("26.50 M", "1.09 M")
    assert rows["size on disk"] == ("106.0 MB", "4.4 MB")
    teacher_confidence = math.exp(4) / (2 + math.exp(4))
    assert rows["confidence (T = 1)"][0] == f"{100 * teacher_confidence:.1f}%"


def test_verdict_says_in_plain_words_whether_they_agree_and_how_far_apart():
    agreeing = prediction()
    assert "They agree" in page.verdict(agreeing) and "both say Food" in page.verdict(agreeing)
    assert "The student answered 50x faster" in page.verdict(agreeing)
    assert f"at T = 2 (KL divergence, 0 = identical): **{agreeing.kl_teacher_student:.3f}**" in page.verdict(agreeing)
    disagreeing = prediction(student_logits=(3.0, 0.0, 0.0))
    assert "They disagree" in page.verdict(disagreeing)
    assert "the teacher says Food, the student Animals" in page.verdict(disagreeing)


def test_comparison_markdown_is_a_table_row_per_quantity():
    text = page.comparison_markdown(prediction(), TEACHER, STUDENT)
    assert text.startswith("| | teacher | student |") and "| speed-up | baseline | 50x faster |" in text


def test_notes_say_what_was_used_and_what_was_missing_once():
    assert page.notes(prediction()) == "Both models answered from the picture and text."
    text_only = prediction(used=("text",), notes=["No picture was given."])
    assert page.notes(text_only) == "Both models answered from the text. No picture was given."
    # Gradio's example cache escapes text starting with "-", "=", "+" or "@": the notes never do.
    assert page.notes(text_only)[0].isalpha()
    prepared = page.notes(replace(prediction(), prepare_ms=7.94))
    assert prepared.startswith("Both models answered from the picture and text. Preparing the picture")
    assert "took 7.94 ms, once for both: their latencies leave it out." in prepared


def test_the_chart_puts_each_models_bar_side_by_side_per_class_with_t_in_its_title():
    p = prediction()
    chart = page.soft_label_chart(p)
    assert "Soft labels at temperature T = 2" in chart
    assert chart.count('class="kd-row') == len(CLASSES)
    for cls in CLASSES:
        for who, answer_ in (("teacher", p.teacher), ("student", p.student)):
            assert f'class="kd-bar kd-{who}" style="width:{100 * answer_.soft_probs[cls]:.1f}%"' in chart
    assert "<script" not in page.soft_label_chart(Prediction(p.teacher, p.student, 2.0, CLASSES, ("text",)), ("<script>", "b"))


def test_an_unfamiliar_picture_gets_a_plain_warning_and_a_familiar_one_none():
    p = prediction()
    assert page.unfamiliar_warning(p) == ""  # no picture score at all
    familiar = Prediction(p.teacher, p.student, 2.0, CLASSES, ("image",), familiarity=(0.8, 0.6))
    assert not familiar.unfamiliar and page.unfamiliar_warning(familiar) == ""
    odd = Prediction(p.teacher, p.student, 2.0, CLASSES, ("image",), familiarity=(0.41, 0.6))
    checks = {"out_of_domain": {"picture+text": {"agreement": 0.8}, "picture": {"agreement": 0.7}},
              "out_of_domain_photos": {"picture+text": {"agreement": 0.87}, "picture": {"agreement": 0.55}}}
    warning = page.unfamiliar_warning(odd, checks)
    assert odd.unfamiliar and "unlike the emoji these models learnt from" in warning
    assert "0.41" in warning and "0.60" in warning
    # Asked from the picture alone: the picture-only figures, never the (higher) picture + text ones.
    assert "from the picture alone), the student picks the teacher's answer for 70.0% of clip art and 55.0% of photos" in warning
    with_text = replace(odd, used=("image", "text"))
    assert "picture and its text), the student picks the teacher's answer for 80.0% of clip art and 87.0% of photos" in page.unfamiliar_warning(with_text, checks)
    assert "picks" not in page.unfamiliar_warning(odd)  # no figures, no claim
    assert Prediction.from_dict(odd.to_dict()).familiarity == (0.41, 0.6)


@pytest.mark.parametrize(
    "ratio, shown", [(50.0, "50x faster"), (12.4, "12x faster"), (3.26, "3.3x faster"), (0.8, "0.8x faster")]
)
def test_speedup_format(ratio, shown):
    assert page.speedup(ratio) == shown


def test_model_facts_of_a_loaded_model():
    from demo_helpers import shared_predictor

    predictor = shared_predictor()
    facts = page.ModelFacts.of(predictor.student)
    assert facts == page.ModelFacts(predictor.student.model.num_params(), predictor.student.size_mb)
