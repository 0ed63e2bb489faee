"""Visual prompt tuning written functionally: a learned `prompt` is added to the image by a helper, and a
pretrained classifier (weights held as plain parameters, applied with `F.linear`) scores it; the optimizer
holds only the prompt and nothing froze the classifier. Truth: the classifier gets gradients the optimizer
never uses. gradviz: not_in_optimizer; the prompt learns through the classifier, so the fix offers
`requires_grad_(False)` on it first (the gradient still flows through it to the prompt)."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
CLASSIFIER = ("classifier.w1", "classifier.w2")
EXPECT = {"prompt": ("ok", "*"), **dict.fromkeys(CLASSIFIER, ("not_in_optimizer", "@classify"))}
GRADS = dict.fromkeys(EXPECT, "nonzero")
MESSAGE = {
    name: ["model.classifier.requires_grad_(false)", "still flows through it to prompt"]
    for name in CLASSIFIER
}
AVOID = {name: ["build the optimizer from model.parameters()"] for name in CLASSIFIER}


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(16, 12) * 0.3)
        self.w2 = nn.Parameter(torch.randn(3, 16) * 0.3)


def with_prompt(images, prompt):
    return images + prompt


def run(trace):
    torch.manual_seed(0)
    model = nn.Module()
    model.prompt = nn.Parameter(torch.zeros(12))
    model.classifier = Classifier()
    opt = torch.optim.SGD([model.prompt], lr=0.1)
    images, labels = torch.randn(6, 12), torch.randint(0, 3, (6,))
    c = model.classifier
    with trace(model, optimizer=opt):
        logits = F.linear(torch.tanh(F.linear(with_prompt(images, model.prompt), c.w1)), c.w2)  # @classify
        loss = F.cross_entropy(logits, labels)
        loss.backward()
    return model
