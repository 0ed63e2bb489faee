"""Random small training steps whose structure is known by construction, for the differential fuzzer.

``generate(seed, index)`` returns a :class:`Program`: the text of a standalone script (a model class, maybe
helper functions and TorchScript blocks, and ``step(trace)``: the calling convention of the scenario files'
``run(trace)``) and what the generator knows about it: for each diagnosed tensor, every path from its uses
to each loss, with the cuts on the way and their lines; the NaN/Inf source it planted; the lines to blame for
the errors it planted; the ``zero_grad()`` and ``backward(inputs=...)`` lines.

What goes in: 1-3 branches from the input (sometimes forking from another branch, sometimes reusing a layer:
tied weights) through Linear / F.linear / a scaling Parameter / LayerNorm / GRU / MultiheadAttention /
Embedding / TorchScript layers, helper functions, unregistered tensors (a plain attribute, a plain list of
modules), frozen and optimizer-less parameters; cuts (``.detach()``, ``.data``, ``no_grad``,
``inference_mode``, ``set_grad_enabled(False)``, a ``@torch.no_grad()`` helper, argmax/argmin, comparisons,
integer indices, ``.item()``, ``.tolist()``, a numpy round trip, ``torch.tensor(list)``, ``autograd.grad``
without ``create_graph``, reentrant checkpoint of an input that requires no grad); at most one hazard: a
NaN/Inf source (``_NAN``), an in-place write on a tensor saved for backward (``_INPLACE_KINDS``) or an op that
raises in the forward; decoys that must change nothing (logging with ``.item()``/``.detach()``, statistics
under ``no_grad``, in-place writes nothing saved); and a shape of ``step()`` (``_VARIANTS``).

Line numbers are known by construction: every line is a :class:`_Line` kept by the construct that wrote it,
numbered once when the sections are joined; nothing is found by searching the text afterwards.

What the generator knows is not the truth about gradients: ``_oracles.py`` measures that with plain torch,
and ``_compare.py`` uses this knowledge only to say *which* cut or planted line explains what torch did.

Every program is deterministic (``torch.manual_seed(0)`` first), CPU-only, on 3 x 4 tensors, at most
``MAX_LINES`` lines, and runs in milliseconds.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Culprit", "Cut", "NanSource", "Path", "Program", "TensorInfo", "generate"]

# -- what a program carries ----------------------------------------------------------------------------------

CUT_CAUSES = {
    "detach": "detach",
    "detach_inline": "detach",
    "data": "data",
    "no_grad": "no_grad",
    "inference_mode": "no_grad",
    "set_grad_enabled": "no_grad",
    "no_grad_helper": "no_grad",
    "argmax": "non_differentiable",
    "argmin": "non_differentiable",
    "comparison": "non_differentiable",
    "int_index": "non_differentiable",
    "item": "escaped",
    "tolist": "escaped",
    "numpy": "escaped",
    "tensor_list": "escaped",
    "checkpoint": "checkpoint",
    "script_detach": "detach",
}
# `torch.autograd.grad(...)` without create_graph returns a gradient computed with grad mode off, with no
# history: no_grad at the autograd.grad line (tests/scenarios/autograd_grad_without_create_graph_raises.py).
AUTOGRAD_GRAD_CAUSES = frozenset({"no_grad"})


@dataclass(frozen=True)
class Cut:
    """A place where values flow on but their gradient path ends."""

    construct: str  # how it is written, e.g. "detach", "inference_mode", "autograd_grad"
    causes: frozenset[str]  # the gradviz causes that name it
    lines: frozenset[int]  # the lines a verdict may point at (one, except for a TorchScript body)

    def __str__(self) -> str:
        return f"{self.construct}@{'/'.join(map(str, sorted(self.lines)))}"


@dataclass(frozen=True)
class Path:
    """One way a tensor's value reaches loss number ``loss`` (0-based), and the cuts on the way."""

    loss: int
    cuts: frozenset[Cut]


@dataclass(frozen=True)
class TensorInfo:
    """A tensor gradviz gives a verdict on (a parameter, or an unregistered tensor)."""

    name: str  # the verdict key: a named_parameters() name or the attribute path
    construct: str  # the unit that holds it: "linear", "gru", "attr", ...
    paths: frozenset[Path]
    frozen: bool = False
    registered: bool = True
    in_optimizer: bool = True
    excluded: bool = False  # left out of `backward(inputs=...)` of every backward its paths reach


@dataclass(frozen=True)
class NanSource:
    """The planted NaN/Inf source (at most one per program)."""

    construct: str  # e.g. "sqrt0", "log_neg", "softmax_masked", "fp16_fwd"
    line: int
    names: frozenset[str]  # names gradviz may give the op (torch function or aten op names)


@dataclass(frozen=True)
class Culprit:
    """A planted line that makes the step raise, and the torch error it goes with."""

    construct: str  # e.g. "relu_inplace", "leaf_inplace", "carry", "retain_graph"
    lines: frozenset[int]
    error: str  # a substring of the torch error message it explains


@dataclass(frozen=True)
class Program:
    """A generated program and what its generator knows about it."""

    seed: int
    index: int
    source: str
    tensors: dict[str, TensorInfo]
    nan: NanSource | None = None
    culprits: tuple[Culprit, ...] = ()
    clears: frozenset[int] = frozenset()  # zero_grad() lines that remove gradients after a backward
    consumed_in_backward: bool = False  # each parameter's own optimizer steps from a post-accumulate hook
    requests: frozenset[int] = frozenset()  # `backward(inputs=...)` lines
    losses: int = 1  # losses backpropagated per iteration (a loop runs them again)
    variant: str = "plain"  # the shape of step(): see _VARIANTS
    constructs: tuple[str, ...] = ()  # every construct used, for coverage and reports

    @property
    def module_name(self) -> str:
        return f"fuzz_{self.seed}_{self.index:05d}"

    @property
    def filename(self) -> str:
        return f"{self.module_name}.py"


# -- source text with numbered lines -------------------------------------------------------------------------


class _Line:
    """One line of the program; ``no`` is set when the sections are joined."""

    __slots__ = ("no", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.no = 0


class _Section:
    """A run of lines written in order (imports, helpers, the forward, step())."""

    def __init__(self) -> None:
        self.lines: list[_Line] = []

    def add(self, indent: int, text: str = "") -> _Line:
        line = _Line(" " * indent + text if text else "")
        self.lines.append(line)
        return line


class _CutRef:
    """A cut while the program is being written (its lines are numbered at the end)."""

    def __init__(
        self, construct: str, lines: Iterable[_Line] = (), causes: Iterable[str] | None = None
    ) -> None:
        self.construct = construct
        self.lines = list(lines)
        self.causes = frozenset(causes) if causes is not None else frozenset({CUT_CAUSES[construct]})
        self._cut: Cut | None = None

    def freeze(self) -> Cut:
        if self._cut is None:
            self._cut = Cut(self.construct, self.causes, frozenset(line.no for line in self.lines))
        return self._cut


class _Node:
    """A value of the forward: the variable it is bound to and what the generator knows of it."""

    __slots__ = ("inference", "name", "rg")

    def __init__(self, name: str, rg: bool, inference: bool = False) -> None:
        self.name = name
        self.rg = rg  # requires grad
        self.inference = inference  # an inference-mode tensor (no in-place writes outside the block)


@dataclass
class _Edge:
    """One statement as gradient flow: ``ins`` and ``tensors`` flow into ``out`` unless ``cut``."""

    line: _Line
    ins: list[_Node]
    tensors: list[str]
    out: _Node | None
    cut: _CutRef | None = None


@dataclass
class _Unit:
    """A module or tensor held by the model (``self.u3``), and the verdict names of its tensors."""

    attr: str
    kind: str
    names: list[str]  # verdict keys of its tensors
    registered: bool = True
    frozen: set[str] = field(default_factory=set)
    uses: int = 0
    script_cut: _Line | None = None  # a TorchScript block's `.detach()` line


# Units: how each is made in __init__ and the names of its tensors.
_UNIT_INIT = {
    "linear": ("nn.Linear(4, 4)", ["weight", "bias"]),
    "param": ("nn.Parameter(torch.randn(4, 4) * 0.5)", [""]),
    "vec": ("nn.Parameter(torch.rand(4) + 0.5)", [""]),
    "norm": ("nn.LayerNorm(4)", ["weight", "bias"]),
    "gru": ("nn.GRU(4, 4)", ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]),
    "mha": (
        "nn.MultiheadAttention(4, 1)",
        ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"],
    ),
    "emb": ("nn.Embedding(5, 4)", ["weight"]),
    "attr": ("torch.full((4,), 1.5, requires_grad=True)", [""]),
    "plainlist": ("[nn.Linear(4, 4)]", ["0.weight", "0.bias"]),
    "script": ("", ["lin.weight", "lin.bias"]),
}
_UNIT_WEIGHTS = {
    "linear": 10,
    "param": 4,
    "vec": 3,
    "norm": 2,
    "gru": 1.2,
    "mha": 1.2,
    "emb": 1.5,
    "attr": 1,
    "plainlist": 1,
    "script": 0.8,
}
_HELPER_UNITS = ("linear", "param", "vec")

# Planted NaN/Inf sources on a (3, 4) value `a`: the code, and the op names gradviz may give its birth.
# sqrt0 / pow_half0: finite forward, Inf born in the backward at 0 (then 0 * Inf = NaN below it);
# log_neg / pow_neg: NaN in the forward; log_zero / div_zero / fp16_fwd: Inf in the forward;
# softmax_masked: a row masked entirely to -inf, NaN in the forward; fp16_bwd: a finite forward whose
# float16 backward overflows (placed last on its branch, loss = mean of squares, so the gradient is large).
_NAN = {
    "sqrt0": ("torch.sqrt(({a} - {a}.flip(0)) ** 2)", {"sqrt"}),
    "pow_half0": ("({a} - {a}.flip(0)).abs() ** 0.5", {"pow", "__pow__"}),
    "log_neg": ("torch.log({a}.tanh() - 1.5)", {"log"}),
    "log_zero": ("torch.log(({a} - {a}.flip(0)).abs())", {"log"}),
    "div_zero": ("{a} / ({a} - {a}.flip(0))", {"div", "__truediv__", "true_divide"}),
    "pow_neg": ("({a}.tanh() - 1.5) ** 0.5", {"pow", "__pow__"}),
    "softmax_masked": (
        '{a}.masked_fill(torch.arange(3)[:, None] == 1, float("-inf")).softmax(-1)',
        {"softmax", "_softmax"},
    ),
    "fp16_fwd": ("({a}.half() * 1e5).float()", {"mul", "__mul__"}),
    "fp16_bwd": ("({a}.half() * 3000).float()", {"mul", "__mul__"}),
}

_PURE = ("torch.tanh({a})", "torch.relu({a})", "torch.sigmoid({a})", "{a} * 0.5", "F.gelu({a})", "{a} + 1.0")

# One-line cuts on a value `a` (`x` is the forward's input).
_ONE_LINE_CUTS = {
    "detach": "{a}.detach()",
    "detach_inline": "torch.tanh({a}.detach())",
    "data": "{a}.data",
    "argmax": "F.one_hot({a}.argmax(-1), 4).float()",
    "argmin": "F.one_hot({a}.argmin(-1), 4).float()",
    "comparison": "({a} > 0).float()",
    "int_index": "x.gather(1, {a}.abs().mul(2).nan_to_num().long().clamp(0, 3))",
    "item": "torch.full((3, 4), {a}.mean().item())",
    "tolist": "torch.tensor({a}.tolist())",
    "numpy": "torch.from_numpy({a}.detach().numpy().copy())",
    "tensor_list": "torch.tensor([v for v in {a}.flatten()]).view(3, 4)",
    "autograd_grad": "torch.autograd.grad(({a} * {a}).sum(), {a})[0]",
}

# In-place writes into a tensor saved for backward: on the saved output of sigmoid/tanh/exp (`mul_`, `+=`,
# `F.relu(inplace=True)`, `nn.ReLU(inplace=True)`, `nn.Dropout(inplace=True)` in train mode, `x[0] = ...`,
# `clamp_`), on a saved operand that does not require grad (`out=`, `m[0] = ...`), on the input `pow` saved,
# and by a library op (`nn.Embedding(max_norm=...)` renormalises the weight a matmul saved).
_INPLACE_KINDS = (
    *("mul_", "iadd", "relu_inplace", "relu_module", "dropout_module", "setitem", "clamp_"),
    *("out_saved", "setitem_saved", "pow_input", "embedding_renorm"),
)
_INPLACE_ERR = "modified by an inplace operation"
_SECOND_ERR = "backward through the graph a second time"
# The shapes of step(), with their weights: one backward; two losses from one forward (retain_graph or not:
# the second may walk what the first freed); `backward(inputs=...)` with a subset; one optimizer per
# parameter stepped from `register_post_accumulate_grad_hook`; `zero_grad()` after `step()`; two backwards
# accumulating; two iterations carrying a state from one to the next (detached between them or not).
_VARIANTS = {
    "plain": 40,
    "two_losses": 10,
    "inputs_subset": 8,
    "post_hook": 9,
    "zero_grad_after": 6,
    "accumulate": 6,
    "carry": 8,
}


class _Builder:
    """Writes one program: plans the forward statement by statement (each one an edge of gradient flow),
    then step(), then joins the sections and numbers the lines."""

    def __init__(self, seed: int, index: int, attempt: int = 0) -> None:
        self.seed, self.index = seed, index
        self.rng = random.Random(f"gradviz-fuzz:{seed}:{index}:{attempt}")
        self.helpers, self.blocks, self.fwd, self.step = _Section(), _Section(), _Section(), _Section()
        self.inits: dict[str, str] = {}  # attribute -> expression, in order
        self.units: list[_Unit] = []
        self.edges: list[_Edge] = []
        self.counter = 0
        self.n_helpers = 0
        self.constructs: list[str] = []
        self.uses_checkpoint = False
        self.variant = "plain"
        self.nan_kind = ""
        self.nan: tuple[str, _Line] | None = None
        self.hazard_done = False
        self.culprits: list[tuple[str, list[_Line], str]] = []
        self.clears: list[_Line] = []
        self.left_out: set[str] = set()
        self.excluded: set[str] | None = None  # tensors left out of backward(inputs=...)
        self.requests: list[_Line] = []
        self.outs: list[_Node] = []
        self.last_plain_linear: _Node | None = None
        self.x = _Node("x", False)
        self.carry_start: _Node | None = None  # carry: the state this iteration makes, fed to the next one
        self.carry_cut: _CutRef | None = None  # carry: the `state = state.detach()` between iterations
        self.carry_line: _Line | None = None  # carry: where the previous iteration's state enters

    # -- small helpers ------------------------------------------------------------------------------------

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def new(self, rg: bool) -> _Node:
        self.counter += 1
        return _Node(f"h{self.counter}", rg)

    def tag(self, construct: str) -> None:
        if construct not in self.constructs:
            self.constructs.append(construct)

    def tensor_rg(self, name: str) -> bool:
        return any(name in u.names and name not in u.frozen for u in self.units)

    def flows(self, ins: list[_Node], tensors: list[str]) -> bool:
        """Whether a value made (uncut) from ``ins`` and ``tensors`` requires grad."""
        return any(n.rg for n in ins) or any(self.tensor_rg(t) for t in tensors)

    def emit(
        self,
        section: _Section,
        indent: int,
        code: str,
        out: _Node | None,
        ins: list[_Node],
        tensors: Iterable[str] = (),
        cut: _CutRef | None = None,
    ) -> _Line:
        line = section.add(indent, code)
        self.edges.append(_Edge(line, list(ins), list(tensors), out, cut))
        if cut is not None:
            cut.lines.append(line)
        return line

    # -- units -------------------------------------------------------------------------------------------

    def unit(self, kinds: tuple[str, ...] | None = None, *, reuse: float = 0.15) -> _Unit:
        """A unit to apply: sometimes one already used (a tied / shared weight), else a new one."""
        used = [u for u in self.units if u.uses and (kinds is None or u.kind in kinds)]
        if used and self.chance(reuse):
            self.tag("shared")
            return self.rng.choice(used)
        pool = list(kinds or _UNIT_WEIGHTS)
        kind = self.rng.choices(pool, [_UNIT_WEIGHTS[k] for k in pool])[0]
        return self.make_unit(kind)

    def make_unit(self, kind: str, *, may_freeze: bool = True) -> _Unit:
        attr = f"u{len(self.units)}"
        make, parts = _UNIT_INIT[kind]
        u = _Unit(
            attr,
            kind,
            [f"{attr}.{p}" if p else attr for p in parts],
            registered=kind not in ("attr", "plainlist"),
        )
        if kind == "script":
            make = f"torch.jit.script({self.script_block(u)}())"
        self.inits[attr] = make
        self.units.append(u)
        self.tag(kind)
        if may_freeze and u.registered and kind != "script" and self.chance(0.12):
            u.frozen.add(self.rng.choice(u.names))  # decided now: it changes what requires grad below
            self.tag("frozen")
        return u

    def script_block(self, u: _Unit) -> str:
        """A TorchScript module class, maybe with a `.detach()` inside (a cut no Python tracer sees)."""
        name = f"Block{sum(1 for v in self.units if v.kind == 'script') + 1}"
        s = self.blocks
        s.add(0, f"class {name}(nn.Module):")
        s.add(4, "def __init__(self):")
        s.add(8, "super().__init__()")
        s.add(8, "self.lin = nn.Linear(4, 4)")
        s.add(0)
        s.add(4, "def forward(self, h):")
        if self.chance(0.5):
            u.script_cut = s.add(8, "return torch.tanh(self.lin(h)).detach()")
        else:
            s.add(8, "return torch.tanh(self.lin(h))")
        s.add(0)
        return name

    def apply_unit(self, a: _Node, u: _Unit, *, indent: int = 8) -> _Node:
        """``out = <u applied to a>`` on one line of the forward."""
        u.uses += 1
        out = self.new(self.flows([a], u.names))
        s, i, o, k = f"self.{u.attr}", a.name, out.name, u.kind
        plain = False
        if k == "linear":
            plain = self.chance(0.6)
            code = f"{o} = {s}({i})" if plain else f"{o} = torch.tanh({s}({i}))"
        elif k == "param":
            code = self.rng.choice([f"{o} = F.linear({i}, {s})", f"{o} = {i} @ {s}"])
        elif k in ("vec", "attr"):
            code = f"{o} = {i} * {s}"
        elif k == "gru":
            code = f"{o}, _ = {s}({i})"
        elif k == "mha":
            code = f"{o}, _ = {s}({i}, {i}, {i})"
        elif k == "emb":
            code = f"{o} = {i} + {s}(torch.arange(3))"
        elif k == "plainlist":
            code = f"{o} = {s}[0]({i})"
        else:  # norm, script
            code = f"{o} = {s}({i})"
        cut = None
        if u.script_cut is not None:
            # inside TorchScript the tracer sees no op: gradviz says what is known (its parameters get nothing
            # back through its output: cut or unused inside; non_differentiable, at the call)
            cut = _CutRef("script_detach", [u.script_cut], causes={"detach", "non_differentiable"})
            out.rg = False
            self.tag("script_detach")
        self.emit(self.fwd, indent, code, out, [a], u.names, cut)
        self.last_plain_linear = out if plain and indent == 8 else None
        return out

    # -- statements of the forward --------------------------------------------------------------------------

    def pure(self, a: _Node) -> _Node:
        out = self.new(a.rg)
        code = self.rng.choice(_PURE)
        self.emit(self.fwd, 8, f"{out.name} = {code.format(a=a.name)}", out, [a])
        return out

    def one_line_cut(self, a: _Node, section: _Section, indent: int, *, in_helper: bool = False) -> _Node:
        kinds = [k for k in _ONE_LINE_CUTS if not (in_helper and k == "int_index")]
        kind = self.rng.choice(kinds)
        if kind == "autograd_grad" and not a.rg:
            kind = "detach"  # autograd.grad of a value that does not require grad raises
        out = self.new(False)
        if in_helper:
            out.name = "h"
        causes = AUTOGRAD_GRAD_CAUSES if kind == "autograd_grad" else None
        code = _ONE_LINE_CUTS[kind].format(a=a.name)
        self.emit(section, indent, f"{out.name} = {code}", out, [a], cut=_CutRef(kind, causes=causes))
        self.tag(kind)
        return out

    def cut_stmt(self, a: _Node) -> _Node:
        """A statement (or block) that cuts the gradient of ``a`` and of what it uses."""
        kind = self.rng.choices(
            ["one_line", "no_grad", "set_grad_enabled", "inference_mode", "no_grad_helper", "checkpoint"],
            [8, 2, 1, 1.5, 1, 1.5],
        )[0]
        if kind == "one_line":
            return self.one_line_cut(a, self.fwd, 8)
        if kind in ("no_grad", "set_grad_enabled", "inference_mode"):
            return self.grad_off_block(a, kind)
        if kind == "no_grad_helper":
            return self.no_grad_helper(a)
        return self.checkpoint(a)

    def grad_off_block(self, a: _Node, kind: str) -> _Node:
        opener = {
            "no_grad": "with torch.no_grad():",
            "set_grad_enabled": "with torch.set_grad_enabled(False):",
            "inference_mode": "with torch.inference_mode():",
        }[kind]
        cut = _CutRef(kind, [self.fwd.add(8, opener)])
        cur = a
        for _ in range(self.rng.randint(1, 2)):
            if self.chance(0.7):
                cur = self.apply_unit(cur, self.unit(("linear", "param", "vec", "norm")), indent=12)
            else:
                nxt = self.new(False)
                self.emit(self.fwd, 12, f"{nxt.name} = torch.tanh({cur.name})", nxt, [cur])
                cur = nxt
            self.edges[-1].cut = cut
            if kind == "inference_mode":  # tracers cannot see entering inference_mode: the op line counts too
                cut.lines.append(self.edges[-1].line)
            cur.rg = False
        self.tag(kind)
        if kind != "inference_mode":
            return cur
        if self.chance(0.85):
            out = self.new(False)
            self.emit(self.fwd, 8, f"{out.name} = {cur.name}.clone()", out, [cur])
            return out
        # an inference tensor used as is: an op that saves it for backward raises in the forward
        cur.inference = True
        self.tag("inference_noclone")
        self.culprits.append(("inference_noclone", list(cut.lines), "Inference tensors"))
        return cur

    def no_grad_helper(self, a: _Node) -> _Node:
        u = self.unit(_HELPER_UNITS, reuse=0.1)
        u.uses += 1
        self.n_helpers += 1
        name = f"features{self.n_helpers}"
        apply = {"linear": "layer(h)", "param": "F.linear(h, layer)", "vec": "h * layer"}[u.kind]
        h = self.helpers
        h.add(0, "@torch.no_grad()")
        h.add(0, f"def {name}(h, layer):")
        h.add(4, f"return torch.tanh({apply})")
        h.add(0)
        out = self.new(False)
        code = f"{out.name} = {name}({a.name}, self.{u.attr})"
        self.emit(self.fwd, 8, code, out, [a], u.names, _CutRef("no_grad_helper"))
        self.tag("no_grad_helper")
        return out

    def checkpoint(self, a: _Node) -> _Node:
        """A Linear under checkpoint: reentrant with no input requiring grad is a cut, the rest are not."""
        u = self.unit(("linear",), reuse=0.1)
        u.uses += 1
        self.uses_checkpoint = True
        # reentrant checkpoint refuses `backward(inputs=...)`: that variant gets the non-reentrant one
        reentrant = self.variant != "inputs_subset" and self.chance(0.7)
        cut = reentrant and not a.rg
        out = self.new(False if cut else self.flows([a], u.names))
        code = f"{out.name} = checkpoint(self.{u.attr}, {a.name}, use_reentrant={reentrant})"
        self.emit(self.fwd, 8, code, out, [a], u.names, _CutRef("checkpoint") if cut else None)
        self.tag(
            "checkpoint_cut" if cut else "checkpoint_reentrant" if reentrant else "checkpoint_nonreentrant"
        )
        return out

    def helper_call(self, a: _Node) -> _Node:
        """A module-level helper called from forward: a unit, maybe a cut or the NaN source inside it."""
        u = self.unit(_HELPER_UNITS, reuse=0.2)
        u.uses += 1
        self.n_helpers += 1
        name = f"block{self.n_helpers}"
        h = self.helpers
        h.add(0, f"def {name}(h, layer):")
        apply = {"linear": "layer(h)", "param": "F.linear(h, layer)", "vec": "h * layer"}[u.kind]
        cur = _Node("h", self.flows([a], u.names))
        self.emit(h, 4, f"h = {apply}", cur, [a], u.names)
        roll = self.rng.random()
        if roll < 0.35:
            cur = self.one_line_cut(cur, h, 4, in_helper=True)
            self.tag("cut_in_helper")
        elif roll < 0.55 and self.nan_kind and self.nan_kind != "fp16_bwd" and not self.hazard_done:
            cur = self.nan_source(cur, h, 4, out_name="h")
        out = self.new(cur.rg)
        h.add(4, "return torch.tanh(h)")
        h.add(0)
        self.emit(self.fwd, 8, f"{out.name} = {name}({a.name}, self.{u.attr})", out, [cur])
        self.tag("helper")
        return out

    def nan_source(
        self, a: _Node, section: _Section | None = None, indent: int = 8, out_name: str = ""
    ) -> _Node:
        code = _NAN[self.nan_kind][0].format(a=a.name)
        out = self.new(a.rg)
        out.name = out_name or out.name
        self.nan = (self.nan_kind, self.emit(section or self.fwd, indent, f"{out.name} = {code}", out, [a]))
        self.hazard_done = True
        self.tag(f"nan:{self.nan_kind}")
        return out

    def inplace_hazard(self, a: _Node) -> _Node:
        """A tensor saved for backward, then written in place: backward raises when it needs it."""
        kind = self.rng.choice(_INPLACE_KINDS)
        if kind == "pow_input" and (a.inference or a is self.x):
            kind = "mul_"
        self.hazard_done = True
        self.tag(f"inplace:{kind}")
        f = self.fwd
        if kind in ("out_saved", "setitem_saved"):
            m = _Node("m", False)
            self.emit(f, 8, "m = x * 2", m, [self.x])
            out = self.new(a.rg)
            self.emit(f, 8, f"{out.name} = {a.name} * m", out, [a, m])
            line = f.add(8, "torch.add(m, 1.0, out=m)" if kind == "out_saved" else "m[0] = 0.0")
            self.culprits.append((kind, [line], _INPLACE_ERR))
            return out
        if kind == "pow_input":
            out = self.new(a.rg)
            self.emit(f, 8, f"{out.name} = {a.name} ** 2", out, [a])
            self.culprits.append((kind, [f.add(8, f"{a.name}.mul_(3)")], _INPLACE_ERR))
            return out
        if kind == "embedding_renorm":
            # a library op writing in place: Embedding(max_norm=...) renormalises its weight rows, which the
            # matmul above saved (tied input/output embedding)
            u = self.make_unit("emb", may_freeze=False)
            self.inits[u.attr] = "nn.Embedding(5, 4, max_norm=1.0)"
            u.uses += 2
            mid = self.new(self.flows([a], u.names))
            self.emit(f, 8, f"{mid.name} = {a.name} @ self.{u.attr}.weight[:4].t()", mid, [a], u.names)
            out = self.new(True)
            line = self.emit(
                f, 8, f"{out.name} = {mid.name} + self.{u.attr}(torch.arange(3))", out, [mid], u.names
            )
            self.culprits.append((kind, [line], _INPLACE_ERR))
            return out
        saved = self.new(a.rg)
        self.emit(
            f, 8, f"{saved.name} = torch.{self.rng.choice(['sigmoid', 'tanh', 'exp'])}({a.name})", saved, [a]
        )
        s = saved.name
        if kind in ("relu_module", "dropout_module"):
            attr = f"act{len(self.inits)}"
            self.inits[attr] = (
                "nn.ReLU(inplace=True)" if kind == "relu_module" else "nn.Dropout(0.5, inplace=True)"
            )
            out = self.new(saved.rg)
            line = self.emit(f, 8, f"{out.name} = self.{attr}({s})", out, [saved])
            self.culprits.append((kind, [line], _INPLACE_ERR))
            return out
        code = {
            "mul_": f"{s}.mul_(2)",
            "iadd": f"{s} += 1.0",
            "relu_inplace": f"F.relu({s}, inplace=True)",
            "setitem": f"{s}[0] = 0.0",
            "clamp_": f"{s}.clamp_(min=0.1)",
        }[kind]
        self.culprits.append((kind, [f.add(8, code)], _INPLACE_ERR))
        return saved

    def forward_error(self, a: _Node) -> _Node:
        """An op that raises in the forward: `out=` into a tensor that requires grad, or a leaf written in
        place."""
        if a.rg and self.chance(0.5):
            line = self.fwd.add(8, f"torch.add({a.name}, 1.0, out={a.name})")
            self.culprits.append(("out_requires_grad", [line], "out=... arguments"))
            self.tag("error:out_requires_grad")
            self.hazard_done = True
            return a
        u = self.unit(("linear",), reuse=0.5)
        line = self.fwd.add(8, f"self.{u.attr}.weight.add_(0.01)")
        if u.names[0] not in u.frozen:
            self.culprits.append(("leaf_inplace", [line], "leaf Variable that requires grad"))
            self.hazard_done = True
        self.tag("error:leaf_inplace")
        return self.apply_unit(a, u)

    def decoy(self, a: _Node) -> None:
        """A statement that reads the value but does not feed the loss: logging and statistics."""
        kind = self.rng.choice(["item_log", "detach_log", "no_grad_stat", "unit_log"])
        f = self.fwd
        if kind == "item_log":
            self.emit(f, 8, f"self.last = {a.name}.mean().item()", None, [a])
        elif kind == "detach_log":
            self.emit(f, 8, f"self.stat = {a.name}.detach().abs().mean()", None, [a])
        elif kind == "no_grad_stat":
            f.add(8, "with torch.no_grad():")
            self.emit(f, 12, f"self.stat = {a.name}.norm()", None, [a])
        else:  # a layer whose output is only logged: it is not used for the loss
            u = self.make_unit(self.rng.choice(["linear", "vec"]))
            u.uses += 1
            code = f"self.{u.attr}({a.name})" if u.kind == "linear" else f"({a.name} * self.{u.attr})"
            self.emit(f, 8, f"self.last = {code}.sum().item()", None, [a], u.names)
        self.tag(f"decoy:{kind}")

    def inplace_decoy(self, a: _Node) -> None:
        """An in-place write that is fine: nothing saved the value (a Linear's output; d3 of claims.md)."""
        if a is self.last_plain_linear:
            self.fwd.add(8, self.rng.choice([f"{a.name} *= 2.0", f"{a.name}.mul_(2)"]))
            self.tag("decoy:inplace_ok")
        self.last_plain_linear = None

    # -- the forward --------------------------------------------------------------------------------------

    def branch(self, start: _Node, hazard: str | None, length: int) -> _Node:
        cur = start
        cut_at = self.rng.randrange(length + 1) if self.chance(0.4) else -1
        hazard_at = self.rng.randrange(length + 1) if hazard else -1
        if hazard == "nan" and self.nan_kind == "fp16_bwd":
            hazard_at = length  # last on its branch: the gradient reaching it stays large
        for pos in range(length + 1):
            if pos == cut_at:
                cur = self.cut_stmt(cur)
            if pos == hazard_at and not self.hazard_done:
                if hazard == "nan":
                    cur = self.nan_source(cur)
                elif hazard == "inplace":
                    cur = self.inplace_hazard(cur)
                else:
                    cur = self.forward_error(cur)
            if pos == length:
                return cur
            roll = self.rng.random()
            if roll < 0.6:
                cur = self.apply_unit(cur, self.unit())
                if self.chance(0.1):
                    self.inplace_decoy(cur)
            elif roll < 0.72 and self.n_helpers < 2:
                cur = self.helper_call(cur)
            elif roll < 0.92:
                cur = self.pure(cur)
            else:
                self.decoy(cur)
        return cur

    def forward(self) -> None:
        rng = self.rng
        hazard = rng.choices([None, "nan", "inplace", "forward_error"], [48, 28, 18, 6])[0]
        self.nan_kind = rng.choice(list(_NAN)) if hazard == "nan" else ""
        start = self.x
        if self.variant == "carry":  # the state from the previous iteration enters here
            rec = self.make_unit("linear", may_freeze=False)
            rec.uses += 1
            start = self.carry_start = self.new(True)
            code = f"{start.name} = torch.tanh(self.{rec.attr}(state) + x)"
            self.carry_line = self.emit(self.fwd, 8, code, start, [_Node("state", False)], rec.names)
        n_losses = 2 if self.variant == "two_losses" else 1
        n_branches = rng.choices([1, 2, 3], [3, 4, 2])[0] if n_losses == 1 else rng.choice([2, 3])
        hazard_branch = rng.randrange(n_branches) if hazard else -1
        ends: list[_Node] = []
        made = [start]
        for b in range(n_branches):
            begin = start
            if b and self.chance(0.3):
                begin = rng.choice(made)
                self.tag("fork")
            length = rng.choices([1, 2, 3], [4, 4, 1])[0]
            ends.append(self.branch(begin, hazard if b == hazard_branch else None, length))
            made.append(ends[-1])
        groups = [ends] if n_losses == 1 else [ends[: len(ends) // 2], ends[len(ends) // 2 :]]
        for group in groups:
            out = group[0]
            if len(group) > 1:
                out = self.new(any(n.rg for n in group))
                self.emit(self.fwd, 8, f"{out.name} = {' + '.join(n.name for n in group)}", out, group)
            if not out.rg and self.chance(0.6):  # give the loss something that trains
                out = self.apply_unit(out, self.make_unit("linear", may_freeze=False))
            self.outs.append(out)
        if not any(u.registered for u in self.units):  # the optimizer needs a parameter
            self.outs[-1] = self.apply_unit(self.outs[-1], self.make_unit("linear", may_freeze=False))
        if self.variant == "carry":
            self.fwd.add(8, f"return {self.outs[0].name}, {start.name}")
        else:
            self.fwd.add(8, f"return {', '.join(o.name for o in self.outs)}")

    # -- the step ------------------------------------------------------------------------------------------

    def write_step(self) -> None:
        rng, s, v = self.rng, self.step, self.variant
        registered = [n for u in self.units if u.registered for n in u.names]
        trainable = [n for n in registered if self.tensor_rg(n)]
        s.add(0, "def step(trace):")
        s.add(4, "torch.manual_seed(0)")
        s.add(4, "model = Net()")
        for u in self.units:
            for name in sorted(u.frozen):
                s.add(4, f"model.{name}.requires_grad_(False)")
        if v == "post_hook":  # PyTorch's optimizer-in-backward recipe: .grad is None afterwards, by design
            s.add(
                4, "opts = {p: torch.optim.SGD([p], lr=0.1) for p in model.parameters() if p.requires_grad}"
            )
            s.add(0)
            s.add(4, "def train_in_backward(p):")
            s.add(8, "opts[p].step()")
            s.add(8, rng.choice(["opts[p].zero_grad()", "p.grad = None"]))
            s.add(0)
            s.add(4, "for p in opts:")
            s.add(8, "p.register_post_accumulate_grad_hook(train_in_backward)")
        elif len(registered) > 1 and trainable and self.chance(0.18):
            most = min(2, len(trainable), len(registered) - 1)  # the optimizer keeps at least one parameter
            self.left_out = set(rng.sample(trainable, rng.randint(1, most)))
            self.tag("not_in_optimizer")
            names = ", ".join(f'"{n}"' for n in sorted(self.left_out))
            s.add(4, f"keep = [p for n, p in model.named_parameters() if n not in ({names},)]")
            s.add(4, "opt = torch.optim.SGD(keep, lr=0.1)")
        else:
            s.add(4, "opt = torch.optim.SGD(model.parameters(), lr=0.1)")
        s.add(4, "x = torch.randn(3, 4)")
        loss = rng.choice(["{o}.pow(2).mean()", "F.mse_loss({o}, torch.ones(3, 4))", "{o}.abs().sum()"])
        if self.nan_kind == "fp16_bwd":
            loss = "{o}.pow(2).mean()"
        s.add(4, "with trace(model):" if v == "post_hook" else "with trace(model, optimizer=opt):")
        if v == "post_hook":
            s.add(8, f"loss = {loss.format(o='model(x)')}")
            s.add(8, "loss.backward()")
        elif v in ("plain", "zero_grad_after", "inputs_subset"):
            if v != "zero_grad_after":
                s.add(8, "opt.zero_grad()")
            s.add(8, f"loss = {loss.format(o='model(x)')}")
            subset = rng.sample(trainable, rng.randint(1, len(trainable) - 1)) if len(trainable) > 1 else []
            if v == "inputs_subset" and subset:
                self.excluded = set(registered) - set(subset)
                inputs = ", ".join(f"model.{n}" for n in subset)
                self.requests.append(s.add(8, f"loss.backward(inputs=[{inputs}])"))
            else:
                s.add(8, "loss.backward()")
            s.add(8, "opt.step()")
            if v == "zero_grad_after":
                self.clears.append(s.add(8, "opt.zero_grad()"))
        elif v == "accumulate":
            s.add(8, "opt.zero_grad()")
            s.add(8, "for _ in range(2):")
            s.add(12, f"loss = {loss.format(o='model(x)')}")
            s.add(12, "loss.backward()")
            s.add(8, "opt.step()")
        elif v == "two_losses":
            retain = self.chance(0.6)
            s.add(8, "opt.zero_grad()")
            s.add(8, "a, b = model(x)")
            first = s.add(8, f"{loss.format(o='a')}.backward({'retain_graph=True' if retain else ''})")
            s.add(8, f"{loss.format(o='b')}.backward()")
            s.add(8, "opt.step()")
            if not retain:  # the second backward may walk into what the first one freed
                self.culprits.append(("retain_graph", [first, *self.lines_reaching_both()], _SECOND_ERR))
        else:  # carry
            s.add(8, "state = torch.zeros(3, 4)")
            s.add(8, "for _ in range(2):")
            s.add(12, "opt.zero_grad()")
            s.add(12, "out, state = model(x, state)")
            s.add(12, f"{loss.format(o='out')}.backward()")
            s.add(12, "opt.step()")
            if self.chance(0.5):
                self.carry_cut = _CutRef("detach", [s.add(12, "state = state.detach()")])
                self.tag("carry_detached")
            elif self.carry_line is not None:
                self.culprits.append(("carry", [self.carry_line], _SECOND_ERR))
                self.tag("carry_attached")
        s.add(4, "return model")

    # -- joining and path analysis ---------------------------------------------------------------------------

    def build(self) -> Program:
        self.variant = self.rng.choices(list(_VARIANTS), list(_VARIANTS.values()))[0]
        self.tag(f"variant:{self.variant}")
        self.forward()
        self.write_step()
        head = _Section()
        head.add(0, f'"""Fuzz program seed={self.seed} index={self.index} (tests/fuzz/_generator.py)."""')
        head.add(0)
        head.add(0, "import torch")
        if any("F." in line.text for part in (self.helpers, self.fwd, self.step) for line in part.lines):
            head.add(0, "import torch.nn.functional as F")
        head.add(0, "from torch import nn")
        if self.uses_checkpoint:
            head.add(0, "from torch.utils.checkpoint import checkpoint")
        head.add(0)
        cls = _Section()
        cls.add(0, "class Net(nn.Module):")
        cls.add(4, "def __init__(self):")
        cls.add(8, "super().__init__()")
        for attr, make in self.inits.items():
            cls.add(8, f"self.{attr} = {make}")
        cls.add(0)
        cls.add(4, "def forward(self, x, state):" if self.variant == "carry" else "def forward(self, x):")
        gap = _Section()
        gap.add(0)
        parts = (head, self.helpers, self.blocks, cls, self.fwd, gap, self.step)
        lines = [line for part in parts for line in part.lines]
        for no, line in enumerate(lines, 1):
            line.no = no
        paths = self.paths()
        tensors = {
            name: TensorInfo(
                name=name,
                construct=u.kind,
                paths=frozenset(paths.get(name, ())),
                frozen=name in u.frozen,
                registered=u.registered,
                in_optimizer=name not in self.left_out,
                excluded=self.excluded is not None and name in self.excluded,
            )
            for u in self.units
            for name in u.names
        }
        nan = None
        if self.nan is not None:
            kind, line = self.nan
            nan = NanSource(kind, line.no, frozenset(_NAN[kind][1]))
        return Program(
            seed=self.seed,
            index=self.index,
            source="\n".join(line.text for line in lines) + "\n",
            tensors=tensors,
            nan=nan,
            culprits=tuple(Culprit(k, frozenset(ln.no for ln in ls), err) for k, ls, err in self.culprits),
            clears=frozenset(line.no for line in self.clears),
            consumed_in_backward=self.variant == "post_hook",
            requests=frozenset(line.no for line in self.requests),
            losses=len(self.outs),
            variant=self.variant,
            constructs=tuple(self.constructs),
        )

    def paths(self) -> dict[str, set[Path]]:
        """Every (loss, cuts) path from each tensor's uses to each loss, from the statements' edges."""
        reach: dict[int, set[tuple[int, frozenset[_CutRef]]]] = {}
        for i, node in enumerate(self.outs):
            reach.setdefault(id(node), set()).add((i, frozenset()))
        found: dict[str, set[tuple[int, frozenset[_CutRef]]]] = {}
        for edge in reversed(self.edges):  # statements in reverse order: consumers before producers
            down = reach.get(id(edge.out), set()) if edge.out is not None else set()
            if edge.out is self.carry_start and self.carry_cut is not None:
                # the state also reaches the next iteration's loss, through the detach between iterations
                down = down | {(loss, cuts | {self.carry_cut}) for loss, cuts in down}
            if not down:
                continue
            extra = frozenset({edge.cut}) if edge.cut is not None else frozenset()
            up = {(loss, cuts | extra) for loss, cuts in down}
            for n in edge.ins:
                reach.setdefault(id(n), set()).update(up)
            for t in edge.tensors:
                found.setdefault(t, set()).update(up)
        return {
            name: {Path(loss, frozenset(c.freeze() for c in cuts)) for loss, cuts in ps}
            for name, ps in found.items()
        }

    def lines_reaching_both(self) -> list[_Line]:
        """Lines of forward statements whose values reach both losses: a second backward walks them again."""
        reach: dict[int, set[int]] = {}
        for i, node in enumerate(self.outs):
            reach.setdefault(id(node), set()).add(i)
        both = []
        for edge in reversed(self.edges):
            down = reach.get(id(edge.out), set()) if edge.out is not None else set()
            for n in edge.ins:
                reach.setdefault(id(n), set()).update(down)
            if len(down) > 1:
                both.append(edge.line)
        return both


MAX_LINES = 40


def generate(seed: int, index: int) -> Program:
    """Program number ``index`` of the run with ``seed`` (the same pair always gives the same program).

    A draw longer than ``MAX_LINES`` is drawn again from the next sub-seed: programs stay small enough to
    read in a report.
    """
    for attempt in range(100):
        program = _Builder(seed, index, attempt).build()
        if len(program.source.splitlines()) <= MAX_LINES:
            break
    return program
