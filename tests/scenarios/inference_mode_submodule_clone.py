"""`with torch.inference_mode():` around a backbone call, then `.clone()` of its output (torch's own advice
after the error in inference_mode_tensor_saved_raises) before the trainable head.
Truth: no exception; backbone parameters get None (inference mode records no graph), the head gets
gradients. gradviz: backbone no_grad, where = the backbone call line."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "backbone.weight": ("no_grad", "@inf"),
    "backbone.bias": ("no_grad", "@inf"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("none" if name.startswith("backbone") else "nonzero") for name in EXPECT}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        with torch.inference_mode():
            feats = self.backbone(x)  # @inf
        feats = feats.clone()
        return self.head(feats)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
