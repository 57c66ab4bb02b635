"""The live demo: the teacher and its distilled student, side by side, in a Gradio app.

    python app.py     # serves http://127.0.0.1:7860; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT change it
    KD_CHECKPOINTS=runs/mine python app.py    # other checkpoints than the shipped ones

This file only wires the UI. The answers come from `kd.infer.Predictor`; every number the
page shows is computed, and tested, in `kd.demo` (the Demo tab) and `kd.results` (the
Results tab). Importing it starts nothing: `main()` loads both models, warms them up, and
only then opens the server, so the first visitor never waits for a model to load; models
that cannot be loaded stop it with one clear message instead.

The documented API is the `/predict` endpoint: `(image, text, temperature)` in, one JSON
object out (see the README's API section).
"""

from __future__ import annotations

import hashlib
import logging
import os
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
import torch

from kd import demo as page
from kd import results
from kd.checkpoint import CheckpointError
from kd.examples import example_rows, first_disagreement, load_examples
from kd.images import ImageError
from kd.infer import MODALITIES, SERVING_THREADS, InputError, Prediction, Predictor

ROOT = Path(__file__).resolve().parent
CHECKPOINTS = Path(os.environ.get("KD_CHECKPOINTS", ROOT / "checkpoints"))
EXAMPLES = ROOT / "examples"

# Overload gives a clear message rather than a crash: uploads are capped, the queue is
# bounded, and each event runs a bounded number of requests at once.
MAX_FILE_SIZE = "10mb"
QUEUE_SIZE = 64
MODEL_CONCURRENCY = 2  # one request per core, each on one torch thread
RESOFTEN_CONCURRENCY = 4  # re-softening runs no model
TORCH_THREADS = int(os.environ.get("KD_TORCH_THREADS", SERVING_THREADS))  # why one: see kd.infer

# Server-side rendering would need Node and slows the start; the page is one small app.
LAUNCH_OPTIONS = dict(max_file_size=MAX_FILE_SIZE, ssr_mode=False, theme=gr.themes.Soft(), footer_links=["api"])

log = logging.getLogger("kd.app")


def picture_input(**options) -> gr.Image:
    """`gr.Image`, except that a file Pillow cannot even open still reaches `kd.images`.

    Gradio opens every upload before the app sees it, and a broken file or a decompression
    bomb would fail there with a bare "Error". Passed on as a path instead, it gets
    `kd.images`' message, which says what is wrong and what to do. (Patched on the
    instance: a subclass of a Gradio component makes Gradio write a .pyi file beside it.)
    `image_mode=None` hands the models the file as uploaded: Gradio's default converts it
    to RGB first, which turns a transparent background black and clips 16-bit pixels, so
    the models would see a picture `kd.images` never made.
    """
    image = gr.Image(type="filepath", image_mode=None, **options)
    open_upload = image.preprocess

    def upload_path(payload):
        try:
            return open_upload(payload)
        except Exception:
            if payload is None or payload.path is None:
                raise
            return str(payload.path)

    image.preprocess = upload_path
    return image


# ------------------------------------------------------------------------------ answers


def ask(predictor: Predictor, image, text, temperature, modalities="image+text") -> Prediction:
    """The predictor's answer, or a message for the visitor; the server keeps serving."""
    try:
        return predictor.predict(image=image, text=text, temperature=temperature, modalities=modalities or "image+text")
    except (InputError, ImageError) as e:
        raise gr.Error(str(e), print_exception=False) from e
    except Exception as e:
        log.exception("prediction failed")
        raise gr.Error("Something went wrong on our side with this input. Please try another picture or text.") from e


class Handlers:
    """The Demo tab's events, around one loaded `Predictor`.

    The page's state is `answer`, the /predict JSON: asking fills it, the slider re-softens
    it, a cached example restores it, and the charts and the comparison are drawn from it.
    """

    def __init__(self, predictor: Predictor):
        self.predictor = predictor
        self.teacher_facts = page.ModelFacts.of(predictor.teacher)
        self.student_facts = page.ModelFacts.of(predictor.student)

    def compare(self, image, text, temperature, modalities):
        prediction = ask(self.predictor, image, text, temperature, modalities)
        teacher_top, student_top = page.top_classes(prediction.teacher), page.top_classes(prediction.student)
        return prediction.to_dict(), teacher_top, student_top, page.notes(prediction)

    def draw(self, answer):
        if not answer:
            return gr.skip(), gr.skip(), gr.skip()
        prediction = Prediction.from_dict(answer)
        return (
            page.soft_label_frame(prediction.teacher, self.predictor.teacher.name),
            page.soft_label_frame(prediction.student, self.predictor.student.name),
            page.comparison_markdown(prediction, self.teacher_facts, self.student_facts),
        )

    def resoften(self, answer, temperature):
        """A new temperature re-softens the answer the page holds; no model runs."""
        if not answer:
            return gr.skip()
        try:
            return Prediction.from_dict(answer).at_temperature(temperature).to_dict()
        except InputError as e:
            raise gr.Error(str(e), print_exception=False) from e

    def predict(self, image, text, temperature) -> dict:
        """Both models' answers for a picture and/or a text: labels, probabilities at T = 1
        and at `temperature`, latencies, agreement and KL(teacher || student)."""
        return ask(self.predictor, image, text, temperature).to_dict()


# ----------------------------------------------------------------------------------- page


def build_demo(
    predictor: Predictor, checkpoints: Path = CHECKPOINTS, examples: Path = EXAMPLES, queue_size: int = QUEUE_SIZE
) -> gr.Blocks:
    """The whole app around one loaded `Predictor`; nothing is launched. `checkpoints`
    holds the metrics.json and training histories the Results tab shows; past `queue_size`
    waiting requests, a new one is turned away with "busy, try again"."""
    with gr.Blocks(title="Teacher vs student: knowledge distillation, live") as demo:
        gr.Markdown(
            "# Teacher vs student\n"
            "A big multimodal **teacher** and the small **student** distilled from it name the category of an "
            "emoji from its picture and its name. Give them a picture, a text or both, and compare. "
            "New here? Pick an example below, or read the About tab."
        )
        with gr.Tab("Demo"):
            _demo_tab(Handlers(predictor), examples)
        with gr.Tab("Results"):
            _results_tab(checkpoints)
        with gr.Tab("About"):
            gr.Markdown(ABOUT)
    demo.queue(max_size=queue_size)
    return demo


def _demo_tab(handlers: Handlers, examples: Path) -> None:
    predictor = handlers.predictor
    with gr.Row(equal_height=False):
        image = picture_input(label="Picture", sources=["upload", "clipboard", "webcam"], height=260, elem_id="picture")
        with gr.Column():
            text = gr.Textbox(label="Text (e.g. the emoji's name)", lines=2, max_lines=6, elem_id="text")
            modalities = gr.Radio(list(MODALITIES), label="The models look at", elem_id="modalities")
            temperature = gr.Slider(
                *page.SLIDER_TEMPERATURES, step=0.5, label="Temperature T (softens the soft labels)", elem_id="temperature"
            )
            button = gr.Button("Ask both models", variant="primary", elem_id="ask")
    examples_slot = gr.Column()  # filled below, once the outputs exist
    notes = gr.Markdown(elem_id="notes")
    with gr.Row():
        colors = results.model_colors([predictor.teacher.name, predictor.student.name])  # as on the Results tab
        teacher_top, teacher_chart = _model_column("Teacher", handlers.teacher_facts, predictor.classes, colors)
        student_top, student_chart = _model_column("Student", handlers.student_facts, predictor.classes, colors)
    comparison = gr.Markdown(elem_id="comparison")
    with gr.Accordion("The answer as JSON (what the /predict API returns)", open=False):
        answer = gr.JSON(label="answer", elem_id="answer")

    inputs = [image, text, temperature, modalities]
    # What a cached example restores; the charts and the comparison are then drawn from
    # `answer` (Gradio 6.31 breaks the page when it restores a cached plot).
    outputs = [answer, teacher_top, student_top, notes]
    rows = example_rows(examples, predictor.distillation_temperature)
    if rows:
        with examples_slot, cached_examples_in(_examples_cache(predictor, examples)):
            gr.Examples(
                rows,
                inputs,
                outputs,
                fn=handlers.compare,
                cache_examples=True,
                visible_columns=[0],  # pictures only: a compact gallery; the name fills the text box
                label="Held-out test emoji in each art style: click one (the models disagree on some)",
                examples_per_page=len(rows),
                preload=first_disagreement(load_examples(examples)),
            )

    model_events = dict(concurrency_id="models", concurrency_limit=MODEL_CONCURRENCY)
    gr.on([button.click, text.submit], handlers.compare, inputs, outputs, api_visibility="private", **model_events)
    answer.change(
        handlers.draw, answer, [teacher_chart, student_chart, comparison], show_progress="hidden", api_visibility="private"
    )
    temperature.input(
        handlers.resoften,
        [answer, temperature],
        answer,
        show_progress="hidden",
        trigger_mode="always_last",
        concurrency_limit=RESOFTEN_CONCURRENCY,
        api_visibility="private",
    )
    # The documented API: no button triggers it, clients call it by name.
    gr.on([], handlers.predict, [image, text, temperature], answer, api_name="predict", **model_events)


def _model_column(title: str, facts: page.ModelFacts, classes: list[str], colors: dict[str, str]):
    """One model's half of the page: what it costs, its answer, its soft labels."""
    key = title.lower()
    with gr.Column():
        gr.Markdown(f"### {title}\n{page.millions(facts.params)} parameters, {page.megabytes(facts.size_mb)} on disk")
        top = gr.Label(num_top_classes=page.TOP_K, label=f"{title}'s answer (top {page.TOP_K}, T = 1)", elem_id=f"{key}-top")
        chart = gr.BarPlot(
            x="class",
            y="probability",
            color="model",
            color_map=colors,
            colors_in_legend=[],  # the title says which model
            y_lim=[0, 1],  # the same fixed axis for both models, so their bars compare at a glance
            sort=classes,
            x_label_angle=-35,
            label=f"{title}'s soft labels at temperature T",
            height=300,
            elem_id=f"{key}-chart",
        )
    return top, chart


def _results_tab(checkpoints: Path) -> None:
    metrics_path = checkpoints / "metrics.json"
    if not metrics_path.is_file():
        gr.Markdown(f"No evaluation yet: run `python -m kd evaluate --json {metrics_path}`.")
        return
    metrics = results.load_metrics(metrics_path)
    gr.Markdown("### Test set\n" + results.dataset_line(metrics))
    gr.Dataframe(results.results_frame(metrics), interactive=False, elem_id="results-table")
    gr.Markdown("### Accuracy per class")
    with gr.Row():
        colors = results.model_colors(list(metrics["models"]))
        for name, frame in results.per_class_by_model(metrics).items():
            gr.BarPlot(
                frame, x="class", y="accuracy", color="model", color_map=colors, colors_in_legend=[], y_lim=[0, 1],
                title=name, x_label_angle=-45, height=300, elem_id=f"per-class-{name}",
            )
    gr.Dataframe(results.per_class_table(metrics), interactive=False)
    gr.Markdown("### Training curves, recorded while training")
    names = list(metrics["models"])
    histories, colors = results.training_histories(checkpoints, names), results.model_colors(names)
    with gr.Row():
        for metric, title in results.CURVES.items():
            frame = results.curve_frame(histories, metric)
            if len(frame):
                gr.LinePlot(
                    frame, x="epoch", y=metric, color="model", color_map=colors, title=title, y_title=title,
                    caption=results.CURVE_CAPTIONS.get(metric), height=300, elem_id=f"curve-{metric}",
                )


@contextmanager
def cached_examples_in(folder: Path):
    """Gradio reads where to cache examples from the environment when they are created."""
    before = os.environ.get("GRADIO_EXAMPLES_CACHE")
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            del os.environ["GRADIO_EXAMPLES_CACHE"]
        else:
            os.environ["GRADIO_EXAMPLES_CACHE"] = before


def _examples_cache(predictor: Predictor, examples: Path) -> Path:
    """A cache folder per version of the models, the examples and the code that draws them,
    so retrained checkpoints or a changed page never show stale cached answers."""
    digest = hashlib.sha256(predictor.fingerprint.encode())
    for source in (examples / "examples.json", Path(__file__), Path(page.__file__)):
        digest.update(source.read_bytes())
    base = Path(os.environ.get("GRADIO_EXAMPLES_CACHE", ROOT / ".gradio" / "cached_examples"))
    return base / digest.hexdigest()[:16]


ABOUT = """
## What you are looking at

**The teacher** is a large model: two networks pretrained by others on millions of pictures and
sentences (EfficientNet-Lite0 for pictures, all-MiniLM-L6-v2 for text) and a small part we
trained on top to name an emoji's category: smileys, animals, food, flags, and so on. It is
accurate, but big and slow.

**The student** is a much smaller and faster model (the Results tab says by how much). It was
trained from scratch to imitate the teacher, and a little to get the right answer too: this
is *knowledge distillation*.

**A soft label** is the teacher's whole answer, not just its top pick: "90% food, 6% animal,
4% object". The student learns from these percentages, which carry more than the right
answer alone: that a mango looks a bit like an animal and nothing like a flag.

**The temperature T** softens the percentages. At T = 1 you see the model's real confidence;
at higher T the small percentages grow and the differences between the unlikely classes show.
The student was trained to match the teacher at a raised temperature, the one the examples
open at. Moving the slider only re-draws the soft labels: no model runs again.

## How to read the page

- *Answer (top 3)*: each model's three most likely categories at T = 1.
- *Soft labels*: each model's whole distribution at the chosen T, on the same 0-to-1 axis:
  the closer the two charts look, the better the student imitates the teacher.
- *KL(teacher ‖ student)*: one number for how different the two distributions are, in nats;
  0 means identical.
- *Latency*: how long each model took for this request, on this server's CPU, and how many
  times faster the student was.
- *Parameters, size on disk*: what each model costs to keep; the teacher's size includes its
  pretrained networks.
- The *Results* tab shows how both did on held-out emoji they never saw in training, and how
  training went, epoch by epoch.

## Credits and licences

- Emoji pictures: [Twemoji](https://github.com/twitter/twemoji) (c) Twitter, Inc. and other
  contributors, CC-BY 4.0; [OpenMoji](https://openmoji.org), the open-source emoji and icon
  project, CC BY-SA 4.0; [Noto Color Emoji](https://github.com/googlefonts/noto-emoji)
  (c) Google, SIL Open Font License 1.1 (font) and Apache 2.0 (images). Shown unchanged except
  for cropping, padding and resizing.
- Emoji names and categories: [emoji-data](https://github.com/iamcal/emoji-data), MIT.
- EfficientNet-Lite0 (Tan & Le, 2019), Apache 2.0; all-MiniLM-L6-v2
  ([sentence-transformers](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)), Apache 2.0.
- Knowledge distillation: G. Hinton, O. Vinyals, J. Dean, "Distilling the Knowledge in a
  Neural Network", 2015, [arXiv:1503.02531](https://arxiv.org/abs/1503.02531).
- Built with [Gradio](https://gradio.app) and PyTorch.
"""


def load_predictor(checkpoints: Path = CHECKPOINTS) -> Predictor:
    """Both models, loaded and warmed up. A folder they cannot be loaded from (a pickle, a
    truncated or tampered file, a missing package) exits with one clear message: a server
    that cannot answer should not start."""
    try:
        return Predictor.from_folder(checkpoints)
    except CheckpointError as e:
        raise SystemExit(f"error: the demo cannot start: {e}") from None
    except ImportError as e:  # a backbone's code, imported when the teacher is built
        raise SystemExit(
            f"error: the demo cannot start: the Python package {e.name or e} is not installed. "
            "Install the requirements: pip install -r requirements.txt"
        ) from None


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(TORCH_THREADS)
    build_demo(load_predictor()).launch(**LAUNCH_OPTIONS)


if __name__ == "__main__":
    main()
