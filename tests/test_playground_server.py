"""rulelab playground's server: runs, frames, export, Hopfield recall, and what it does with bad requests.

A real server (uvicorn in a thread, on 127.0.0.1 and a free port) answers plain HTTP here;
tests/test_playground_browser.py drives the page itself.  Every loop below is bounded in
requests and seconds.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlparse

import numpy as np
import pytest

from rulelab.core import kernels as K
from rulelab.playground.lab import LabRun
from rulelab.playground.server import MAX_BODY, BackgroundServer
from rulelab.playground.state import DEFAULT_LAB, PlaygroundInputError, export_yaml, open_scenario

MOONS = {**copy.deepcopy(DEFAULT_LAB), "task": {"kind": "classification", "test_fraction": 0.25,
                                                  "dataset": {"name": "moons", "n_samples": 80, "noise": 0.2}}}


class Served:
    """Where the test server listens, and its runs (to compare what it holds with what it sent)."""

    def __init__(self, background: BackgroundServer):
        parsed = urlparse(background.url)
        self.hostname, self.port = parsed.hostname, parsed.port
        self.runs = background.app.state.runs


@pytest.fixture(scope="module")
def server():
    background = BackgroundServer()
    with background:
        yield Served(background)


# A bound on each wait, not a performance check: with an empty kernel cache (a fresh clone) and
# the other test worker compiling too, a run's first frame waits for its kernels to compile.
PATIENCE_S = 300


def request(server, method: str, path: str, body=None, headers=None, timeout: float = PATIENCE_S):
    """(status, parsed JSON or text) of one request."""
    conn = http.client.HTTPConnection(server.hostname, server.port, timeout=timeout)
    data = body if isinstance(body, (bytes, type(None))) else (body.encode() if isinstance(body, str)
                                                              else json.dumps(body).encode())
    conn.request(method, path, body=data, headers=headers or {})
    response = conn.getresponse()
    text = response.read().decode("utf-8", "replace")
    conn.close()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


def events(server, key: str, count: int, timeout: float = PATIENCE_S) -> list[tuple[str, dict]]:
    """The first ``count`` events of a run's stream (bounded in time)."""
    conn = http.client.HTTPConnection(server.hostname, server.port, timeout=timeout)
    conn.request("GET", f"/api/runs/{key}/events")
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("content-type").startswith("text/event-stream")
    out, kind, deadline = [], None, time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        line = response.fp.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            out.append((kind, json.loads(line[6:])))
    conn.close()
    return out


def alive(server) -> bool:
    status, body = request(server, "GET", "/api/catalog")
    return status == 200 and "rules" in body


def new_run(server, scenario=MOONS) -> tuple[str, dict]:
    status, body = request(server, "POST", "/api/runs", {"scenario": scenario})
    assert status == 200, body
    return body["id"], body


# ------------------------------------------------------------------ runs and frames


def test_a_run_streams_frames_while_playing_and_steps_one_epoch(server):
    key, body = new_run(server)
    info = body["info"]
    assert [r["label"] for r in info["rules"]] == ["backprop", "feedback_alignment"]
    assert info["grid"]["size"] == 100 and len(info["train"]["points"]) == 2 * 60
    first = body["frame"]["rules"][0]
    shade = np.frombuffer(base64.b64decode(first["values"]), np.uint8)
    lab = server.runs.get(key).lab
    session = lab.sessions[0]
    net = session.plan.network
    predicted = K.predict_all(session.params, net.layout, net.act_args, lab.display.grid_inputs, session.plan.threshold)
    assert shade.shape == (100 * 100,) and np.array_equal(shade >= 128, predicted == 1)  # the regions, exactly
    assert first["metrics"]["epoch"] == [0]
    status, answer = request(server, "POST", f"/api/runs/{key}/control", {"action": "step"})
    assert status == 200 and answer["playing"] is False
    (_, initial), (_, stepped) = events(server, key, 2)
    assert stepped["clock"] == 1 and stepped["rules"][0]["metrics"]["epoch"] == [1]
    request(server, "POST", f"/api/runs/{key}/control", {"action": "play", "speed": 3})
    frames = [f for _, f in events(server, key, 4)][1:]
    clocks = [f["clock"] for f in frames]
    assert clocks == sorted(clocks) and clocks[-1] > 1 and all((c - 1) % 3 == 0 for c in clocks)
    request(server, "POST", f"/api/runs/{key}/control", {"action": "reset"})
    kinds = [k for k, _ in events(server, key, 2)]
    assert "reset" in kinds
    assert request(server, "DELETE", f"/api/runs/{key}")[0] == 200
    assert request(server, "POST", f"/api/runs/{key}/control", {"action": "play"})[0] == 404


def test_exported_yaml_reproduces_the_run_shown(server, tmp_path):
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = {**MOONS, "rules": MOONS["rules"] + [{"rule": "openai_es", "population": 10, "sigma": 0.3}]}
    key, _ = new_run(server, scenario)
    for _ in range(5):
        request(server, "POST", f"/api/runs/{key}/control", {"action": "step"})
    assert events(server, key, 6)[-1][1]["clock"] == 5
    status, text = request(server, "GET", f"/api/runs/{key}/export")
    assert status == 200 and "epochs: 5" in text
    path = tmp_path / "exported.yaml"
    path.write_text(text)
    records = run_scenario(load_scenario(path))
    live = server.runs.get(key).lab.sessions
    for record, session in zip(records, live):
        shown = [(e, m, v) for e, m, v in session.record.all_rows() if m != "wall_seconds"]
        assert [(e, m, v) for e, m, v in record.all_rows() if m != "wall_seconds"] == shown
        assert np.array_equal(record.params, session.params)


def test_two_tabs_training_at_once_do_not_interfere(server):
    """Two runs played at the same time give the numbers each gives alone."""
    a = {**MOONS, "seed": 1}
    b = {**MOONS, "seed": 2, "rules": [{"rule": "openai_es", "population": 10, "sigma": 0.3},
                                       {"rule": "delta", "lr": 0.3, "network": {"layers": [2, 1]}}]}
    keys = [new_run(server, s)[0] for s in (a, b)]
    results: dict[str, list] = {}

    def watch(key: str) -> None:
        request(server, "POST", f"/api/runs/{key}/control", {"action": "play", "speed": 2})
        results[key] = [f for _, f in events(server, key, 8)]
        request(server, "POST", f"/api/runs/{key}/control", {"action": "pause"})

    threads = [threading.Thread(target=watch, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for key, raw in zip(keys, (a, b)):
        frames = results[key]
        clock = frames[-1]["clock"]
        assert clock >= 10
        alone = LabRun(open_scenario(raw))
        alone.advance(clock)
        live = server.runs.get(key).lab
        for mine, theirs in zip(alone.sessions, live.sessions):
            rows = [(e, m, v) for e, m, v in mine.record.all_rows() if m != "wall_seconds"]
            live_rows = [(e, m, v) for e, m, v in theirs.record.all_rows() if m != "wall_seconds" and e <= clock]
            assert rows == live_rows
        # What the page received adds up to the same curves.
        sent = [v for f in frames for v in f["rules"][0]["metrics"].get("train_loss", [])]
        expected = [float(f"{v:.6g}") for e, m, v in alone.sessions[0].record.all_rows() if m == "train_loss"]
        assert sent == expected[1:1 + len(sent)] and len(sent) == clock  # epoch 0 came with the run


def test_regression_and_derived_features_are_drawn_in_the_plane(server):
    scenario = {**MOONS, "task": {"kind": "regression", "standardize": True,
                                  "dataset": {"name": "playground_plane", "n_samples": 100,
                                              "features": ["x1", "x2", "x1_times_x2"]}},
                "network": {"layers": [3, 4, 1], "activation": "tanh", "output_activation": "linear"},
                "rules": [{"rule": "backprop", "lr": 0.05}]}
    key, body = new_run(server, scenario)
    info = body["info"]
    assert info["kind"] == "regression" and info["rules"][0]["layers"] == [3, 4, 1]
    points = np.asarray(info["train"]["points"]).reshape(-1, 2)
    assert points.shape == (50, 2) and np.abs(points).max() <= 6.0 + 1e-9  # the plane's own coordinates
    assert len(body["frame"]["rules"][0]["hidden"]) == 4


# ------------------------------------------------------------------ Hopfield


def hopfield_request(rule: str = "storkey", mode: str = "async", flips: int = 20):
    from rulelab.playground.hopfield import default_patterns, hopfield_scenario

    width, height, patterns = default_patterns()
    cue = list(patterns[1])
    for i in np.random.default_rng(4).choice(len(cue), flips, replace=False):
        cue[i] = -cue[i]
    return hopfield_scenario(patterns, cue, rule, mode, 3, 20, width, height), patterns


@pytest.mark.parametrize("rule,mode", [("hopfield_hebbian", "async"), ("storkey", "sync"),
                                       ("pseudo_inverse", "async")])
def test_hopfield_recall_matches_rulelab_run(server, tmp_path, rule, mode):
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario, patterns = hopfield_request(rule, mode)
    status, body = request(server, "POST", "/api/hopfield", {"scenario": scenario})
    assert status == 200, body
    assert body["outcome"] == "target" and body["final"] == [int(v) for v in patterns[1]]
    energies = body["steps"]["energies"]
    assert all(b <= a + 1e-9 for a, b in zip(energies, energies[1:]))  # the energy never rises
    assert energies[-1] < body["start_energy"]
    path = tmp_path / "hopfield.yaml"
    path.write_text(body["yaml"])
    record, = run_scenario(load_scenario(path))
    final = {m: v for _, m, v in record.all_rows()}
    assert final["overlap"] == body["overlap"] == 1.0
    assert final["sweeps"] == body["sweeps"]
    assert final["energy_final"] == body["final_energy"]


def test_async_trace_is_the_engines_recall():
    from rulelab.core.hopfield import async_recall_one
    from rulelab.playground.hopfield import async_trace

    rng = np.random.default_rng(0)
    patterns = np.where(rng.random((6, 50)) < 0.5, -1.0, 1.0)
    W = patterns.T @ patterns
    np.fill_diagonal(W, 0.0)
    b = np.zeros(50)
    for seed in range(5):
        cue = np.where(rng.random(50) < 0.5, -1.0, 1.0)
        v1, v2 = cue.copy(), cue.copy()
        e1 = np.full(11, np.nan)
        sweeps, converged = async_recall_one(W, b, v1, seed, 10, e1)
        units, values, e2 = np.zeros(500, np.int64), np.zeros(500), np.zeros(500)
        visits, sweeps2, converged2 = async_trace(W, b, v2, seed, 10, units, values, e2)
        assert np.array_equal(v1, v2) and (sweeps, converged) == (sweeps2, converged2)
        assert visits == 50 * sweeps and e2[visits - 1] == e1[sweeps]


# ------------------------------------------------------------------ bad and hostile requests


BAD_JSON = [
    (b"not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "expected a JSON object"),
    (b'{"scenario": NaN}', 400, "NaN"),
    (b"\xff\xfe{}", 400, "UTF-8"),
    (b"[" * 100000 + b"]" * 100000, 400, ""),
    (b"{}", 400, "scenario"),
    (json.dumps({"scenario": "moons"}).encode(), 400, "scenario"),
]


@pytest.mark.parametrize("body,status,words", BAD_JSON)
def test_malformed_bodies_get_a_clear_4xx(server, body, status, words):
    got, answer = request(server, "POST", "/api/runs", body, {"Content-Type": "application/json"})
    assert got == status and words in answer["error"]
    assert alive(server)


@pytest.mark.parametrize("change,path", [
    ({"task": {"kind": "classification", "dataset": "digits"}, "rules": [{"rule": "delta", "lr": 0.1}],
      "network": {"layers": [64, 10], "activation": "sigmoid"}}, "task.dataset"),
    ({"rules": [{"rule": "backprop", "lr": -1}]}, "rules[0].lr"),
    ({"rules": [{"rule": "hopfield_hebbian"}]}, "rules[0]"),
    ({"rules": [{"rule": "no_such_rule"}]}, "rules[0].rule"),
    ({"network": {"layers": [2, 100000, 1]}}, "rules[0].network"),
    ({"train": {"epochs": 10 ** 9}}, "train.epochs"),
    ({"train": {"epochs": 10, "budget": {"wall_seconds": 1.0}}}, "train.budget"),
    ({"task": {"kind": "classification", "dataset": {"name": "moons", "n_samples": 10 ** 6}}},
     "task.dataset.n_samples"),
    ({"rules": [{"label": "x", "stages": [{"rule": "oja", "lr": 0.01}, {"rule": "delta"}]}]},
     "rules[0].stages[0].epochs"),
    ({"rules": [{"rule": "openai_es", "population": 100000}]}, "rules[0].population"),
    ({"seed": 2 ** 70}, "seed"),
])
def test_scenarios_the_playground_refuses_name_the_key(server, change, path):
    status, answer = request(server, "POST", "/api/runs", {"scenario": {**MOONS, **change}})
    assert status == 400, answer
    assert any(p.startswith(path) for p, _ in answer["problems"]), answer


def test_hostile_requests_never_stop_the_server(server):
    assert request(server, "POST", "/api/runs", b"x" * (MAX_BODY + 1))[0] == 413
    assert request(server, "POST", "/api/runs", b"{}", {"Content-Length": "99999999999"})[0] in (400, 413)
    assert request(server, "GET", "/api/nowhere")[0] == 404
    assert request(server, "GET", "/api/runs")[0] == 405
    assert request(server, "GET", "/static/../../../../etc/passwd")[0] == 404
    assert request(server, "GET", "/", headers={"Host": "attacker.example"})[0] == 400
    assert request(server, "GET", "/api/runs/" + "x" * 5000 + "/events")[0] == 404
    key, _ = new_run(server)
    for action in ({"action": "fly"}, {"action": "play", "speed": 0}, {"action": "play", "speed": True},
                   {"action": "play", "speed": 10 ** 12}, {"action": ["play"]}):
        status, answer = request(server, "POST", f"/api/runs/{key}/control", action)
        assert status == 400 and answer["problems"], action
    laughs = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
    for text in (b"a: [1, 2", b"\x00\x01", b"a: &a [*a]", b"- just\n- a list\n", laughs.encode()):
        status, answer = request(server, "POST", "/api/open", text)
        assert status == 400 and answer["error"], text[:40]
    bad_cue, _ = hopfield_request()
    bad_cue["task"]["association"]["cues"] = [[0.5] * 100]
    status, answer = request(server, "POST", "/api/hopfield", {"scenario": bad_cue})
    assert status == 400 and answer["problems"][0][0].startswith("task.association.cues")
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X: " + b"y" * 1_000_000 + b"\r\n\r\n",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64):
        with socket.create_connection((server.hostname, server.port), timeout=10) as sock:
            try:  # the server may answer and close before it has read everything
                sock.sendall(raw)
                reply = sock.recv(200)
            except OSError:
                reply = b""
            assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply
    assert alive(server)


def test_the_oldest_idle_run_goes_when_the_limit_is_reached():
    from rulelab.playground.server import BadRequest, Runs

    runs = Runs(limit=2)
    first = runs.add("a")
    time.sleep(0.01)
    second = runs.add("b")
    runs.get(first)  # seen again: the second is now the oldest
    third = runs.add("c")
    assert set(runs.runs) == {first, third} and second not in runs.runs
    for r in runs.runs.values():
        r.streaming = True
    with pytest.raises(BadRequest) as caught:
        runs.add("d")
    assert caught.value.status == 503


def test_open_yaml_takes_the_first_comparison_and_one_seed(server):
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "scenarios" / "playground.yaml").read_text()
    status, body = request(server, "POST", "/api/open", text)
    assert status == 200, body
    assert body["view"] == "lab" and body["scenario"]["repeats"] == 1
    assert any("4 comparisons" in note for note in body["notes"])


def test_export_keeps_every_stage_and_seed():
    raw = {**MOONS, "rules": [{"label": "oja+delta", "stages": [{"rule": "oja", "lr": 0.01, "epochs": 3},
                                                              {"rule": "delta", "lr": 0.2}]}],
           "repeats": 4, "seed": 7}
    opened = open_scenario(raw)
    assert opened.raw["repeats"] == 1 and opened.notes
    lab = LabRun(opened)
    lab.advance(2)
    assert lab.sessions[0].epoch == 5  # the fixed stage first, then two epochs of the last
    text = export_yaml(opened, lab.clock)
    assert "epochs: 2" in text and "seed: 7" in text and "repeats: 1" in text
    with pytest.raises(PlaygroundInputError):
        open_scenario([1, 2])


# ------------------------------------------------------------------ the command


def test_the_command_serves_on_loopback_and_refuses_bad_input(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntask: {dataset: digits}\nnetwork: {layers: [64, 10]}\nrules: [{rule: backprop}]\n")
    done = subprocess.run([sys.executable, "-m", "rulelab.cli", "playground", str(bad)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 2 and "task.dataset" in done.stderr
    proc = subprocess.Popen([sys.executable, "-m", "rulelab.cli", "playground", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("rulelab playground: http://127.0.0.1:"), line
        url = urlparse(line.split()[2])
        status, text = request(url, "GET", "/")
        assert status == 200 and "rulelab playground" in text
        busy = subprocess.run([sys.executable, "-m", "rulelab.cli", "playground", "--port", str(url.port)],
                              capture_output=True, text=True, timeout=600)
        assert busy.returncode == 2 and "cannot listen" in busy.stderr
    finally:
        proc.terminate()
        proc.wait(20)
