"""Self-distillation in the DINO / BYOL style: an EMA teacher (same architecture, updated by a moving average,
not by the optimizer) runs under `torch.no_grad()` inside a helper, and the loss is a cross-entropy written
by hand, `-(teacher_probs * F.log_softmax(student_logits, -1)).sum(-1).mean()`. Truth: the teacher gets no
gradient. gradviz: no_grad at the helper's `with` line, by design (its output is only the value the student
is trained to match): nothing to fix, never "move it out of no_grad"."""

import copy

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
TEACHER = ("teacher.0.weight", "teacher.0.bias", "teacher.2.weight", "teacher.2.bias")
EXPECT = {
    **dict.fromkeys(TEACHER, ("no_grad", "@nograd")),
    **{f"student.{i}.{p}": ("ok", "*") for i in (0, 2) for p in ("weight", "bias")},
}
GRADS = {name: "none" if name.startswith("teacher") else "nonzero" for name in EXPECT}
MESSAGE = {name: ["by design", "nothing to fix", "student is trained to match"] for name in TEACHER}
AVOID = {name: ["move that computation out", "add it to the optimizer"] for name in TEACHER}


class SelfDistill(nn.Module):
    def __init__(self):
        super().__init__()
        self.student = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Linear(16, 8))
        self.teacher = copy.deepcopy(self.student)


def teacher_probs(teacher, x, temperature=0.04):
    with torch.no_grad():  # @nograd
        return F.softmax(teacher(x) / temperature, dim=-1)


def run(trace):
    torch.manual_seed(0)
    model = SelfDistill()
    opt = torch.optim.AdamW(model.student.parameters(), lr=1e-3)
    x1, x2 = torch.randn(4, 6), torch.randn(4, 6)
    with trace(model, optimizer=opt):
        loss = -(teacher_probs(model.teacher, x1) * F.log_softmax(model.student(x2) / 0.1, -1)).sum(-1).mean()
        loss.backward()
    return model
