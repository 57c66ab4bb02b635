"""A visitor in a real browser (Debian's Chromium, driven by Playwright): uploads a picture,
types its name, asks, moves the temperature slider, and reads what both models said; then
trains a student of their own and sees it answer beside ours.

Saves a screenshot of every tab at 1400 x 900 and 390 x 844 (and live.png, live-demo.png)
to artifacts/screenshots/ for people to look at.
"""

import re
import time
from pathlib import Path

import pytest
from conftest import ROOT
from demo_helpers import (
    CHECKPOINTS,
    launched_app,
    shared_predictor,
    torch_threads_as_in_the_app,  # noqa: F401 (autouse fixture)
)

from kd.data.images import NOT_AN_IMAGE
from kd.layout import EXPORTED, TEACHER_OUTPUTS_FILE, display_name
from kd.serving import live, live_page
from kd.serving.examples import load_examples, split_by_agreement
from kd.serving.results import load_metrics

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
PREPARE_MS = 120_000  # the live tab's data, prepared as the server starts
VIEWPORT = {"width": 1400, "height": 900}  # a laptop, as a presenter's
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser_page():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with launched_app() as demo, playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(demo.local_url)
        yield page, errors
        browser.close()


def chart_shows(page) -> dict[str, float]:
    """The soft-label chart as drawn: per class and model ("Food & Drink/teacher"), its bar's width (0-1)."""
    rows = page.locator("#chart .kd-row")
    found = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        name = row.locator(".kd-class").inner_text().strip()
        for who in ("teacher", "student"):
            width = re.search(r"width:\s*([0-9.]+)%", row.locator(f".kd-{who}").get_attribute("style")).group(1)
            found[f"{name}/{who}"] = float(width) / 100
    return found


def assert_chart_shows(page, prediction) -> None:
    expected = {f"{c}/{who}": getattr(prediction, who).soft_probs[c] for c in prediction.classes for who in ("teacher", "student")}
    for _ in range(WAIT_MS // 100):
        if chart_shows(page) == pytest.approx(expected, abs=1e-3):
            return
        page.wait_for_timeout(100)
    assert chart_shows(page) == pytest.approx(expected, abs=1e-3)


def set_temperature(page, value: float) -> None:
    box = page.locator("#temperature input[type=number]")
    box.fill(f"{value:g}")
    box.press("Enter")


def test_a_visitor_compares_teacher_and_student_in_a_real_browser(browser_page):
    page, errors = browser_page
    expect = playwright.expect
    predictor = shared_predictor()
    agreeing, _ = split_by_agreement(load_examples(ROOT / "examples"))
    # The page opens on an example both models answer alike, its chart in the first screen.
    expect(page.locator("#verdict")).to_contain_text("They agree", timeout=WAIT_MS)
    expect(page.locator("#chart .kd-row")).to_have_count(len(predictor.classes))
    box = page.locator("#chart").bounding_box()
    assert box["y"] + box["height"] <= VIEWPORT["height"], box

    # A visitor's own picture and text: Enter asks.
    example = agreeing[1]
    picture = ROOT / "examples" / example.file
    page.get_by_label("Remove Image").click()
    page.locator("#picture input[type=file]").set_input_files(str(picture))
    page.locator("#text textarea").fill(example.text)
    page.locator("#text textarea").press("Enter")
    temperature = float(page.input_value("#temperature input[type=number]"))
    asked = predictor.predict(picture, example.text, temperature=temperature)
    expect(page.locator("#verdict")).to_contain_text(f"**{asked.kl_teacher_student:.3f}**".strip("*"), timeout=WAIT_MS)
    expect(page.locator("#verdict")).to_contain_text(f"both say {asked.teacher.label}" if asked.agree else "They disagree")
    assert_chart_shows(page, asked)
    # Shrinking the picture is shared work, said apart from the models' own times.
    expect(page.locator("#notes")).to_contain_text("Preparing the picture", timeout=WAIT_MS)

    # The slider re-softens: the chart's title gives T, no model runs again (latencies stay).
    latencies = re.search(r"latency\s.*", page.inner_text("#comparison")).group(0)
    set_temperature(page, temperature + 4)
    hotter = asked.at_temperature(temperature + 4)
    expect(page.locator("#chart")).to_contain_text(f"T = {hotter.temperature:g}", timeout=WAIT_MS)
    assert_chart_shows(page, hotter)
    assert re.search(r"latency\s.*", page.inner_text("#comparison")).group(0) == latencies
    assert re.search(r"speed-up\s+baseline\s+[0-9.]+x faster", page.inner_text("#comparison"))

    # An example keeps the temperature the visitor chose.
    set_temperature(page, 9)
    page.locator("button.gallery-item").nth(0).click()
    expect(page.locator("#text textarea")).to_have_value(agreeing[0].text, timeout=WAIT_MS)
    expect(page.locator("#chart")).to_contain_text("T = 9", timeout=WAIT_MS)
    assert page.input_value("#temperature input[type=number]") == "9"

    # A broken file clears the previous answer and says why.
    page.get_by_label("Remove Image").click()
    page.locator("#picture input[type=file]").set_input_files(
        files=[{"name": "broken.png", "mimeType": "image/png", "buffer": b"this is a text file, not a picture"}])
    expect(page.locator("#notes")).to_contain_text("not an image we can read", timeout=WAIT_MS)
    # and says it where the visitor is looking too (a toast), not only under the button, off a phone's screen
    expect(page.locator("[data-testid=toast-text]").last).to_contain_text("not an image we can read", timeout=WAIT_MS)
    page.locator("[data-testid=toast-close]").last.click()
    expect(page.locator("#chart .kd-row")).to_have_count(0)
    expect(page.locator("#verdict")).to_have_text("")
    assert not errors, errors


def test_a_text_file_or_a_pdf_gets_the_plain_message_of_a_broken_picture(browser_page):
    """The picture box refuses them in the browser (not image/*): the page says what it says of
    a text file renamed .png, and the picture and its answer stay as they were."""
    page, errors = browser_page
    page.get_by_role("tab", name="Demo").click()
    for name, mime in (("notes.txt", "text/plain"), ("report.pdf", "application/pdf")):
        page.locator("#picture input[type=file]").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": b"not a picture"}])
        toast = page.locator("[data-testid=toast-text]").last
        playwright.expect(toast).to_have_text(NOT_AN_IMAGE, timeout=WAIT_MS)
        page.locator("[data-testid=toast-close]").first.click()
    assert not errors, errors


def test_removing_the_picture_never_brings_back_its_answer(browser_page):
    """The picture's clear button: the models answer from the text alone, or, with no text,
    the answer is cleared; the removed picture's answer never comes back."""
    page, errors = browser_page
    expect = playwright.expect
    page.get_by_role("tab", name="Demo").click()
    example = load_examples(ROOT / "examples")[0]
    for text in (example.text, ""):
        if page.get_by_label("Remove Image").count():
            page.get_by_label("Remove Image").click()
        page.locator("#picture input[type=file]").set_input_files(str(ROOT / "examples" / example.file))
        page.locator("#text textarea").fill(text)
        page.locator("#ask").click()
        expect(page.locator("#notes")).to_contain_text("answered from the picture", timeout=WAIT_MS)
        page.get_by_label("Remove Image").click()
        if text:
            expect(page.locator("#notes")).to_contain_text("answered from the text", timeout=WAIT_MS)
            expect(page.locator("#notes")).to_contain_text("No picture was given")
        else:
            expect(page.locator("#verdict")).to_have_text("", timeout=WAIT_MS)
            expect(page.locator("#chart .kd-row")).to_have_count(0)
        page.wait_for_timeout(2000)  # a late answer from the removed picture would have come by now
        expect(page.locator("#notes")).not_to_contain_text("answered from the picture")
    assert not errors, errors


# Each word of the cells' text, drawn on more than one line: a header broken inside a word ("accura|cy").
WORDS_BROKEN = """cells => cells.flatMap(cell => {
  const broken = [], walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node; (node = walker.nextNode());) {
    for (const m of node.textContent.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      if (new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size > 1) broken.push(m[0]);
    }
  }
  return broken;
})"""


def words_broken(page, cells: str) -> list[str]:
    return page.locator(cells).evaluate_all(WORDS_BROKEN)


def not_shown(page, cells: str) -> list[str]:
    """The cells whose text overflows them (cut, or hidden past their edge)."""
    return page.locator(cells).evaluate_all("cells => cells.filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent)")


def test_every_tab_fits_a_phone_and_a_laptop_screen(browser_page):
    """No sideways scrolling at 390 x 844; a screenshot of each tab at both sizes."""
    page, errors = browser_page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.get_by_role("tab", name="Demo").click()
    page.locator("#text textarea").fill("grinning face")
    page.locator("#text textarea").press("Enter")
    page.locator("#others table").wait_for(timeout=WAIT_MS)  # the answer's two tables, to check on a phone too
    try:
        for tab in ("Demo", "Distill it yourself", "Results", "About"):
            for name, size in (("laptop", VIEWPORT), ("phone", PHONE)):
                page.set_viewport_size(size)
                page.wait_for_timeout(500)
                # Every tab in sight at either size (on a phone they wrap, not fold into a "..." menu).
                for other in ("Demo", "Distill it yourself", "Results", "About"):
                    playwright.expect(page.get_by_role("tab", name=other)).to_be_visible()
                page.get_by_role("tab", name=tab).click()
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= size["width"] + 1, (name, tab, wide)
                if tab == "Demo":  # a table too wide for a phone scrolls in its box, its words whole
                    assert words_broken(page, "#comparison :is(th, td), #others :is(th, td)") == [], name
                if tab == "Distill it yourself" and name == "laptop":  # the four sliders on one line, help texts of any length
                    tops = page.locator("#live-settings input[type=range]").evaluate_all("r => r.map(e => e.getBoundingClientRect().top)")
                    assert len(tops) == 4 and max(tops) - min(tops) < 2, tops
                if tab == "Results":
                    assert words_broken(page, "#results-table thead th") == [], name
                    assert not_shown(page, "#results-table thead th") == [], name
                slug = tab.lower().replace(" ", "-")
                page.screenshot(path=str(SCREENSHOTS / f"{slug}-{name}.png"), full_page=True)
    finally:
        page.set_viewport_size(VIEWPORT)
        page.get_by_role("tab", name="Demo").click()
    assert not errors, errors


def test_the_results_tab_draws_the_test_table_and_the_training_curves(browser_page):
    page, errors = browser_page
    page.get_by_role("tab", name="Results").click()
    playwright.expect(page.locator("#results-table")).to_contain_text("same student, labels only", timeout=WAIT_MS)
    for name in load_metrics(CHECKPOINTS / "metrics.json")["models"]:  # the cross-modal students too, where shipped
        playwright.expect(page.locator("#results-table")).to_contain_text(display_name(name))
    playwright.expect(page.locator("#results-how")).to_contain_text("labels only")
    for chart in ("#per-class-teacher", "#per-class-student", "#curve-val_accuracy", "#curve-loss"):
        playwright.expect(page.locator(f"{chart} svg.marks").first).to_be_visible(timeout=WAIT_MS)
    playwright.expect(page.locator("#per-class-student g.mark-rect path")).to_have_count(len(shared_predictor().classes))
    models = load_metrics(CHECKPOINTS / "metrics.json")["models"]
    trained = [name for name in models if name not in EXPORTED]  # an exported student has no curve of its own
    playwright.expect(page.locator("#curve-val_accuracy g.mark-line path")).to_have_count(len(trained))  # a line per model
    page.screenshot(path=str(SCREENSHOTS / "results.png"), full_page=True)
    assert not errors, errors


def start_training(page, epochs: int | None = None) -> None:
    """On the "Distill it yourself" tab, `epochs` epochs (None: the default) and the other settings as they are: Train."""
    if not (CHECKPOINTS / TEACHER_OUTPUTS_FILE).is_file():
        pytest.skip(f"no {TEACHER_OUTPUTS_FILE} in {CHECKPOINTS}: the live tab is off")
    page.get_by_role("tab", name="Distill it yourself").click()
    # Before any click, the page says what the students train on: the server prepared the data as it started.
    # A server on an empty cache also runs the students' frozen trunk over 5,680 pictures once
    # (~12 s on one idle core, longer on a busy CI machine): give it PREPARE_MS.
    playwright.expect(page.locator("#live-status")).to_contain_text("Training pictures: ", timeout=PREPARE_MS)
    if epochs is not None:
        box = page.locator("#live-epochs input[type=number]")
        box.fill(str(epochs))
        box.press("Enter")
    page.locator("#live-train").click()


def legend(page, plot: str) -> list[str]:
    """The names a plot's legend shows, as drawn (a cut name would end in an ellipsis)."""
    return [t.text_content().strip() for t in page.locator(f"{plot} g.role-legend-label text").all()]


def x_ticks(page, plot: str) -> list[str]:
    """The x axis's labels, as drawn."""
    axis = page.locator(f"{plot} g.role-axis[aria-label^='X-axis']")
    return [t.text_content().strip() for t in axis.locator("g.role-axis-label text").all()]


def comparison_rows(page):
    """The live comparison's rows, header first."""
    return page.locator("#live-comparison").get_by_role("row")


def test_a_visitor_distills_a_student_of_their_own_in_the_default_run_and_it_answers_on_the_demo_tab(browser_page):
    page, errors = browser_page
    expect = playwright.expect
    defaults = live.LiveSettings()
    start = time.monotonic()
    start_training(page)

    # The status says where the run is from its first second; each epoch's numbers show as
    # it ends, then the summary with the KD gain, well within the limit.
    expect(page.locator("#live-status")).to_contain_text(f"Training epoch 1 of {defaults.epochs}", timeout=5_000)
    expect(page.locator("#live-status")).to_contain_text(f"Your student trained {defaults.epochs} epochs", timeout=60_000)
    seconds = time.monotonic() - start
    print(f"\nbrowser: the default run, from the click to its summary, {seconds:.1f} s")
    assert seconds < live.TIME_LIMIT_S
    summary = page.inner_text("#live-status")
    assert re.search(r"the teacher added [+][0-9.]+ points|cost [0-9.]+ points|no difference", summary), summary
    # Both curves have both students, a line each, every legend entry whole; whole epochs on the axis.
    for plot, curves in (("#live-loss", live_page.LOSS_CURVES), ("#live-accuracy", live_page.ACCURACY_CURVES)):
        expect(page.locator(f"{plot} g.mark-line path")).to_have_count(len(curves), timeout=WAIT_MS)
        assert legend(page, plot) == [name for name, _ in curves.values()]
        assert x_ticks(page, plot) == [str(e) for e in range(1, defaults.epochs + 1)]

    # The comparison: your student first, highlighted, its labels-only twin beside it.
    rows = comparison_rows(page)
    mine, twin = rows.nth(1), rows.nth(2)
    expect(mine).to_contain_text(live_page.YOURS)
    expect(mine).to_contain_text(f"distilled at T = 4, alpha = 0.9, 10% of labels, {defaults.epochs} epochs")
    expect(twin).to_contain_text("same student, labels only, same 10% of labels")
    assert mine.get_by_role("gridcell").nth(1).evaluate("e => getComputedStyle(e).fontWeight") in ("700", "bold")
    assert twin.get_by_role("gridcell").nth(1).evaluate("e => getComputedStyle(e).fontWeight") not in ("700", "bold")
    scores = re.search(r"your student scores ([0-9]\.[0-9]{3}), the same student on the same 10% of labels alone ([0-9]\.[0-9]{3})",
                       summary)
    expect(mine).to_contain_text(scores.group(1))
    expect(twin).to_contain_text(scores.group(2))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, size in (("live", VIEWPORT), ("live-phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(500)
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"] + 1, name
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(VIEWPORT)

    # Back on the Demo tab, the visitor's student answers the next question too: a cached
    # example, which has no visitor's student in it, so theirs answers it as it loads.
    page.get_by_role("tab", name="Demo").click()
    agreeing, differing = split_by_agreement(load_examples(ROOT / "examples"))
    shown, asked = agreeing + differing, page.input_value("#text textarea")  # the galleries' order
    index = next(i for i, e in enumerate(shown) if e.text != asked)
    page.locator("button.gallery-item").nth(index).click()
    expect(page.locator("#text textarea")).to_have_value(shown[index].text, timeout=WAIT_MS)
    expect(page.locator("#verdict")).to_contain_text(shown[index].teacher, timeout=WAIT_MS)
    mine = page.locator("#others").locator("tr", has_text="your student")
    some_class = re.compile("|".join(map(re.escape, shared_predictor().classes)))
    expect(mine).to_contain_text(some_class, timeout=WAIT_MS)
    expect(mine).not_to_contain_text("not asked yet")
    page.screenshot(path=str(SCREENSHOTS / "live-demo.png"), full_page=True)
    assert not errors, errors


def test_the_stop_button_ends_a_run_and_keeps_its_best_epoch(browser_page):
    page, errors = browser_page
    expect = playwright.expect
    start_training(page, epochs=live.MAX_EPOCHS)
    expect(page.locator("#live-status")).to_contain_text(f"Epoch 1 of {live.MAX_EPOCHS}", timeout=90_000)
    page.locator("#live-stop").click()
    expect(page.locator("#live-status")).to_contain_text("Stopped, as you asked. Your student trained", timeout=WAIT_MS)
    trained = int(re.search(r"trained (\d+) epochs? with", page.inner_text("#live-status")).group(1))
    assert trained < live.MAX_EPOCHS
    expect(comparison_rows(page).nth(1)).to_contain_text(f"{trained} epoch")
    if trained == 1:  # one epoch: points, since a line through one point would draw nothing
        for plot, curves in (("#live-loss", live_page.LOSS_CURVES), ("#live-accuracy", live_page.ACCURACY_CURVES)):
            expect(page.locator(f"{plot} g.mark-line path")).to_have_count(0, timeout=WAIT_MS)
            expect(page.locator(f"{plot} g.mark-symbol path")).to_have_count(2 * len(curves))  # drawn, and the hover layer's
        page.screenshot(path=str(SCREENSHOTS / "live-one-epoch.png"), full_page=True)
    assert not errors, errors
