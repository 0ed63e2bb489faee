"""A classifier whose loss takes `torch.log(F.softmax(logits))` by hand: with confident logits a probability
underflows to exactly 0 and its log is -inf. Truth: the loss is Inf and the gradients are NaN. gradviz:
nonfinite at the log line, with the fix for that mechanism: take the log inside the softmax
(`F.log_softmax`), not a bare "add an epsilon" or "lower the learning rate"."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
LOSS_NONFINITE = True
EXPECT = {"fc.weight": ("nonfinite", "@log"), "fc.bias": ("nonfinite", "@log")}
GRADS = {"fc.weight": "nonfinite", "fc.bias": "nonfinite"}
MESSAGE = {"fc.weight": ["`f.log_softmax(logits, dim=-1)`"]}
AVOID = {"fc.weight": ["lower the learning rate"]}


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x) * 100.0


def run(trace):
    torch.manual_seed(0)
    model = Classifier()
    x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
    with trace(model):
        logp = torch.log(F.softmax(model(x), dim=-1))  # @log
        loss = -logp.gather(1, y[:, None]).mean()
        loss.backward()
    return {**dict(model.named_parameters()), "loss": loss.detach()}
