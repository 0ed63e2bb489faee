"""The differential fuzzer: gradviz's verdicts against plain torch on thousands of generated training steps,
and the fuzzer's own parts (oracles, generator, judge) on cases small enough to check by reading them.

A sweep that reports "0 disagreements" is worth what its oracles are: the tests below check that each oracle
says what torch does on hand-written programs, that watching a run with them changes nothing torch does,
that the generator's knowledge points at the text it wrote, and that the judge flags each kind of wrong
verdict. ``test_gradviz_agrees_with_torch`` is the sweep itself (slow); ``python benchmarks/fuzz_verdicts.py
--seed S --programs N`` runs the same sweep and writes each disagreeing program out as a script.
"""

from __future__ import annotations

import textwrap
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from . import _generator
from ._compare import Disagreement, Got, _Run, check, compare, expect
from ._generator import Culprit, Cut, Program, TensorInfo, generate
from ._generator import Path as GradPath
from ._oracles import BackwardBirth, Truth, anomaly_node, load, observe, plain_run
from ._run import fuzz, script

SEED = 2026
SWEEP = 3000  # programs in the slow sweep: 1-1.5 min on 2 cores, depending on the load
COVERAGE = 2000  # programs whose constructs the coverage test counts

_HEAD = "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n\n"


def _load(tmp_path: Path, name: str, body: str) -> tuple[ModuleType, dict[str, int]]:
    """The program ``body`` (imports added) as a module, and the line of each ``# @marker`` in it."""
    source = _HEAD + textwrap.dedent(body)
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    lines = enumerate(source.splitlines(), 1)
    marks = {text.rsplit("# @", 1)[1].strip(): no for no, text in lines if "# @" in text}
    return load(path, f"fuzz_handwritten_{name}"), marks


# -- the oracles on hand-written programs --------------------------------------------------------------------


def test_sqrt_at_zero_is_born_in_sqrt_backward_while_anomaly_mode_names_pow(tmp_path):
    module, at = _load(
        tmp_path,
        "sqrt0",
        """
        def step(trace):
            torch.manual_seed(0)
            model = nn.Linear(4, 3)
            x = torch.randn(5, 4)
            with trace(model):
                e = model(x)
                dist = torch.sqrt(((e[:, None] - e[None]) ** 2).sum(-1))  # @sqrt
                dist.mean().backward()
            return model
        """,
    )
    truth = observe(module, ("weight", "bias"))
    assert truth.grads == {"weight": "nonfinite", "bias": "nonfinite"}
    assert truth.roots == ["finite"]
    assert truth.forward_births == []
    first = truth.backward_births[0]
    assert (first.node, first.kind, first.line) == ("SqrtBackward0", "inf", at["sqrt"])
    # anomaly mode looks for NaN only: it names the node below the Inf (0 * inf in pow's backward)
    assert anomaly_node(module) == "PowBackward0"


def test_forward_nan_from_log_of_a_negative(tmp_path):
    module, at = _load(
        tmp_path,
        "log_neg",
        """
        def step(trace):
            torch.manual_seed(0)
            model = nn.Linear(4, 4)
            with trace(model):
                h = torch.log(model(torch.randn(3, 4)).tanh() - 1.5)  # @log
                h.mean().backward()
            return model
        """,
    )
    truth = observe(module, ("weight",))
    assert truth.roots == ["nan"]
    birth = truth.forward_births[0]
    assert (birth.op, birth.kind, birth.line) == ("log", "nan", at["log"])
    assert truth.first_birth is birth


def test_fully_masked_softmax_row_is_born_in_softmax_not_in_the_masked_fill(tmp_path):
    module, at = _load(
        tmp_path,
        "softmax",
        """
        def step(trace):
            torch.manual_seed(0)
            model = nn.Linear(4, 4)
            with trace(model):
                s = model(torch.randn(3, 4))
                s = s.masked_fill(torch.arange(3)[:, None] == 1, float("-inf"))  # @fill
                p = s.softmax(-1)  # @softmax
                p.pow(2).mean().backward()
            return model
        """,
    )
    truth = observe(module, ("weight",))
    birth = truth.forward_births[0]
    assert (birth.op, birth.kind, birth.line) == ("_softmax", "nan", at["softmax"])
    assert truth.grads == {"weight": "finite"}  # masked_fill's backward zeroes the NaN row
    assert truth.roots == ["nan"]


def test_fp16_gradient_overflow_is_born_in_the_backward(tmp_path):
    module, at = _load(
        tmp_path,
        "fp16",
        """
        def step(trace):
            torch.manual_seed(0)
            model = nn.Linear(4, 4)
            with trace(model):
                h = (model(torch.randn(3, 4)).half() * 3000).float()  # @half
                h.pow(2).mean().backward()
            return model
        """,
    )
    truth = observe(module, ("weight",))
    assert truth.roots == ["finite"]
    assert truth.forward_births == []
    first = truth.backward_births[0]
    assert (first.node, first.kind, first.line) == ("MulBackward0", "inf", at["half"])


@pytest.mark.parametrize(
    ("write", "op"),
    [
        ("F.relu(h, inplace=True)", "relu_"),
        ("h.mul_(2)", "mul_"),
        ("h += 1.0", "add_"),
        ("h[0] = 0.0", "fill_"),
        ("torch.add(h.detach(), 1.0, out=h.detach())", "add"),
        ("h = nn.ReLU(inplace=True)(h)", "relu_"),
        ("h = nn.Dropout(0.5, inplace=True)(h)", "mul_"),
    ],
)
def test_an_inplace_write_on_a_saved_output_is_blamed_on_its_line(tmp_path, write, op):
    module, at = _load(
        tmp_path,
        "inplace",
        f"""
        def step(trace):
            torch.manual_seed(0)
            model = nn.Linear(4, 4)
            with trace(model):
                h = torch.sigmoid(model(torch.randn(3, 4)))  # @saver
                {write}  # @write
                h.sum().backward()
            return model
        """,
    )
    truth = observe(module, ("weight", "bias"))
    assert "modified by an inplace operation" in truth.exc_message
    assert any(w.op == op and w.line == at["write"] and not w.backward for w in truth.writes), truth.writes
    assert (truth.failed_node, truth.failed_line) == ("SigmoidBackward0", at["saver"])
    assert truth.inplace_lines() == {at["write"]}
    if "Dropout" in write:  # its mask is a temporary the same call made and filled: never a culprit
        assert any(w.op == "bernoulli_" and w.internal for w in truth.writes)


@pytest.mark.parametrize("write", ["torch.add(m, 1.0, out=m)", "m[0] = 0.0", "m.mul_(2)"])
def test_a_write_on_a_saved_operand_is_told_from_a_harmless_write_of_the_same_shape(tmp_path, write):
    module, at = _load(
        tmp_path,
        "operand",
        f"""
        def step(trace):
            torch.manual_seed(0)
            model = nn.Linear(4, 4)
            x = torch.randn(3, 4)
            with trace(model):
                h = model(x)
                h *= 2.0  # @harmless
                m = x * 2
                h = h * m  # @saver
                {write}  # @write
                h.sum().backward()
            return model
        """,
    )
    truth = observe(module, ("weight",))
    assert "is at version 1; expected version 0" in truth.exc_message
    assert truth.failed_line == at["saver"]
    assert any(w.line == at["harmless"] for w in truth.writes)
    assert truth.inplace_lines() == {at["write"]}


def test_embedding_max_norm_renorm_is_a_library_write_blamed_on_the_call(tmp_path):
    module, at = _load(
        tmp_path,
        "renorm",
        """
        def step(trace):
            torch.manual_seed(0)
            emb = nn.Embedding(5, 4, max_norm=1.0)
            with trace(emb):
                h = torch.randn(3, 4, requires_grad=True) @ emb.weight[:4].t()
                h = h + emb(torch.arange(3))  # @renorm
                h.sum().backward()
            return emb
        """,
    )
    truth = observe(module, ("weight",))
    assert "modified by an inplace operation" in truth.exc_message
    assert any(w.op == "embedding_renorm_" and w.line == at["renorm"] for w in truth.writes)
    assert truth.inplace_lines() == {at["renorm"]}


def test_grad_states_and_what_arrived_before_a_hook_consumed_it(tmp_path):
    module, _ = _load(
        tmp_path,
        "states",
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(4, 4)
                self.cut = nn.Linear(4, 4)
                self.dead = nn.Parameter(torch.ones(4))
                self.frozen = nn.Linear(4, 4)
                self.frozen.requires_grad_(False)

            def forward(self, x):
                return self.a(x) + self.cut(x).detach() + self.frozen(x) + 0 * self.dead


        def step(trace):
            torch.manual_seed(0)
            model = Net()
            model.a.weight.register_post_accumulate_grad_hook(lambda p: setattr(p, "grad", None))
            with trace(model):
                model(torch.randn(3, 4)).pow(2).mean().backward()
            return model
        """,
    )
    truth = observe(module, ("a.weight", "a.bias", "cut.weight", "dead", "frozen.weight"))
    assert truth.grads == {
        "a.weight": "none",  # consumed by the hook
        "a.bias": "finite",
        "cut.weight": "none",
        "dead": "zero",
        "frozen.weight": "none",
    }
    assert truth.delivered["a.weight"] == "finite"
    assert truth.delivered["cut.weight"] == "none"


def test_a_backward_node_carries_the_users_line_of_the_call_that_made_it(tmp_path):
    module, at = _load(
        tmp_path,
        "lines",
        """
        def block(h, layer):
            return torch.sqrt((layer(h) - layer(h).flip(0)) ** 2)  # @helper


        def step(trace):
            torch.manual_seed(0)
            model = nn.Linear(4, 4)
            with trace(model):
                block(torch.randn(3, 4), model).sum().backward()
            return model
        """,
    )
    truth = observe(module, ("weight",))
    first = truth.backward_births[0]
    assert (first.node, first.line) == ("SqrtBackward0", at["helper"])  # inside the helper, not its caller


def test_the_instruments_change_nothing_torch_does(tmp_path):
    """observe() watches with hooks and two modes: grads and exceptions must be those of a bare run."""
    for index in range(40):
        p = generate(1, index)
        path = tmp_path / p.filename
        path.write_text(p.source, encoding="utf-8")
        module = load(path, p.module_name)
        truth = observe(module, tuple(p.tensors))
        assert (truth.grads, truth.exc_type) == plain_run(module, tuple(p.tensors)), p.source


# -- the generator -------------------------------------------------------------------------------------------

# What the line of each construct must contain (the generator numbers lines as it writes them; this checks
# that the numbers point at the right text).
_SPELLING = {
    "detach": ".detach()",
    "detach_inline": ".detach()",
    "data": ".data",
    "no_grad": "torch.no_grad()",
    "set_grad_enabled": "set_grad_enabled(False)",
    "no_grad_helper": "features",
    "argmax": ".argmax(",
    "argmin": ".argmin(",
    "comparison": " > 0)",
    "int_index": ".long()",
    "item": ".item()",
    "tolist": ".tolist()",
    "numpy": ".numpy()",
    "tensor_list": "torch.tensor([",
    "autograd_grad": "torch.autograd.grad(",
    "checkpoint": "use_reentrant=True",
    "sqrt0": "torch.sqrt(",
    "pow_half0": "** 0.5",
    "log_neg": "torch.log(",
    "log_zero": "torch.log(",
    "div_zero": " / (",
    "pow_neg": "** 0.5",
    "softmax_masked": ".softmax(",
    "fp16_fwd": ".half()",
    "fp16_bwd": ".half()",
    "mul_": ".mul_(2)",
    "iadd": "+= 1.0",
    "relu_inplace": "inplace=True",
    "relu_module": "self.act",
    "dropout_module": "self.act",
    "setitem": "[0] = 0.0",
    "clamp_": ".clamp_(",
    "out_saved": "out=m",
    "setitem_saved": "m[0] = 0.0",
    "pow_input": ".mul_(3)",
    "embedding_renorm": "torch.arange(3)",
    "leaf_inplace": ".weight.add_(",
    "out_requires_grad": "out=",
    "carry": "(state)",
    "retain_graph": "",
    "inference_noclone": "",
}


def test_programs_are_deterministic_small_and_their_lines_point_at_their_constructs():
    for index in range(400):
        p = generate(5, index)
        assert generate(5, index).source == p.source
        lines = p.source.splitlines()
        assert len(lines) <= 40, p.source
        compile(p.source, p.filename, "exec")
        for cut in {c for t in p.tensors.values() for path in t.paths for c in path.cuts}:
            texts = [lines[n - 1] for n in sorted(cut.lines)]
            if cut.construct == "inference_mode":  # the `with` line and the lines under it
                assert "inference_mode" in texts[0], (cut, p.source)
            elif cut.construct in ("script_detach", "autograd_grad"):
                assert any(".detach()" in t or "autograd.grad" in t for t in texts), (cut, p.source)
            else:
                assert [_SPELLING[cut.construct] in t for t in texts] == [True], (cut, p.source)
        if p.nan is not None:
            assert _SPELLING[p.nan.construct] in lines[p.nan.line - 1], p.source
        for culprit in p.culprits:
            texts = [lines[n - 1] for n in culprit.lines]
            assert any(_SPELLING[culprit.construct] in t for t in texts), (culprit, p.source)
        for no in p.requests:
            assert "backward(inputs=" in lines[no - 1]


_CONSTRUCTS = [
    *(f"variant:{v}" for v in _generator._VARIANTS),
    *(f"nan:{k}" for k in _generator._NAN),
    *(f"inplace:{k}" for k in _generator._INPLACE_KINDS),
    *_generator._ONE_LINE_CUTS,
    *_generator._UNIT_WEIGHTS,
    *(
        "no_grad",
        "set_grad_enabled",
        "inference_mode",
        "inference_noclone",
        "no_grad_helper",
        "script_detach",
    ),
    *(
        "checkpoint_cut",
        "checkpoint_reentrant",
        "checkpoint_nonreentrant",
        "carry_attached",
        "carry_detached",
    ),
    *("error:leaf_inplace", "error:out_requires_grad", "frozen", "not_in_optimizer", "shared", "fork"),
    *(
        "helper",
        "cut_in_helper",
        "decoy:item_log",
        "decoy:detach_log",
        "decoy:no_grad_stat",
        "decoy:unit_log",
    ),
    "decoy:inplace_ok",
]


def test_the_sweep_covers_every_construct():
    seen: Counter[str] = Counter()
    for index in range(COVERAGE):
        seen.update(generate(SEED, index).constructs)
    rare = {c: seen[c] for c in _CONSTRUCTS if seen[c] < 5}
    assert not rare, f"constructs seen fewer than 5 times in {COVERAGE} programs: {rare}"


# -- the judge -----------------------------------------------------------------------------------------------


def _program(paths: frozenset[GradPath], **kwargs) -> Program:
    return Program(1, 0, "# a program\n", {"w": TensorInfo("w", "linear", paths)}, **kwargs)


def _kinds(p: Program, truth: Truth, run: _Run) -> list[str]:
    expected, problems = expect(p, truth)
    assert not problems
    return [d.kind for d in compare(p, expected, truth, run)]


def test_judge_accepts_any_cut_on_the_paths_each_at_its_own_line():
    detach = Cut("detach", frozenset({"detach"}), frozenset({5}))
    argmax = Cut("argmax", frozenset({"non_differentiable"}), frozenset({8}))
    p = _program(frozenset({GradPath(0, frozenset({detach})), GradPath(0, frozenset({argmax}))}))
    truth = Truth(grads={"w": "none"}, roots=["finite"])

    def kinds(cause: str, where: str | None) -> list[str]:
        return _kinds(p, truth, _Run(got={"w": Got(cause, where)}))

    assert kinds("detach", "/tmp/x/fuzz_1_00000.py:5") == []
    assert kinds("non_differentiable", "fuzz_1_00000.py:8") == []
    assert kinds("detach", "fuzz_1_00000.py:8") == ["where"]  # the argmax's line with the detach's cause
    assert kinds("unused", None) == ["cause"]


def test_judge_checks_the_birth_of_a_nonfinite_gradient():
    p = _program(frozenset({GradPath(0, frozenset())}))
    sqrt = BackwardBirth("SqrtBackward0", "inf", 7, 1)
    truth = Truth(grads={"w": "nonfinite"}, roots=["finite"], backward_births=[sqrt])

    def kinds(got: Got) -> list[str]:
        return _kinds(p, truth, _Run(got={"w": got}))

    assert kinds(Got("nonfinite", "fuzz_1_00000.py:7", ("backward", "sqrt", "SqrtBackward0"))) == []
    assert kinds(Got("nonfinite", "fuzz_1_00000.py:7", ("forward", "pow", ""))) == ["birth"]
    assert kinds(Got("nonfinite", "fuzz_1_00000.py:9", None)) == ["where", "birth"]


def test_judge_reports_a_crash_and_a_changed_exception():
    p = _program(frozenset({GradPath(0, frozenset())}))
    fine = Truth(grads={"w": "finite"}, roots=["finite"])
    assert _kinds(p, fine, _Run(exc=ValueError("gradviz broke"), got={"w": Got("ok", None)})) == ["crash"]
    assert _kinds(p, fine, _Run(crash="AttributeError: ...")) == ["crash"]

    message = (
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        "[torch.FloatTensor [3]] is at version 1; expected version 0 instead"
    )
    raised = Truth(grads={"w": "none"}, roots=["finite"], exc_type="RuntimeError", exc_message=message)
    p = _program(
        frozenset({GradPath(0, frozenset())}),
        culprits=(Culprit("mul_", frozenset({4}), "modified by an inplace operation"),),
    )
    blamed = Got("error", "fuzz_1_00000.py:4")
    assert _kinds(p, raised, _Run(got={"w": blamed})) == ["crash"]  # swallowed
    assert _kinds(p, raised, _Run(exc=TypeError(message), got={"w": blamed})) == ["crash"]  # changed
    assert _kinds(p, raised, _Run(exc=RuntimeError(message), got={"w": blamed})) == []
    assert _kinds(p, raised, _Run(exc=RuntimeError(message), got={"w": Got("error", None)})) == ["where"]


def test_a_disagreeing_program_is_written_as_a_runnable_script_whose_header_uses_its_lines(tmp_path):
    p = generate(7, 3)
    outcome = check(p, tmp_path)
    outcome.disagreements = [
        Disagreement(p, "where", "u0.weight", f"detach (where {p.filename}:5)", "detach (where None)", "cut")
    ]
    text = script(outcome)
    compile(text, p.filename, "exec")
    lines = text.splitlines()
    start = lines.index(p.source.splitlines()[0])  # the program follows the header unchanged
    assert lines[start : start + len(p.source.splitlines())] == p.source.splitlines()
    assert f"{p.filename}:{5 + start}" in text  # program line 5 is line 5 + start of the script
    assert text.rstrip().endswith("print(traces[0].report())")


# -- the sweep -----------------------------------------------------------------------------------------------


# Programs of the sweep where gradviz still disagrees with torch, each a known open bug (issue 17): a NaN
# whose birth is lost through an opaque module or across steps, a zero gradient stored in a step that then
# raised. The sweep fails on any other disagreement (a regression) and when one of these starts to agree
# (then remove it here: the list only shrinks). `python benchmarks/fuzz_verdicts.py --seed 2026
# --programs 3000` writes each one out as a runnable script.
KNOWN: frozenset[int] = frozenset()


@pytest.mark.slow
def test_gradviz_agrees_with_torch():
    start = time.perf_counter()
    summary = fuzz(SEED, SWEEP)
    took = time.perf_counter() - start
    problems = "\n".join(f"{o.program.filename}: {msg}" for o, msg in summary.problems[:10])
    if problems:
        pytest.fail(
            f"the fuzzer disagrees with itself (a generator or oracle bug):\n{problems}", pytrace=False
        )
    disagreeing = {o.program.index for o in summary.outcomes if o.disagreements}
    fixed = sorted(KNOWN - disagreeing)
    assert not fixed, f"these programs now agree with torch: remove them from KNOWN: {fixed}"
    new = [o for o in summary.outcomes if o.disagreements and o.program.index not in KNOWN]
    if new:
        shown = "\n\n".join(script(o) for o in new[:2])
        rerun = f"python benchmarks/fuzz_verdicts.py --seed {SEED} --programs {SWEEP}"
        pytest.fail(
            f"{summary.line()} ({took:.0f} s); new: {sorted(o.program.index for o in new)}\n"
            f"{summary.table()}\n\n`{rerun}` writes each one out as a script; the first two new ones:"
            f"\n\n{shown}",
            pytrace=False,
        )
