"""B2 (claims.md): `a.add_(...)` on a leaf that requires grad, then a loss of a**2. Articles say: grad None.
Truth: `add_` itself raises RuntimeError "a leaf Variable that requires grad is being used in an in-place
operation."; the loss and backward never run, so no tensor gets a gradient. gradviz: every watched tensor
error, where = the `add_` line; the note names the in-place op and that line."""

import torch

RAISES = RuntimeError
NOTE = [("in-place", "inplace"), "@inplace"]
EXPECT = {
    "a": ("error", "@inplace"),
    "b": ("error", "@inplace"),
    "c": ("error", "@inplace"),
}
GRADS = {"a": "none", "b": "none", "c": "none"}


def run(trace):
    torch.manual_seed(0)
    a = torch.randn(3, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    c = torch.randn(3, requires_grad=True)
    with trace({"a": a, "b": b, "c": c}):
        a.add_(torch.ones(3))  # @inplace
        loss = (a**2 + b * c).sum()
        loss.backward()
    return {"a": a, "b": b, "c": c}
