"""More students beside the multimodal one: the Predictor answers with the cross-modal students
of the checkpoints folder (and any student it is given) from the modalities each reads, the
Demo tab's table says what each answered, and the Results tab lists every model sensibly."""

import shutil

import pytest
import torch

from demo_helpers import torch_threads_as_in_the_app  # noqa: F401 (autouse fixture)
from demo_helpers import CHECKPOINTS, EXAMPLE_PICTURE, shared_predictor
from kd.serving import demo as page
from kd.serving import results
from kd.layout import display_name
from kd.models.checkpoint import read_config, save_checkpoint
from kd.data.images import canonical_image, open_image
from kd.serving.infer import LoadedModel, Prediction, Predictor
from kd.models.classifiers import create_model


def random_student(name: str, seed: int):
    torch.manual_seed(seed)
    return create_model(name, num_classes=len(shared_predictor().classes)).eval()


@pytest.fixture(scope="module")
def others():
    return {"student_image": random_student("student_image", 1), "student_text": random_student("student_text", 2)}


def direct_logits(model, image=None, text=None) -> list[float]:
    images = canonical_image(open_image(image), shared_predictor().image_size)[None] if image is not None else None
    with torch.inference_mode():
        return model(model.preprocess(images, [text] if text is not None else None))[0].tolist()


def test_other_students_answer_from_the_modalities_they_read(others):
    answer = shared_predictor().predict(EXAMPLE_PICTURE, "boar", temperature=3.0, others=others)
    assert list(answer.others) == ["student_image", "student_text"]
    image_student = direct_logits(others["student_image"], image=EXAMPLE_PICTURE)
    assert answer.others["student_image"].logits == pytest.approx(image_student, abs=1e-5)
    assert answer.others["student_text"].logits == pytest.approx(direct_logits(others["student_text"], text="boar"), abs=1e-5)
    assert sum(answer.others["student_text"].soft_probs.values()) == pytest.approx(1.0)
    # Teacher and student answer as they do without the others.
    alone = shared_predictor().predict(EXAMPLE_PICTURE, "boar", temperature=3.0)
    assert answer.teacher.logits == alone.teacher.logits and answer.student.logits == alone.student.logits


def test_a_student_that_reads_none_of_the_modalities_given_is_left_out(others):
    text_only = shared_predictor().predict(None, "boar", others=others)
    assert list(text_only.others) == ["student_text"]
    picture_only = shared_predictor().predict(EXAMPLE_PICTURE, "boar", modalities="image", others=others)
    assert list(picture_only.others) == ["student_image"]


def test_the_others_travel_in_the_answer_json_and_are_resoftened_with_it(others):
    answer = shared_predictor().predict(EXAMPLE_PICTURE, "boar", temperature=2.0, others=others)
    as_json = answer.to_dict()
    assert set(as_json["others"]) == {"student_image", "student_text"}
    restored = Prediction.from_dict(as_json)
    assert restored.others["student_text"].logits == pytest.approx(answer.others["student_text"].logits)
    hotter = restored.at_temperature(8.0)
    assert hotter.others["student_text"].soft_probs == pytest.approx(
        shared_predictor().predict(None, "boar", temperature=8.0, others=others).others["student_text"].soft_probs, abs=1e-6
    )
    # Without others, the /predict JSON is as documented: no "others" key.
    assert "others" not in shared_predictor().predict(None, "boar").to_dict()


def test_more_students_answer_a_request_already_answered(others):
    first = shared_predictor().predict(EXAMPLE_PICTURE, "boar", temperature=2.0)
    more = shared_predictor().answer_with(first, {"yours": others["student_text"]}, EXAMPLE_PICTURE, "boar")
    assert more.teacher == first.teacher and list(more.others) == ["yours"]
    assert more.others["yours"].logits == pytest.approx(direct_logits(others["student_text"], text="boar"), abs=1e-5)


def test_the_demo_table_says_what_each_other_student_answered(others):
    readers = {name: model.modalities for name, model in others.items()} | {"your student": ("image", "text")}
    answer = shared_predictor().predict(None, "boar", temperature=2.0, others=others)
    table = page.others_markdown(answer, readers)
    lines = table.splitlines()
    assert lines[0].startswith("| more students | reads | answer (T = 1) |") and "at T = 2 (KL) |" in lines[0]
    text_student = answer.others["student_text"]
    agrees = "yes" if text_student.label == answer.teacher.label else "no"
    said = f"{text_student.label} ({page.percent(text_student.probs[text_student.label])})"
    assert f"| text-only student | text | {said} | {agrees} |" in table
    assert "| picture-only student | picture | none: it reads the picture only, and this request has none |" in table
    assert "| your student | picture + text | not asked yet: ask again |" in table
    assert page.others_markdown(answer, {}) == ""


def test_the_predictor_loads_the_cross_modal_students_found_beside_the_others(tmp_path, others):
    for name in ("teacher", "student"):
        shutil.copytree(CHECKPOINTS / name, tmp_path / name)
    config = read_config(CHECKPOINTS / "student")
    save_checkpoint(tmp_path / "student_text", others["student_text"], "student_text", classes=config["classes"], data={})
    predictor = Predictor.from_folder(tmp_path, warmup=False)
    assert list(predictor.other_models) == ["student_text"]
    assert predictor.fingerprint != Predictor.from_folder(tmp_path, warmup=False, others=()).fingerprint
    assert Predictor(shared_predictor().teacher, shared_predictor().student, warmup=False).others == {}


def test_a_cross_modal_student_of_other_classes_is_refused(tmp_path):
    from kd.models.checkpoint import CheckpointError

    other = LoadedModel("student_text", random_student("student_text", 3), {"classes": ["a", "b"]}, tmp_path)
    with pytest.raises(CheckpointError, match="different classes"):
        Predictor(shared_predictor().teacher, shared_predictor().student, warmup=False, others=[other])


# ------------------------------------------------------------------------ Results tab


def row(acc, **extra):
    return {"accuracy": acc, "macro_f1": acc, "agreement": 0.8, "kl_to_teacher": 0.5, "ece": 0.1, "params": 1_000_000,
            "size_mb": 4.0, "per_class_accuracy": {"A": acc}, **extra}


def test_the_results_table_shows_each_model_on_the_modalities_it_reads():
    metrics = {"models": {
        "student": row(0.7, accuracy_image_only=0.5, accuracy_text_only=0.6),
        "student_image": row(0.55, accuracy_image_only=0.55),
        "student_text": row(0.65, accuracy_text_only=0.65),
    }}
    frame = results.results_frame(metrics).set_index("model")
    assert {"picture only", "text only"} <= set(frame.columns)
    assert frame.loc["picture-only student", ["picture only", "text only"]].tolist() == ["0.550", ""]
    assert frame.loc["text-only student", ["picture only", "text only"]].tolist() == ["", "0.650"]


@pytest.mark.parametrize(
    "config, summary",
    [
        ({"kind": "teacher", "train": {"label_fraction": 1.0}, "history": [{}] * 40},
         "head trained on frozen pretrained encoders, 100% of labels, 40 epochs"),
        ({"kind": "teacher", "model_args": {"heads": 5}, "train": {"label_fraction": 1.0}, "history": [{}] * 40},
         "5 heads, their answers averaged, trained on frozen pretrained encoders, 100% of labels, 40 epochs"),
        ({"kind": "student", "distill": {"alpha": 0.0, "student_init": "random"}, "train": {"label_fraction": 1.0}},
         "labels only, 100% of labels"),
        ({"kind": "student", "distill": {"alpha": 0.9, "temperature": 4.0, "transfer": True, "student_init": "teacher"},
          "train": {"label_fraction": 0.25}, "history": [{}] * 3},
         "distilled at T = 4, alpha = 0.9, transfer set of words, teacher's word embeddings to start, 25% of labels, 3 epochs"),
        ({"kind": "student", "distill": {"alpha": 0.9, "temperature": 4.0, "transfer": True, "pictures": True, "views": 1,
                                         "student_init": "distilled"}, "train": {"label_fraction": 1.0}},
         "distilled at T = 4, alpha = 0.9, transfer set of words, clip art, augmented views, "
         "word vectors distilled from the teacher to start, 100% of labels"),
        ({"kind": "student", "distill": {"alpha": 0.9, "temperature": 4.0, "transfer": True, "phrases": 50_000, "pictures": True,
                                         "stamps": True, "views": 1, "captions": True}, "train": {"label_fraction": 1.0}},
         "distilled at T = 4, alpha = 0.9, transfer set of words, phrases, clip art, cut-out photos, augmented views, "
         "captioned pictures, 100% of labels"),
        ({"kind": "student", "model_args": {"modalities": ["image"]}, "distill": {"alpha": 0.9, "temperature": 4.0},
          "train": {"label_fraction": 1.0}},
         "distilled at T = 4, alpha = 0.9, picture only, 100% of labels"),
        ({"kind": "student", "distill": {"alpha": 0.9, "temperature": 4.0, "keep": "last"}, "train": {"label_fraction": 1.0},
          "history": [{}] * 60, "kept_epoch": 60},
         "distilled at T = 4, alpha = 0.9, 100% of labels, 60 epochs, kept the last"),
        ({"kind": "student", "distill": {"alpha": 0.0}, "train": {"label_fraction": 1.0}, "history": [{}] * 60, "kept_epoch": 41},
         "labels only, 100% of labels, 60 epochs, kept epoch 41, the best on validation accuracy"),
    ],
)
def test_how_each_model_learned_is_read_from_its_checkpoint(config, summary):
    assert results.training_summary(config) == summary


def test_the_shipped_models_all_have_a_summary():
    names = list(results.load_metrics(CHECKPOINTS / "metrics.json")["models"])
    table = results.training_table(CHECKPOINTS, names)
    assert list(table["model"]) == [display_name(n) for n in names] and all(table["how it learned"])
    assert table.set_index("model").loc["same student, labels only", "how it learned"].startswith("labels only")
