"""The tracer's part for in-place writes (NOTE [writes are seen by their versions] in _tracer.py)."""

from __future__ import annotations

import torch

from gradviz.capture._lineage import clear_how, tensors_out, write_record
from gradviz.capture._tracer_part import TracerPart
from gradviz.records import Clear, Site

# functional ops whose in-place switch is a positional argument (nn.Dropout calls F.dropout(x, p, training,
# inplace)): only for naming the write in messages, never for detecting it
_INPLACE_FLAG = frozenset(
    {
        "dropout",
        "alpha_dropout",
        "feature_alpha_dropout",
        "dropout1d",
        "dropout2d",
        "dropout3d",
        "threshold",
        "relu",
        "elu",
        "selu",
        "celu",
        "leaky_relu",
        "hardtanh",
        "rrelu",
        "relu6",
        "silu",
        "mish",
        "hardswish",
        "hardsigmoid",
    }
)


class Writes(TracerPart):
    """Mixed into the Tracer: ops that write into their inputs."""

    def _made_by(self, args: tuple) -> str:
        target = args[0] if args else None
        if isinstance(target, torch.Tensor):
            try:
                gfn = target.grad_fn
            except RuntimeError:  # a view made under no_grad whose base changed in place: no history
                return ""
            return type(gfn).__name__ if gfn is not None else ""
        return ""

    def _written(
        self,
        name: str,
        args: tuple,
        kwargs: dict,
        inputs: list[torch.Tensor],
        before: list[int],
        site: Site | None,
    ) -> None:
        """In-place writes of an op not named as one (see NOTE [writes are seen by their versions])."""
        if "out" in kwargs:
            how = f"{name}(out=...)"
        elif kwargs.get("inplace") is True or (name in _INPLACE_FLAG and True in args[1:]):
            how = f"{name}(inplace=True)"
        else:
            how = f"{name} (which writes into its input)"
        seen: set[int] = set()
        for t, was, after in zip(inputs, before, versions(inputs), strict=True):
            if after == was or id(t) in seen:
                continue
            seen.add(id(t))
            entry = self.lineage.get(t)
            made_by = self.log.name(entry[4]) if entry is not None and entry[4] >= 0 else ""
            module = self.modules[-1] if self.modules else ""
            self.cap.inplace.append(write_record(t, how, site, made_by, module, len(self.log), after))

    def _inplace(self, name, args, site, made_by, outputs) -> list[torch.Tensor]:
        target = args[0] if args else None
        changed = [target] if isinstance(target, torch.Tensor) else tensors_out(target)
        zeroed = 0
        for t in changed:
            idx = self.marks.grads.get(id(t))
            if idx is not None:  # a write into a .grad a backward filled: if it ends zero, this is where
                zeroed |= 1 << idx
            module = self.modules[-1] if self.modules else ""
            self.cap.inplace.append(write_record(t, name, site, made_by, module, len(self.log)))
        if zeroed:
            self.cap.clears.append(Clear(targets=zeroed, site=site, how=clear_how(name)))
        return outputs or changed


def versions(tensors: list[torch.Tensor]) -> list[int]:
    """Each tensor's version counter; -1 for an inference tensor, which has none (reading it raises)."""
    try:
        return [t._version for t in tensors]
    except RuntimeError:
        return [-1 if t.is_inference() else t._version for t in tensors]
