"""Distillation with soft targets made by a helper that copies the teacher's probabilities into a new tensor
(`torch.tensor(probs.tolist())`), and a KL loss in another helper. Truth: the teacher gets no gradient.
gradviz: escaped at the helper's line, by design (a teacher): nothing to fix, never "keep the computation
in torch tensors"."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
TEACHER = ("teacher.weight", "teacher.bias")
EXPECT = {
    **dict.fromkeys(TEACHER, ("escaped", "@soft")),
    "student.weight": ("ok", "*"),
    "student.bias": ("ok", "*"),
}
GRADS = {name: "none" if name in TEACHER else "nonzero" for name in EXPECT}
MESSAGE = {name: ["by design", "nothing to fix"] for name in TEACHER}
AVOID = {name: ["keep the computation in torch tensors", "add it to the optimizer"] for name in TEACHER}


def soft_targets(teacher, x, temperature):
    probs = (teacher(x) / temperature).softmax(-1)
    return torch.tensor(probs.tolist())  # @soft


def kd_loss(student_logits, targets, temperature):
    return F.kl_div((student_logits / temperature).log_softmax(-1), targets, reduction="batchmean")


def run(trace):
    torch.manual_seed(0)
    model = nn.ModuleDict({"teacher": nn.Linear(5, 3), "student": nn.Linear(5, 3)})
    opt = torch.optim.SGD(model["student"].parameters(), lr=0.1)
    x = torch.randn(4, 5)
    with trace(model, optimizer=opt):
        loss = kd_loss(model["student"](x), soft_targets(model["teacher"], x, 2.0), 2.0)
        loss.backward()
    return model
