"""C3 (claims.md): `loss = mse(output.data, y)`. Articles say: grad None. Truth: like C2, backward raises
RuntimeError "element 0 of tensors does not require grad and does not have a grad_fn". gradviz: data at the
`.data` line, and a note naming `.data` and that line."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = ["data", "@cut"]
EXPECT = {
    "weight": ("data", "@cut"),
    "bias": ("data", "@cut"),
}
GRADS = {"weight": "none", "bias": "none"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        output = model(x)
        loss = nn.functional.mse_loss(output.data, y)  # @cut
        loss.backward()
    return model
