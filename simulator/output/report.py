"""report.html: one self-contained page — scenario, summary table, every figure — no server, no network."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import yaml

from rulelab.output.plots import Run

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2rem; } .muted { color: #666; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
td.note { text-align: left; max-width: 22rem; }
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

SUMMARY_COLUMNS = ("rule", "family", "mean", "ci95", "best", "worst", "converged", "diverged",
                   "epochs_to_criterion", "forward_passes_to_criterion", "wall_seconds", "difference",
                   "p_value", "note")


def _summary_table(run: Run) -> str:
    if not run.summary:
        return "<p>No finished runs.</p>"
    columns = [c for c in SUMMARY_COLUMNS if c in run.summary[0]]
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)
    body = []
    for row in run.summary:
        cells = "".join(f'<td class="{c}">{html.escape(str(row.get(c, "")))}</td>' for c in columns)
        body.append(f"<tr>{cells}</tr>")
    metric = html.escape(run.summary[0].get("metric", ""))
    return (f"<p>Main metric: <b>{metric}</b> at the end of training; mean ± 95 % CI over seeds; "
            f"p: paired t-test against the first rule over the same seeds.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = path.stem.replace("-", " ")
    return (f'<figure data-figure="{html.escape(path.stem)}"><img alt="{html.escape(name)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(name)}</figcaption></figure>')


def write_report(run: Run) -> Path:
    """Write ``report.html`` in the run directory, figures embedded; returns its path."""
    figures = sorted(set(run.figures)) or sorted((run.path / "figures").glob("*.png"))
    description = html.escape(str(run.resolved.get("description", "")).strip())
    scenario_text = html.escape(yaml.safe_dump(run.resolved, sort_keys=False, allow_unicode=True))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(run.name)} — rulelab report</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(run.name)}</h1><p class="muted">rulelab run in {html.escape(str(run.path))}</p>
<p>{description}</p>
<h2>Summary</h2>{_summary_table(run)}
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
    for name, run in runs:
        figures = sorted(set(run.figures)) or sorted((run.path / "figures").glob("*.png"))
        sections.append(f"<h2>Task: {html.escape(name)}</h2>{_summary_table(run)}"
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
