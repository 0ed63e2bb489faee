"""Sort the torch calls a TorchFunctionMode sees into the few kinds the tracer treats differently."""

from __future__ import annotations

from enum import Enum


class Kind(Enum):
    SKIP = "skip"  # metadata reads (.shape, .size(), .grad getter, ...): pass straight through
    OP = "op"  # an ordinary op: propagate lineage, record it
    INPLACE = "inplace"  # modifies args[0] (or each tensor of args[0] for _foreach_*_)
    DETACH = "detach"
    DATA = "data"  # the .data getter
    ESCAPE = "escape"  # the value leaves torch: .item(), .tolist(), .numpy(), float(t), ...
    CREATE = "create"  # a tensor made from Python data: torch.tensor, as_tensor, new_tensor, ...
    FACTORY = "factory"  # a new tensor shaped like its input, whose values do not depend on it (randn_like)
    BACKWARD = "backward"  # Tensor.backward, torch.autograd.backward, torch.autograd.grad
    GRAD_SET = "grad_set"  # p.grad = ... (zero_grad(set_to_none=True) does this)
    GRAD_MODE = "grad_mode"  # torch._C._set_grad_enabled: entering/leaving no_grad & co.


_ESCAPES = frozenset(
    {"item", "tolist", "numpy", "__array__", "__float__", "__int__", "__index__", "__complex__"}
)
_CREATES = frozenset({"tensor", "as_tensor", "asarray", "new_tensor", "from_numpy", "scalar_tensor"})
# Only the input's shape, dtype and device reach the result: no value flows, so no cut can be there.
_FACTORIES = frozenset(
    {
        "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "randint_like",
        "new_zeros", "new_ones", "new_empty", "new_full", "new_empty_strided",
    }
)  # fmt: skip
# fmt: off
_SKIPS = frozenset([
    "size", "dim", "numel", "stride", "is_contiguous", "data_ptr", "element_size", "storage_offset",
    "__len__", "__repr__", "__format__", "__hash__", "__bool__", "__contains__", "__iter__", "__reversed__",
    "is_floating_point", "is_complex", "get_device", "untyped_storage", "is_inference", "__reduce_ex__",
    "_record_function_enter_new", "_RecordFunction", "retain_grad", "register_hook", "__deepcopy__",
    "is_shared", "is_pinned", "nelement", "ndimension", "has_names", "is_set_to", "_is_view",
])
# fmt: on
# getset descriptors whose getter returns a new tensor (views): everything else read by a getter is metadata
_TENSOR_GETTERS = frozenset({"T", "mT", "H", "mH", "real", "imag"})
# in-place by name but not modifying values
_NOT_INPLACE = frozenset({"requires_grad_", "share_memory_", "retain_grad_"})


def func_name(func: object) -> str:
    self = getattr(func, "__self__", None)
    name = getattr(func, "__name__", None) or type(func).__name__
    if name in ("__get__", "__set__", "__delete__") and self is not None:
        return f"{getattr(self, '__name__', '?')}.{name}"
    return name


def classify(func: object) -> tuple[str, Kind]:
    name = func_name(func)
    base, _, accessor = name.partition(".")
    if accessor:  # a getset descriptor: "data.__get__", "grad.__set__", ...
        if accessor == "__get__":
            if base == "data":
                return ".data", Kind.DATA
            return (f".{base}", Kind.OP) if base in _TENSOR_GETTERS else (name, Kind.SKIP)
        if accessor == "__set__" and base == "grad":
            return ".grad =", Kind.GRAD_SET
        return name, Kind.SKIP
    if name in _SKIPS:
        return name, Kind.SKIP
    if name in ("detach", "detach_"):
        return name, Kind.DETACH
    if name in _ESCAPES:
        return name, Kind.ESCAPE
    if name in _CREATES:
        return name, Kind.CREATE
    if name in _FACTORIES:
        return name, Kind.FACTORY
    if name in ("backward", "grad"):
        return name, Kind.BACKWARD
    if name == "_set_grad_enabled":
        return name, Kind.GRAD_MODE
    if name == "__setitem__" or (name.startswith("__i") and name.endswith("__")):
        return name, Kind.INPLACE
    if name.endswith("_") and not name.endswith("__") and name not in _NOT_INPLACE:
        return name, Kind.INPLACE
    return name, Kind.OP
