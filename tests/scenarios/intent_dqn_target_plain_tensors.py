"""A linear DQN written with plain tensors: `w` is trained, `w_target` is a copy used for the TD target, and
the loss is the squared difference written by hand, `((q_sa - y) ** 2).mean()`. The optimizer holds only `w`.
Truth: w_target gets a gradient no optimizer uses. gradviz: not_in_optimizer at the loss line (a difference
whose size is the loss is a comparison: w_target is a target); the fix names the tensor itself, not
`model.`-anything, and never says to train it."""

import torch

RAISES = None
NOTE = []
EXPECT = {"w": ("ok", "*"), "w_target": ("not_in_optimizer", "@loss")}
GRADS = {"w": "nonzero", "w_target": "nonzero"}
MESSAGE = {"w_target": ["is a target", "`w_target.requires_grad_(false)`"]}
AVOID = {"w_target": ["add it to the optimizer", "model.parameters()", "model.w_target"]}


def run(trace):
    torch.manual_seed(0)
    w = torch.randn(4, 2, requires_grad=True)
    w_target = w.detach().clone().requires_grad_(True)
    opt = torch.optim.SGD([w], lr=0.1)
    s, s2, r = torch.randn(8, 4), torch.randn(8, 4), torch.randn(8)
    with trace({"w": w, "w_target": w_target}, optimizer=opt):
        q_sa = (s @ w)[:, 0]
        y = r + 0.9 * (s2 @ w_target).amax(1)
        loss = ((q_sa - y) ** 2).mean()  # @loss
        loss.backward()
    return {"w": w, "w_target": w_target}
