"""report.html: one self-contained page — scenario, summary table, every figure — no server, no network."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import yaml

from rulelab.output.objective_plots import objective_curves
from rulelab.output.sequence_plots import accuracy_against_length, sequence_figures, sequence_verdicts
from rulelab.output.plots import FIGURE_KINDS, Run, load_run

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1280px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } .muted { color: #666; }
table { border-collapse: collapse; font-size: 0.82rem; margin: 1rem 0; width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.45rem; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; white-space: normal; vertical-align: bottom; }
td:first-child, th:first-child, td:nth-child(2), th:nth-child(2) { text-align: left; }
td.note, th.note { text-align: left; white-space: normal; min-width: 9rem; line-height: 1.35; }
.wide { overflow-x: auto; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9rem; }
pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
"""

# After loading, the page records how many of its figures actually decoded, so a headless
# browser's DOM dump can prove that every embedded image renders.
_LOAD_CHECK = """<script>
window.addEventListener("load", function () {
  var imgs = document.querySelectorAll("figure img");
  var ok = 0;
  imgs.forEach(function (img) { if (img.complete && img.naturalWidth > 0) { ok += 1; } });
  document.body.setAttribute("data-figures", String(imgs.length));
  document.body.setAttribute("data-figures-rendered", String(ok));
});
</script>"""

# (header, how a summary row is shown) in the order of the table.
def _people(value: object, digits: int = 3) -> str:
    """A number as a person reads it: 3 significant digits, no trailing noise; '' stays ''."""
    number = _number(value)
    if number is None:
        return html.escape(str(value)) if value not in (None, "") else "—"
    if number == 0:
        return "0"
    return f"{number:.{digits}g}"


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _whole(value: object) -> str:
    """Counts (epochs, forward passes): whole numbers with thousands separators."""
    number = _number(value)
    return "—" if number is None else f"{round(number):,}".replace(",", "\u2009")


def _p_value(value: object) -> str:
    number = _number(value)
    if number is None:
        return "—"
    return "p < 0.0001" if number < 1e-4 else f"p = {number:.2g}"


def _mean_ci(row: dict) -> str:
    mean, half = _number(row.get("mean")), _number(row.get("ci95"))
    if mean is None:
        return "—"
    return f"{mean:.3g} ± {half:.2g}" if half is not None else f"{mean:.3g}"


def _verdict(row: dict) -> str:
    """The paired test in words: better / worse / no significant difference, with its p-value."""
    if row.get("vs_reference") == "reference" or _number(row.get("p_value")) is None:
        return "—"
    words = str(row.get("comparison") or "")
    word = "better" if words.startswith("better") else "worse" if words.startswith("worse") else "no difference"
    return f"{word}<br><small>{_p_value(row.get('p_value'))}</small>"


def _difference(row: dict) -> str:
    if row.get("vs_reference") == "reference":
        return "reference"
    number = _number(row.get("difference"))
    return "—" if number is None else f"{number:+.3g}"


COLUMNS = (
    ("rule", lambda r: html.escape(str(r.get("rule", "")))),
    ("family", lambda r: html.escape(str(r.get("family", "")))),
    ("mean ± 95 % CI", _mean_ci),
    ("best", lambda r: _people(r.get("best"))),
    ("worst", lambda r: _people(r.get("worst"))),
    ("converged", lambda r: html.escape(str(r.get("converged", "")))),
    ("diverged", lambda r: html.escape(str(r.get("diverged", "")))),
    ("epochs to criterion", lambda r: _whole(r.get("epochs_to_criterion"))),
    ("forward passes to criterion", lambda r: _whole(r.get("forward_passes_to_criterion"))),
    ("wall s", lambda r: _people(r.get("wall_seconds"))),
    ("Δ vs reference", _difference),
    ("paired test", lambda r: _verdict(r)),
    ("note", lambda r: html.escape(str(r.get("problems", r.get("note")) or "")).replace("; ", ";<br>")),
)


def _summary_table(run: Run) -> str:
    if not run.summary:
        return "<p>No finished runs.</p>"
    head = "".join(f'<th class="{"note" if name == "note" else ""}">{html.escape(name)}</th>' for name, _ in COLUMNS)
    body = []
    for row in run.summary:
        cells = "".join(f'<td class="{"note" if name == "note" else ""}">{show(row)}</td>' for name, show in COLUMNS)
        body.append(f"<tr>{cells}</tr>")
    first = run.summary[0]
    metric = html.escape(str(first.get("metric", "")).replace("_", " "))
    budget = html.escape(str(first.get("budget", "")))
    return (f"<p>Each row is one rule over every seed. <b>{metric}</b> at the end of training: mean and "
            f"95 % confidence interval (Student t) over seeds; best and worst seed. Δ and the paired t-test "
            f"compare each rule with <b>{html.escape(str(first.get('rule', '')))}</b> on the same seeds "
            f"(5 % level). Budget: {budget}.</p>"
            f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


# What each figure shows, for its caption (by the start of its file name).
CAPTIONS = (
    ("learning-curves-forward-passes", "The same curves against forward passes (samples × members for a "
     "population): what each rule paid for its progress. Log scale."),
    ("learning-curves-wall-time", "The same curves against training wall time (evaluation excluded)."),
    ("learning-curves", "Accuracy and loss after every epoch: the mean over seeds (line) and its 95 % confidence "
     "interval (band). A seed that stopped early keeps its last value."),
    ("decision-boundaries", "The class each rule predicts over the input plane after training (first seed), "
     "with the training points."),
    ("objective-vs-evaluations", "Black-box objective: the best f(x) found so far against evaluations of f, "
     "one line per seed, both axes logarithmic; the dashed line is the target of train.stop.objective."),
    ("es-fitness", "Evolution strategies: the best and mean fitness of each generation's population "
     "(band: ±1 standard deviation within the population)."),
    ("pc-angles", "Angle between each unit's weight vector and the corresponding principal component of the "
     "data (0° = found it), and the largest weight norm (bounded rules stay near 1)."),
    ("overlap-vs-noise", "Overlap m = ξ·v/N between the recalled state and the stored pattern against the "
     "fraction of the cue's units flipped (1 = perfect recall)."),
    ("overlap-vs-load", "Overlap after recall against the load α = p/N; the dashed line is the Hebbian "
     "capacity 0.138 of an infinite network."),
    ("recall-", "Stored patterns, then for each cue-noise level the corrupted cue and the state recall "
     "ended in (first seed)."),
    ("weights-", "First-layer weights of each unit drawn as an image (receptive fields), first seed."),
    ("filters-", "The first conv layer's filters (kernels), first seed: what each channel responds to; red "
     "positive, blue negative, one colour scale."),
    ("feature-maps-", "One test input through every layer (first seed): each channel's feature map, a "
     "signal's channels as rows, a dense layer's units as a strip."),
    ("hebbian-filters-", "A Hebbian rule's conv filters as they form: the kernels before its stage and after "
     "some of its epochs (rows), first seed."),
    ("activation-maximisation-", "Inputs that maximise each unit, found by gradient ascent with the weights "
     "fixed."),
    ("adversarial-", "Test inputs (top) and the smallest perturbations found that change the predicted class "
     "(bottom): true → predicted class and the size ε of the perturbation."),
    ("rnn-hidden-states", "Recurrent nets: the first hidden units' states s_t along one test sequence with the "
     "final weights of each rule (first seed)."),
    ("rnn-loss-per-step", "Recurrent nets: the mean loss d_t at every step on test sequences (a sequence "
     "classified at its last step is scored against its class at every step: when the answer is there); dashed: "
     "the shared initial weights."),
    ("rnn-gradient-norm-vs-steps-back", "Recurrent nets: the norm of the last step's error backpropagated j steps "
     "back, ‖∂d_T/∂h_{T−j}‖, averaged over test sequences (log scale): a falling line is a vanishing gradient, a "
     "rising one an exploding gradient. Computed by full BPTT on each rule's final weights."),
    ("accuracy-vs-", "Each rule's final test accuracy against the task's delay (or sequence length), one dot per "
     "seed, the line through the means."),
    ("perturbations-", "The perturbations alone (adversarial input minus original), on a symmetric colour "
     "scale."),
)


def caption(stem: str) -> str:
    for prefix, text in CAPTIONS:
        if stem.startswith(prefix):
            return text
    return stem.replace("-", " ")


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = path.stem.replace("-", " ")
    return (f'<figure data-figure="{html.escape(path.stem)}"><img alt="{html.escape(name)}" '
            f'src="data:image/png;base64,{data}"><figcaption><b>{html.escape(name)}.</b> '
            f'{html.escape(caption(path.stem))}</figcaption></figure>')


def write_report(run: Run) -> Path:
    """Write ``report.html`` in the run directory, figures embedded; returns its path."""
    figures = list(dict.fromkeys(run.figures)) or sorted((run.path / "figures").glob("*.png"))
    description = html.escape(str(run.resolved.get("description", "")).strip())
    scenario_text = html.escape(yaml.safe_dump(run.resolved, sort_keys=False, allow_unicode=True))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(run.name)} — rulelab report</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(run.name)}</h1><p class="muted">rulelab run in {html.escape(str(run.path))}</p>
<p>{description}</p>
<h2>Summary</h2>{_summary_table(run)}{sequence_verdicts(run)}
<h2>Figures</h2>{''.join(_figure(p) for p in figures) or '<p>No figures.</p>'}
<h2>Scenario as run</h2><pre>{scenario_text}</pre>
{_LOAD_CHECK}
</body></html>
"""
    out = run.path / "report.html"
    out.write_text(page, encoding="utf-8")
    return out


def write_combined_report(out: Path, runs: list[tuple[str, Run]], title: str, description: str) -> Path:
    """One page for a file with several tasks: each task's summary and figures, in order."""
    sections = []
    across = accuracy_against_length(out, runs)
    if across is not None:
        sections.append(f"<h2>Across tasks</h2>{_figure(across)}")
    for name, run in runs:
        figures = list(dict.fromkeys(run.figures)) or sorted((run.path / "figures").glob("*.png"))
        sections.append(f"<h2>Task: {html.escape(name)}</h2>{_summary_table(run)}{sequence_verdicts(run)}"
                        f"{''.join(_figure(p) for p in figures)}")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} — rulelab report</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(title)}</h1><p>{html.escape(description.strip())}</p>
{''.join(sections)}
{_LOAD_CHECK}
</body></html>
"""
    path = Path(out) / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


# Figures, then the page that shows them: here, beside write_report, so that the figure module never
# imports the report back.
def plot_run(path: str | Path, records=None, scenario=None, svg: bool = False) -> Run:
    """Every figure that applies to this run, then the HTML report; returns the run with its figures.

    ``records`` and ``scenario``, when the caller has them in memory, save reading and
    validating them again (see :func:`load_run`)."""
    run = load_run(path, records, scenario)
    run.svg = svg
    for _, make in FIGURE_KINDS + (("objective against evaluations", objective_curves),
                                   ("recurrent nets", sequence_figures)):
        make(run)
    write_report(run)
    return run
