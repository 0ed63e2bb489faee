"""Linear probing where the backbone was neither frozen nor run under no_grad: the optimizer holds only the
new head. Truth: the backbone gets gradients no optimizer uses (its backward is wasted work). gradviz:
not_in_optimizer at the head's line (the backbone's output feeds the trained head); the fix gives both
readings: add it to the optimizer if it should learn, or detach its output / requires_grad_(False) if it is
meant to stay fixed."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
BACKBONE = ("backbone.0.weight", "backbone.0.bias", "backbone.2.weight", "backbone.2.bias")
EXPECT = {
    **dict.fromkeys(BACKBONE, ("not_in_optimizer", "@head")),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")
MESSAGE = {
    name: ["if it should learn", "if it is meant to stay fixed", "model.backbone.requires_grad_(false)"]
    for name in BACKBONE
}


class Probe(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.Flatten())
        self.head = nn.Linear(4 * 4 * 4, 5)

    def forward(self, images):
        return self.head(torch.relu(self.backbone(images)))  # @head


def run(trace):
    torch.manual_seed(0)
    model = Probe()
    opt = torch.optim.SGD(model.head.parameters(), lr=0.1)
    images, labels = torch.randn(3, 3, 8, 8), torch.tensor([0, 1, 4])
    with trace(model, optimizer=opt):
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
    return model
