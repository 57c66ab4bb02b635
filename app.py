"""The live demo: the teacher and its distilled student, side by side, in a Gradio app.

    python app.py     # serves http://127.0.0.1:7860; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT change it
    KD_CHECKPOINTS=runs/mine python app.py    # other checkpoints than the shipped ones

This file only wires the UI. The answers come from `kd.serving.infer.Predictor`; every number the
page shows is computed, and tested, in `kd.serving.demo` (the Demo tab) and `kd.serving.results` (the
Results tab). The "Distill it yourself" tab trains a visitor's own student with `kd.serving.live`
(in the server's threads: `kd.serving.live_lab`), which computes every figure it shows.
Importing it starts nothing: `main()` loads the models, warms them up, and only then opens
the server, so the first visitor never waits for a model to load; models that cannot be
loaded stop it with one clear message instead.

The documented API is the `/predict` endpoint: `(image, text, temperature)` in, one JSON
object out (see the README's API section).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
import torch

from kd import layout
from kd.config import SERVING_THREADS, TEMPERATURES
from kd.data.images import NOT_AN_IMAGE, ImageError
from kd.models.checkpoint import CheckpointError
from kd.serving import demo as page
from kd.serving import live, live_page, results
from kd.serving.examples import example_rows, load_examples, split_by_agreement
from kd.serving.infer import InputError, Prediction, Predictor
from kd.serving.live import LiveError, LiveResult, LiveSettings, SettingsError
from kd.serving.live_lab import LiveLab
from kd.study.record import RecordError

ROOT = Path(__file__).resolve().parent
CHECKPOINTS = Path(os.environ.get("KD_CHECKPOINTS", ROOT / layout.DEFAULT_ROOT))
EXAMPLES = ROOT / "examples"

# Overload gives a clear message rather than a crash: uploads are capped, the queue is
# bounded, and each event runs a bounded number of requests at once.
MAX_FILE_SIZE = "10mb"
QUEUE_SIZE = 64
UPLOAD_CACHE = (3600, 3600)  # (every, older than) seconds: uploads Gradio may delete
HEARTBEAT_S = 1.0  # a training run's page hears from it at least this often, epoch or not
MODEL_CONCURRENCY = 2  # one request per core, each on one torch thread
RESOFTEN_CONCURRENCY = 4  # re-softening runs no model
# One visitor's student trains at a time, on one torch thread (see TORCH_THREADS): the
# other core keeps answering /predict. Others wait in the queue and the page shows their place.
TRAINING_CONCURRENCY = 1
PER_CLASS_CHARTS_PER_ROW = 3  # five models' charts in one row would be too narrow to read
TORCH_THREADS = int(os.environ.get("KD_TORCH_THREADS", SERVING_THREADS))  # why one: see kd.config

# The headline in large type, and the soft-label chart (plain HTML, drawn by kd.serving.demo).
CSS = page.CHART_CSS + """
#headline p { font-size: 1.25em; line-height: 1.35; }
#verdict p { font-size: 1.15em; }
/* On a phone a wide table scrolls sideways in its own box; its words stay whole. */
#comparison table, #others table { display: block; overflow-x: auto; max-width: 100%; }
#comparison th, #comparison td, #others th, #others td { overflow-wrap: normal; word-break: normal; }
#others td:first-child { white-space: nowrap; }
/* The live tab's sliders on one line, however many lines their help texts take. */
#live-settings .block > .wrap { height: 100%; display: flex; flex-direction: column; justify-content: space-between; }
"""
# Gradio's picture box refuses a file whose type is not image/* (a .txt, a .pdf) in the
# browser, before the app sees it, with "Invalid file type: notes.txt. Only image/* allowed.".
# The page says instead what it says of any file that is not a picture (kd.data.images).
PLAIN_UPLOAD_ERRORS = f"""
() => {{
  const plain = {json.dumps(NOT_AN_IMAGE)};
  new MutationObserver(() => {{
    for (const text of document.querySelectorAll("[data-testid=toast-text]")) {{
      if (text.textContent.startsWith("Invalid file type")) text.textContent = plain;
    }}
  }}).observe(document.body, {{childList: true, subtree: true, characterData: true}});
}}
"""
# Server-side rendering would need Node and slows the start; the page is one small app.
LAUNCH_OPTIONS = dict(max_file_size=MAX_FILE_SIZE, ssr_mode=False, theme=gr.themes.Soft(), footer_links=["api"], css=CSS,
                      js=PLAIN_UPLOAD_ERRORS)

log = logging.getLogger("kd.app")


def picture_input(**options) -> gr.Image:
    """`gr.Image`, except that a file Pillow cannot even open still reaches `kd.data.images`.

    Gradio opens every upload before the app sees it, and a broken file or a decompression
    bomb would fail there with a bare "Error". Passed on as a path instead, it gets
    `kd.data.images`' message, which says what is wrong and what to do. (Patched on the
    instance: a subclass of a Gradio component makes Gradio write a .pyi file beside it.)
    `image_mode=None` hands the models the file as uploaded: Gradio's default converts it
    to RGB first, which turns a transparent background black and clips 16-bit pixels, so
    the models would see a picture `kd.data.images` never made.
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


def ask(predictor: Predictor, image, text, temperature, modalities="image+text", others=None) -> Prediction:
    """The predictor's answer, or a message for the visitor; the server keeps serving."""
    try:
        modalities = modalities or "image+text"
        return predictor.predict(image=image, text=text, temperature=temperature, modalities=modalities, others=others)
    except (InputError, ImageError) as e:
        raise gr.Error(str(e), print_exception=False) from e
    except Exception as e:
        log.exception("prediction failed")
        raise gr.Error("Something went wrong on our side with this input. Please try another picture or text.") from e


class Handlers:
    """The Demo tab's events, around one loaded `Predictor`.

    The page's state is `answer`, the /predict JSON (with the other students' answers under
    "others"): asking fills it, the slider re-softens it, a cached example restores it, and
    the charts and the comparison are drawn from it. `own` is the session's `LiveResult`,
    the student this visitor trained on the "Distill it yourself" tab, if any.
    """

    def __init__(self, predictor: Predictor, metrics: dict | None = None):
        self.predictor = predictor
        self.teacher_facts = page.ModelFacts.of(predictor.teacher)
        self.student_facts = page.ModelFacts.of(predictor.student)
        student = (metrics or {}).get("models", {}).get(layout.STUDENT, {})
        # How often the student follows the teacher on pictures it never saw: the warning's figures.
        self.student_metrics = student

    def others(self, own: LiveResult | None) -> dict:
        """The students that answer beside the multimodal one: the cross-modal ones shipped
        in the checkpoints folder, and this visitor's own."""
        models = self.predictor.other_models
        if own is not None and own.student is not None:
            models[live_page.YOUR_STUDENT] = own.student
        return models

    def compare(self, image, text, temperature, modalities, own=None):
        """The page's question: the answer JSON the page keeps, or, for input it cannot use,
        no answer (the old one is cleared, never left on screen) and the message why."""
        try:
            prediction = ask(self.predictor, image, text, temperature, modalities, self.others(own))
        except gr.Error as e:
            # A toast as well: on a phone the message's place, under the button, is off the screen.
            gr.Warning(e.message)
            return None, f"⚠️ {e.message}"
        return prediction.to_dict(), page.notes(prediction)

    def example(self, image, text, modalities):
        """A cached example's answer, at the distillation temperature (the page re-softens it to the slider's)."""
        return self.compare(image, text, self.predictor.distillation_temperature, modalities)

    def empty(self):
        """Nothing asked yet (a cleared picture and text): no answer, no message."""
        return None, ""

    def add_own(self, image, text, answer, own):
        """Adds this visitor's student to an answer restored from the examples' cache."""
        if not answer or own is None or own.student is None:
            return gr.skip()
        try:
            prediction = self.predictor.answer_with(Prediction.from_dict(answer), {live_page.YOUR_STUDENT: own.student}, image, text)
        except (InputError, ImageError):
            return gr.skip()  # the inputs changed since: the next question includes the student
        return prediction.to_dict()

    def draw(self, answer, own=None):
        """Everything the page shows of an answer; an empty answer clears it all."""
        if not answer:
            return "", "", "", "", gr.update(value="", visible=False)
        prediction = Prediction.from_dict(answer)
        others = page.others_markdown(prediction, {name: model.modalities for name, model in self.others(own).items()})
        return (
            page.verdict(prediction),
            page.unfamiliar_warning(prediction, self.student_metrics),
            page.soft_label_chart(prediction),
            page.comparison_markdown(prediction, self.teacher_facts, self.student_facts),
            gr.update(value=others, visible=bool(others)),
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


class LiveHandlers:
    """The "Distill it yourself" tab's events, around the server's `LiveLab`. Each session's
    student lives in its own `gr.State`; the lab knows each session's run, so its Stop
    button, or its leaving, stops that run."""

    def __init__(self, lab: LiveLab, checkpoints: Path):
        self.lab, self.checkpoints = lab, checkpoints
        metrics = layout.Layout(checkpoints).metrics
        try:
            self.metrics = results.load_metrics(metrics)
        except results.MetricsError:  # the Results tab says what is wrong
            self.metrics = {"models": {}}

    def comparison(self, result: LiveResult | None = None):
        return live_page.highlighted(live_page.comparison_frame(self.metrics, self.checkpoints, result))

    def data_note(self) -> str:
        """What the students will train on, as the page loads (the data is prepared at server start)."""
        if self.lab.prepared:
            return f"Pick the settings and press **Train my student**. {live_page.data_line(self.lab.data())}"
        if self.lab.preparation_error:
            return f"⚠️ {self.lab.preparation_error}"
        return "The server is preparing the emoji and the teacher's recorded answers; the first run may wait for them."

    def train(self, temperature, alpha, label_percent, epochs, student_init, request: gr.Request, progress=gr.Progress()):
        """Trains a student and its labels-only twin in a thread and yields (status, loss
        curves, accuracy curves, comparison, the session's student) every second and after
        every epoch; closing the generator (the visitor left) stops the run."""
        try:
            settings = LiveSettings.from_page(temperature, alpha, label_percent, epochs, student_init)
        except SettingsError as e:
            raise gr.Error(str(e), print_exception=False) from e
        if not self.lab.prepared:
            progress(0, desc="Preparing the data")
            yield "Preparing the data: the server is still loading (or drawing) the emoji, once.", *[gr.skip()] * 4
        try:
            run = self.lab.start(request.session_hash, settings)
            data = live_page.data_line(self.lab.data())
        except (LiveError, RecordError) as e:
            raise gr.Error(str(e), print_exception=False) from e
        session, history, rows, start = request.session_hash, [], run.epochs(heartbeat=HEARTBEAT_S), time.perf_counter()
        progress((0, settings.epochs), desc="Training", unit="epochs")
        yield f"{live_page.training_line(1, settings, 0.0)}\n\n{data}", *self._curves([], settings), gr.skip(), gr.skip()
        try:
            for row in rows:
                if row is None:  # no epoch ended this second: say where it is (and let a cancel land)
                    seconds = time.perf_counter() - start
                    yield f"{live_page.training_line(len(history) + 1, settings, seconds)}\n\n{data}", *[gr.skip()] * 4
                    continue
                history.append(row)
                progress((row["epoch"], settings.epochs), desc="Training", unit="epochs")
                status = live_page.epoch_line(row, settings, time.perf_counter() - start)
                yield f"{status}\n\n{data}", *self._curves(history, settings), gr.skip(), gr.skip()
        except (LiveError, RecordError) as e:
            raise gr.Error(str(e), print_exception=False) from e
        except Exception as e:
            log.exception("live training failed")
            raise gr.Error("Something went wrong on our side while training. Please try again.") from e
        finally:
            rows.close()
            self.lab.finish(session, run)
        result = run.result
        own = result if result.student is not None else gr.skip()
        summary = f"{live_page.result_summary(result)}\n\n{data}"
        yield summary, *self._curves(history, settings), self.comparison(result), own

    @staticmethod
    def _curves(history, settings):
        return plot_value(live_page.loss_frame(history)), plot_value(live_page.accuracy_frame(history))

    def stop(self, request: gr.Request) -> None:
        """The Stop button: this session's run stops at its next step and keeps its best epoch."""
        self.lab.stop(request.session_hash)

    def leave(self, request: gr.Request) -> None:
        """The visitor closed or reloaded the page: their run, if any, stops."""
        self.lab.stop(request.session_hash)


EPOCHS_AXIS = [str(epoch) for epoch in range(1, live.MAX_EPOCHS + 1)]
def plot_value(frame):
    """A live curve's value for `gr.LinePlot`: epochs as names, so the axis shows whole epochs
    (a number axis ticks 1.5, 2.5 ...), in `EPOCHS_AXIS` order; while every curve has one
    epoch, drawn as points (a line through one point draws nothing)."""
    frame = frame.assign(epoch=frame["epoch"].astype(str))
    value = gr.LinePlot(render=False).postprocess(frame)
    if frame["epoch"].nunique() == 1:
        value.mark = "point"
    return value.model_dump()


# ----------------------------------------------------------------------------------- page


def build_demo(
    predictor: Predictor,
    checkpoints: Path = CHECKPOINTS,
    examples: Path = EXAMPLES,
    queue_size: int = QUEUE_SIZE,
    lab: LiveLab | None = None,
    prepare: bool = True,
) -> gr.Blocks:
    """The whole app around one loaded `Predictor`; nothing is launched. `checkpoints`
    holds the metrics.json and training histories the Results tab shows, and the teacher's
    recorded answers the "Distill it yourself" tab trains on (`lab`, by default the one
    beside the predictor's teacher); past `queue_size` waiting requests, a new one is turned
    away with "busy, try again". With `prepare`, the live tab's data starts preparing now
    (`main` starts it once the page is served instead, so it does not delay the first page)."""
    lab = lab or LiveLab.beside(predictor.teacher.model, predictor.teacher.config, checkpoints)
    if prepare:
        lab.prepare_in_background()  # so that no visitor's first click waits for the data
    try:
        metrics = results.load_metrics(layout.Layout(checkpoints).metrics)
    except results.MetricsError:  # the Results tab says what is wrong
        metrics = {"models": {}}
    demo_handlers, live_handlers = Handlers(predictor, metrics), LiveHandlers(lab, checkpoints)
    # Uploads are copied into Gradio's cache: on a Space that runs for weeks, drop those
    # older than an hour, every hour, so the disk never fills.
    with gr.Blocks(title="Teacher vs student: knowledge distillation, live", delete_cache=UPLOAD_CACHE) as demo:
        gr.Markdown(
            "# Teacher vs student\n"
            "A big **teacher** model and a small **student** trained to imitate it name the category of an emoji "
            "from its picture and its name. Try a picture, a text or both.",
            elem_id="intro",
        )
        headline = results.headline(metrics)
        if headline:
            gr.Markdown(headline, elem_id="headline")
        own = gr.State(None)  # this session's student, once it trained one (never shared between visitors)
        # On a phone the four tabs take two lines rather than hide the last two behind a "..." menu.
        with gr.Tabs(overflow_behavior="wrap"):
            with gr.Tab("Demo"):
                asked = _demo_tab(demo_handlers, examples, own)
            with gr.Tab("Distill it yourself"):
                trained = _live_tab(live_handlers, own, demo)
            with gr.Tab("Results"):
                _results_tab(checkpoints)
            with gr.Tab("About"):
                gr.Markdown(ABOUT)
        if trained is not None:  # the new student joins the answer on the Demo tab at once
            trained.success(demo_handlers.add_own, [*asked, own], asked[-1], show_progress="hidden", api_visibility="private")
        demo.unload(live_handlers.leave)
    demo.queue(max_size=queue_size)
    return demo


MODALITY_CHOICES = [("picture + text", "image+text"), ("picture only", "image"), ("text only", "text")]


def _demo_tab(handlers: Handlers, examples: Path, own: gr.State) -> tuple:
    """The Demo tab; returns (picture, text, answer), which the live tab's student answers too.

    Inputs on the left, the answers on the right, both in the first screen: every control
    re-answers at once, the temperature slider only re-softens the answer the page holds."""
    predictor = handlers.predictor
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=280):
            image = picture_input(label="Picture", sources=["upload", "clipboard", "webcam"], height=200, elem_id="picture")
            text = gr.Textbox(label="Text (e.g. the emoji's name; Enter asks)", lines=1, max_lines=3, elem_id="text")
            # No value of its own: Gradio preloads the first example only into inputs without one.
            modalities = gr.Radio(MODALITY_CHOICES, label="The models look at", elem_id="modalities")
            temperature = gr.Slider(
                *TEMPERATURES, value=predictor.distillation_temperature, step=0.5, elem_id="temperature",
                label="Temperature T: higher spreads each model's answer over more classes",
            )
            button = gr.Button("Ask both models", variant="primary", elem_id="ask")
        with gr.Column(scale=3, min_width=280):
            verdict = gr.Markdown(elem_id="verdict")
            warning = gr.Markdown(elem_id="warning")
            chart = gr.HTML(elem_id="chart")
            notes = gr.Markdown(elem_id="notes")
    examples_slot = gr.Column()  # filled below, once the outputs exist
    comparison = gr.Markdown(elem_id="comparison")
    others = gr.Markdown(visible=False, elem_id="others")
    with gr.Accordion("The answer as JSON (what the /predict API returns)", open=False):
        answer = gr.JSON(label="answer", elem_id="answer")

    inputs = [image, text, modalities]
    outputs = [answer, notes]
    agreeing, differing = split_by_agreement(load_examples(examples))
    galleries = []
    with examples_slot, cached_examples_in(_examples_cache(predictor, examples)):
        for label, chosen in (("Held-out test emoji in each art style, never seen in training: click one", agreeing),
                              ("Where the student still differs from the teacher", differing)):
            if chosen:
                galleries.append(gr.Examples(
                    example_rows(examples, chosen), inputs, outputs, fn=handlers.example, cache_examples=True,
                    visible_columns=[0],  # pictures only: a compact gallery; the name fills the text box
                    label=label, examples_per_page=len(chosen), preload=0 if chosen is agreeing else False,
                ))
    for shown in galleries:
        # An example keeps the visitor's temperature, and their own student answers it too.
        shown.cache_event.then(handlers.resoften, [answer, temperature], answer, show_progress="hidden",
                               api_visibility="private").then(
            handlers.add_own, [image, text, answer, own], answer, show_progress="hidden", api_visibility="private")

    model_events = dict(concurrency_id="models", concurrency_limit=MODEL_CONCURRENCY, trigger_mode="always_last")
    # Undocumented, not private: a test asks as the page does, with a session's own student.
    gr.on([button.click, text.submit, image.input, modalities.input], handlers.compare, [image, text, temperature, modalities, own],
          outputs, api_name="ask", api_visibility="undocumented", **model_events)
    image.clear(handlers.empty, None, outputs, api_visibility="private")
    answer.change(
        handlers.draw, [answer, own], [verdict, warning, chart, comparison, others], show_progress="hidden",
        api_visibility="private",
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
    gr.on([], handlers.predict, [image, text, temperature], answer, api_name="predict",
          concurrency_id="models", concurrency_limit=MODEL_CONCURRENCY)
    return image, text, answer


LIVE_INTRO = f"""
Train a student of your own, here and now. It learns from the teacher's answers, recorded
once, and from the true labels of the share of training emoji you pick; the rest of the
training emoji it sees with the teacher's soft labels only. Beside it trains its **labels-only
twin**: the same student, from the same start, on the same labelled emoji for as many epochs,
without the teacher (alpha 0). The gap between the two is what the teacher taught, and the
summary says it in points. Training stops after {live.TIME_LIMIT_S:.0f} s at most, keeping each
student's best epoch. One run trains at a time: if another visitor's is training, yours waits
in the queue, and the status line shows your place. Once trained, your student also answers
on the Demo tab.
"""


def _live_tab(handlers: LiveHandlers, own: gr.State, page: gr.Blocks):
    """The "Distill it yourself" tab; returns its training event (None without the teacher's record)."""
    gr.Markdown(LIVE_INTRO)
    if not handlers.lab.recorded:
        gr.Markdown(
            f"This tab needs the teacher's recorded answers, `{handlers.lab.outputs_path}`, which are not there. "
            "`python -m kd record` writes them beside the checkpoints."
        )
        return None
    defaults = LiveSettings()
    with gr.Row(equal_height=True, elem_id="live-settings"):
        temperature = gr.Slider(*TEMPERATURES, value=defaults.temperature, step=0.5, label="Temperature T",
                                info="Softens the teacher's answers the student learns from", elem_id="live-temperature")
        alpha = gr.Slider(0, 1, value=defaults.alpha, step=0.05, label="alpha",
                          info="Weight of the teacher's soft labels; 0 = labels only", elem_id="live-alpha")
        labels = gr.Slider(100 * live.LABEL_FRACTIONS[0], 100 * live.LABEL_FRACTIONS[1], value=100 * defaults.label_fraction,
                           step=5, label="Labelled emoji (%)", info="The share of training emoji both students see labelled",
                           elem_id="live-labels")
        epochs = gr.Slider(1, live.MAX_EPOCHS, value=defaults.epochs, step=1, label="Epochs",
                           info=f"Passes over the training set, within {live.TIME_LIMIT_S:.0f} s", elem_id="live-epochs")
    student_init = gr.Radio(
        [("random", "random"), ("the teacher's word embeddings, compressed", "teacher"),
         ("distilled from the teacher (as our student)", "distilled")],
        value=defaults.student_init, label="Both students' word vectors", elem_id="live-init",
        info="Where they start; their picture layers always start from the teacher's first layers, as our student's",
    )
    with gr.Row():
        train = gr.Button("Train my student", variant="primary", elem_id="live-train")
        stop = gr.Button("Stop", elem_id="live-stop")
    status = gr.Markdown(elem_id="live-status")
    # Said at every page load: the data is prepared in the background from the server's start.
    page.load(handlers.data_note, None, status, show_progress="hidden", api_visibility="private")
    with gr.Row():
        plots = {"x": "epoch", "color": "model", "sort": EPOCHS_AXIS, "height": 280, "min_width": 300}
        loss = gr.LinePlot(y="loss", color_map=live_page.curve_colors(live_page.LOSS_CURVES), title="Training loss",
                           elem_id="live-loss", **plots)
        accuracy = gr.LinePlot(y="accuracy", color_map=live_page.curve_colors(live_page.ACCURACY_CURVES), y_lim=[0, 1],
                               title="Validation accuracy", elem_id="live-accuracy", **plots)
    # Below the plots, not as their captions: a plot's fixed height cuts a long caption.
    gr.Markdown(live_page.CURVES_CAPTION, elem_id="live-curves-caption")
    gr.Markdown("### Side by side, on the test split\nYour student and its twin are scored as ours were, against the same teacher.")
    comparison = handlers.comparison()
    # Columns in pixels, as on the Results tab: headers wrap between words, a phone scrolls the table.
    frame = comparison.data  # the Styler's frame
    widths = results.column_widths(frame, wide=(frame.columns[-1],))  # the last column: how each learned
    table = gr.Dataframe(comparison, interactive=False, wrap=True, column_widths=widths,
                         max_height=1000, elem_id="live-comparison")  # every row in sight, no scrolling inside
    trained = train.click(
        handlers.train, [temperature, alpha, labels, epochs, student_init], [status, loss, accuracy, table, own],
        show_progress_on=[status], concurrency_limit=TRAINING_CONCURRENCY, concurrency_id="live",
        api_name="distill", api_visibility="undocumented",
    )
    stop.click(handlers.stop, None, None, queue=False, api_visibility="private")
    return trained


def _results_tab(checkpoints: Path) -> None:
    try:
        metrics = results.load_metrics(layout.Layout(checkpoints).metrics)
    except results.MetricsError as e:
        gr.Markdown(str(e))
        return
    gr.Markdown("### Test set\n" + results.dataset_line(metrics))
    names = list(metrics["models"])
    # Columns in pixels (results.column_widths): headers wrap between words, a phone scrolls the table, not the page.
    table, how = results.results_frame(metrics), results.training_table(checkpoints, names)
    gr.Dataframe(table, interactive=False, wrap=True, column_widths=results.column_widths(table), max_height=1000,
                 elem_id="results-table")
    gr.Markdown(results.COLUMNS_EXPLAINED, elem_id="results-columns")
    gr.Dataframe(how, interactive=False, wrap=True, column_widths=results.column_widths(how, wide=("how it learned",)),
                 max_height=1000, elem_id="results-how")
    gr.Markdown("### Accuracy per class")
    colors, charts = results.model_colors(names), list(results.per_class_by_model(metrics).items())
    for first in range(0, len(charts), PER_CLASS_CHARTS_PER_ROW):
        with gr.Row():
            for name, frame in charts[first : first + PER_CLASS_CHARTS_PER_ROW]:
                gr.BarPlot(
                    frame, x="class", y="accuracy", color="model", color_map=colors, colors_in_legend=[], y_lim=[0, 1],
                    title=layout.display_name(name), x_label_angle=-45, height=300, elem_id=f"per-class-{name}",
                )
    per_class = results.per_class_table(metrics)
    gr.Dataframe(per_class, interactive=False, wrap=True, column_widths=results.column_widths(per_class), max_height=1000,
                 elem_id="results-per-class")
    gr.Markdown("### Training curves, recorded while training")
    histories = results.training_histories(checkpoints, names)
    with gr.Row():
        for metric, title in results.CURVES.items():
            frame = results.curve_frame(histories, metric)
            if len(frame):
                gr.LinePlot(
                    frame, x="epoch", y=metric, color="model", color_map=colors, colors_in_legend=[], title=title,
                    y_title=title, height=300, min_width=300, elem_id=f"curve-{metric}",
                )
    # Below the plots, not inside them: a plot's legend cuts long names, its fixed height a long caption.
    gr.HTML(results.color_key({name: colors[name] for name in results.curve_names(histories)}), elem_id="curve-key")
    gr.Markdown(results.CURVES_CAPTION, elem_id="curves-caption")


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
sentences (EfficientNet-Lite0 for pictures, all-MiniLM-L6-v2 for text) and five small parts we
trained on top, each on its own, to name an emoji's category: smileys, animals, food, flags, and
so on; the teacher's answer is the average of their five. It is accurate, but big and slow.

**The student** is a much smaller and faster model (the line at the top says by how much). It
looks at a picture through the first few layers of the teacher's picture network, kept as they
are (they see edges, colours and textures in any picture), and its word vectors start from what
the teacher's text network makes of each word; everything else starts from random weights. It
was then trained to imitate the teacher, and a little to get the right answer too: this is
*knowledge distillation* (the technical name of this student is `student`). It imitated the
teacher not only on the training emoji but on 50,000 common English words, on clip art that
is not emoji, on cut-out photos of everyday things (Tux Paint's stamps) and on altered copies
of all of them (new backgrounds, crops, colours, blur): a student only follows its teacher
where it has seen the teacher at work.

**A soft label** is a model's whole answer, not just its top pick: "90% food, 6% animal,
4% object". The student learns from the teacher's, which carry more than the right answer
alone: that a mango looks a bit like an animal and nothing like a flag.

**The temperature T** spreads a model's answer out. At T = 1 you see the model's real
confidence; at higher T the small percentages grow and the differences between the unlikely
classes show. The student learned the teacher's answers at T = 4. Moving the slider only
re-draws the answers: no model runs again.

## How to read the page

- *The verdict*: whether both models picked the same category, and how much faster the student was.
- *Soft labels*: per category, the teacher's bar (blue) beside the student's (orange), on one 0-to-1 scale.
- *Difference between their soft labels (KL divergence)*: one number for how different the two
  answers are; 0 means identical. As T rises, every answer flattens toward "1 in 9 for each
  category", so the two charts look alike and this number shrinks even when the models pick
  different categories: compare the charts at T = 1 to see whether they really agree.
- *A picture unlike the emoji the models learnt from* (a photograph, say) gets a warning: it is
  measured by how close the teacher's view of the picture is to its view of the training
  pictures. On such pictures both models still pick one of the 9 categories, often confidently
  and wrongly, and the student follows the teacher less often.
- *Latency*: how long each model took to answer, on this server's CPU; for the example pictures,
  when the server first answered them (their answers are kept, so a click is instant).
- *Parameters, size on disk*: what each model costs to keep; the teacher's size includes its
  pretrained networks.
- *More students*: a picture-only and a text-only student (the student with one branch, each
  taught by the same teacher) answer too, from what they can read; your own student joins them
  once you have trained one.
- The *Results* tab shows how every model did on emoji none of them saw in training (the
  *test split*), on clip art from folders never used in training, and on *cut-out photos*
  (Tux Paint's stamps: photographs and some drawings of everyday things, each with a one-line
  description) and on *photos* (GCompris's photographs of tools, fish, landmarks and animals)
  never used in training either; *agreement* is how often
  a model picks the teacher's category. The *same student, labels only* learned from the true
  categories alone, without the teacher: the gap between it and the student is what the teacher
  taught.
- *Distill it yourself*: train a student of your own with the temperature, alpha (how much it
  listens to the teacher's soft labels rather than the true labels; 0 = labels only), share of
  labelled emoji, epochs and starting weights you pick. Beside it trains its *labels-only twin*:
  the same student, from the same weights, on the same labelled emoji for as many epochs, with
  alpha 0. The gap between their test accuracies, given in points, is what the teacher taught;
  it is largest when few emoji are labelled, since the teacher's soft labels also cover the
  rest. The teacher itself does not run: its answers on every emoji were recorded when it was
  trained, so a run takes seconds, not the minutes its pretrained networks would need. On a
  server without the Noto emoji font, both students train and are scored on the other art
  styles, and the status line says so.

## Credits and licences

- Emoji pictures: [Twemoji](https://github.com/twitter/twemoji) (c) Twitter, Inc. and other
  contributors, CC-BY 4.0; [OpenMoji](https://openmoji.org), the open-source emoji and icon
  project, CC BY-SA 4.0; [Noto Color Emoji](https://github.com/googlefonts/noto-emoji)
  (c) Google, SIL Open Font License 1.1 (font) and Apache 2.0 (images). Shown unchanged except
  for cropping, padding and resizing.
- Emoji names and categories: [emoji-data](https://github.com/iamcal/emoji-data), MIT.
- Clip art the student learned from, and the held-out clip art it is checked on:
  [Open Clip Art Library](https://openclipart.org) via Debian's `openclipart-png`, public domain.
- Cut-out photographs and drawings the student learned from, and the held-out ones it is checked
  on: [Tux Paint](https://tuxpaint.org)'s stamps by Bill Kendrick and contributors, via Debian's
  `tuxpaint-stamps-default`, GPL-2.
- Photographs the student is checked on (never trained on): [GCompris](https://gcompris.net) by
  KDE and contributors, via Debian's `gcompris-qt-data`, GPL-3+ and other free licences.
- Common English words: [wordfreq](https://github.com/rspeer/wordfreq) by Robyn Speer, data
  CC BY-SA 4.0 (from Wikipedia, subtitles, news, books, web text and others).
- EfficientNet-Lite0 (Tan & Le, 2019), Apache 2.0; all-MiniLM-L6-v2
  ([sentence-transformers](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)), Apache 2.0.
- Knowledge distillation: G. Hinton, O. Vinyals, J. Dean, "Distilling the Knowledge in a
  Neural Network", 2015, [arXiv:1503.02531](https://arxiv.org/abs/1503.02531); L. Beyer et al.,
  "Knowledge distillation: A good teacher is patient and consistent", 2022,
  [arXiv:2106.05237](https://arxiv.org/abs/2106.05237).
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
    predictor = load_predictor()
    lab = LiveLab.beside(predictor.teacher.model, predictor.teacher.config, CHECKPOINTS)
    demo = build_demo(predictor, lab=lab, prepare=False)
    demo.launch(**LAUNCH_OPTIONS, prevent_thread_lock=True)
    # The live tab's data next, in the background: the first page is not kept waiting for
    # it, and it is ready well before a visitor has read the page and pressed Train.
    lab.prepare_in_background()
    demo.block_thread()


if __name__ == "__main__":
    main()
