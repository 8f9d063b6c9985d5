"""Backprop on a computational graph (rulelab graph): the notes' example, closed forms, safe parsing."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner

from rulelab.cli import main
from rulelab.graph import GraphError, backprop, numeric_gradients, parse_assignments, parse_expression


def run(text: str, **values: float):
    return backprop(parse_expression(text), values)


def test_notes_example_every_step():
    """Notes 003: f = (x + y) z at x = −2, y = 5, z = −4: q = 3, f = −12; ∂f/∂x = ∂f/∂y = −4, ∂f/∂z = 3."""
    result = run("(x+y)*z", x=-2, y=5, z=-4)
    graph = result.graph
    q, f = graph.nodes[2], graph.nodes[4]
    assert (q.name, graph.describe(q), result.values[q.index]) == ("q1", "x + y", 3.0)
    assert (f.name, graph.describe(f), result.value) == ("f", "q1 * z", -12.0)
    # At f: upstream 1; local ∂f/∂q = z = −4 and ∂f/∂z = q = 3.
    assert result.upstream[f.index] == 1.0
    assert [(graph.nodes[e.input].name, e.local, e.downstream) for e in result.edges[f.index]] == [
        ("q1", -4.0, -4.0), ("z", 3.0, 3.0)]
    # At q: upstream −4, local 1 and 1, downstream −4 and −4 (the notes' chain rule).
    assert result.upstream[q.index] == -4.0
    assert [(graph.nodes[e.input].name, e.local, e.downstream) for e in result.edges[q.index]] == [
        ("x", 1.0, -4.0), ("y", 1.0, -4.0)]
    assert result.gradients() == {"x": -4.0, "y": -4.0, "z": 3.0}


@pytest.mark.parametrize("text,values,value,gradients", [
    ("x - y", {"x": 3, "y": 5}, -2.0, {"x": 1.0, "y": -1.0}),
    ("x / y", {"x": 3, "y": 4}, 0.75, {"x": 0.25, "y": -3 / 16}),
    ("-x", {"x": 2}, -2.0, {"x": -1.0}),
    ("x ^ 3", {"x": 2}, 8.0, {"x": 12.0}),
    ("x ** -1", {"x": 4}, 0.25, {"x": -1 / 16}),
    ("exp(x)", {"x": 1}, math.e, {"x": math.e}),
    ("log(x)", {"x": 4}, math.log(4), {"x": 0.25}),
    ("tanh(x)", {"x": 0.5}, math.tanh(0.5), {"x": 1 - math.tanh(0.5) ** 2}),
    ("sigmoid(x)", {"x": 0}, 0.5, {"x": 0.25}),
    ("relu(x)", {"x": -3}, 0.0, {"x": 0.0}),
    ("relu(x)", {"x": 2}, 2.0, {"x": 1.0}),
    ("max(x, y, 1)", {"x": -1, "y": 2}, 2.0, {"x": 0.0, "y": 1.0}),
    ("x * x", {"x": 3}, 9.0, {"x": 6.0}),  # x used twice: the two downstream gradients add
    ("x*y + x", {"x": 2, "y": 5}, 12.0, {"x": 6.0, "y": 2.0}),
])
def test_each_operation_against_its_closed_form(text, values, value, gradients):
    result = run(text, **values)
    assert result.value == pytest.approx(value, rel=1e-15)
    for name, expected in gradients.items():
        assert result.gradient(name) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("text,values", [
    ("log(x)/exp(-x) - tanh(x*y)", {"x": 0.5, "y": -1.3}),
    ("sigmoid(w1*x1 + w2*x2 + b) * max(x1, x2) / (1 + x1^2)", {"w1": 0.3, "w2": -0.7, "x1": 1.2, "x2": 0.4,
                                                             "b": 0.1}),
    ("relu(3*x1 - 2*x2 + 1)", {"x1": 0.7, "x2": -0.2}),
])
def test_composite_expressions_match_finite_differences(text, values):
    graph = parse_expression(text)
    numeric = numeric_gradients(graph, values)
    for name, g in backprop(graph, values).gradients().items():
        assert g == pytest.approx(numeric[name], abs=1e-7)


@pytest.mark.parametrize("text,expected", [
    ("2 + 3 * 4", 14.0), ("(2 + 3) * 4", 20.0), ("8 / 4 / 2", 1.0), ("2 - 3 - 4", -5.0),
    ("-2 ^ 2", -4.0), ("(-2) ^ 2", 4.0), ("2 ^ -1", 0.5), ("1.5e1 × 2 ÷ 3 − 1", 9.0), ("+3", 3.0),
])
def test_precedence_and_associativity(text, expected):
    assert run(text).value == expected


def test_non_differentiable_points_are_flagged():
    result = run("relu(x)", x=0)
    assert result.gradient("x") == 0.0 and "relu has no derivative at 0" in result.notes[0]
    result = run("max(x, y)", x=1, y=1)
    assert (result.gradient("x"), result.gradient("y")) == (1.0, 0.0) and "tie" in result.notes[0]


@pytest.mark.parametrize("text,message", [
    ("(x+y)*", "at position 7: expected a number, a name or '(', found the end"),
    ("(x+y", "expected ')', found the end"),
    ("2x", "unexpected 'x'; expected an operator or the end"),
    ("foo(x)", "unknown function 'foo'; available: exp, log, tanh, sigmoid, relu, max"),
    ("max(x)", "max() takes at least 2 arguments; got 1"),
    ("exp(x, y)", "exp() takes 1 argument; got 2"),
    ("x ^ y", "the exponent of ^ must be a number"),
    ("__import__('os').system('echo hi')", "unexpected \"'\""),
    ("x; y", "unexpected ';'"),
    ("", "the expression is empty"),
])
def test_parse_errors_say_what_and_where(text, message):
    with pytest.raises(GraphError) as info:
        parse_expression(text)
    assert message in str(info.value)


@pytest.mark.parametrize("text,values,message", [
    ("log(x)", {"x": 0.0}, "f = log(x): log needs a positive argument; got 0"),
    ("x / (y - 1)", {"x": 1.0, "y": 1.0}, "f = x / q1: division by zero"),
    ("exp(x)", {"x": 1000.0}, "exp(1000) overflows"),
    ("x ^ 0.5", {"x": -4.0}, "a negative number (-4) to a fractional power"),
    ("x + y", {"x": 1.0}, "--at: give a value for y"),
    ("x", {"x": 1.0, "w": 2.0}, "--at: w not in the expression"),
])
def test_evaluation_errors(text, values, message):
    with pytest.raises(GraphError, match=None) as info:
        backprop(parse_expression(text), values)
    assert message in str(info.value)


def test_assignments():
    assert parse_assignments("x=-2, y=5,z=-4") == {"x": -2.0, "y": 5.0, "z": -4.0}
    assert parse_assignments("") == {}
    for bad, message in (("x", "expected NAME=VALUE"), ("x=abc", "x='abc' is not a number"),
                         ("x=inf", "not a finite number"), ("1x=2", "expected NAME=VALUE")):
        with pytest.raises(GraphError, match=message):
            parse_assignments(bad)


def test_cli_prints_every_step_and_draws_the_graph(tmp_path):
    out = tmp_path / "figs" / "graph.png"
    result = CliRunner().invoke(main, ["graph", "(x+y)*z", "--at", "x=-2,y=5,z=-4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "f(x, y, z) = (x+y)*z   at x = -2, y = 5, z = -4" in text
    assert "q1 = x + y = 3" in text and "f  = q1 * z = -12" in text
    assert "∂f/∂q1 = -4" in text and "∂q1/∂x = 1" in text
    for line in ("∂f/∂x = -4", "∂f/∂y = -4", "∂f/∂z = 3"):
        assert f"  {line}\n" in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "graph.svg"
    assert CliRunner().invoke(main, ["graph", "x*x", "--at", "x=3", "--out", str(svg)]).exit_code == 0
    assert b"<svg" in svg.read_bytes()[:400]
    assert "∂f/∂x = 3 + 3 = 6" in CliRunner().invoke(main, ["graph", "x*x", "--at", "x=3"]).output


@pytest.mark.parametrize("args,message", [
    (["(x+y)*z", "--at", "x=1"], "error: --at: give a value for y, z"),
    (["(x+", "--at", "x=1"], "error: cannot parse '(x+' at position 4"),
    (["x", "--at", "x=1", "--out", "graph.txt"], "error: --out graph.txt: expected a file name ending in .png"),
])
def test_cli_bad_input_exits_2_without_traceback(args, message):
    result = CliRunner().invoke(main, ["graph", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
