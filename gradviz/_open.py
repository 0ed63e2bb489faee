"""``gradviz.open``: a run recorded by ``gradviz.watch(..., log_dir=...)``, in a notebook.

>>> import tempfile, torch, gradviz
>>> log_dir = tempfile.mkdtemp()                        # in a script: gradviz.watch(..., log_dir="runs/exp1")
>>> model = torch.nn.Linear(3, 1)
>>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
>>> with gradviz.watch(model, optimizer=opt, log_dir=log_dir):
...     for _ in range(3):
...         opt.zero_grad(); model(torch.ones(2, 3)).sum().backward(); opt.step()
>>> run = gradviz.open(log_dir)                         # later, in a notebook
>>> run.history.grad_norm.shape                         # 3 steps x 2 parameters
(3, 2)

As a cell's last expression, ``run`` is the watch widget; while the script still writes, it grows every
second or so.

The files are read, never written, so a run can be opened while its script is writing it, or after the
script died (every record written before the crash is there; see :mod:`gradviz.runlog._format`). A run
folder may come from anyone: nothing outside it and nothing but regular files is read, a broken header is a
ValueError that names the field, and memory stays bounded whatever the size of the files (see
:mod:`gradviz.runlog._reader`).
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from gradviz import view
from gradviz._args import check_count, check_path
from gradviz._forensics import FirstNonfinite
from gradviz.records import GradState, Headroom, History
from gradviz.runlog import RunReader, rank_dir

__all__ = ["Run", "open"]

_POLL_MIN, _POLL_MAX = 1.0, 30.0  # seconds between reads while the run is live (backs off when idle)


def open(log_dir: str | os.PathLike[str], *, rank: int = 0, max_steps: int | None = 2048) -> Run:
    """Open the run that ``gradviz.watch(model, optimizer=opt, log_dir=log_dir)`` records.

    Displayed as a cell's last expression, it shows the same widget as the monitor did, and keeps growing
    while the run is still being written. ``rank``: the run of another rank, when it was recorded with
    ``watch(..., ranks="all")`` (in ``log_dir/rank<r>``). ``max_steps``: rows to show at most; longer runs
    show every 2nd (4th, ...) step, as ``watch`` keeps them in memory (``None``: every step; the file always
    holds every step).
    """
    check_path("gradviz.open", "log_dir", log_dir)
    check_count("rank", rank, 0, "the rank whose run to open")
    check_count("max_steps", max_steps, 2, "None: every step", optional=True)
    return Run(rank_dir(log_dir, rank), max_steps=max_steps)


class Run:
    """A recorded run: its ``history`` (re-read on access), ``refresh()``, and the watch widget."""

    def __init__(self, log_dir: str | os.PathLike[str], *, max_steps: int | None = 2048) -> None:
        self.path = Path(log_dir)
        self.max_steps = max_steps
        self._reader = RunReader(self.path, max_steps)
        self._lock = threading.RLock()  # the poller and the notebook both refresh
        self._widget: Any = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._shown_forensics: tuple[object, view.WatchForensics] | None = None
        self._reader.refresh()

    # -- data ------------------------------------------------------------------------------------------

    @property
    def header(self) -> dict:
        """The run's ``header.json``: names, ``every``, ``weights_every``, model, optimizer, rank, ..."""
        return dict(self._reader.header)

    @property
    def names(self) -> list[str]:
        return list(self._reader.names)

    @property
    def live(self) -> bool:
        """No end record yet: the run is still writing (or its process died without closing it, or the
        end of its file is damaged: see ``unread_bytes``)."""
        return not self._reader.ended

    @property
    def dropped(self) -> int:
        """Records skipped in the middle of the files because they failed their checksum (torn by a
        crash, or shifted by bytes inserted or cut out: then an estimate); 0 in a healthy run."""
        return self._reader.dropped

    @property
    def skipped_bytes(self) -> int:
        """Bytes skipped in the middle of the record files (the records counted by ``dropped``)."""
        return self._reader.skipped_bytes

    @property
    def missing_steps(self) -> int:
        """Recorded steps (every ``every``-th from 0) up to the last one read that are not in the files."""
        return self._reader.missing_steps

    @property
    def unread_bytes(self) -> int:
        """Bytes at the end of ``grads.bin`` that are not an intact record: less than one record while a
        record is being written; more means a damaged tail (a crash, or a corrupted copy)."""
        return self._reader.unread_bytes

    @property
    def first_nonfinite(self) -> FirstNonfinite | None:
        """The run's first recorded step with a NaN/Inf gradient, as the live monitor's
        ``first_nonfinite`` found it (read from the run's ``forensics.json``): ``.step``,
        ``.parameters``, ``.reason``, ``.from_loss`` and ``.birth()`` are the monitor's. ``.trace`` is
        None: a trace cannot be rebuilt from JSON (the view still shows the replayed step's graph and the
        banner's words as the live view did). None while there is none, or when ``forensics.json`` could
        not be read (the view and ``repr`` say why)."""
        self.refresh()
        saved = self._reader.forensics
        if saved is None:
            return None
        return FirstNonfinite(
            saved["step"],
            list(saved["parameters"]),
            None,
            saved["reason"],
            saved["from_loss"],
            said=saved["birth"],
        )

    @property
    def headroom(self) -> dict[str, Headroom]:
        """The precision headroom at the latest recorded step written, per parameter, as the live monitor's
        ``headroom`` gave it (read from the run's ``headroom.json``, rewritten every few seconds while the
        run goes on); empty when there is none, or when it could not be read (the view and ``repr`` say
        why)."""
        self.refresh()
        saved = self._reader.headroom
        return dict(saved["records"]) if saved is not None else {}

    @property
    def history(self) -> History:
        """Everything written so far (read again on each access), at most ``max_steps`` rows."""
        self.refresh()
        return self._history()

    def _history(self) -> History:
        with self._lock:
            return self._reader.history()

    def refresh(self) -> int:
        """Read the records appended since the last read (and update the widget); the number of new steps."""
        with self._lock:
            r = self._reader
            known = r.forensics, r.forensics_problem, r.headroom, r.headroom_problem
            new = r.refresh()
            w = self._widget
            now = self._saved()
            # (the headroom holds arrays: the reader replaces it when its file changed)
            found = known[2] is not now[2] or known[:2] + known[3:] != now[:2] + now[3:]
            if w is not None and (new or found or w.timeline.get("live") != self.live):
                w.update(self._state())
        return new

    def _saved(self) -> tuple[object, ...]:
        r = self._reader
        return r.forensics, r.forensics_problem, r.headroom, r.headroom_problem

    # -- views -----------------------------------------------------------------------------------------

    def _state(self) -> dict[str, object]:
        history = self._history()
        return view.build_watch_state(
            history,
            self._reader.graph,
            live=self.live,
            forensics=self._forensics_view(history),
            headroom=self._headroom_view(history),
        )

    def _headroom_view(self, history: History) -> view.WatchHeadroom | None:
        """The view of ``headroom.json`` as the live monitor built it (the series of the parameters it
        kept); or, when it was left out, a note saying so; None when there is none."""
        r = self._reader
        if r.headroom is not None:
            saved = r.headroom
            return view.watch_headroom(
                history.names, saved["records"], saved["steps"], saved["bits"], series=saved["names"]
            )
        if r.headroom_problem is not None:
            return view.watch_headroom(history.names, {}, unreadable=r.headroom_problem)
        return None

    def _forensics_view(self, history: History) -> view.WatchForensics | None:
        """The view of ``forensics.json`` as the live monitor built it (built once); or, when it was left
        out, a line saying so."""
        r, shown = self._reader, self._shown_forensics
        if r.forensics is not None:
            if shown is None or shown[0] is not r.forensics:
                graph, edge_norms, hists = r.forensics["replay"] or ({}, b"", b"")
                shown = (r.forensics, view.WatchForensics(r.forensics["view"], graph, edge_norms, hists))
        elif r.forensics_problem is not None:
            first = history.first_nonfinite
            step = int(first[0]) if first is not None else -1
            if shown is None or shown[0] != (r.forensics_problem, step):
                said = view.watch_forensics(step, [], unreadable=r.forensics_problem)
                shown = ((r.forensics_problem, step), said)
        else:
            return None
        self._shown_forensics = shown
        return shown[1]

    def widget(self):
        """The watch widget (built once). While the run is live, a background thread keeps it growing."""
        if self._widget is None:
            self._widget = view.monitor_widget(self._state())
            if self.live:
                self._start_polling()
        return self._widget

    def _start_polling(self) -> None:
        ref = weakref.ref(self)
        stop = self._stop

        def poll() -> None:
            wait = _POLL_MIN
            while not stop.wait(wait):
                run = ref()
                if run is None:
                    return
                try:
                    new = run.refresh()
                except (OSError, ValueError):  # the files changed under us; run.refresh() says how
                    return
                if not run.live:
                    return
                wait = _POLL_MIN if new else min(wait * 1.5, _POLL_MAX)
                del run

        weakref.finalize(self, stop.set)  # a run no one holds any more stops its poller
        self._poller = threading.Thread(target=poll, name=f"gradviz.open({self.path})", daemon=True)
        self._poller.start()

    def close(self) -> None:
        """Stop following the files (the widget keeps what it shows). Safe to call twice."""
        self._stop.set()
        poller, self._poller = self._poller, None
        if poller is not None and poller is not threading.current_thread():
            poller.join(timeout=5)

    def save_html(self, path: str | os.PathLike[str]) -> os.PathLike[str]:
        """Write the widget as one standalone HTML page (a snapshot of what was written so far)."""
        self.refresh()
        return view.write_watch_html(path, self._state(), title=f"gradviz run {self.path.name}")

    def _repr_mimebundle_(self, include=None, exclude=None):
        text = self._text()
        try:
            bundle = self.widget()._repr_mimebundle_(include=include, exclude=exclude)
        except FileNotFoundError:  # no built front end: the text is all there is
            return {"text/plain": text}
        if isinstance(bundle, tuple):  # (data, metadata)
            data, meta = bundle
            return {**data, "text/plain": text}, meta
        return {**(bundle or {}), "text/plain": text}

    def to_dict(self) -> dict[str, Any]:
        """The run's summary as plain data (schema ``gradviz-run-summary``, version 1, documented in
        ``gradviz/view/_export.py``), as ``Monitor.to_dict()`` gives it."""
        head = self._reader.header
        return view.run_summary_dict(self._history(), None, head.get("model"), head.get("optimizer"))

    def to_json(self, indent: int | None = None) -> str:
        """:meth:`to_dict` as strict JSON."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    def __repr__(self) -> str:
        h = self._history()
        head = self._reader.header
        by = f" with {head['optimizer']}" if head.get("optimizer") else ""
        status = "closed" if not self.live else "not closed" if self._damaged_tail() else "live"
        span = f", steps {h.steps[0]}..{h.steps[-1]}" if len(h) else ""
        bad = ""
        went = view.nonfinite_text(h) if h.first_nonfinite is not None else None
        if went is not None:
            bad = f"; {went}"
        return (
            f"<gradviz.Run {os.fspath(self.path)!r} {status}: {len(h.names)} parameters of "
            f"{head.get('model') or 'a model'}{by}, {self._reader.steps_read} steps{span}{bad}"
            f"{self._damage()}>"
        )

    def _damaged_tail(self) -> bool:
        """No end record, and more than one record's worth of bytes after the last intact one: not a
        record still being written (the writer appends whole records) but a crash or a damaged copy."""
        r = self._reader
        return not r.ended and r.unread_bytes >= r.record_bytes

    def _damage(self) -> str:
        """What could not be read, said plainly (empty for a healthy run)."""
        r = self._reader
        parts = []
        if r.skipped_bytes:
            missing = r.missing_steps
            lost = f"{missing} recorded step{'s' if missing != 1 else ''}" if missing else "no step"
            parts.append(f"{r.skipped_bytes:,} corrupt bytes skipped ({lost} missing)")
        if self._damaged_tail():
            parts.append(
                f"no end record: the last {r.unread_bytes:,} bytes of {r.header['grads']['file']} are not "
                "intact records (a crash or a damaged copy)"
            )
        parts.extend(r.problems)
        return "".join(f"; {part}" for part in parts)

    def _text(self) -> str:
        lines = [repr(self)]
        h = self._history()
        if len(h):
            last = h.state[-1]
            counts = ", ".join(f"{int((last == s).sum())} {s.name}" for s in GradState if (last == s).any())
            lines.append(f"step {h.steps[-1]}: gradients {counts}")
            finite = np.flatnonzero(last == GradState.finite)
            if len(finite):
                norms = h.grad_norm[-1, finite]
                lo, hi = finite[np.argmin(norms)], finite[np.argmax(norms)]
                lines.append(f"  largest  {h.names[hi]} {h.grad_norm[-1, hi]:.3g}")
                lines.append(f"  smallest {h.names[lo]} {h.grad_norm[-1, lo]:.3g}")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        self.refresh()
        p.text(self._text())
