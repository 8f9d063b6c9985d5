"""Finding learning rules: entry points (built-ins and installed packages) and plug-in files.

Built-in rules are declared in rulelab's own ``pyproject.toml`` under the
``rulelab.rules`` entry-point group, exactly like a third-party package, so the
plug-in path is exercised on every run.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from rulelab.rule import Rule

ENTRY_POINT_GROUP = "rulelab.rules"
# Used only when rulelab runs from a source tree that was never installed.
_BUILTIN_FALLBACK = {
    "perceptron": "rulelab.rules.perceptron:Perceptron",
    "delta": "rulelab.rules.delta:Delta",
    "backprop": "rulelab.rules.backprop:Backprop",
    "feedback_alignment": "rulelab.rules.feedback_alignment:FeedbackAlignment",
    "direct_feedback_alignment": "rulelab.rules.direct_feedback_alignment:DirectFeedbackAlignment",
    "openai_es": "rulelab.rules.openai_es:OpenAIES",
    "one_plus_one_es": "rulelab.rules.one_plus_one_es:OnePlusOneES",
    "mu_lambda_es": "rulelab.rules.mu_lambda_es:MuLambdaES",
    "cma_es": "rulelab.rules.cma_es:CMAES",
    "hebb": "rulelab.rules.hebb:Hebb",
    "oja": "rulelab.rules.oja:Oja",
    "sanger": "rulelab.rules.sanger:Sanger",
    "competitive": "rulelab.rules.competitive:Competitive",
    "softhebb": "rulelab.rules.softhebb:SoftHebb",
    "hopfield_hebbian": "rulelab.rules.hopfield_hebbian:HopfieldHebbian",
    "storkey": "rulelab.rules.storkey:Storkey",
    "pseudo_inverse": "rulelab.rules.pseudo_inverse:PseudoInverse",
    "hopfield_given": "rulelab.rules.hopfield_given:HopfieldGiven",
    "bptt": "rulelab.rules.bptt:BPTT",
    "bptt_feedback_alignment": "rulelab.rules.bptt:BPTTFeedbackAlignment",
    "eprop": "rulelab.rules.eprop:Eprop",
}


class RegistryError(Exception):
    """A rule could not be loaded, or two rules share a name."""


def _load_target(target: str) -> type[Rule]:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def _register(found: dict[str, type[Rule]], rule: type[Rule], source: str) -> None:
    if not (inspect.isclass(rule) and issubclass(rule, Rule) and rule.name):
        raise RegistryError(f"{source}: {rule!r} is not a rulelab Rule subclass with a name")
    if rule.name in found and found[rule.name] is not rule:
        other = found[rule.name].source
        raise RegistryError(
            f"two rules are named '{rule.name}': one from {other}, one from {source}; "
            "rename one of them"
        )
    rule.source = source
    found[rule.name] = rule


def _entry_point_rules() -> dict[str, type[Rule]]:
    """Built-in and installed rules (scanned once per process: the scan costs milliseconds)."""
    global _ENTRY_POINT_CACHE
    if _ENTRY_POINT_CACHE is None:
        _ENTRY_POINT_CACHE = _scan_entry_points()
    return dict(_ENTRY_POINT_CACHE)


_ENTRY_POINT_CACHE: dict[str, type[Rule]] | None = None


def _scan_entry_points() -> dict[str, type[Rule]]:
    found: dict[str, type[Rule]] = {}
    eps = list(entry_points(group=ENTRY_POINT_GROUP))
    if not any(ep.value.startswith("rulelab.rules.") for ep in eps):
        for name, target in _BUILTIN_FALLBACK.items():
            _register(found, _load_target(target), "built-in")
    for ep in eps:
        dist = ep.dist.name if ep.dist is not None else "unknown package"
        source = "built-in" if ep.value.startswith("rulelab.rules.") else f"package {dist}"
        try:
            rule = ep.load()
        except Exception as exc:  # a broken third-party package must not hide the others
            raise RegistryError(f"rule '{ep.name}' from {source} failed to import: {exc}") from exc
        _register(found, rule, source)
    return found


def _import_file(path: Path):
    """Import a plug-in file under its own name (its folder joins sys.path).

    The natural name matters: Numba's on-disk cache of the plug-in's kernels refers to the
    module by name, so a file must import the same way from a scenario, a test or a worker.
    """
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve() == path:
            return loaded
        raise RegistryError(f"plug-in {path}: its module name '{name}' is already taken by "
                            f"{getattr(loaded, '__file__', 'a built-in module')}; rename the file")
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.append(folder)
    try:
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise RegistryError(f"plug-in {path} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def is_plugin_file(spec: str) -> bool:
    """Whether a plug-in is given as a file path (else it is a module name)."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def _plugin_path(spec: str, base_dir: Path | None) -> Path:
    """A plug-in file's path, a relative one taken from ``base_dir`` (the scenario file's folder)."""
    path = Path(spec).expanduser()
    return base_dir / path if not path.is_absolute() and base_dir is not None else path


def plugin_as_saved(spec: str, base_dir: Path) -> str:
    """A plug-in as a run folder's scenario.yaml names it: a file by its absolute path (``rulelab plot``, workers
    and ``weights_from`` read that file from elsewhere), a module by its name."""
    return str(_plugin_path(spec, base_dir).resolve()) if is_plugin_file(spec) else spec


def import_plugin(spec: str, base_dir: Path | None = None) -> tuple[ModuleType, str]:
    """Import a plug-in given as a ``.py`` file path or a module name; return it and where it came from."""
    if is_plugin_file(spec):
        path = _plugin_path(spec, base_dir)
        if not path.is_file():
            raise RegistryError(f"plug-in {spec}: file not found ({path})")
        return _import_file(path.resolve()), f"file {path}"
    try:
        return importlib.import_module(spec), f"module {spec}"
    except Exception as exc:
        raise RegistryError(f"plug-in module {spec} failed to import: {type(exc).__name__}: {exc}") from exc


def load_plugin(spec: str, base_dir: Path | None = None) -> list[type[Rule]]:
    """Import a plug-in; register the task kinds it defines and return its rules (a plug-in may hold either)."""
    from rulelab.tasks.kinds import TaskKindError, register_module_kinds

    module, source = import_plugin(spec, base_dir)
    try:
        kinds = register_module_kinds(module, source)
    except TaskKindError as exc:
        raise RegistryError(str(exc)) from None
    rules = [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Rule) and obj is not Rule
        and obj.name and obj.__module__ == module.__name__
    ]
    if not rules and not kinds:
        raise RegistryError(f"plug-in {spec} defines no Rule subclass with a name (nor a TaskKind)")
    for rule in rules:
        rule.source = source
    return rules


def available_rules(plugins: list[str] | tuple[str, ...] = (), base_dir: Path | None = None) -> dict[str, type[Rule]]:
    """Every rule by name: entry points first, then the given plug-ins."""
    found = _entry_point_rules()
    for spec in plugins:
        for rule in load_plugin(spec, base_dir):
            source = rule.source
            _register(found, rule, source)
    return dict(sorted(found.items()))
