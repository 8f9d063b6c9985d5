"""`rulelab validate` on hostile input: peak memory and time, each in a fresh process.

Issue 15 asks that `rulelab validate` stay under 200 MB peak memory and 2 s on *any* input.
Each case below is written to a temporary folder and validated by a new `rulelab validate`
process (the interpreter, NumPy, pydantic and Numba imports included, as a user sees it);
its peak resident memory comes from the kernel (`wait4`), its time is wall time from start
to exit. Best time and highest peak of REPEATS runs.

Run:  python benchmarks/bench_validate.py [REPEATS]   (default 3)
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MB, LIMIT_S = 200, 2.0

BASE = {
    "name": "bench", "seed": 0, "repeats": 2,
    "task": {"kind": "classification", "dataset": "xor"},
    "network": {"layers": [2, 4, 1], "activation": "sigmoid"},
    "train": {"epochs": 5},
    "rules": [{"rule": "backprop", "lr": 0.5}],
}


def base_text(**changes) -> str:
    raw = {**BASE, **changes}
    return yaml.safe_dump(raw, sort_keys=False)


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def cases(folder: Path) -> list[tuple[str, Path, list[str]]]:
    """(what, file, extra arguments) for every input measured."""
    out: list[tuple[str, Path, list[str]]] = []

    def add(what: str, name: str, content: str | bytes, *args: str) -> None:
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        out.append((what, path, list(args)))

    out.append(("shipped: classic.yaml (valid, two tasks)", ROOT / "scenarios" / "classic.yaml", []))
    out.append(("shipped: digits.yaml (valid)", ROOT / "scenarios" / "digits.yaml", []))
    add("alias bomb (billion laughs, 9 levels)", "bomb.yaml", billion_laughs() + base_text())
    bomb = "[" + ", ".join(["&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"] +
                           [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]) + "]"
    add("alias bomb in --set", "set-bomb.yaml", base_text(), "--set", f"rules[0].lr={bomb}")
    add("recursive alias", "recursive.yaml", "a: &x [*x]\n" + base_text())
    add("nesting 10000 deep", "deep.yaml", "deep: " + "[" * 10000 + "]" * 10000 + "\n" + base_text())
    add("repeats: 10^12", "repeats.yaml", base_text(repeats=10 ** 12))
    add("--repeats 10^15 on the command line", "repeats-flag.yaml", base_text(), "--repeats", str(10 ** 15))
    add("moons n_samples: 10^10", "moons.yaml",
        base_text(task={"dataset": {"name": "moons", "n_samples": 10 ** 10}}, network={"layers": [2, 1]}))
    add("layers [2, 10^12, 1]", "layers.yaml", base_text(network={"layers": [2, 10 ** 12, 1]}))
    add("layers beyond 64 bits [2, 10^30, 1]", "layers64.yaml", base_text(network={"layers": [2, 10 ** 30, 1]}))
    add("openai_es population 10^15", "population.yaml",
        base_text(rules=[{"rule": "openai_es", "population": 10 ** 15}]))
    add("association load 1e300", "load.yaml",
        base_text(task={"kind": "association", "dataset": "letters", "association": {"loads": [1e300]}},
                  network={"layers": [100, 100], "activation": "sign"}, rules=[{"rule": "storkey"}]))
    add("integer of 4000 digits", "digits4000.yaml", base_text().replace("seed: 0", "seed: " + "9" * 4000))
    add("integer of 100000 digits", "digits1e5.yaml", base_text().replace("seed: 0", "seed: " + "9" * 100000))
    add("100 MB of random bytes", "garbage.yaml", os.urandom(100 << 20))
    add("100 MB of YAML text (a long comment)", "big-text.yaml", "# " + "x" * (100 << 20) + "\n" + base_text())
    add("1 MB single-line string (just under the size limit)", "long-string.yaml",
        base_text().replace("name: bench", "name: " + "x" * (1_000_000 - 400)))
    add("60000 values (over the 20000 limit)", "many-values.yaml",
        "values: [" + ",".join(["0"] * 60_000) + "]\n" + base_text())
    rows = [[round((i * 7 + j) % 13 / 13, 3) for j in range(2)] for i in range(4_900)]
    table = {"name": "table", "inputs": rows, "labels": [i % 2 for i in range(4_900)]}
    add("large valid inline table (4900 rows of 2 and labels: 19600 values)", "table.yaml",
        base_text(task={"dataset": table}, network={"layers": [2, 1]}))
    add("19900 bad values (19900 errors, 20 shown)", "bad-values.yaml",
        base_text(network={"layers": [True] * 19_900}))
    add("19900 bad values through a union (39800 errors)", "bad-union.yaml",
        base_text(network={"layers": [2, 1], "init": {"scheme": "given", "layers": [{"weights": ["x"] * 19_900}]}}))
    tasks = [{"name": f"t{i}", "task": {"dataset": "xor"}} for i in range(1000)]
    add("1000 tasks sharing a scenario (an expansion, as aliases)", "tasks.yaml",
        yaml.safe_dump({k: v for k, v in {**BASE, "tasks": tasks}.items() if k != "task"}, sort_keys=False))
    add("Latin-1 file", "latin1.yaml", base_text().replace("bench", "café").encode("latin-1"))
    add("UTF-16 file", "utf16.yaml", base_text().encode("utf-16"))
    add("duplicate train: block", "duplicate.yaml", base_text() + "train: {epochs: 500}\n")
    return out


# A small launcher forks and execs `rulelab validate` and reports the child's peak memory. The
# kernel's peak (ru_maxrss) survives exec, so a child forked straight from this script would
# report at least this script's own size (it holds 100 MB test inputs): the launcher is tiny.
LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execv(sys.executable, [sys.executable] + sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def measure(path: Path, args: list[str]) -> tuple[float, float, int, str]:
    """(seconds, peak MB, exit code, first line of stderr) of one `rulelab validate` process."""
    command = [sys.executable, "-c", LAUNCHER, "-m", "rulelab.cli", "validate", str(path), *args]
    done = subprocess.run(command, capture_output=True, timeout=600)
    seconds, kilobytes, code = done.stdout.split()
    first = done.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
    return float(seconds), int(kilobytes) / 1024, int(code), first[0] if first else ""


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    print("\n| input | exit | peak MB | seconds | message |\n|---|---|---|---|---|")
    worst_mb = worst_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for what, path, args in cases(Path(tmp)):
            runs = [measure(path, args) for _ in range(repeats)]
            seconds = min(r[0] for r in runs)
            peak = max(r[1] for r in runs)
            code, message = runs[0][2], runs[0][3]
            worst_mb, worst_s = max(worst_mb, peak), max(worst_s, seconds)
            shown = message.replace(str(path), path.name).replace("|", "\\|")
            shown = shown if len(shown) <= 110 else shown[:109] + "…"
            print(f"| {what} | {code} | {peak:.0f} | {seconds:.2f} | {shown} |", flush=True)
    verdict = "within" if worst_mb < LIMIT_MB and worst_s < LIMIT_S else "OVER"
    print(f"\nworst: {worst_mb:.0f} MB, {worst_s:.2f} s — {verdict} the {LIMIT_MB} MB / {LIMIT_S:g} s bound")


if __name__ == "__main__":
    main()
