"""Which tensors a trace diagnoses, and what the optimizer holds.

An ``nn.Module`` contributes its named parameters plus every tensor that requires grad but is not
registered (a plain tensor attribute, modules kept in a plain list or dict, a ``.to()`` copy of a
Parameter): those get gradients the optimizer never sees. A dict contributes its name -> tensor pairs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from gradviz.capture._compiled import compiled_wrapper_type
from gradviz.capture._optim import optimizer_params
from gradviz.records import Target


@dataclass
class Watched:
    """A target together with its live tensor; lives only while capture runs."""

    target: Target
    tensor: torch.Tensor


def unwrap(model: nn.Module) -> nn.Module:
    """The user's model inside DistributedDataParallel / DataParallel and ``torch.compile``'s
    OptimizedModule (in any order), so names read as they wrote them (no ``module.``, no ``_orig_mod.``)."""
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")  # not imported: nothing was compiled
    compiled: tuple[type, ...] = (eval_frame.OptimizedModule,) if eval_frame is not None else ()
    wrappers = (nn.parallel.DistributedDataParallel, nn.DataParallel, *compiled)
    while isinstance(model, wrappers):
        inner = model._orig_mod if isinstance(model, compiled) else model.module
        assert isinstance(inner, nn.Module)
        model = inner
    return model


def from_model(model: nn.Module) -> list[Watched]:
    return scan(model)[0]


def scan(model: nn.Module) -> tuple[list[Watched], dict[int, str], list[tuple[str, nn.Module]]]:
    """The model's targets (named parameters, then unregistered tensors that require grad), its module
    names (id(module) -> qualified name, including modules kept in plain lists/dicts) and its named modules,
    in one pass over the modules' own attributes (nn.Module's bookkeeping is skipped: it holds no tensors)."""
    watched: list[Watched] = []
    seen: set[int] = set()
    for name, param in model.named_parameters():
        seen.add(id(param))
        watched.append(
            Watched(_target(len(watched), name, param, "parameter", "", name.rpartition(".")[0]), param)
        )
    modules = list(model.named_modules())
    names = {id(m): name for name, m in modules}
    for name, tensor, how, module, held in _unregistered(modules, seen, names):
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        target = _target(len(watched), name, tensor, "unregistered", how, module)
        target.module_held = held
        watched.append(Watched(target, tensor))
    return watched, names, modules


def from_mapping(tensors: Mapping[str, object]) -> list[Watched]:
    watched: list[Watched] = []
    for name, tensor in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"gradviz.trace: dict keys must be names (str), got {type(name).__name__}")
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(
                f"gradviz.trace: {name!r} is a {type(tensor).__name__}; the dict must map names to tensors"
            )
        watched.append(Watched(_target(len(watched), name, tensor, "tensor"), tensor))
    return watched


def discovered(index: int, name: str, tensor: torch.Tensor) -> Watched:
    """A leaf requiring grad that the forward used, when trace() was given nothing to watch."""
    return Watched(_target(index, name, tensor, "tensor"), tensor)


def optimizer_ids(optimizer: torch.optim.Optimizer) -> set[int]:
    """ids of the tensors in the optimizer's param groups (a TypeError says where a group is malformed)."""
    return {id(p) for p in optimizer_params(optimizer)}


def _target(
    index: int, name: str, tensor: torch.Tensor, kind: str, how: str = "", module: str = ""
) -> Target:
    grad_fn = tensor.grad_fn
    return Target(
        index=index,
        name=name,
        kind=kind,
        unregistered_how=how,
        module=module,
        requires_grad=tensor.requires_grad,
        is_leaf=tensor.is_leaf,
        grad_fn=None if grad_fn is None else type(grad_fn).__name__,
    )


# nn.Module's own bookkeeping (hook dicts, _parameters, training, ...): never a user's tensor or container
_MODULE_ATTRS = frozenset(vars(nn.Module()))


def _unregistered(
    modules: list[tuple[str, nn.Module]], registered: set[int], names: dict[int, str]
) -> Iterator[tuple[str, torch.Tensor, str, str, bool]]:
    """Tensors requiring grad reachable from module attributes without being registered parameters:
    (path, tensor, how, owning module, held through a module). Modules found in plain lists/dicts are
    added to ``names`` on the way (named like their parameters)."""
    for prefix, module in modules:
        for attr, value in vars(module).items():
            if attr in _MODULE_ATTRS or attr.startswith("__"):
                continue
            if isinstance(value, torch.Tensor):
                if not value.requires_grad or id(value) in registered:
                    continue
                path = f"{prefix}.{attr}" if prefix else attr
                if value.grad_fn is not None:
                    if _hides_a_leaf(value, registered):  # not prune/weight_norm, not a kept activation
                        yield path, value, "copy", prefix, False
                else:  # a plain tensor, or a Parameter stored around nn.Module (object.__setattr__)
                    yield path, value, "attribute", prefix, False
            elif isinstance(value, (list, tuple, dict)) and value:
                path = f"{prefix}.{attr}" if prefix else attr
                yield from _in_container(path, value, registered, prefix, names)


def _hides_a_leaf(tensor: torch.Tensor, registered: set[int], limit: int = 256) -> bool:
    """Whether a non-leaf attribute is a copy of a Parameter that hides its leaf (``self.w = p.to(dev)``,
    where ``p`` itself is stored nowhere): its whole graph leads to leaves that require grad, none of them
    registered. A tensor recomputed from registered parameters (``torch.nn.utils.prune``, the legacy
    ``weight_norm``) or an activation kept from a forward (Grad-CAM's ``self.features = x``) leads to the
    model's own parameters: not a copy. A graph larger than ``limit`` nodes is never claimed to be a copy
    (a copy's graph is a node or two): a bounded search says nothing about what it did not see."""
    stack = [tensor.grad_fn]
    seen: set[int] = set()
    hidden = own = False
    while stack:
        if len(seen) >= limit:
            return False  # not walked to the end: no claim
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        variable = getattr(fn, "variable", None)
        if variable is not None:
            own |= id(variable) in registered
            hidden |= id(variable) not in registered
            continue
        stack.extend(child for child, _ in fn.next_functions)
    return hidden and not own


def _in_container(
    path: str, container: list | tuple | dict, registered: set[int], owner: str, names: dict[int, str]
) -> Iterator[tuple[str, torch.Tensor, str, str, bool]]:
    how = "dict" if isinstance(container, dict) else "list"
    items = container.items() if isinstance(container, dict) else enumerate(container)
    for key, value in items:
        item_path = f"{path}.{key}"
        if isinstance(value, nn.Module):
            for sub, m in value.named_modules():
                names.setdefault(id(m), f"{item_path}.{sub}" if sub else item_path)
            for name, param in value.named_parameters():
                if id(param) not in registered and param.requires_grad:
                    yield f"{item_path}.{name}", param, how, f"{item_path}.{name}".rpartition(".")[0], True
        elif isinstance(value, torch.Tensor) and value.requires_grad and id(value) not in registered:
            yield item_path, value, how, owner, False


def opaque_modules(modules: list[tuple[str, nn.Module]], watched: list[Watched]) -> dict[int, int]:
    """TorchScript modules (outermost ones) -> bitset of the targets they hold. Ops inside them run in the
    TorchScript interpreter, out of the tracer's sight: only their call and output are seen. Marks those
    targets' ``opaque`` with the module's path."""
    index_of = {id(w.tensor): w.target.index for w in watched}
    found: dict[int, int] = {}
    outer: list[str] = []
    for path, module in modules:
        if not isinstance(module, torch.jit.ScriptModule) or any(path.startswith(o + ".") for o in outer):
            continue
        outer.append(path)
        bits = 0
        for p in module.parameters():
            index = index_of.get(id(p))
            if index is not None:
                bits |= 1 << index
                watched[index].target.opaque, watched[index].target.opaque_how = path, "TorchScript"
        found[id(module)] = bits
    return found


def mark_compiled(model: nn.Module, modules: list[tuple[str, nn.Module]], watched: list[Watched]) -> None:
    """Targets held by torch.compile'd code: the model passed compiled (``torch.compile(model)``, unwrapped
    before the scan) and every module compiled in place (``module.compile()``) or held compiled. Their ops
    run as compiled code, out of the tracer's sight (NOTE [invisible to torch.compile] in _tracer.py)."""
    wrapper = compiled_wrapper_type()
    index_of = {id(w.tensor): w.target.index for w in watched}
    compiled = (
        [("", model)] if isinstance(model, wrapper) or getattr(model, "_compiled_call_impl", None) else []
    )
    compiled += [
        (p, m) for p, m in modules if isinstance(m, wrapper) or getattr(m, "_compiled_call_impl", None)
    ]
    for path, module in compiled:
        for p in module.parameters():
            index = index_of.get(id(p))
            if index is not None and not watched[index].target.opaque:
                watched[index].target.opaque, watched[index].target.opaque_how = path, "torch.compile"
