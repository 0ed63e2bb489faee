"""``%load_ext gradviz`` and the ``%%gradviz`` cell magic: run a cell, unchanged, under trace or watch.

::

    %%gradviz                      # trace the cell; the model and optimizer are found among its globals
    loss = loss_fn(model(x), y)
    loss.backward()

    %%gradviz model opt            # or named
    %%gradviz --watch              # a training cell: gradient health at every opt.step()
    %%gradviz --watch --every 10 model opt

Below the cell: the trace's widget (also the cell's value, ``_``), or with ``--watch`` the monitor's,
shown before the cell runs so it grows while it trains. ``--name NAME`` also keeps the trace or the
monitor in the global ``NAME``.
Which model: the ``nn.Module`` globals with parameters that the cell reads (if it reads none: all of
them), without those inside another candidate and without the names the cell assigns; there must be one
(else name it). Which optimizer: likewise, among ``torch.optim.Optimizer`` globals holding a parameter of
that model. When the cell builds its own model (assigns a name that held one, or none existed before),
``trace`` watches the tensors that require grad which the cell's forward uses.
If the cell raises, the exception carries gradviz's note and the trace is shown above the traceback.
``t.without(cut, confirm=True)`` on a traced cell runs the cell again, traced, on copies of its model and
optimizer with that cut removed (Trace.without).
"""

from __future__ import annotations

import argparse
import ast
import copy
import shlex
import sys
from types import FrameType
from typing import Any

import torch
from torch import nn

__all__ = ["GradvizMagics", "load_ipython_extension"]

_USAGE = "%%gradviz [--watch] [--every N] [--name NAME] [model [optimizer]]"


def load_ipython_extension(shell: Any) -> None:
    shell.register_magic_function(GradvizMagics(shell).cell, "cell", "gradviz")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="%%gradviz", usage=_USAGE, add_help=False, exit_on_error=False)
    p.add_argument("--watch", action="store_true", help="watch the training steps of the cell")
    p.add_argument("--every", type=int, default=1, help="with --watch: record every N-th step")
    p.add_argument("--name", default=None, help="also keep the trace / monitor in this global")
    p.add_argument("names", nargs="*", help="the model, then the optimizer (global names)")
    return p


class GradvizMagics:
    def __init__(self, shell: Any) -> None:
        self.shell = shell

    def cell(self, line: str, cell: str) -> Any:
        from IPython.core.error import UsageError

        try:
            args = _parser().parse_args(shlex.split(line))
        except (argparse.ArgumentError, SystemExit, ValueError) as err:
            raise UsageError(f"{err}\nusage: {_USAGE}") from None
        if len(args.names) > 2:
            raise UsageError(f"%%gradviz takes at most a model and an optimizer, got {args.names}.\n{_USAGE}")
        ns = self.shell.user_ns
        code = self.shell.transform_cell(cell)
        model, optimizer = self._targets(args.names, code, ns, UsageError)
        if args.watch:
            return self._watch(code, model, optimizer, args.every, args.name, UsageError)
        return self._trace(code, model, optimizer, args.name)

    # -- running the cell --------------------------------------------------------------------------------

    def _compiled(self, code: str) -> Any:
        # One blank line first: line numbers (and gradviz's "In[5]:3") match the cell as shown, magic line 1.
        source = "\n" + code
        filename = self.shell.compile.cache(source, self._cell_number(), raw_code=source)
        return compile(source, filename, "exec")

    def _cell_number(self) -> int:
        """The execution count of the cell running this magic, read from the cell's own frame (IPython
        increments ``execution_count`` before or after running a cell depending on its version)."""
        cells = getattr(self.shell.compile, "_filename_map", {})
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            number = cells.get(frame.f_code.co_filename)
            if number is not None:
                return number
            frame = frame.f_back
        return self.shell.execution_count

    def _trace(self, code: str, model: nn.Module | None, optimizer: Any, name: str | None) -> Any:
        from gradviz._trace import trace

        compiled = self._compiled(code)
        t = trace(model, optimizer)
        ran = False
        try:
            with t:
                ran = True
                exec(compiled, self.shell.user_ns)
        except Exception:
            if ran:  # the trace ended with the cell: show what it found above the traceback
                self._keep(t, name)
                self._display(t)
            raise
        if model is not None:  # t.without(cut, confirm=True) runs the cell again, on copies
            t._rerun = (model, self._rerun_step(compiled, model, optimizer))
        self._keep(t, name)
        return t

    def _rerun_step(self, compiled: Any, model: nn.Module, optimizer: Any) -> Any:
        """``step(copy)``: the cell once more, with every global naming the model bound to ``copy`` and
        every one naming the optimizer to a deep copy of it that steps ``copy``'s parameters; the cell's
        assignments go to a copy of the globals (objects it changes in place are changed again)."""
        user_ns = self.shell.user_ns

        def step(copy_: nn.Module) -> None:
            memo: dict[int, Any] = {id(model): copy_}
            memo.update({id(p): q for p, q in zip(model.parameters(), copy_.parameters(), strict=True)})
            opt = copy.deepcopy(optimizer, memo) if optimizer is not None else None
            ns = {
                k: (copy_ if v is model else opt if v is optimizer and opt is not None else v)
                for k, v in user_ns.items()
            }
            exec(compiled, ns)

        return step

    def _watch(
        self, code: str, model: nn.Module | None, optimizer: Any, every: int, name: str | None, usage: type
    ) -> None:
        from gradviz._watch import watch

        if model is None:
            raise usage(
                "%%gradviz --watch needs the model to exist before the cell (define it in an earlier cell), "
                f"or name it: %%gradviz --watch model opt.\n{_USAGE}"
            )
        if optimizer is None:
            raise usage(
                "%%gradviz --watch takes its steps from the optimizer's step(): no single optimizer holding "
                f"the model's parameters was found among the globals; name it: %%gradviz --watch model opt."
                f"\n{_USAGE}"
            )
        compiled = self._compiled(code)
        with watch(model, optimizer=optimizer, every=every) as mon:
            self._keep(mon, name)
            self._display(mon)  # shown before the cell runs: it grows while the cell trains
            exec(compiled, self.shell.user_ns)

    def _keep(self, obj: Any, name: str | None) -> None:
        if name is not None:
            self.shell.user_ns[name] = obj

    @staticmethod
    def _display(obj: Any) -> None:
        from IPython.display import display

        display(obj)

    # -- finding the model and the optimizer -------------------------------------------------------------

    def _targets(self, names: list[str], code: str, ns: dict, usage: type) -> tuple[nn.Module | None, Any]:
        model = optimizer = None
        if names:
            model = self._lookup(names[0], ns, nn.Module, usage)
        if len(names) > 1:
            optimizer = self._lookup(names[1], ns, torch.optim.Optimizer, usage)
        mentioned, assigned = _names_in(code)
        # A global the cell assigns is rebuilt by it: its current value is not what the cell trains.
        ns = {k: v for k, v in ns.items() if k not in assigned}
        rebuilds_model = any(isinstance(self.shell.user_ns.get(k), nn.Module) for k in assigned)
        if model is None:
            model = _pick_model(ns, mentioned, usage, fallback=not rebuilds_model)
        if optimizer is None and model is not None:
            optimizer = _pick_optimizer(ns, mentioned, model)
        return model, optimizer

    @staticmethod
    def _lookup(name: str, ns: dict, kind: type, usage: type) -> Any:
        if name not in ns:
            raise usage(f"%%gradviz: no global named {name!r}.\n{_USAGE}")
        value = ns[name]
        if not isinstance(value, kind):
            raise usage(
                f"%%gradviz: {name!r} is a {type(value).__name__}, not a {kind.__module__}.{kind.__name__}."
            )
        return value


def _names_in(code: str) -> tuple[set[str], set[str]]:
    """(names the cell reads, names it assigns) at any depth."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set(), set()
    read: set[str] = set()
    assigned: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (assigned if isinstance(node.ctx, ast.Store) else read).add(node.id)
    return read, assigned


def _globals_of(ns: dict, kind: type, mentioned: set[str], fallback: bool = True) -> list[tuple[str, Any]]:
    """The globals of this kind the cell reads; if it reads none, all of them (or none without fallback)."""
    found = [(k, v) for k, v in ns.items() if not k.startswith("_") and isinstance(v, kind)]
    named = [(k, v) for k, v in found if k in mentioned]
    return named or (found if fallback else [])


def _pick_model(ns: dict, mentioned: set[str], usage: type, fallback: bool = True) -> nn.Module | None:
    candidates = [
        (k, m)
        for k, m in _globals_of(ns, nn.Module, mentioned, fallback)
        if any(True for _ in m.parameters())
    ]
    unique: dict[int, tuple[str, nn.Module]] = {}
    for k, m in candidates:
        unique.setdefault(id(m), (k, m))
    inner = {id(sub) for _, m in unique.values() for sub in m.modules() if sub is not m}
    outer = [(k, m) for k, m in unique.values() if id(m) not in inner]
    if len(outer) > 1:
        names = ", ".join(k for k, _ in outer)
        raise usage(
            f"%%gradviz: several models ({names}); name the one to diagnose: %%gradviz MODEL [OPTIMIZER]"
        )
    return outer[0][1] if outer else None


def _pick_optimizer(ns: dict, mentioned: set[str], model: nn.Module) -> Any:
    params = {id(p) for p in model.parameters()}
    holding = [
        (k, o)
        for k, o in _globals_of(ns, torch.optim.Optimizer, mentioned)
        if any(id(p) in params for g in o.param_groups for p in g["params"])
    ]
    unique = {id(o): o for _, o in holding}
    return next(iter(unique.values())) if len(unique) == 1 else None
