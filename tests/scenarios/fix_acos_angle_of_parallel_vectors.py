"""An angular loss `torch.acos(cos)` where `cos` is the cosine between a prediction and a target that are
exactly parallel (here the same unit vector): acos' gradient at 1 is infinite. Truth: the loss is finite, the
gradient NaN. gradviz: nonfinite, born in the backward of acos, with the fix: clamp inside the domain."""

import torch

RAISES = None
NOTE = []
EXPECT = {"w": ("nonfinite", "@acos")}
GRADS = {"w": "nonfinite"}
MESSAGE = {"w": ["backward of acos", "torch.acos(x.clamp(-1 + 1e-6, 1 - 1e-6))"]}
AVOID = {"w": ["lower the learning rate"]}


def run(trace):
    w = torch.tensor([1.0, 0.0, 0.0], requires_grad=True)
    target = torch.tensor([1.0, 0.0, 0.0])
    with trace({"w": w}):
        cos = (w * target).sum() / (w.norm() * target.norm())
        loss = torch.acos(cos)  # @acos
        loss.backward()
    return {"w": w}
