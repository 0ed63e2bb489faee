"""The log of ops seen in the forward, stored by column.

# NOTE [no tracked survivors]
# A full garbage collection costs ~100 ms in a process that has imported torch. Every container that
# outlives the call that made it (a tuple per op, a tuple per shape) counts towards the collector's
# thresholds and, over thousands of ops, triggers those full collections. So the log appends only atoms
# to lists and ints to arrays. The log is itself the finished ``Capture.ops``: a read-only sequence that
# builds an Op record when one is asked for.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterator
from typing import overload

import torch

from gradviz.capture._frames import SITES
from gradviz.records import Op, OpRecords, Site


class OpLog(OpRecords):
    __slots__ = (
        "_caller",
        "_dims",
        "_dtype",
        "_flags",
        "_joins",
        "_module",
        "_name",
        "_seq_end",
        "_seq_start",
        "_site",
        "_start",
    )

    def __init__(self) -> None:
        self._name: list[str] = []
        self._module: list[str] = []
        self._site = array("q")  # index into _frames.SITES
        self._caller = array("q")  # index into _frames.SITES of the user's call into library code (0: none)
        self._flags = array("b")  # bit 0: grad enabled; bit 1: inference mode
        self._dtype: list[torch.dtype | None] = []
        self._start = array("q")  # offset of each op's shapes in _dims
        self._dims = array("q")  # per op: n_in, n_out, then per tensor: ndim, dims...
        self._joins: dict[int, tuple[int, ...]] = {}  # rare: cuts entering the graph at this op
        # autograd sequence numbers [start, end) of the nodes each op created (see op_of_node)
        self._seq_start = array("q")
        self._seq_end = array("q")

    def __len__(self) -> int:
        return len(self._name)

    def append(
        self,
        name: str,
        module: str,
        site: int,
        caller: int,
        grad_on: bool,
        inference: bool,
        inputs: list[torch.Tensor],
        outputs: list[torch.Tensor],
        joins: tuple[int, ...],
        seq: tuple[int, int],
    ) -> None:
        self._seq_start.append(seq[0])
        self._seq_end.append(seq[1])
        if joins:
            self._joins[len(self._name)] = joins
        self._name.append(name)
        self._module.append(module)
        self._site.append(site)
        self._caller.append(caller)
        self._flags.append(grad_on | inference << 1)
        self._dtype.append(outputs[0].dtype if outputs else None)
        dims = self._dims
        start = len(dims)
        self._start.append(start)
        dims.append(len(inputs))
        dims.append(len(outputs))
        try:
            for t in inputs:
                shape = t.shape
                dims.append(len(shape))
                dims.extend(shape)
            for t in outputs:
                shape = t.shape
                dims.append(len(shape))
                dims.extend(shape)
        except (RuntimeError, ValueError):  # a lazy module's uninitialized parameter has no shape yet
            del dims[start + 2 :]
            for t in (*inputs, *outputs):
                known = _shape(t)
                dims.append(len(known))
                dims.extend(known)

    def op_of_node(self, sequence_nr: int) -> int:
        """Index of the op whose call created the autograd node with this sequence number (-1: none).

        Autograd numbers nodes per thread in creation order, so the op is found by bisection over the
        counter values read before and after each call; no node is ever touched during the forward.
        """
        i = bisect_right(self._seq_end, sequence_nr)  # the first op whose range ends after it
        if i < len(self._seq_end) and self._seq_start[i] <= sequence_nr:
            return i
        return -1

    def site(self, index: int) -> Site | None:
        return SITES[self._site[index]] if 0 <= index < len(self._name) else None

    def same_shapes(self, index: int) -> bool:
        """Whether every tensor input of op ``index`` has its output's shape (an add without broadcasting
        passes its incoming gradient to each input unchanged)."""
        if not 0 <= index < len(self._name):
            return False
        op = self._op(index)
        return len(op.outputs) == 1 and all(shape == op.outputs[0] for shape in op.inputs)

    def name(self, index: int) -> str:
        return self._name[index]

    def user_site(self, index: int) -> Site | None:
        """The user's line for op ``index``: its own line, or the user's call into the library it ran in."""
        if not 0 <= index < len(self._name):
            return None
        return SITES[self._caller[index] or self._site[index]]

    @overload
    def __getitem__(self, index: int) -> Op: ...
    @overload
    def __getitem__(self, index: slice) -> list[Op]: ...
    def __getitem__(self, index: int | slice) -> Op | list[Op]:
        if isinstance(index, slice):
            return [self._op(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"op index {index} out of range")
        return self._op(index)

    def __iter__(self) -> Iterator[Op]:
        return (self._op(i) for i in range(len(self)))

    def joined_at(self, cut: int) -> list[int]:
        """Indices of the ops where the (gradient-less) value of cut ``cut`` entered the graph."""
        return [i for i, joins in self._joins.items() if cut in joins]

    def _op(self, i: int) -> Op:
        dims = self._dims
        pos = self._start[i]
        n_in, n_out = dims[pos], dims[pos + 1]
        pos += 2
        shapes: list[tuple[int, ...]] = []
        for _ in range(n_in + n_out):
            ndim = dims[pos]
            shapes.append(tuple(dims[pos + 1 : pos + 1 + ndim]))
            pos += 1 + ndim
        dtype = self._dtype[i]
        return Op(
            index=i,
            name=self._name[i],
            module=self._module[i],
            site=SITES[self._site[i]],
            grad_enabled=bool(self._flags[i] & 1),
            inputs=shapes[:n_in],
            outputs=shapes[n_in:],
            out_dtype=str(dtype).removeprefix("torch.") if dtype is not None else "",
            inference=bool(self._flags[i] & 2),
            joins=self._joins.get(i, ()),
            caller=SITES[self._caller[i]] if self._caller[i] else None,
        )


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    try:
        return tuple(t.shape)
    except (RuntimeError, ValueError):
        return ()
