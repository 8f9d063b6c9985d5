"""rulelab playground driven as a person would: a real page in headless Chromium (Playwright).

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``), launched by path: no
browser is ever downloaded.  Without it, or without Playwright, these tests skip and say why.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rulelab.playground.server import BackgroundServer

# Bounds on waits, not performance checks: with an empty kernel cache (a fresh clone) and the
# other test worker compiling too, the page's first runs wait for their kernels to compile.
WAIT_MS = 300_000

CHROMIUM = os.environ.get("RULELAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    with sync_api.sync_playwright() as p:
        # Root (CI) cannot use Chromium's sandbox; nothing but our own local page is opened.
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def served():
    background = BackgroundServer()
    with background as url:
        yield url, background.app.state.runs


@pytest.fixture
def page(browser, served):
    context = browser.new_context(viewport={"width": 1300, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors  # no script error on the page, whatever the test did


def frames_after(page, count: int) -> None:
    page.wait_for_function(f"window.__pg.frames >= {count}", timeout=WAIT_MS)


def panel_images(page) -> list[str]:
    return page.eval_on_selector_all("#panels canvas.regions", "cs => cs.map(c => c.toDataURL())")


def test_pick_a_dataset_add_two_rules_play_and_export_what_rulelab_run_reproduces(page, served, tmp_path):
    url, runs = served
    page.goto(url)
    frames_after(page, 1)
    page.select_option("#dataset", "circles")
    page.wait_for_function("window.__pg.runs >= 2", timeout=WAIT_MS)
    for rule in ("perceptron", "openai_es"):
        before = page.evaluate("window.__pg.runs")
        page.select_option("#add-rule-name", rule)
        page.click("#add-rule")
        page.wait_for_function(f"window.__pg.runs > {before}", timeout=WAIT_MS)
    labels = page.eval_on_selector_all("#panels .label", "ls => ls.map(l => l.textContent)")
    assert labels == ["backprop", "feedback_alignment", "perceptron", "openai_es"]
    start = panel_images(page)
    page.click("#play")
    page.wait_for_function("window.__pg.clock >= 12", timeout=WAIT_MS)
    page.click("#play")  # pause
    page.wait_for_function("document.querySelector('#play').textContent === 'Play'")
    after = panel_images(page)
    assert all(a != b for a, b in zip(start, after)), "every rule's regions move as it trains"
    curves = page.evaluate("state.curves")
    assert all(len(c["epoch"]) == c["epoch"][-1] + 1 >= 13 for c in curves)
    assert all(len(set(c["train_loss"])) > 3 for c in curves), "the loss curves change"
    clock = page.evaluate("state.clock")
    # Hidden units' outputs are drawn for the rules that have hidden layers.
    assert page.eval_on_selector_all(".panel:first-child .hidden-units canvas", "cs => cs.length") == 8

    with page.expect_download() as download:
        page.click("#export-yaml")
    exported = tmp_path / "playground.yaml"
    download.value.save_as(exported)
    assert f"epochs: {clock}" in exported.read_text()
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "rulelab.cli", "run", str(exported), "--out", str(out),
                           "--no-plots", "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    table: dict[tuple[str, int, str], float] = {}
    with open(out / "metrics.csv") as f:
        for row in csv.DictReader(f):
            table[row["rule"], int(row["epoch"]), row["metric"]] = float(row["value"])
    for label, curve in zip(labels, curves):
        for metric in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
            for epoch, shown in zip(curve["epoch"], curve[metric]):
                # The page shows 6 significant digits of the very same numbers.
                assert shown == float(f"{table[label, epoch, metric]:.6g}"), (label, epoch, metric)
        assert max(e for (r, e, _) in table if r == label) == clock
    # And exactly: the server's live runs against the run folder, every metric but the wall clock.
    live = runs.get(page.evaluate("state.run")).lab
    for session in live.sessions:
        for epoch, metric, value in session.record.all_rows():
            if metric != "wall_seconds":
                assert table[session.plan.label, epoch, metric] == value


ADDRESS_HOLDS_FOUR_LAYERS_AND_SEED_5 = """() => {
    const text = location.hash.slice(1);
    if (!text) return false;
    const bytes = Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    const scenario = JSON.parse(new TextDecoder().decode(bytes)).scenario;
    return scenario.seed === 5 && scenario.network.layers.length === 4;
}"""


def test_the_address_carries_the_state_and_yaml_opens(page, served, tmp_path):
    url, _ = served
    page.goto(url)
    frames_after(page, 1)
    page.fill("#seed", "5")
    page.dispatch_event("#seed", "change")
    page.fill("#hidden", "4, 3")
    page.dispatch_event("#hidden", "change")
    # Wait for the address itself: the state changes as the input does, the address only once the run it
    # started is back (the seed's run alone could satisfy a wait on the state; CI caught that race once).
    page.wait_for_function(ADDRESS_HOLDS_FOUR_LAYERS_AND_SEED_5, timeout=WAIT_MS)
    link = page.url
    assert "#" in link
    page.goto("about:blank")
    page.goto(link)
    frames_after(page, 1)
    scenario = page.evaluate("state.scenario")
    assert scenario["seed"] == 5 and scenario["network"]["layers"] == [2, 4, 3, 1]
    assert page.input_value("#hidden") == "4, 3"
    # Open a file: the playground's own shipped scenario (its first comparison).
    path = Path(__file__).resolve().parent.parent / "scenarios" / "playground.yaml"
    before = page.evaluate("window.__pg.runs")
    page.set_input_files("#open-yaml", str(path))
    page.wait_for_function(f"window.__pg.runs > {before}", timeout=WAIT_MS)
    assert page.input_value("#dataset") == "playground_circle"
    assert "4 comparisons" in page.inner_text("#notes")
    labels = page.eval_on_selector_all("#panels .label", "ls => ls.map(l => l.textContent)")
    assert labels == ["perceptron", "delta"]
    # A bad value gets the server's message with its key path, and the last good run stays.
    page.fill("#epochs", "1000000000")
    page.dispatch_event("#epochs", "change")
    page.wait_for_selector("#problems:not([hidden])")
    assert "train.epochs" in page.inner_text("#problems")


def test_hopfield_recalls_a_stored_pattern_from_a_corrupted_cue(page, served):
    url, _ = served
    page.goto(url)
    page.wait_for_function("window.__pg.ready === true")
    page.click("#tab-hopfield")
    page.wait_for_selector("#hf-patterns figure")
    # Draw a fourth pattern by hand: a frame around the grid, stored beside the three letters.
    page.click("#hf-clear")
    box = page.locator("#hf-draw").bounding_box()
    cell = box["width"] / 10
    border = {(x, y) for k in range(10) for (x, y) in ((k, 0), (k, 9), (0, k), (9, k))}
    for x, y in sorted(border):  # a click turns a cell on (and a second click off again)
        page.mouse.click(box["x"] + (x + 0.5) * cell, box["y"] + (y + 0.5) * cell)
    page.click("#hf-add")
    assert page.eval_on_selector_all("#hf-patterns figure", "fs => fs.length") == 4
    stored = page.evaluate("state.hopfield.patterns[3]")
    assert sum(v > 0 for v in stored) == 36
    page.select_option("#hf-rule", "storkey")
    page.locator("#hf-patterns figure").nth(0).click()
    page.click("#hf-corrupt")
    cue = page.evaluate("state.hopfield.cue")
    target = page.evaluate("state.hopfield.patterns[0]")
    assert sum(a != b for a, b in zip(cue, target)) == 20
    page.click("#hf-play")
    page.wait_for_function("document.querySelector('#hf-result').dataset.outcome === 'target'", timeout=WAIT_MS)
    assert page.evaluate("traceState().bits") == target
    energies = page.evaluate("traceState().energies")
    assert energies[-1] < energies[0] and all(b <= a + 1e-9 for a, b in zip(energies, energies[1:]))
    assert page.evaluate("window.__pg.hopfieldSteps") > 100  # replayed one unit update at a time
    # The view's state is an association scenario, in the address too.
    state = json.loads(page.evaluate("JSON.stringify(decodeState(location.hash.slice(1)))"))
    assert state["view"] == "hopfield" and state["scenario"]["task"]["association"]["cues"] == [cue]
