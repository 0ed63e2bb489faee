"""Knowledge distillation where the teacher runs with gradients on: `F.cross_entropy(student(x),
teacher(x).softmax(-1))` (soft targets), with an optimizer over the student only. Truth: the teacher gets
gradients no optimizer uses. gradviz: not_in_optimizer at the loss line, a target: the fix stops computing
them (no_grad / requires_grad_(False)), never "add it to the optimizer"."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
TEACHER = ("teacher.weight", "teacher.bias")
EXPECT = {
    **dict.fromkeys(TEACHER, ("not_in_optimizer", "@loss")),
    "student.weight": ("ok", "*"),
    "student.bias": ("ok", "*"),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")
MESSAGE = {name: ["is a target", "torch.no_grad()"] for name in TEACHER}
AVOID = {name: ["add it to the optimizer", "add its parameters", "model.parameters()"] for name in TEACHER}


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.teacher = nn.Linear(6, 4)
        self.student = nn.Linear(6, 4)


def run(trace):
    torch.manual_seed(0)
    model = Pair()
    opt = torch.optim.SGD(model.student.parameters(), lr=0.1)
    x = torch.randn(8, 6)
    with trace(model, optimizer=opt):
        loss = F.cross_entropy(model.student(x), model.teacher(x).softmax(-1))  # @loss
        loss.backward()
    return model
