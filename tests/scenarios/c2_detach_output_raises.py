"""C2 (claims.md): `model(x).detach()` before the loss. Articles say: weight grad None. Truth: backward raises
RuntimeError "element 0 of tensors does not require grad and does not have a grad_fn" (the loss has no graph
at all); no gradient anywhere. gradviz: detach at the detach line, and a note on the exception naming the
detach and that line."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = ["detach", "@cut"]
EXPECT = {
    "weight": ("detach", "@cut"),
    "bias": ("detach", "@cut"),
}
GRADS = {"weight": "none", "bias": "none"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        out = model(x).detach()  # @cut
        loss = nn.functional.mse_loss(out, y)
        loss.backward()
    return model
