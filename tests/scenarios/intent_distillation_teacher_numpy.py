"""Knowledge distillation with the teacher's logits taken out through `.data.cpu().numpy()` and brought back
with `torch.from_numpy` (a pattern from public trainers); the student learns from a KL loss against them.
Truth: the teacher gets no gradient, the student does. gradviz: data at the teacher's line, said to be by
design (its output is only the value the student is trained to match): nothing to fix, never "use the tensor
itself instead of .data" (which would push toward training the teacher)."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
TEACHER = ("teacher.0.weight", "teacher.0.bias", "teacher.2.weight", "teacher.2.bias")
EXPECT = {
    **dict.fromkeys(TEACHER, ("data", "@teacher")),
    "student.weight": ("ok", "*"),
    "student.bias": ("ok", "*"),
}
GRADS = {name: "none" if name in TEACHER else "nonzero" for name in EXPECT}
MESSAGE = {name: ["by design", "nothing to fix", "student is trained to match"] for name in TEACHER}
AVOID = {name: ["use the tensor itself", "add it to the optimizer"] for name in TEACHER}


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.teacher = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
        self.student = nn.Linear(6, 3)


def run(trace):
    torch.manual_seed(0)
    model = Pair()
    opt = torch.optim.Adam(model.student.parameters(), lr=1e-3)
    x, temperature = torch.randn(8, 6), 2.0
    with trace(model, optimizer=opt):
        teacher_logits = torch.from_numpy(model.teacher(x).data.cpu().numpy())  # @teacher
        loss = F.kl_div(
            F.log_softmax(model.student(x) / temperature, -1),
            F.softmax(teacher_logits / temperature, -1),
            reduction="batchmean",
        )
        loss.backward()
    return model
