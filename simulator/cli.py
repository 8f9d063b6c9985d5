"""The ``rulelab`` command line: parse, call the library, print.

Heavy imports (Numba kernels, the engine) happen inside commands, so
``rulelab --help`` answers at once.  Exit codes: 0 success, 2 bad input
(scenario, options), 1 any other failure, 130 interrupted.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

from rulelab import __version__

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


class RulelabGroup(click.Group):
    """The command group, with a last resort: whatever the input, no command ends in a traceback.

    Bad input is reported by each command (exit 2).  Anything that escapes is a bug in rulelab:
    a short message, where to report it, exit 1; ``rulelab --debug …`` shows the traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own: usage errors (exit 2) and exits
        except KeyboardInterrupt:  # outside a run (a run keeps what finished and exits 130 itself)
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:  # `rulelab validate … | head`: the reader has all it wanted
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush at exit
            ctx.exit(0)
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(internal_error_message(exc), err=True)
            ctx.exit(EXIT_FAILURE)


def internal_error_message(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return ("error: rulelab ran out of memory; the scenario asks for more than this machine has "
                "(fewer samples, smaller layers or fewer seeds)")
    text = " ".join(str(exc).split())
    text = text if len(text) <= 200 else text[:199] + "…"
    what = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return (f"error: internal error ({what})\n"
            f"This is a bug in rulelab, not a problem with your input: please report it {_report_where()}, "
            "with the command and the scenario file.\n"
            "Run the same command as `rulelab --debug …` to see the traceback.")


def _report_where() -> str:
    """The issue tracker named in the package metadata (Project-URL), if any."""
    from importlib import metadata

    try:
        urls = metadata.metadata("rulelab").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("issues", "bug tracker", "tracker", "bugs"):
            return f"at {url.strip()}"
    return "to the rulelab developers (an issue in the project's repository)"


def _console(stderr: bool = False):
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        # Piped or captured output: use a readable width instead of rich's 80 columns.
        console = Console(stderr=stderr, highlight=False, width=160)
    return console


def _bad_input(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def scenario_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that reads a scenario (flags win over the file)."""

    @click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
                  help="Override a key of the scenario, e.g. --set rules[0].lr=0.2 (repeatable).")
    @click.option("--seed", type=click.IntRange(min=0), default=None, help="Override the scenario's seed.")
    @click.option("--repeats", type=click.IntRange(min=1), default=None,
                  help="Override the number of independent seeds.")
    @click.option("--plugin", "plugins", multiple=True, metavar="FILE_OR_MODULE",
                  help="Load learning rules from a Python file or module (repeatable).")
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def _load(path: str, overrides: tuple[str, ...], seed: int | None, repeats: int | None,
          plugins: tuple[str, ...]):
    """[(task name, Scenario)] — one entry with an empty name for a file without ``tasks:``."""
    from rulelab.scenario import ScenarioError, load_scenarios

    try:
        return load_scenarios(path, overrides, seed=seed, repeats=repeats, plugins=plugins)
    except ScenarioError as exc:
        _bad_input(exc.format())


@click.group(cls=RulelabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rulelab")
@click.option("--debug", is_flag=True, help="On an internal error, show the traceback (for a bug report).")
def main(debug: bool) -> None:
    """rulelab — compare learning rules on one compiled network core.

    Describe an experiment in a scenario YAML file (task, network, budget, the
    rules to compare) and run it:

        rulelab run scenarios/classic.yaml

    Every command has --help; exit codes: 0 success, 2 bad input, 1 failure, 130 interrupted.
    """
    del debug  # read by RulelabGroup.invoke


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    @click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
                  help="Run directory to write (default: runs/<file name without .yaml>, numbered if taken).")
    @click.option("--quiet", is_flag=True, help="No progress display.")
    @click.option("--no-plots", is_flag=True, help="Skip the figures and report.html.")
    @click.option("--svg", is_flag=True, help="Also write every figure as SVG (vector) beside its PNG.")
    @click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
                  help="Independent (rule, seed) runs in this many worker processes.")
    @click.option("--resume", is_flag=True,
                  help="Keep the finished runs in --out and run only the missing, interrupted or failed ones.")
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@scenario_options
@run_options
def run(scenario: str, overrides: tuple[str, ...], seed: int | None, repeats: int | None,
        plugins: tuple[str, ...], out_dir: str | None, quiet: bool, no_plots: bool, svg: bool, jobs: int,
        resume: bool) -> None:
    """Run every rule of SCENARIO for every seed; write the run directory, figures and report.html.

    `rulelab compare` is the same command.
    """
    _run(scenario, overrides, seed, repeats, plugins, out_dir, quiet, no_plots, jobs, resume, svg)


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@scenario_options
@run_options
def compare(scenario: str, overrides: tuple[str, ...], seed: int | None, repeats: int | None,
            plugins: tuple[str, ...], out_dir: str | None, quiet: bool, no_plots: bool, svg: bool, jobs: int,
            resume: bool) -> None:
    """The same as `rulelab run`: every rule × seed, summary with statistics, figures, report."""
    _run(scenario, overrides, seed, repeats, plugins, out_dir, quiet, no_plots, jobs, resume, svg)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--svg", is_flag=True, help="Also write every figure as SVG (vector) beside its PNG.")
def plot(run_dir: str, svg: bool) -> None:
    """Rebuild the figures and report.html of a saved run directory (nothing is re-run)."""
    from rulelab.output.plots import PlotError
    from rulelab.output.report import plot_run

    root = Path(run_dir)
    tasks = sorted(p.parent for p in root.glob("*/scenario.yaml")) if not (root / "scenario.yaml").exists() else []
    try:
        if not tasks:
            result = plot_run(root, svg=svg)
            click.echo(f"{len(result.figures)} figures and report: {root / 'report.html'}")
            return
        from rulelab.output.report import write_combined_report

        runs = [(p.name, plot_run(p, svg=svg)) for p in tasks]
    except PlotError as exc:
        _bad_input(str(exc))
    report = write_combined_report(root, runs, root.name, "")
    click.echo(f"{sum(len(r.figures) for _, r in runs)} figures; combined report: {report}")


def _run(scenario: str, overrides: tuple[str, ...], seed: int | None, repeats: int | None,
         plugins: tuple[str, ...], out_dir: str | None, quiet: bool, no_plots: bool, jobs: int = 1,
         resume: bool = False, svg: bool = False) -> None:
    """Run a scenario file; Ctrl-C at any moment of it ends in a message and exit 130, never a traceback.

    The first Ctrl-C only sets a flag (:mod:`rulelab.run.interrupts`), acted on at the next safe
    point: the end of the current compiled chunk, between runs, or once the figures are drawn.
    A second one stops at once; what finished is on disk either way (each run as it finished)."""
    _interruptible(lambda: _run_file(scenario, overrides, seed, repeats, plugins, out_dir, quiet, no_plots, jobs,
                                     resume, svg))


def _interruptible(body: Callable[[], None]) -> None:
    """Run a command's body with Ctrl-C deferred to its safe points, from start to exit: a Ctrl-C
    that lands between them (a second one, or one while Python code is starting or ending the
    command) still ends in a message and exit 130, never a traceback."""
    from rulelab.run.interrupts import deferred_interrupts

    with deferred_interrupts():
        try:
            body()
        except KeyboardInterrupt:  # every finished run is already on disk (written as it finished)
            click.echo("interrupted: finished runs are kept; run the same command with --resume to do the rest",
                       err=True)
            sys.exit(EXIT_INTERRUPTED)


def _run_file(scenario: str, overrides: tuple[str, ...], seed: int | None, repeats: int | None,
              plugins: tuple[str, ...], out_dir: str | None, quiet: bool, no_plots: bool, jobs: int,
              resume: bool, svg: bool) -> None:
    if _declares_sweep(scenario):
        _bad_input(f"{scenario}: sweep: this scenario declares a sweep; run it with `rulelab sweep {scenario}`")
    scenarios = _load(scenario, overrides, seed, repeats, plugins)
    base_name = Path(scenario).stem
    if out_dir:
        out = Path(out_dir)
    else:
        out = Path("runs") / base_name if resume else _fresh_dir(Path("runs") / base_name)
    if len(scenarios) == 1 and not scenarios[0][0]:
        failed, _ = _run_one_comparison(scenarios[0][1], scenario, overrides, plugins, out, quiet, no_plots, jobs,
                                        resume, svg)
        click.echo(f"results: {out}")
        sys.exit(EXIT_FAILURE if failed else 0)
    any_failed = False
    plotted = []
    for name, spec in scenarios:
        click.echo(f"— task {name} —")
        spec = _bind_task_weights(spec, out)
        failed, run = _run_one_comparison(spec, scenario, overrides, plugins, out / name, quiet, no_plots, jobs,
                                          resume, svg)
        any_failed |= failed
        if run is not None:
            plotted.append((name, run))
    if plotted:
        from rulelab.output.report import write_combined_report
        from rulelab.scenario import read_yaml

        raw = read_yaml(Path(scenario))  # read and validated above
        report = write_combined_report(out, plotted, str(raw.get("name", base_name)),
                                       str(raw.get("description", "")))
        click.echo(f"combined report: {report}")
    click.echo(f"results: {out}")
    sys.exit(EXIT_FAILURE if any_failed else 0)


def _bind_task_weights(spec, out: Path):
    """A task that starts from an earlier task's weights (weights_from: {task: NAME}) reads them from that
    task's run folder, OUT/NAME; its saved scenario.yaml names the folder, so that it re-validates alone."""
    import copy
    import dataclasses

    source = spec.weights_from
    if source is None or source.task is None:
        return spec
    folder = out / source.task
    resolved = copy.deepcopy(spec.resolved)
    ref = {"run": str(folder.resolve())}
    ref.update({k: v for k, v in (("rule", source.rule), ("layers", list(source.layers or ()) or None))
                if v is not None})
    resolved["task"]["weights_from"] = ref
    return dataclasses.replace(spec, weights_from=dataclasses.replace(source, path=folder / "weights.npz"),
                               resolved=resolved)


def _declares_sweep(path: str) -> bool:
    from rulelab.scenario import ScenarioError, read_yaml

    try:
        raw = read_yaml(Path(path))
    except ScenarioError:
        return False  # loading the scenario reports it
    return raw.get("sweep") is not None


def _run_one_comparison(spec, scenario: str, overrides: tuple[str, ...], plugins: tuple[str, ...], out: Path,
                        quiet: bool, no_plots: bool, jobs: int, resume: bool, svg: bool = False):
    """Run one comparison into ``out``; (True when every run failed, the plotted run or None).

    Called within :func:`_run`'s deferred interrupts: Ctrl-C is a flag, acted on here."""
    from rulelab.output.results import ResumeError, RunWriter
    from rulelab.run.interrupts import interrupt_requested
    from rulelab.run.executors import run_parallel
    from rulelab.run.runner import run_scenario

    try:
        writer = RunWriter(out, spec, _rerun_command("run", scenario, overrides, spec.seed, spec.repeats, plugins,
                                                     out), resume=resume)
    except ResumeError as exc:
        _bad_input(str(exc))
    if writer.done:
        click.echo(f"resuming: {len(writer.done)} finished runs kept in {out}", err=True)
    err = _console(stderr=True)
    runs_left = len(spec.rules) * len(spec.seeds) - len(writer.done)
    epochs = max(spec.train.epochs, 1)
    progress = _progress(err, quiet)
    task = progress.add_task(f"{spec.name}", total=runs_left * epochs)

    def finished(record) -> None:
        writer.add(record)
        if jobs > 1:  # workers report whole runs, not epochs
            progress.advance(task, epochs)

    with progress:
        try:
            if interrupt_requested():  # pressed while the command was starting
                raise KeyboardInterrupt
            if jobs > 1:
                run_parallel(spec, jobs, finished, skip=writer.done)
            else:
                run_scenario(spec, on_record=finished, progress=lambda epochs: progress.advance(task, epochs),
                             skip=writer.done)
        except KeyboardInterrupt:
            progress.stop()
            writer.finish(interrupted=True)
            _report_interrupt(writer.records, out)
            sys.exit(EXIT_INTERRUPTED)
    summary = writer.finish()
    _print_summary(spec, summary)
    from rulelab.tasks.kinds import kind_of

    if kind_of(spec.task).stores_patterns:  # recall notes (2-cycles, sweep limits) the summary cannot show
        _print_run_notes(writer.records)
    failed = [r for r in writer.records if r.status == "failed"]
    all_failed = bool(failed) and len(failed) == len(writer.records)
    if no_plots or interrupt_requested():
        _stop_if_interrupted(out)
        return all_failed, None
    try:
        from rulelab.output.report import plot_run

        # The records and the validated scenario are in memory: the figures reuse them.
        plotted = plot_run(out, records=writer.records, scenario=spec, svg=svg)
        click.echo(f"figures: {len(plotted.figures)} in {out / 'figures'}; report: {out / 'report.html'}")
    except Exception as exc:  # the results are on disk; a figure bug must not hide them
        click.echo(f"error: the figures could not be made ({type(exc).__name__}: {exc}); the results are "
                   f"saved — retry with: rulelab plot {out}", err=True)
        return True, None
    _stop_if_interrupted(out)
    return all_failed, plotted


def _stop_if_interrupted(out: Path) -> None:
    """Ctrl-C pressed after the last run finished: everything is saved; stop before the next step."""
    from rulelab.run.interrupts import interrupt_requested

    if interrupt_requested():
        click.echo(f"interrupted: every run finished and is kept in {out}; run the same command with --resume "
                   f"to do the rest (figures: rulelab plot {out})", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _report_interrupt(records, out: Path) -> None:
    """What Ctrl-C kept, and how to go on."""
    partial = [r for r in records if r.status == "interrupted"]
    finished = len(records) - len(partial)
    where = "; ".join(f"{r.label}, seed {r.seed}: {r.message}" for r in partial)
    click.echo(f"interrupted: {finished} finished runs kept in {out}"
               + (f"; stopped part-way, rows so far kept, marked interrupted: {where}" if partial else "")
               + "; run the same command with --resume to do the rest", err=True)


def _rerun_command(command: str, scenario: str, overrides: tuple[str, ...], seed: int, repeats: int,
                   plugins: tuple[str, ...], out: Path) -> str:
    """The command line that re-runs exactly this run (effective seed and repeats spelt out)."""
    import shlex

    parts = ["rulelab", command, scenario, "--seed", str(seed), "--repeats", str(repeats)]
    for assignment in overrides:
        parts += ["--set", assignment]
    for plugin in plugins:
        parts += ["--plugin", plugin]
    parts += ["--out", str(out)]
    return " ".join(shlex.quote(p) for p in parts)


def _progress(console, quiet: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("epochs"), TimeRemainingColumn(), console=console, transient=True,
                    disable=quiet or not console.is_terminal)


def _fresh_dir(base: Path) -> Path:
    if not base.exists():
        return base
    n = 2
    while base.with_name(f"{base.name}-{n}").exists():
        n += 1
    return base.with_name(f"{base.name}-{n}")


def _print_summary(spec, summary: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title=f"{spec.name}: {summary[0]['metric'] if summary else ''} over {len(spec.seeds)} seed(s)")
    for column in ("rule", "family", "mean ± 95% CI", "best", "worst", "converged", "diverged",
                   "epochs to criterion", "wall s", "note"):
        table.add_column(column, overflow="fold")
    for row in summary:
        digits = ".3g" if row["metric"].startswith("objective") else ".3f"  # objective values span decades
        ci = f" ± {row['ci95']:{digits}}" if isinstance(row["ci95"], float) else ""
        mean = f"{row['mean']:{digits}}{ci}" if row["mean"] != "" else "n/a"
        table.add_row(row["rule"], row["family"], mean, _num(row["best"]), _num(row["worst"]),
                      row["converged"], row["diverged"], _num(row["epochs_to_criterion"]),
                      _num(row["wall_seconds"]), row["note"])
    _console().print(table)


RUN_NOTES_SHOWN = 10


def _print_run_notes(records) -> None:
    """What recall did that the summary cannot show (2-cycles, sweep limits), run by run."""
    noted = [r for r in records if r.message and r.status != "failed"]
    for record in noted[:RUN_NOTES_SHOWN]:
        click.echo(f"{record.label}, seed {record.seed}: {record.message}")
    if len(noted) > RUN_NOTES_SHOWN:
        click.echo(f"… and {len(noted) - RUN_NOTES_SHOWN} more notes in runs.csv")


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@scenario_options
def validate(scenario: str, overrides: tuple[str, ...], seed: int | None, repeats: int | None,
             plugins: tuple[str, ...]) -> None:
    """Check SCENARIO without running it; print the scenario as it would run."""
    for name, spec in _load(scenario, overrides, seed, repeats, plugins):
        where = f" task {name}" if name else ""
        click.echo(f"{scenario}{where}: valid ({len(spec.rules)} rules × {spec.repeats} seeds)")
        _print_networks(spec)
        click.echo(spec.as_yaml())


def _print_networks(spec) -> None:
    """Each distinct network of a scenario, layer by layer: output shape and parameter count (as YAML comments,
    so that the printed scenario stays valid YAML)."""
    nets: dict[Any, list[str]] = {}
    for rule in spec.rules:
        nets.setdefault(rule.network, []).append(rule.label)
    for net, labels in nets.items():
        if not net.specs and hasattr(net, "function"):  # an objective task's search space: x ∈ R^D, no layers
            click.echo(f"# {', '.join(labels)} search x ∈ R^{net.n_params} on {net.function}")
            continue
        rows = net.summary()
        width = max(len(r[0]) for r in rows)
        shape_width = max(len("output shape"), *(len(r[1]) for r in rows))
        click.echo(f"# network of {', '.join(labels)}:")
        click.echo(f"#   {'layer':<{width}}  {'output shape':>{shape_width}}  {'parameters':>10}")
        for words, shape, count in rows:
            click.echo(f"#   {words:<{width}}  {shape:>{shape_width}}  {count:>10,}")
        click.echo(f"#   {'total':<{width}}  {'':>{shape_width}}  {net.n_params:>10,}")


@main.command("rules")
@click.option("--plugin", "plugins", multiple=True, metavar="FILE_OR_MODULE",
              help="Also list the rules of a plug-in file or module (repeatable).")
@click.option("--verbose", "-v", is_flag=True, help="Also list each rule's hyperparameters.")
def rules_command(plugins: tuple[str, ...], verbose: bool) -> None:
    """List the learning rules: family, needs, locality, equation and origin."""
    from rich.markup import escape
    from rich.table import Table

    from rulelab.registry import RegistryError, available_rules
    from rulelab.rule import literal_choices

    try:
        found = available_rules(plugins, Path.cwd())
    except RegistryError as exc:
        _bad_input(str(exc))
    table = Table(title="learning rules")
    for column in ("name", "family", "needs", "local", "equation", "source"):
        table.add_column(column, overflow="fold")
    for rule in found.values():
        # Equations hold brackets (the (1+1)-ES's 1[success]): rich would read them as markup and drop them.
        table.add_row(*(escape(str(cell)) for cell in rule.describe().values()))
    console = _console()
    console.print(table)
    if verbose:
        console.print(escape("Ties: step(0) = 1 and sign(0) = +1 unless a scenario says otherwise "
                             "(network.at_zero.step: 0 | 0.5 | 1, network.at_zero.sign: -1 | 0 | 1)."),
                      soft_wrap=True)
        for rule in found.values():
            console.print(f"[bold]{escape(rule.name)}[/bold] — {escape(rule.summary)}")
            console.print(f"  equation: {escape(rule.equation)}", soft_wrap=True)
            if rule.reference:
                console.print(f"  reference: {escape(rule.reference)}", soft_wrap=True)
            for name, info in rule.Params.model_fields.items():
                limits = ", ".join(f"{symbol} {getattr(m, attr)}" for m in info.metadata
                                   for attr, symbol in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"))
                                   if getattr(m, attr, None) is not None)
                choices = literal_choices(info.annotation)
                kind = "one of " + ", ".join(map(str, choices)) if choices else getattr(
                    info.annotation, "__name__", str(info.annotation))
                console.print(escape(f"  {name} = {info.default!r}  ({kind}{', ' + limits if limits else ''})  "
                                     f"{info.description or ''}"))


@main.command("kinds")
@click.option("--plugin", "plugins", multiple=True, metavar="FILE_OR_MODULE",
              help="Also list the task kinds of a plug-in file or module (repeatable).")
def kinds_command(plugins: tuple[str, ...]) -> None:
    """List the task kinds (task.kind): what each measures, its options and its origin."""
    from rich.markup import escape
    from rich.table import Table

    from rulelab.registry import RegistryError, load_plugin
    from rulelab.tasks.kinds import TaskKindError, installed_task_kinds

    try:
        for spec in plugins:
            load_plugin(spec, Path.cwd())
        found = installed_task_kinds()
    except (RegistryError, TaskKindError) as exc:
        _bad_input(str(exc))
    table = Table(title="task kinds")
    for column in ("name", "summary", "options", "source"):
        table.add_column(column, overflow="fold")
    for kind in found.values():
        options = ", ".join(f"{name} = {info.default!r}" for name, info in kind.Options.model_fields.items()) \
            if kind.Options is not None else ""
        table.add_row(*(escape(cell) for cell in (kind.name, kind.summary, options, kind.source)))
    _console().print(table)


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@scenario_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Sweep directory (default: runs/<file name>-sweep).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Local worker processes (default: one per core).")
@click.option("--resume", is_flag=True, help="Keep the finished runs in --out; run only the rest.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the tasks on an existing dask.distributed cluster.")
@click.option("--dask-local", type=click.IntRange(min=1), default=None, metavar="N",
              help="Start a Dask LocalCluster with N workers and run the tasks there.")
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.option("--no-plots", is_flag=True, help="Skip the figures.")
def sweep(scenario: str, overrides: tuple[str, ...], seed: int | None, repeats: int | None,
          plugins: tuple[str, ...], out_dir: str | None, jobs: int | None, resume: bool, scheduler: str | None,
          dask_local: int | None, quiet: bool, no_plots: bool) -> None:
    """Run the grid of SCENARIO's sweep: block over every rule and seed (local processes or Dask)."""
    _interruptible(lambda: _sweep(scenario, overrides, seed, repeats, plugins, out_dir, jobs, resume, scheduler,
                                  dask_local, quiet, no_plots))


def _sweep(scenario: str, overrides: tuple[str, ...], seed: int | None, repeats: int | None,
           plugins: tuple[str, ...], out_dir: str | None, jobs: int | None, resume: bool, scheduler: str | None,
           dask_local: int | None, quiet: bool, no_plots: bool) -> None:
    import os

    from rulelab.scenario import ScenarioError
    from rulelab.run.executors import DaskExecutor, ExecutorError, LocalExecutor
    from rulelab.run.sweep import SweepWriter, load_sweep, run_sweep, sweep_figures, write_tables

    if scheduler and dask_local:
        _bad_input("give --scheduler or --dask-local, not both")
    try:
        spec = load_sweep(scenario, overrides, seed, repeats, plugins)
    except ScenarioError as exc:
        _bad_input(exc.format())
    out = Path(out_dir) if out_dir else (Path("runs") / f"{Path(scenario).stem}-sweep")
    try:
        writer = SweepWriter(out, spec, resume=resume)
    except ScenarioError as exc:
        _bad_input(exc.format())
    jobs = jobs or os.cpu_count() or 1
    try:
        executor = DaskExecutor(scheduler, dask_local) if (scheduler or dask_local) else LocalExecutor(jobs)
    except ExecutorError as exc:
        _bad_input(str(exc))
    total = len(spec.tasks())
    left = total - len(writer.done)
    click.echo(f"sweep: {len(spec.points)} points; {total} distinct (point, rule, seed) runs ({left} to run) on "
               f"{executor.name} workers; results stream into {out}", err=True)
    counts = {"done": 0, "failed": 0}
    err = _console(stderr=True)
    progress = _progress(err, quiet)
    workers = dask_local or jobs

    def describe() -> str:
        running = min(workers, left - counts["done"])
        return f"{spec.points[0].scenario.name} sweep: {counts['done']} done, {running} running, {counts['failed']} failed"

    task = progress.add_task(describe(), total=left)

    def done(point: int, record) -> None:
        counts["done"] += 1
        counts["failed"] += record.status == "failed"
        progress.update(task, advance=1, description=describe())

    from rulelab.run.interrupts import interrupt_requested

    with progress:
        try:
            if interrupt_requested():  # pressed while the sweep was starting
                executor.close(cancel=True)
                raise KeyboardInterrupt
            run_sweep(spec, writer, executor, done)
        except KeyboardInterrupt:
            progress.stop()
            write_tables(out, spec, writer)
            finished = sum(status != "interrupted" for status in writer.statuses.values())
            click.echo(f"interrupted: {finished} finished runs kept in {out}; "
                       f"run the same command with --resume to do the rest", err=True)
            sys.exit(EXIT_INTERRUPTED)
    grid, best = write_tables(out, spec, writer)
    _print_best(spec, best)
    _stop_if_interrupted(out)
    if not no_plots:
        figures = sweep_figures(out, spec, writer)
        click.echo(f"figures: {len(figures)} in {out / 'figures'}")
    if spec.config.select is not None:
        _run_tuned(spec, best, out, quiet, no_plots, resume)
    click.echo(f"results: {out}")


def _print_best(spec, best) -> None:
    from rich.table import Table

    table = Table(title=f"best setting per rule ({best[0]['metric'] if best else 'no finished runs'})")
    for column in ("rule", *spec.keys, "mean ± 95% CI", "seeds"):
        table.add_column(column)
    for row in best:
        ci = f" ± {row['ci95']:.3f}" if np.isfinite(row["ci95"]) else ""
        table.add_row(row["rule"], *[str(row[k]) or "—" for k in spec.keys], f"{row['mean']:.4f}{ci}",
                      str(row["seeds"]))
    _console().print(table)


def _run_tuned(spec, best, out: Path, quiet: bool, no_plots: bool, resume: bool = False) -> None:
    """The fair comparison: every rule at its best setting (chosen on validation), fresh seeds, test metrics."""
    from rulelab.output.results import ResumeError, RunWriter
    from rulelab.run.interrupts import deferred_interrupts
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import validate_scenario
    from rulelab.run.sweep import tuned_scenario

    raw = tuned_scenario(spec, best)
    tuned = validate_scenario(raw, spec.source, Path(spec.source).parent)
    click.echo(f"tuned comparison: each rule at its best setting, {tuned.repeats} fresh seeds", err=True)
    try:
        writer = RunWriter(out / "tuned", tuned, f"rulelab sweep {spec.source}", resume=resume)
    except ResumeError:  # the best settings changed (more of the sweep ran): the tuned runs start over
        writer = RunWriter(out / "tuned", tuned, f"rulelab sweep {spec.source}")
    with deferred_interrupts():  # (within the sweep command's: the same handler and flag)
        try:
            run_scenario(tuned, on_record=writer.add, skip=writer.done)
        except KeyboardInterrupt:
            writer.finish(interrupted=True)
            _report_interrupt(writer.records, out / "tuned")
            sys.exit(EXIT_INTERRUPTED)
    summary = writer.finish()
    _print_summary(tuned, summary)
    if not no_plots:
        from rulelab.output.report import plot_run

        plot_run(out / "tuned")


@main.command("new-rule")
@click.argument("name")
@click.option("--family", type=click.Choice(["hebbian", "error-correcting", "gradient", "evolutionary",
                                             "associative"]), default="hebbian", show_default=True,
              help="Which kind of starting point to write.")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where to write the rule module, its scenario and its test.")
def new_rule(name: str, family: str, directory: str) -> None:
    """Write a working, tested starting point for a new rule called NAME.

    Three files: the rule (compiled kernel and declared hyperparameters), a scenario that
    compares it with a built-in rule, and a test that runs the contract kit on it.
    """
    from rulelab.scaffold import ScaffoldError, scaffold

    try:
        paths = scaffold(name, family, Path(directory))
    except ScaffoldError as exc:
        _bad_input(str(exc))
    for path in paths:
        click.echo(f"wrote {path}")
    click.echo(f"next: cd {directory} && python -m pytest {paths[2].name} && rulelab run {paths[1].name}")


@main.command("graph")
@click.argument("expression")
@click.option("--at", "at", default="", metavar="NAME=VALUE,…",
              help="Values of the variables, e.g. --at x=-2,y=5,z=-4.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="Also draw the graph to this file (.png, .svg or .pdf).")
def graph_command(expression: str, at: str, out_file: str | None) -> None:
    """Backpropagation on the computational graph of EXPRESSION, step by step.

    Prints each node's forward value, then, from the output back, its upstream gradient,
    the local gradient of each input and their product (the downstream gradient), and
    ∂f/∂ each variable:

        rulelab graph "(x+y)*z" --at x=-2,y=5,z=-4 --out graph.png

    EXPRESSION uses numbers, variable names, + - * / ^ (a number as exponent), parentheses
    and exp, log, tanh, sigmoid, relu, max(a, b, …).
    """
    from rulelab.graph import GraphError, backprop, draw_graph, format_report, parse_assignments, parse_expression

    if out_file and Path(out_file).suffix.lower() not in FIGURE_SUFFIXES:
        _bad_input(f"--out {out_file}: expected a file name ending in {', '.join(FIGURE_SUFFIXES)}")
    try:
        result = backprop(parse_expression(expression), parse_assignments(at))
    except GraphError as exc:
        _bad_input(str(exc))
    click.echo(format_report(result))
    if out_file:
        try:
            path = draw_graph(result, out_file)
        except OSError as exc:
            _bad_input(f"--out {out_file}: cannot write the figure ({exc.strerror or exc})")
        click.echo(f"\nfigure: {path}")


@main.command()
@click.argument("scenario", required=False, type=click.Path(dir_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but a loopback address lets other machines train on yours.")
def playground(scenario: str | None, port: int, host: str) -> None:
    """Train rules side by side, live, in your browser (a local web app); SCENARIO opens a file in it."""
    from rulelab.playground.server import app_for, bind, is_loopback, make_server, url_of, warm_up
    from rulelab.playground.state import PlaygroundInputError, open_scenario
    from rulelab.scenario import ScenarioError, read_yaml

    initial = None
    if scenario is not None:
        try:
            opened = open_scenario(read_yaml(Path(scenario)), scenario, Path(scenario).parent)
        except ScenarioError as exc:
            _bad_input(exc.format())
        except PlaygroundInputError as exc:
            _bad_input("\n".join(f"{scenario}: {path + ': ' if path else ''}{message}"
                                  for path, message in exc.problems))
        for note in opened.notes:
            click.echo(f"note: {note}", err=True)
        initial = {"view": opened.view, "scenario": opened.raw}
    try:
        sock = bind(host, port)
    except OSError as exc:
        _bad_input(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc}); "
                   "choose another with --port (0: any free port)")
    if not is_loopback(host):
        click.echo(f"warning: listening on {host}: anyone who can reach this machine can use the playground",
                   err=True)
    warm_up()  # kernels loaded before the address is out: the first page draws at once
    click.echo(f"rulelab playground: {url_of(sock)}  (Ctrl-C stops it)")
    sys.stdout.flush()
    make_server(app_for(host, initial)).run(sockets=[sock])


@main.command()
def datasets() -> None:
    """List the built-in datasets and their options."""
    from rich.markup import escape
    from rich.table import Table

    from rulelab.data.datasets import DATASETS

    table = Table(title="datasets")
    for column in ("name", "description", "options"):
        table.add_column(column, overflow="fold")
    for info in DATASETS.values():
        options = ", ".join(f"{k}={f.default!r}" if not f.is_required() else f"{k} (required)"
                            for k, f in info.Options.model_fields.items())
        # Defaults such as [4.0, 2.0] are text, not console markup.
        table.add_row(escape(info.name), escape(info.description), escape(options))
    _console().print(table)
    from rulelab.data.sequences import SEQUENCE_DATASETS

    table = Table(title="sequence datasets (task kind sequence)")
    for column in ("name", "description", "options"):
        table.add_column(column, overflow="fold")
    for name, (options_model, _, description) in SEQUENCE_DATASETS.items():
        options = ", ".join(f"{k}={f.default!r}" for k, f in options_model.model_fields.items())
        table.add_row(escape(name), escape(description), escape(options))
    _console().print(table)


def entry() -> None:
    """The ``rulelab`` console command: :func:`main`, with a Ctrl-C after a run's command has begun kept a flag
    until the process exits (see :func:`rulelab.run.interrupts.hold_until_exit`)."""
    import signal

    from rulelab.run.interrupts import hold_until_exit

    hold_until_exit()
    code: int | str | None = 0
    try:
        main()
    except SystemExit as done:  # main() ends here, its files written and closed
        code = done.code
    finally:  # nothing is left for a Ctrl-C to stop
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_now(code)


def _exit_now(code: int | str | None) -> None:
    """Leave without the interpreter's teardown.

    Tearing down Numba's compiled libraries, LLVM and the OpenMP worker pool took 0.25–0.6 s after
    a run (measured: the XOR workload 1.43 → 1.25 s for the whole process, classic.yaml with
    ``--no-plots`` 2.3 → 1.7 s), a fifth of a short run.  By now every run folder, figure and report is written and closed (the run
    folder's files are written atomically and synced); the streams are flushed here and the
    atexit handlers still run.  ``code`` is what ``SystemExit`` carried: a message goes to stderr
    with status 1, as the interpreter would do.
    """
    import atexit

    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    entry()
