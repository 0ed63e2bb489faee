"""Which inputs of a TorchScript module its outputs' gradients would flow back to, read from its graph.

# NOTE [gradient paths through TorchScript]
# The tracer sees none of the ops inside a TorchScript module (they never reach a TorchFunctionMode); its
# outputs are known to depend on its inputs (_unseen.py). The what-if of a cut (NOTE [what would learn
# without a cut] in _lineage.py) needs more: had the input that a cut left without a gradient carried
# one, would the output carry it on? That is written in the module's graph (``inlined_graph``: every
# submodule call inlined), so it is read there, value by value, as autograd would see it run:
# - a value's paths are the module inputs it is computed from, through ops that pass gradients;
# - ``aten::detach``, ``.data`` (``prim::data``), values computed while gradients are off (``with
#   torch.no_grad()`` is ``prim::Enter`` / ``prim::Exit`` of a no_grad object; ``torch.set_grad_enabled``
#   with a constant), ops whose tensor results hold no gradient (comparisons, logical and bitwise ops,
#   argmax and the like, the indices a max / sort / topk returns, ``*_like`` factories, a cast to an
#   integer dtype) and anything that is not a tensor carry none;
# - ``prim::If`` joins its branches, ``prim::Loop`` runs its body to a fixed point, tuples keep their
#   elements apart (a module returning (a, b) gives each its own paths);
# - any other ``aten::`` op passes gradients from all its tensor inputs, as the tracer assumes of an op it
#   sees (a floating result, gradients on);
# - an op of another namespace (a custom op, a Python op) is not known: the module's answer is None, and
#   the what-if says it does not know instead of guessing.
# The grad mode at the call is an argument (a module called under no_grad passes nothing); answers are
# cached per module (weakly).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

__all__ = ["script_paths"]

Paths = frozenset[int] | tuple  # a value's input positions, or a tuple's elements' (nested)
_NONE: frozenset[int] = frozenset()
_NO_GRAD_RESULT = frozenset(
    f"aten::{name}"
    for name in (
        "gt", "ge", "lt", "le", "eq", "ne", "greater", "greater_equal", "less", "less_equal", "equal",
        "not_equal", "logical_and", "logical_or", "logical_not", "logical_xor", "bitwise_and", "bitwise_or",
        "bitwise_not", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift", "__and__", "__or__",
        "__xor__", "isnan", "isinf", "isfinite", "isposinf", "isneginf", "isclose", "isin", "signbit",
        "argmax", "argmin", "argsort", "argwhere", "nonzero", "bucketize", "searchsorted", "unique",
        "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "randint_like",
        "new_zeros", "new_ones", "new_empty", "new_full", "detach", "detach_", "count_nonzero", "bincount",
        "is_nonzero", "allclose", "any", "all",
    )
)  # fmt: skip
_INDICES_SECOND = frozenset(
    f"aten::{n}" for n in ("max", "min", "sort", "topk", "kthvalue", "mode", "median", "cummax", "cummin")
)
_FLOATING = frozenset({5, 6, 7, 8, 9, 10, 15})  # ScalarType codes of half, float, double, complex, bfloat16
_STRUCTURE = frozenset(
    {
        "prim::Constant", "prim::GetAttr", "prim::SetAttr", "prim::CreateObject", "prim::RaiseException",
        "prim::Uninitialized", "prim::Print", "prim::NumToTensor", "aten::size", "aten::dim", "aten::len",
        "prim::device", "prim::dtype", "prim::layout", "prim::requires_grad", "aten::warn",
        "prim::AutogradZero", "prim::isinstance", "aten::__is__", "aten::__isnot__", "aten::format",
        "prim::TypeCheck",
    }
)  # fmt: skip
Found = list[tuple[frozenset[int], frozenset[int]]]  # per output: (gradient paths, value paths)
_cache: weakref.WeakKeyDictionary[Any, dict[bool, Found | None]] = weakref.WeakKeyDictionary()


class _Unknown(Exception):
    """An op whose gradient paths are not known."""


def script_paths(module: Any, grad_on: bool) -> Found | None:
    """Per tensor of ``module``'s output (in the order ``tensors_out`` flattens it): the positions of the
    forward's arguments (0: the first after self) its gradient would flow back to, and those its value is
    computed from at all (a position in the second only is cut inside the module); None when the graph
    holds an op whose paths are not known (NOTE [gradient paths through TorchScript])."""
    graph = getattr(module, "inlined_graph", None)
    if graph is None:
        return None
    cached = _cache.setdefault(module, {})
    if grad_on in cached:
        return cached[grad_on]
    try:
        grads, values = _outputs(graph, [grad_on], True), _outputs(graph, [True], False)
        found: Found | None = list(zip(grads, values, strict=True))
    except _Unknown:
        found = None
    cached[grad_on] = found
    return found


def _outputs(graph: Any, grad: list[bool], cuts: bool) -> list[frozenset[int]]:
    """The paths of each output tensor: of gradients (``cuts``), or of values (every op passes)."""
    paths: dict[Any, Paths] = {}
    inputs = list(graph.inputs())
    for position, value in enumerate(inputs[1:]):  # inputs[0] is self
        paths[value] = frozenset({position}) if _carries(value) else _NONE
    paths[inputs[0]] = _NONE
    _block(graph.nodes(), paths, grad, cuts)
    return [p for v in graph.outputs() for p in _flat(paths.get(v, _NONE))]


def _carries(value: Any) -> bool:
    return "Tensor" in str(value.type())


def _union(items: Iterable[Paths]) -> frozenset[int]:
    out: frozenset[int] = _NONE
    for item in items:
        out = out | (item if isinstance(item, frozenset) else _union(item))
    return out


def _flat(p: Paths) -> list[frozenset[int]]:
    """A value's paths per tensor it holds, in order (a tuple's elements one by one)."""
    if isinstance(p, frozenset):
        return [p]
    return [q for item in p for q in _flat(item)]


def _block(nodes: Iterable[Any], paths: dict[Any, Paths], grad: list[bool], cuts: bool) -> None:
    for node in nodes:
        _node(node, paths, grad, cuts)


def _node(node: Any, paths: dict[Any, Paths], grad: list[bool], cuts: bool) -> None:
    kind = node.kind()
    ins = list(node.inputs())
    outs = list(node.outputs())
    if kind == "prim::Enter":
        mode = str(ins[0].type())
        grad.append(False if "no_grad" in mode else True if "enable_grad" in mode else grad[-1])
        return _set_all(outs, paths, _NONE)
    if kind == "prim::Exit":
        if len(grad) > 1:
            grad.pop()
        return _set_all(outs, paths, _NONE)
    if kind == "aten::set_grad_enabled":
        value = _constant(ins[0])
        if not isinstance(value, bool):
            raise _Unknown(kind)
        grad[-1] = value
        return _set_all(outs, paths, _NONE)
    if kind == "prim::If":
        return _if(node, outs, paths, grad, cuts)
    if kind == "prim::Loop":
        return _loop(node, ins, outs, paths, grad, cuts)
    if kind in ("prim::TupleConstruct",):
        paths[outs[0]] = tuple(paths.get(v, _NONE) for v in ins)
        return None
    if kind == "prim::TupleUnpack":
        held = paths.get(ins[0], _NONE)
        for i, out in enumerate(outs):
            paths[out] = held[i] if isinstance(held, tuple) and i < len(held) else _union([held])
        return None
    if kind == "prim::TupleIndex":
        held, index = paths.get(ins[0], _NONE), _constant(ins[1])
        if isinstance(held, tuple) and isinstance(index, int) and -len(held) <= index < len(held):
            paths[outs[0]] = held[index]
        else:
            paths[outs[0]] = _union([held])
        return None
    if kind in _STRUCTURE or not any(_carries(o) for o in outs):
        return _set_all(outs, paths, _NONE)
    if not (kind.startswith("aten::") or kind in _PASSING_PRIM or kind == "prim::data"):
        raise _Unknown(kind)
    cut = not grad[-1] or kind in _NO_GRAD_RESULT or kind == "prim::data"
    if cuts and (cut or (kind in ("aten::to", "aten::type_as") and _to_integer(ins))):
        return _set_all(outs, paths, _NONE)
    joined = _union(paths.get(v, _NONE) for v in ins)
    for i, out in enumerate(outs):
        indices = cuts and i == 1 and kind in _INDICES_SECOND
        paths[out] = _NONE if indices or not _carries(out) else joined
    return None


# prim ops that pass what they are given on (containers, casts of the static type)
_PASSING_PRIM = frozenset(
    {"prim::ListConstruct", "prim::ListUnpack", "prim::unchecked_cast", "prim::DictConstruct", "prim::min",
     "prim::max", "aten::__getitem__", "prim::ConstantChunk"}
)  # fmt: skip


def _set_all(outs: list[Any], paths: dict[Any, Paths], value: Paths) -> None:
    for out in outs:
        paths[out] = value


def _constant(value: Any) -> object:
    node = value.node()
    if node.kind() != "prim::Constant":
        return None
    return value.toIValue()


def _to_integer(ins: list[Any]) -> bool:
    """Whether a cast names a dtype that holds no gradient (an integer or bool ScalarType constant)."""
    for value in ins[1:]:
        if str(value.type()) in ("int", "Optional[int]"):
            code = _constant(value)
            if isinstance(code, int) and not isinstance(code, bool):
                return code not in _FLOATING
    return False


def _if(node: Any, outs: list[Any], paths: dict[Any, Paths], grad: list[bool], cuts: bool) -> None:
    joined: list[list[Paths]] = [[] for _ in outs]
    for block in node.blocks():
        inner = [grad[-1]]
        _block(block.nodes(), paths, inner, cuts)
        for i, value in enumerate(block.returnNode().inputs()):
            joined[i].append(paths.get(value, _NONE))
    for out, branches in zip(outs, joined, strict=True):
        first = branches[0] if branches else _NONE
        same_shape = all(isinstance(b, tuple) and len(b) == len(first) for b in branches)
        if isinstance(first, tuple) and same_shape:
            paths[out] = tuple(_union(b[i] for b in branches) for i in range(len(first)))  # type: ignore[index]
        else:
            paths[out] = _union(branches)


def _loop(
    node: Any, ins: list[Any], outs: list[Any], paths: dict[Any, Paths], grad: list[bool], cuts: bool
) -> None:
    carried = [_union([paths.get(v, _NONE)]) for v in ins[2:]]  # (max trips, condition, carried...)
    block = next(iter(node.blocks()))
    params = list(block.inputs())  # (iteration, carried...)
    for _ in range(len(carried) + 2):  # paths only grow: a fixed point within as many passes as values
        paths[params[0]] = _NONE
        for value, p in zip(params[1:], carried, strict=True):
            paths[value] = p
        _block(block.nodes(), paths, [grad[-1]], cuts)
        after = list(block.returnNode().inputs())[1:]  # (condition, carried...)
        grown = [p | _union([paths.get(v, _NONE)]) for p, v in zip(carried, after, strict=True)]
        if grown == carried:
            break
        carried = grown
    for out, p in zip(outs, carried, strict=True):
        paths[out] = p
