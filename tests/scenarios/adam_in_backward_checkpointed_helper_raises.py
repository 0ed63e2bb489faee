"""Adam fused into backward (one `torch.optim.Adam` per parameter, stepped in a
`register_post_accumulate_grad_hook`), on an MLP whose second layer is used twice, once inside a reentrant
`checkpoint` of a helper. The checkpoint's inner backward completes that layer's gradient first and the hook
steps it in place while the outer graph still holds it. Truth: backward raises RuntimeError "... modified
by an inplace operation ..."; the first layer's hook never runs. gradviz: error, where = the step in the
hook (NOTE [writes during a backward]), not the `loss.backward()` line."""

import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = RuntimeError
NOTE = [("in-place", "inplace"), "@step"]
EXPECT = dict.fromkeys(("0.weight", "0.bias", "2.weight", "2.bias"), ("error", "@step"))
GRADS = {"0.weight": "none", "0.bias": "none", "2.weight": "none", "2.bias": "none"}


def again(h, layer):
    return torch.relu(layer(h))


def run(trace):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    opts = {p: torch.optim.Adam([p], lr=1e-3) for p in model.parameters()}

    def step_now(p):
        opts[p].step()  # @step
        opts[p].zero_grad(set_to_none=True)

    for p in model.parameters():
        p.register_post_accumulate_grad_hook(step_now)
    with trace(model):
        h = model(torch.randn(3, 4))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            y = checkpoint(again, h, model[2], use_reentrant=True)
        loss = y.pow(2).sum()
        loss.backward()
    return model
