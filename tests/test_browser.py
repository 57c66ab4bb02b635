"""A visitor in a real browser (Debian's Chromium, driven by Playwright): uploads a picture,
types its name, asks, moves the temperature slider, and reads what both models said; then
trains a student of their own and sees it answer beside ours.

Saves artifacts/screenshots/demo.png (and results.png, live.png, live-demo.png) for people to look at.
"""

import re
from pathlib import Path

import pytest

from conftest import ROOT
from demo_helpers import torch_threads_as_in_the_app  # noqa: F401 (autouse fixture)
from demo_helpers import CHECKPOINTS, launched_app, shared_predictor
from kd import live, live_page
from kd.layout import TEACHER_OUTPUTS_FILE
from kd.examples import first_disagreement, load_examples
from kd.results import load_metrics

pytestmark = [
    pytest.mark.slow,
    # Gradio 6.31's queue still uses options pandas 3 deprecates; nothing to do on our side.
    pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning"),
]
playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser_page():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with launched_app() as demo, playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(demo.local_url)
        yield page, errors
        browser.close()


def chart_probabilities(page, key: str) -> dict[str, float]:
    """The bars of a chart as drawn: Vega labels each bar 'class: X; probability: p; ...'."""
    bars = page.locator(f"#{key}-chart g.mark-rect path")
    found = {}
    for i in range(bars.count()):
        label = bars.nth(i).get_attribute("aria-label") or ""
        match = re.search(r"class: (.+?); probability: ([0-9.e-]+)", label)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


def assert_chart_shows(page, key: str, expected: dict[str, float]) -> None:
    """The chart's bars reach `expected` (Vega redraws a moment after the data arrives)."""
    for _ in range(WAIT_MS // 100):
        if chart_probabilities(page, key) == pytest.approx(expected, abs=1e-6):
            return
        page.wait_for_timeout(100)
    assert chart_probabilities(page, key) == pytest.approx(expected, abs=1e-6), key


def shown_label(page, key: str) -> str:
    """The top class a gr.Label shows: the line after its title."""
    return page.inner_text(f"#{key}-top").split("\n")[1].strip()


def test_a_visitor_compares_teacher_and_student_in_a_real_browser(browser_page):
    page, errors = browser_page
    expect = playwright.expect
    predictor = shared_predictor()
    examples = load_examples(ROOT / "examples")
    # Any example but the one the page opens on, so the answer visibly changes.
    example = examples[(first_disagreement(examples) + 1) % len(examples)]
    picture = ROOT / "examples" / example.file

    # The page opens on a cached example, its charts drawn.
    expect(page.locator("#teacher-chart g.mark-rect path")).to_have_count(len(predictor.classes), timeout=WAIT_MS)

    page.get_by_label("Remove Image").click()
    page.locator("#picture input[type=file]").set_input_files(str(picture))
    page.locator("#text textarea").fill(example.text)
    temperature = float(page.input_value("#temperature input[type=number]"))
    page.locator("#ask").click()

    asked = predictor.predict(picture, example.text, temperature=temperature)
    verdict = f"at T = {temperature:g}: {asked.kl_teacher_student:.3f} nats"
    expect(page.locator("#comparison")).to_contain_text(verdict, timeout=WAIT_MS)
    assert shown_label(page, "teacher") == asked.teacher.label
    assert shown_label(page, "student") == asked.student.label
    expect(page.locator("#comparison")).to_contain_text("They agree" if asked.agree else "They disagree")
    for key, answer in (("teacher", asked.teacher), ("student", asked.student)):
        assert_chart_shows(page, key, answer.soft_probs)

    # Eight steps of 0.5 to the right: the soft labels are re-softened, the answers stay,
    # and no model runs again (this request's latencies do not change).
    latencies = re.search(r"latency, this request.*", page.inner_text("#comparison")).group(0)
    page.locator("#temperature input[type=range]").focus()
    for _ in range(8):
        page.keyboard.press("ArrowRight")
    hotter = asked.at_temperature(temperature + 4)
    verdict = f"at T = {hotter.temperature:g}: {hotter.kl_teacher_student:.3f} nats"
    expect(page.locator("#comparison")).to_contain_text(verdict, timeout=WAIT_MS)
    for key, answer in (("teacher", hotter.teacher), ("student", hotter.student)):
        expect(page.locator(f"#{key}-chart g.mark-rect path")).to_have_count(len(predictor.classes))
        assert_chart_shows(page, key, answer.soft_probs)
    assert shown_label(page, "teacher") == asked.teacher.label and shown_label(page, "student") == asked.student.label
    assert re.search(r"latency, this request.*", page.inner_text("#comparison")).group(0) == latencies
    assert re.search(r"latency, this request\s+[0-9.]+ ms\s+[0-9.]+ ms", page.inner_text("#comparison"))
    assert re.search(r"speed-up\s+baseline\s+[0-9.]+x faster", page.inner_text("#comparison"))

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "demo.png"), full_page=True)
    assert (SCREENSHOTS / "demo.png").stat().st_size > 10_000
    assert not errors, errors


def test_the_results_tab_draws_the_test_table_and_the_training_curves(browser_page):
    page, errors = browser_page
    page.get_by_role("tab", name="Results").click()
    playwright.expect(page.locator("#results-table")).to_contain_text("student_scratch", timeout=WAIT_MS)
    for name in load_metrics(CHECKPOINTS / "metrics.json")["models"]:  # the cross-modal students too, where shipped
        playwright.expect(page.locator("#results-table")).to_contain_text(name)
    playwright.expect(page.locator("#results-how")).to_contain_text("labels only")
    for chart in ("#per-class-teacher", "#per-class-student", "#curve-val_accuracy", "#curve-loss"):
        playwright.expect(page.locator(f"{chart} svg.marks").first).to_be_visible(timeout=WAIT_MS)
    playwright.expect(page.locator("#per-class-student g.mark-rect path")).to_have_count(len(shared_predictor().classes))
    models = load_metrics(CHECKPOINTS / "metrics.json")["models"]
    playwright.expect(page.locator("#curve-val_accuracy g.mark-line path")).to_have_count(len(models))  # a line per model
    page.screenshot(path=str(SCREENSHOTS / "results.png"), full_page=True)
    assert not errors, errors


def start_training(page, epochs: int) -> None:
    """On the "Distill it yourself" tab, `epochs` epochs and the other settings as they are: Train."""
    if not (CHECKPOINTS / TEACHER_OUTPUTS_FILE).is_file():
        pytest.skip(f"no {TEACHER_OUTPUTS_FILE} in {CHECKPOINTS}: the live tab is off")
    page.get_by_role("tab", name="Distill it yourself").click()
    box = page.locator("#live-epochs input[type=number]")
    box.fill(str(epochs))
    box.press("Enter")
    page.locator("#live-train").click()


def test_a_visitor_distills_a_student_of_their_own_and_it_answers_on_the_demo_tab(browser_page):
    page, errors = browser_page
    expect = playwright.expect
    start_training(page, epochs=2)

    # Each epoch's numbers show as it ends, then the summary; the curves have every epoch.
    expect(page.locator("#live-status")).to_contain_text("Epoch 1 of 2", timeout=90_000)
    expect(page.locator("#live-status")).to_contain_text("Your student trained 2 epochs", timeout=90_000)
    expect(page.locator("#live-accuracy g.mark-line path")).to_have_count(len(live_page.CURVE_LABELS), timeout=WAIT_MS)
    expect(page.locator("#live-loss g.mark-line path")).to_have_count(len(live_page.LOSS_TERMS), timeout=WAIT_MS)
    row = page.locator("#live-comparison").get_by_role("row", name=re.compile("^your student"))
    expect(row).to_contain_text("distilled at T = 4, alpha = 0.9, 10% of labels, 2 epochs")
    summary = page.inner_text("#live-status")
    accuracy = re.search(r"accuracy ([0-9]\.[0-9]{3}), agreement with the teacher ([0-9]\.[0-9]{3})", summary)
    expect(row).to_contain_text(accuracy.group(1))
    expect(row).to_contain_text(accuracy.group(2))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "live.png"), full_page=True)

    # Back on the Demo tab, the visitor's student has answered the question on the page.
    page.get_by_role("tab", name="Demo").click()
    others = page.locator("#others")
    expect(others).to_contain_text("your student", timeout=WAIT_MS)
    mine = others.locator("tr", has_text="your student")
    some_class = re.compile("|".join(map(re.escape, shared_predictor().classes)))
    expect(mine).to_contain_text(some_class, timeout=WAIT_MS)
    page.screenshot(path=str(SCREENSHOTS / "live-demo.png"), full_page=True)

    # A cached example has no visitor's student in it: theirs answers it as it loads.
    examples, asked, before = load_examples(ROOT / "examples"), page.input_value("#text textarea"), mine.inner_text()
    index = next(i for i, e in enumerate(examples) if e.text != asked)
    page.locator("button.gallery-item").nth(index).click()
    expect(page.locator("#text textarea")).to_have_value(examples[index].text, timeout=WAIT_MS)
    expect(page.locator("#teacher-top")).to_contain_text(examples[index].teacher, timeout=WAIT_MS)
    expect(mine).not_to_have_text(before, timeout=WAIT_MS)
    expect(mine).not_to_contain_text("not asked yet", timeout=WAIT_MS)
    expect(mine).to_contain_text(some_class)
    assert not errors, errors


def test_the_stop_button_ends_a_run_and_keeps_its_best_epoch(browser_page):
    page, errors = browser_page
    expect = playwright.expect
    start_training(page, epochs=live.MAX_EPOCHS)
    expect(page.locator("#live-status")).to_contain_text(f"Epoch 1 of {live.MAX_EPOCHS}", timeout=90_000)
    page.locator("#live-stop").click()
    expect(page.locator("#live-status")).to_contain_text("Stopped, as you asked. Your student trained", timeout=WAIT_MS)
    trained = int(re.search(r"trained (\d+) epochs? in", page.inner_text("#live-status")).group(1))
    assert trained < live.MAX_EPOCHS
    row = page.locator("#live-comparison").get_by_role("row", name=re.compile("^your student"))
    expect(row).to_contain_text(f"{trained} epoch")
    assert not errors, errors
