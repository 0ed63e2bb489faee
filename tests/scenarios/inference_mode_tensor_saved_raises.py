"""`with torch.inference_mode():` around a backbone call, its output fed straight into a trainable Linear.
Truth (differs from the "inference_mode gives None" folklore): the *forward* raises RuntimeError "Inference
tensors cannot be saved for backward ..." at the head call, because linear saves its input for the weight
gradient. (Had the next op saved nothing, e.g. `feats + bias`, there would be no error and the backbone would
silently get None.) No gradient anywhere.
gradviz: every parameter error; where = the backbone call under inference_mode (the line that made the
unusable tensor, as the in-place case blames the in-place line, not the line that raised); the note says
inference mode and names that line."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = ["inference", "@inf"]
EXPECT = {
    "backbone.weight": ("error", "@inf"),
    "backbone.bias": ("error", "@inf"),
    "head.weight": ("error", "@inf"),
    "head.bias": ("error", "@inf"),
}
GRADS = dict.fromkeys(EXPECT, "none")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        with torch.inference_mode():
            feats = self.backbone(x)  # @inf
        return self.head(feats)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
