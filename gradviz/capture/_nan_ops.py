"""Which torch ops can make a NaN/Inf from finite inputs, and, of one that did, how (NOTE [finite checks] in
``_finite``)."""

from __future__ import annotations

import torch

__all__ = ["FINITE_SAFE", "MASKS", "MASK_TAKERS", "RISKY", "describe"]

_Tensor = torch.Tensor

# Ops that cannot make NaN/Inf from finite inputs: they move, copy, select or bound values.
# fmt: off
FINITE_SAFE = frozenset([
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "squeeze", "unsqueeze", "permute",
    "transpose", "t", ".T", ".mT", ".H", ".mH", "swapaxes", "movedim", "contiguous", "clone", "expand",
    "expand_as", "__getitem__", "narrow", "select", "split", "split_with_sizes", "chunk", "unbind", "cat",
    "concat", "concatenate", "stack", "hstack", "vstack", "repeat", "tile", "flip", "roll", "gather",
    "index_select", "take", "masked_select", "cpu", "cuda", "float", "double", "detach",
    ".data", "relu", "relu_", "leaky_relu", "sigmoid", "tanh", "hardtanh", "relu6", "dropout", "abs", "neg",
    "__neg__", "sign", "clamp", "clamp_", "clip", "floor", "ceil", "round", "trunc", "where", "zeros_like",
    "ones_like", "empty_like", "rand_like", "randn_like", "argmax", "argmin", "max", "min", "amax", "amin",
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "eq", "ne", "lt", "le", "gt", "ge",
    "embedding", "one_hot", "pad", "dim", "size", "requires_grad_", "type", "long", "int", "bool",
    "empty", "empty_like", "new_empty", "empty_strided",  # uninitialized memory: garbage, not a birth
])
# In full precision (float32/64), only these ops make NaN/Inf from finite inputs at ordinary magnitudes:
# domain errors (log, sqrt, acos, ...), divisions, exponentials that overflow from moderate inputs
# (exp(89) is Inf in float32), softmax over a row masked entirely, norms and variances at zero, losses,
# reductions that can be empty, and tensors made from Python numbers. A linear layer, an add or a
# layer norm can only overflow float32 from values beyond ~1e19 (a forward already exploding): those are
# summed only in half precision, where overflow is ordinary (see NOTE [finite checks]).
# fmt: off
RISKY = frozenset([
    "log", "log_", "log2", "log10", "log1p", "sqrt", "sqrt_", "rsqrt", "rsqrt_", "reciprocal", "reciprocal_",
    "div", "div_", "true_divide", "floor_divide", "__truediv__", "__rtruediv__", "__itruediv__",
    "__floordiv__", "__rfloordiv__", "remainder", "fmod", "pow", "pow_", "__pow__", "__rpow__", "__ipow__",
    "float_power", "exp", "exp_", "exp2", "expm1", "cosh", "sinh", "tan", "acos", "asin", "atanh", "acosh",
    "lgamma", "digamma", "polygamma", "erfinv", "logit", "xlogy", "special_xlogy", "atan2",
    "softmax", "log_softmax", "_softmax", "scaled_dot_product_attention", "softmin", "gumbel_softmax",
    "multi_head_attention_forward",  # nn.MultiheadAttention: one call, a softmax inside
    "norm", "vector_norm", "linalg_vector_norm", "matrix_norm", "frobenius_norm", "normalize", "cdist",
    "pdist", "dist", "std", "var", "std_mean", "var_mean", "mean", "nanmean", "prod", "cumprod",
    "logsumexp", "logcumsumexp", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss", "gaussian_nll_loss", "mse_loss",
    "l1_loss", "smooth_l1_loss", "huber_loss", "cosine_similarity", "cosine_embedding_loss",
    "tensor", "as_tensor", "asarray", "new_tensor", "scalar_tensor", "full", "full_like", "new_full",
    "inverse", "linalg_inv", "det", "logdet", "slogdet", "cholesky", "linalg_cholesky", "solve",
    "linalg_solve", "pinverse", "lstsq", "batch_norm", "instance_norm", "group_norm",
])
# fmt: on

# Ops that take a mask of -inf from outside and read it as one: such an input is not a birth.
MASK_TAKERS = frozenset(["multi_head_attention_forward", "scaled_dot_product_attention"])

# Ops that write an infinity on purpose (an attention mask of -inf): an Inf they make is not a birth.
# (A NaN they make still is; and a row masked entirely becomes NaN in the softmax, which is caught there.)
MASKS = frozenset(
    [
        "masked_fill",
        "masked_fill_",
        "fill",
        "fill_",
        "full",
        "full_like",
        "new_full",
        "where",
        "__setitem__",
        "index_put",
        "index_put_",
        "scatter",
        "scatter_",
        "masked_scatter",
        "masked_scatter_",
        "tensor",
        "triu",
        "tril",
        "__add__",
        "add",
        "__iadd__",
    ]
)
# fmt: on


def describe(name: str, args: tuple, inputs: list[_Tensor]) -> str:
    """One phrase on how ``name`` made a non-finite value from these finite inputs."""
    x = inputs[0] if inputs else None
    neg = x is not None and not x.is_complex() and bool((x < 0).any())
    zero = x is not None and bool((x == 0).any())
    base = name.removesuffix("_").lstrip("_").removesuffix("__")
    if base in ("log", "log2", "log10", "log1p"):
        return "from a negative input" if neg else "from an input of 0 (log 0 = -inf)" if zero else ""
    if base in ("sqrt", "rsqrt"):
        return "from a negative input" if neg else "from an input of 0 (1/sqrt(0))" if zero else ""
    if base in ("div", "true_divide", "truediv", "reciprocal", "floor_divide", "rtruediv"):
        den = inputs[1] if len(inputs) > 1 else (inputs[0] if base == "reciprocal" else None)
        if den is not None and bool((den == 0).any()):
            return "dividing by 0 (0/0 gives NaN)" if base != "reciprocal" else "1/0"
        return "dividing by a denominator that is 0"
    if base in ("softmax", "log_softmax"):
        if x is not None and x.dim() and bool(torch.isneginf(x).all(dim=-1).any()):
            return "over a row in which every position is -inf (masked entirely)"
        return "over values that overflow"
    if base in ("scaled_dot_product_attention", "multi_head_attention_forward"):
        if _masks_a_whole_row(inputs, allowed_is_true=base == "scaled_dot_product_attention"):
            return "over a row in which every position is -inf (masked entirely): its mask hides every key"
        return "over values that overflow"
    if base in ("pow", "float_power"):
        return "from a negative base with a fractional exponent, or 0 to a negative power"
    if base in ("acos", "asin", "atanh", "acosh"):
        return "from a value outside its domain"
    if base in ("exp", "expm1", "exp2", "cosh", "sinh"):
        return "by overflow: the result is beyond the dtype's largest value"
    return "by overflow or an invalid operation on finite values"


def _masks_a_whole_row(inputs: list[_Tensor], allowed_is_true: bool) -> bool:
    """Whether an attention call's mask hides every key of some query: a boolean mask with a row all
    hidden (``key_padding_mask``: True hides; scaled_dot_product_attention's ``attn_mask``: False hides), or
    a float mask with a row all -inf."""
    for t in inputs:
        if t.dim() == 0:
            continue
        if t.dtype == torch.bool:
            hidden = ~t if allowed_is_true else t
            if bool(hidden.all(dim=-1).any()):
                return True
        elif t.is_floating_point() and bool(torch.isneginf(t).all(dim=-1).any()):
            return True
    return False
