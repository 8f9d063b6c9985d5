"""rulelab playground: time to the first frame, and decision-region updates per second with 5 rules.

Issue 17's targets: the first frame within 1 s of opening the page; at least 20 updates per
second of the decision regions (a 100 × 100 grid) with 5 rules on the moons.

The server runs as a user starts it (``rulelab playground --port 0``, a process of its own, the
kernel cache warm); the page is opened in headless Chromium (Debian's, by path) with Playwright.

- first frame: milliseconds from the start of navigation to the first frame drawn on the page
  (``performance.now()`` when the page has painted its first regions), for the first page after
  the server started and for later pages (fresh browser contexts);
- updates per second: frames the page drew in PLAY_SECONDS of play, one epoch per frame, with the
  5 rules of scenarios/classic.yaml on the two moons (200 points);
- server compute per frame, without browser or network: one epoch of the 5 rules plus the frame
  (regions, hidden units, metrics) as JSON, in this process — the headroom above the server's
  frame-rate cap (``MAX_FPS``).

Run:  python benchmarks/bench_playground.py
"""

from __future__ import annotations

import base64
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time

CHROMIUM = os.environ.get("RULELAB_CHROMIUM", "/usr/bin/chromium")
PLAY_SECONDS = 8.0
OPENS = 5

FIVE_RULES = [
    {"rule": "perceptron", "lr": 0.1, "network": {"layers": [2, 1], "activation": "step"}},
    {"rule": "delta", "lr": 0.5, "network": {"layers": [2, 1], "activation": "sigmoid"}},
    {"rule": "backprop", "lr": 0.3},
    {"rule": "feedback_alignment", "lr": 0.3},
    {"rule": "openai_es", "population": 40, "sigma": 0.3, "lr": 0.05},
]


def scenario() -> dict:
    from rulelab.playground.state import DEFAULT_LAB

    raw = copy.deepcopy(DEFAULT_LAB)
    raw["train"]["epochs"] = 100_000
    raw["rules"] = copy.deepcopy(FIVE_RULES)
    return raw


def link(url: str, raw: dict) -> str:
    state = json.dumps({"view": "lab", "scenario": raw}).encode()
    return url + "#" + base64.urlsafe_b64encode(state).decode().rstrip("=")


def server_compute(frames: int = 200) -> float:
    """Milliseconds per frame: advance one epoch, draw every rule's frame, encode it as JSON."""
    from rulelab.playground.lab import LabRun
    from rulelab.playground.state import open_scenario

    lab = LabRun(open_scenario(scenario()))
    json.dumps(lab.frame())
    start = time.perf_counter()
    for _ in range(frames):
        lab.advance(1)
        json.dumps(lab.frame(), separators=(",", ":"))
    return (time.perf_counter() - start) / frames * 1e3


def main() -> None:
    from playwright.sync_api import sync_playwright

    from rulelab.playground.server import MAX_FPS

    print(f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    server = subprocess.Popen([sys.executable, "-m", "rulelab.cli", "playground", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split()[2]
        raw = scenario()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            firsts = []
            for k in range(OPENS):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.goto(link(url, raw))
                page.wait_for_function("window.__pg.frames > 0", timeout=30000)
                firsts.append(page.evaluate("window.__pg.firstFrame"))
                if k < OPENS - 1:
                    context.close()
            page.click("#play")
            page.wait_for_function("window.__pg.frames > 5", timeout=30000)
            f0, c0, t0 = page.evaluate("[window.__pg.frames, window.__pg.clock, performance.now()]")
            time.sleep(PLAY_SECONDS)
            f1, c1, t1 = page.evaluate("[window.__pg.frames, window.__pg.clock, performance.now()]")
            browser.close()
    finally:
        server.terminate()
        server.wait(20)
    rate = (f1 - f0) / ((t1 - t0) / 1e3)
    compute = server_compute()
    print("\n| measure | value | target |\n|---|---|---|")
    print(f"| first frame, first page after the server started | {firsts[0]:.0f} ms | ≤ 1000 ms |")
    print(f"| first frame, later pages (median, worst of {OPENS - 1}) | {statistics.median(firsts[1:]):.0f} ms, "
          f"{max(firsts[1:]):.0f} ms | ≤ 1000 ms |")
    print(f"| region updates per second, 5 rules on the moons, 100 × 100 grid | {rate:.1f} "
          f"(epochs {c0} → {c1}; server cap {MAX_FPS:g}) | ≥ 20 |")
    print(f"| server compute per frame (epoch + frame + JSON), no browser | {compute:.1f} ms "
          f"(≈ {1e3 / compute:.0f} frames/s) | |")


if __name__ == "__main__":
    main()
