"""Backpropagation on a computational graph, for small expressions written as text.

Lecture notes 003 work  f(x, y, z) = (x + y)·z  at x = −2, y = 5, z = −4 by hand:
q = x + y = 3, f = q z = −12; going back, each node multiplies the gradient arriving
from above (upstream, ∂f/∂node) by its own local gradient (∂node/∂input) and passes
the product down (downstream, ∂f/∂input):  ∂f/∂x = ∂f/∂q · ∂q/∂x = −4 · 1 = −4.
This module does the same for any small expression of  + − × ÷ ^,  exp, log, tanh,
sigmoid, relu and max, and reports every step.

The expression is parsed by a small recursive-descent parser (never ``eval``): numbers,
variable names, the operators above and the six functions, nothing else.

    graph = parse_expression("(x + y) * z")
    result = backprop(graph, {"x": -2, "y": 5, "z": -4})
    result.gradient("x")   # -4.0
    print(format_report(result))
    draw_graph(result, "graph.png")
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

FUNCTIONS = ("exp", "log", "tanh", "sigmoid", "relu", "max")
BINARY_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}  # as typed, in the report
FIGURE_SYMBOLS = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "neg": "−"}  # as drawn


class GraphError(ValueError):
    """An expression that cannot be parsed or evaluated, with what is wrong in words."""


# ---------------------------------------------------------------------------------------------
# The graph


@dataclass(frozen=True)
class Node:
    """One node: a variable, a constant, or an operation on earlier nodes."""

    index: int
    op: str  # "var", "const", "neg", a key of BINARY_SYMBOLS, or a name in FUNCTIONS
    inputs: tuple[int, ...] = ()
    name: str = ""  # x, 2.5, q1, …, f
    value: float = 0.0  # a constant's value (or a power's exponent, stored on the pow node)

    @property
    def is_leaf(self) -> bool:
        return self.op in ("var", "const")


@dataclass(frozen=True)
class Graph:
    """Nodes in evaluation order (every input before the node that uses it); the last is f."""

    text: str
    nodes: tuple[Node, ...]

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    @property
    def variables(self) -> list[str]:
        """Variable names in order of first appearance."""
        return [n.name for n in self.nodes if n.op == "var"]

    def describe(self, node: Node) -> str:
        """How a node reads in terms of its inputs' names: ``q1 × z``, ``sigmoid(q2)``."""
        names = [self.nodes[i].name for i in node.inputs]
        if node.op == "pow":
            return f"{names[0]} ^ {format_number(node.value)}"
        if node.op in BINARY_SYMBOLS:
            return f"{names[0]} {BINARY_SYMBOLS[node.op]} {names[1]}"
        if node.op == "neg":
            return f"-{names[0]}"
        if node.op in FUNCTIONS:
            return f"{node.op}({', '.join(names)})"
        return node.name


# ---------------------------------------------------------------------------------------------
# Parsing: tokens, then recursive descent (precedence: + −  <  × ÷  <  unary −  <  ^  <  atoms)

_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
                    r"|(?P<op>\*\*|[-+*/^(),×÷·−]))")
_OP_ALIASES = {"×": "*", "·": "*", "÷": "/", "−": "-", "**": "^"}


@dataclass(frozen=True)
class _Token:
    kind: str  # number, name, op, end
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            where = position + len(text[position:]) - len(text[position:].lstrip())
            raise _syntax_error(text, where, f"unexpected {text[where]!r}; expected a number, a name, "
                                             "an operator (+ - * / ^) or a parenthesis")
        kind = match.lastgroup
        value = match.group(kind)
        start = match.start(kind)
        tokens.append(_Token(kind, _OP_ALIASES.get(value, value) if kind == "op" else value, start))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _syntax_error(text: str, position: int, message: str) -> GraphError:
    return GraphError(f"cannot parse {text!r} at position {position + 1}: {message}\n  {text}\n  "
                      f"{' ' * position}^")


class _Parser:
    """Builds the node list while parsing; variables are shared nodes, so x·x has one x."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.at = 0
        self.nodes: list[Node] = []
        self.variables: dict[str, int] = {}

    # -- token helpers
    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.token
        self.at += 1
        return token

    def expect(self, text: str) -> None:
        if self.token.text != text or self.token.kind == "name":
            found = "the end" if self.token.kind == "end" else repr(self.token.text)
            raise _syntax_error(self.text, self.token.position, f"expected {text!r}, found {found}")
        self.take()

    def add(self, op: str, inputs: tuple[int, ...] = (), name: str = "", value: float = 0.0) -> int:
        self.nodes.append(Node(len(self.nodes), op, inputs, name, value))
        return len(self.nodes) - 1

    # -- grammar
    def parse(self) -> Graph:
        if self.token.kind == "end":
            raise GraphError("the expression is empty; write e.g. \"(x + y) * z\"")
        top = self.expression()
        if self.token.kind != "end":
            raise _syntax_error(self.text, self.token.position,
                                f"unexpected {self.token.text!r}; expected an operator or the end")
        return _name_nodes(self.text, self.nodes, top)

    def expression(self) -> int:
        left = self.term()
        while self.token.kind == "op" and self.token.text in "+-":
            op = "add" if self.take().text == "+" else "sub"
            left = self.add(op, (left, self.term()))
        return left

    def term(self) -> int:
        left = self.unary()
        while self.token.kind == "op" and self.token.text in "*/":
            op = "mul" if self.take().text == "*" else "div"
            left = self.add(op, (left, self.unary()))
        return left

    def unary(self) -> int:
        if self.token.kind == "op" and self.token.text in "+-":
            sign = self.take().text
            operand = self.unary()
            if sign == "+":
                return operand
            node = self.nodes[operand]
            if node.op == "const" and operand == len(self.nodes) - 1:
                # A literal −2 is one constant, not a negation node.
                self.nodes[operand] = Node(operand, "const", (), _number_name(-node.value), -node.value)
                return operand
            return self.add("neg", (operand,))
        return self.power()

    def power(self) -> int:
        base = self.atom()
        if self.token.kind == "op" and self.token.text == "^":
            self.take()
            exponent = self.signed_number("the exponent of ^ must be a number, e.g. q^2")
            return self.add("pow", (base,), value=exponent)
        return base

    def signed_number(self, message: str) -> float:
        sign = 1.0
        if self.token.kind == "op" and self.token.text in "+-":
            sign = -1.0 if self.take().text == "-" else 1.0
        if self.token.kind != "number":
            raise _syntax_error(self.text, self.token.position, message)
        return sign * float(self.take().text)

    def atom(self) -> int:
        token = self.token
        if token.kind == "number":
            self.take()
            value = float(token.text)
            return self.add("const", (), _number_name(value), value)
        if token.kind == "name":
            self.take()
            if token.text in FUNCTIONS:
                return self.call(token)
            if self.token.text == "(" and self.token.kind == "op":
                raise _syntax_error(self.text, token.position, f"unknown function {token.text!r}; "
                                    f"available: {', '.join(FUNCTIONS)}")
            if token.text not in self.variables:
                self.variables[token.text] = self.add("var", (), token.text)
            return self.variables[token.text]
        if token.kind == "op" and token.text == "(":
            self.take()
            inner = self.expression()
            self.expect(")")
            return inner
        found = "the end" if token.kind == "end" else repr(token.text)
        raise _syntax_error(self.text, token.position, f"expected a number, a name or '(', found {found}")

    def call(self, function: _Token) -> int:
        self.expect("(")
        args = [self.expression()]
        while self.token.kind == "op" and self.token.text == ",":
            self.take()
            args.append(self.expression())
        self.expect(")")
        wanted = "at least 2" if function.text == "max" else "1"
        if (function.text == "max") != (len(args) >= 2) or (function.text != "max" and len(args) != 1):
            raise _syntax_error(self.text, function.position,
                                f"{function.text}() takes {wanted} argument{'s' if wanted != '1' else ''}; "
                                f"got {len(args)}")
        return self.add(function.text, tuple(args))


def _number_name(value: float) -> str:
    return format_number(value)


def _name_nodes(text: str, nodes: list[Node], top: int) -> Graph:
    """Keep the nodes f depends on, in order, and name the operations q1, q2, …, f (as the notes' q)."""
    used: set[int] = set()
    stack = [top]
    while stack:
        i = stack.pop()
        if i not in used:
            used.add(i)
            stack.extend(nodes[i].inputs)
    kept = [n for n in nodes if n.index in used]
    new_index = {n.index: k for k, n in enumerate(kept)}
    taken = {n.name for n in kept if n.op == "var"}
    output_name = _fresh("f", taken)
    renamed, count = [], 0
    for node in kept:
        name = node.name
        if not node.is_leaf:
            if node.index == top:
                name = output_name
            else:
                count += 1
                name = _fresh(f"q{count}", taken)
        renamed.append(Node(new_index[node.index], node.op, tuple(new_index[i] for i in node.inputs), name,
                            node.value))
    return Graph(text, tuple(renamed))


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "'"
    return name


def parse_expression(text: str) -> Graph:
    """The computational graph of ``text``; raises :class:`GraphError` with the position of a mistake."""
    return _Parser(text).parse()


def parse_assignments(text: str) -> dict[str, float]:
    """``"x=-2,y=5,z=-4"`` → {"x": -2.0, "y": 5.0, "z": -4.0}."""
    values: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, number = (s.strip() for s in part.partition("="))
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", name):
            raise GraphError(f"--at: cannot read {part!r}; expected NAME=VALUE, e.g. x=-2")
        try:
            values[name] = float(number)
        except ValueError:
            raise GraphError(f"--at: {name}={number!r} is not a number") from None
        if not math.isfinite(values[name]):
            raise GraphError(f"--at: {name}={number} is not a finite number")
    return values


# ---------------------------------------------------------------------------------------------
# Forward and backward


@dataclass(frozen=True)
class Edge:
    """One input of a node on the way back: downstream = upstream × local."""

    input: int
    local: float
    downstream: float


@dataclass
class Backprop:
    """Forward values and every step of the backward pass."""

    graph: Graph
    values: list[float]
    upstream: list[float]  # ∂f/∂node (for a leaf: the sum over all its uses)
    edges: dict[int, list[Edge]]  # node index → its inputs, in order
    notes: list[str] = field(default_factory=list)

    @property
    def value(self) -> float:
        return self.values[-1]

    def gradient(self, variable: str) -> float:
        """∂f/∂variable."""
        for node in self.graph.nodes:
            if node.op == "var" and node.name == variable:
                return self.upstream[node.index]
        raise KeyError(variable)

    def gradients(self) -> dict[str, float]:
        return {name: self.gradient(name) for name in self.graph.variables}


def _sigmoid(z: float) -> float:
    # Two branches so that exp never overflows.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _forward(node: Node, args: list[float], describe: str) -> float:
    op = node.op
    if op == "add":
        return args[0] + args[1]
    if op == "sub":
        return args[0] - args[1]
    if op == "mul":
        return args[0] * args[1]
    if op == "div":
        if args[1] == 0.0:
            raise GraphError(f"{describe}: division by zero")
        return args[0] / args[1]
    if op == "neg":
        return -args[0]
    if op == "pow":
        base, exponent = args[0], node.value
        if base == 0.0 and exponent < 0:
            raise GraphError(f"{describe}: 0 to a negative power")
        if base < 0 and not float(exponent).is_integer():
            raise GraphError(f"{describe}: a negative number ({format_number(base)}) to a fractional power")
        return base ** exponent
    if op == "exp":
        try:
            return math.exp(args[0])
        except OverflowError:
            raise GraphError(f"{describe}: exp({format_number(args[0])}) overflows") from None
    if op == "log":
        if args[0] <= 0.0:
            raise GraphError(f"{describe}: log needs a positive argument; got {format_number(args[0])}")
        return math.log(args[0])
    if op == "tanh":
        return math.tanh(args[0])
    if op == "sigmoid":
        return _sigmoid(args[0])
    if op == "relu":
        return max(args[0], 0.0)
    if op == "max":
        return max(args)
    raise AssertionError(op)


def _local_gradients(node: Node, args: list[float], out: float, name: str, notes: list[str]) -> list[float]:
    """∂node/∂input for each input, at the forward values."""
    op = node.op
    if op == "add":
        return [1.0, 1.0]
    if op == "sub":
        return [1.0, -1.0]
    if op == "mul":
        return [args[1], args[0]]  # the notes' "∂f/∂q = z, ∂f/∂z = q": each input gets the other
    if op == "div":
        return [1.0 / args[1], -args[0] / args[1] ** 2]
    if op == "neg":
        return [-1.0]
    if op == "pow":
        exponent = node.value
        return [exponent * args[0] ** (exponent - 1.0) if exponent != 0 else 0.0]
    if op == "exp":
        return [out]
    if op == "log":
        return [1.0 / args[0]]
    if op == "tanh":
        return [1.0 - out * out]
    if op == "sigmoid":
        return [out * (1.0 - out)]
    if op == "relu":
        if args[0] == 0.0:
            notes.append(f"{name} = relu(0): relu has no derivative at 0; the local gradient used is 0 "
                         "(rulelab's convention; the notes' slide takes 1 for y ≥ 0)")
        return [1.0 if args[0] > 0.0 else 0.0]
    if op == "max":
        winner = args.index(out)  # the first of equal largest inputs takes the gradient
        if args.count(out) > 1:
            notes.append(f"{name} = max(…): inputs tie at {format_number(out)}; the whole gradient goes to the "
                         "first of them")
        return [1.0 if k == winner else 0.0 for k in range(len(args))]
    raise AssertionError(op)


def backprop(graph: Graph, values: dict[str, float]) -> Backprop:
    """Forward values, then the backward pass from ∂f/∂f = 1, node by node in reverse order."""
    missing = [v for v in graph.variables if v not in values]
    if missing:
        raise GraphError(f"--at: give a value for {', '.join(missing)} (e.g. --at "
                         f"{','.join(f'{v}=1' for v in graph.variables)})")
    unknown = [v for v in values if v not in graph.variables]
    if unknown:
        raise GraphError(f"--at: {', '.join(unknown)} not in the expression (its variables: "
                         f"{', '.join(graph.variables) or 'none'})")
    forward: list[float] = []
    for node in graph.nodes:
        if node.op == "var":
            forward.append(float(values[node.name]))
        elif node.op == "const":
            forward.append(node.value)
        else:
            describe = f"{node.name} = {graph.describe(node)}"
            forward.append(_forward(node, [forward[i] for i in node.inputs], describe))
            if not math.isfinite(forward[-1]):
                raise GraphError(f"{describe} is {forward[-1]} (overflow)")
    upstream = [0.0] * len(graph.nodes)
    upstream[-1] = 1.0
    edges: dict[int, list[Edge]] = {}
    notes: list[str] = []
    for node in reversed(graph.nodes):
        if node.is_leaf:
            continue
        args = [forward[i] for i in node.inputs]
        local = _local_gradients(node, args, forward[node.index], node.name, notes)
        edges[node.index] = []
        for i, d in zip(node.inputs, local):
            downstream = upstream[node.index] * d
            if graph.nodes[i].op != "const":  # constants take no gradient
                upstream[i] += downstream  # a node used twice adds the gradients of both uses
            edges[node.index].append(Edge(i, d, downstream))
    return Backprop(graph, forward, upstream, edges, notes)


def numeric_gradients(graph: Graph, values: dict[str, float], h: float = 1e-6) -> dict[str, float]:
    """Central differences (f(v + h) − f(v − h)) / 2h, to check :func:`backprop` against."""
    out = {}
    for name in graph.variables:
        up, down = dict(values), dict(values)
        up[name] += h
        down[name] -= h
        out[name] = (backprop(graph, up).value - backprop(graph, down).value) / (2 * h)
    return out


# ---------------------------------------------------------------------------------------------
# Reporting


def format_number(value: float) -> str:
    """Whole numbers without a decimal point, others to 6 significant digits; −0 prints as 0."""
    if value == 0.0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def format_report(result: Backprop) -> str:
    """The forward pass, the backward pass (upstream × local = downstream) and ∂f/∂ each variable."""
    graph, v = result.graph, result.values
    f = graph.output.name
    variables = graph.variables
    at = ", ".join(f"{n} = {format_number(v[node.index])}" for n in variables
                   for node in graph.nodes if node.op == "var" and node.name == n)
    lines = [f"{f}({', '.join(variables)}) = {graph.text}" + (f"   at {at}" if at else ""), "", "forward"]
    operations = [node for node in graph.nodes if not node.is_leaf]
    width = max((len(n.name) for n in operations), default=0)
    lines += [f"  {n.name.ljust(width)} = {graph.describe(n)} = {format_number(v[n.index])}" for n in operations]
    if not operations:
        lines.append(f"  {f} = {format_number(v[-1])}")
    lines += ["", f"backward   (downstream = upstream × local;  upstream of {f} is ∂{f}/∂{f} = 1)"]
    rows = [["node", "", "upstream", "input", "local", "downstream"]]
    for node in reversed(graph.nodes):
        if node.is_leaf:
            continue
        for k, edge in enumerate(result.edges[node.index]):
            child = graph.nodes[edge.input]
            first = k == 0
            constant = child.op == "const"
            rows.append([node.name if first else "", graph.describe(node) if first else "",
                         f"∂{f}/∂{node.name} = {format_number(result.upstream[node.index])}" if first else "",
                         child.name, "(constant)" if constant else f"∂{node.name}/∂{child.name} = "
                                                                   f"{format_number(edge.local)}",
                         "" if constant else format_number(edge.downstream)])
    if len(rows) > 1:
        lines += _table(rows)
    lines += ["", "gradients"]
    for name in variables:
        node = next(n for n in graph.nodes if n.op == "var" and n.name == name)
        uses = [e.downstream for edges in result.edges.values() for e in edges if e.input == node.index]
        summed = f" = {_signed_sum(uses)}" if len(uses) > 1 else ""
        lines.append(f"  ∂{f}/∂{name}{summed} = {format_number(result.upstream[node.index])}")
    if not variables:
        lines.append("  (no variables)")
    if len(graph.nodes) == 1 and variables:
        lines.append(f"  ({f} is the variable itself)")
    for note in result.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _signed_sum(terms: list[float]) -> str:
    """−0.5 − 1.25 + 3, as written by hand."""
    text = format_number(terms[0])
    for t in terms[1:]:
        text += f" − {format_number(-t)}" if t < 0 else f" + {format_number(t)}"
    return text


# ---------------------------------------------------------------------------------------------
# The figure


def _layout(graph: Graph) -> dict[int, tuple[float, float]]:
    """x: depth from the leaves (f on the right); y: leaves top to bottom, each operation level with
    the mean of its inputs, then nudged apart so that no two nodes of a column are closer than 1."""
    depth: dict[int, int] = {}
    for node in graph.nodes:
        depth[node.index] = 0 if node.is_leaf else 1 + max(depth[i] for i in node.inputs)
    y: dict[int, float] = {}
    leaves = 0
    for node in graph.nodes:  # evaluation order: every input is placed before its node
        if node.is_leaf:
            y[node.index] = -float(leaves)
            leaves += 1
        else:
            y[node.index] = sum(y[i] for i in node.inputs) / len(node.inputs)
    for column in range(1, max(depth.values()) + 1):
        members = sorted((i for i in depth if depth[i] == column), key=lambda i: -y[i])
        for above, below in zip(members, members[1:]):
            y[below] = min(y[below], y[above] - 1.0)
    return {i: (float(depth[i]), y[i]) for i in depth}


def draw_graph(result: Backprop, path: str | Path) -> Path:
    """The graph as a figure: forward values (green, above each edge) and gradients (red, below).

    The format follows the suffix (.png, .svg, .pdf).  Uses matplotlib's Figure directly, with no
    pyplot and no display: nothing global changes and it works on a machine without a screen.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    graph = result.graph
    pos = _layout(graph)
    width = max(x for x, _ in pos.values()) + 1
    height = max(1.0, -min(y for _, y in pos.values()) + 1)
    fig = Figure(figsize=(2.5 + 2.2 * width, 1.4 + 1.1 * height))
    ax = fig.add_subplot()
    ax.set_axis_off()
    f = graph.output.name
    for node in graph.nodes:
        edges = result.edges.get(node.index, [])
        for k, edge in enumerate(edges):
            # The same input twice (x·x): bend the copies apart so that both stay visible.
            twins = [j for j, e in enumerate(edges) if e.input == edge.input]
            bend = 0.0 if len(twins) == 1 else 0.5 * (twins.index(k) - (len(twins) - 1) / 2)
            _edge(ax, pos[edge.input], pos[node.index], bend, result.values[edge.input],
                  None if graph.nodes[edge.input].op == "const" else edge.downstream)
    for node in graph.nodes:
        x, y = pos[node.index]
        label = node.name if node.is_leaf else f"{_symbol(node)}\n{node.name}"
        colour = "#e8f0fe" if node.op == "var" else ("#f1f3f4" if node.op == "const" else "#fff4e5")
        ax.add_patch(FancyBboxPatch((x - 0.17, y - 0.2), 0.34, 0.4, boxstyle="round,pad=0.02",
                                    facecolor=colour, edgecolor="0.3", zorder=3))
        ax.text(x, y, label, ha="center", va="center", fontsize=10, zorder=4)
    xo, yo = pos[graph.output.index]
    _edge(ax, (xo, yo), (xo + 0.8, yo), 0.0, result.value, 1.0, arrow_to_box=False)
    ax.set_xlim(-0.4, width + 0.4)
    ax.set_ylim(-height + 0.45, 0.6)
    ax.set_title(f"{f} = {graph.text}:  forward values (green), gradients ∂{f}/∂· (red)", fontsize=11)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    return out


def _edge(ax, start: tuple[float, float], end: tuple[float, float], bend: float, value: float,
          gradient: float | None, arrow_to_box: bool = True) -> None:
    """An arrow from box to box, its forward value above it and its gradient below, at its middle."""
    (x0, y0), (x1, y1) = start, end
    ax.annotate("", xy=(x1 - (0.19 if arrow_to_box else 0.0), y1), xytext=(x0 + 0.19, y0), zorder=1,
                arrowprops={"arrowstyle": "->", "color": "0.35", "lw": 1.2,
                            "connectionstyle": f"arc3,rad={bend}"})
    # Middle of the arc3 curve: the chord's midpoint moved by rad/2 of the chord, perpendicular to it.
    xm, ym = (x0 + x1) / 2 + bend * (y1 - y0) / 2, (y0 + y1) / 2 - bend * (x1 - x0) / 2
    # A straight edge has its value above and its gradient below; a bent one (a twin) has both on
    # its outer side, value outermost, so that the labels of twins never meet between them.
    outward = 0 if bend == 0 else (1 if ym > (y0 + y1) / 2 else -1)
    green_at, red_at = {0: (4, -4), 1: (16, 4), -1: (-4, -16)}[outward]
    for text, colour, at in ((format_number(value), "#1a7f37", green_at),
                             (None if gradient is None else format_number(gradient), "#c62828", red_at)):
        if text is not None:
            ax.annotate(text, (xm, ym), xytext=(0, at), textcoords="offset points", color=colour,
                        ha="center", va="bottom" if at > 0 else "top", fontsize=10)


def _symbol(node: Node) -> str:
    if node.op == "pow":
        return f"^{format_number(node.value)}"
    return FIGURE_SYMBOLS.get(node.op, node.op)

