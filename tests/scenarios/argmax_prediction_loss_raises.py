"""argmax in the path: the loss is computed on `logits.argmax(1).float()` (predicted class as a number).
Truth: argmax has no gradient and is the only path, so the loss has no graph and backward raises
RuntimeError "element 0 of tensors does not require grad and does not have a grad_fn". gradviz: every
parameter non_differentiable, where = the argmax line; the note names argmax and that line."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = ["argmax", "@argmax"]
EXPECT = {
    "weight": ("non_differentiable", "@argmax"),
    "bias": ("non_differentiable", "@argmax"),
}
GRADS = {"weight": "none", "bias": "none"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,)).float()
    with trace(model):
        pred = model(x).argmax(dim=1).float()  # @argmax
        loss = nn.functional.mse_loss(pred, y)
        loss.backward()
    return model
