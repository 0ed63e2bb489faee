"""A recorded run on disk: what ``gradviz.watch(..., log_dir=...)`` writes and ``gradviz.open`` reads.

Format ``gradviz-run`` version 1. A run directory holds::

    header.json    written once, atomically (temporary file, fsync, rename), before any record
    grads.bin      one record per recorded step, appended, never rewritten
    weights.bin    one record per weight step (every ``weights_every``-th recorded step), appended
    graph.json     optional: the autograd graph of the first backward pass, written once, atomically:
                   {"graph": {...}, "edge_norms": base64, "hists": base64} (gradviz/view/_state.py)
    forensics.json optional: the first step whose gradient went NaN/Inf, as ``mon.first_nonfinite`` found it
                   (replayed under trace with ``watch(..., forensics=True)``), written once, atomically
                   (below). Older readers ignore it; a run without it is a run with no NaN/Inf (yet)
    headroom.json  optional: the precision headroom of the run (``mon.headroom``), rewritten whole and
                   atomically at most every 10 seconds and at close (below). Older readers ignore it
    rank<r>/       with ``watch(..., ranks="all")``: the same file set for each other rank that records

``header.json`` (UTF-8 JSON)::

    {"format": "gradviz-run", "version": 1, "names": ["enc.weight", ...], "every": 1,
     "weights_every": 100, "model": "GPT", "optimizer": "AdamW", "rank": 0, "world_size": 2,
     "created": "2025-01-31T12:00:00Z",
     "grads": {"file": "grads.bin", "record_bytes": 12 + 5P},
     "weights": {"file": "weights.bin", "record_bytes": 12 + 8P}}

``forensics.json`` (UTF-8 JSON; plain data only: a trace cannot be rebuilt from it)::

    {"step": 60, "parameters": ["blocks.3.attn.qkv.weight", ...], "reason": "", "from_loss": false,
     "birth": "the forward of softmax at /home/me/model.py:41",     # FirstNonfinite.birth(), its words
     "view": {...},           # the watch timeline's "forensics" entry, the banner's words (js/STATE.md)
     "replay": {"graph": {...}, "edge_norms": base64, "hists": base64} | null}   # the replayed graph's
                              # widget state as the view shows it (its title and notes set), as graph.json

``step``, ``parameters``, ``reason``, ``from_loss`` and ``birth`` are those of the live monitor's
``first_nonfinite``; ``gradviz.open`` gives them back as ``run.first_nonfinite`` (its ``trace`` is None) and
shows ``view`` and ``replay`` as the live view did. A ``forensics.json`` that cannot be read or fails its
checks is left out, and the view says so. Adding it did not change the format version.

``headroom.json`` (UTF-8 JSON; NOTE [precision headroom] in gradviz/capture/_headroom.py)::

    {"step": 57,                 # the latest recorded step the records are of
     "records": [{"name": "fc.weight", "dtype": "float16", "limit": 65504.0, "step": 57, "peak": 9100.0,
                  "bits": 2.85, "exact": true, "trend": -0.38, "steps_left": 7.5, "flagged_at": 41,
                  "underflow": 0.001, "weight_bits": 12.3}, ...],   # gradviz.records.Headroom, its fields;
                                 # NaN and the infinities as the strings "nan", "inf", "-inf"
     "series": {"names": ["fc.weight", ...],        # at most 16: the flagged, then the least headroom
                "steps": [0, 1, ...],               # the recorded steps kept (at most 2048)
                "bits": base64}}                    # float32 little-endian [steps, names]: headroom in bits

``gradviz.open`` gives the records back as ``run.headroom`` and shows them as the live view did (the
series of the parameters kept). A ``headroom.json`` that cannot be read or fails its checks is left out,
and the view and ``repr`` say so. Adding it did not change the format version.

Records are little-endian, unpadded, of a fixed size per file (P = ``len(names)``, columns in that order)::

    grads.bin    int64 step | uint8[P] state | float32[P] grad_norm                    | uint32 crc32
    weights.bin  int64 step | float32[P] param_norm | float32[P] update_ratio          | uint32 crc32

``step`` counts optimizer steps from 0 at ``watch()``; ``state`` is a :class:`~gradviz.GradState`
(0 ``.grad`` was None, 1 exactly zero, 2 finite, 3 NaN/Inf); a norm is NaN where it has no value;
``crc32`` is ``zlib.crc32`` of the record's bytes before it. A ``grads.bin`` record with step -1 (state and
norms zero) marks a run that closed cleanly. Every recorded step is kept (no downsampling on disk): 5 bytes
per parameter per step plus 12 per record; a weight step adds 8 bytes per parameter plus 12.

Crash safety. The writer appends each record with one ``write`` as it is recorded (a reader sees it at
once; a killed process loses nothing the kernel already has) and ``fsync``s every ``flush_secs`` seconds
and on close, so a machine crash loses at most the steps of the last interval. A reader takes whole
records only; it drops a trailing partial record and any record whose crc32 does not match (torn by a
crash, or the zero-filled tail a power loss can leave), so a file cut anywhere still reads up to its last
intact record. It takes only records the writer could have written: a step in [0, 2**48) or the end
record byte for byte, and no float below zero (NOTE [a record gradviz wrote] in gradviz/runlog/_scan.py).
A record that fails its check at the very end of a file that is still being written is read again on
the next refresh. Bytes inserted into or cut out of the middle of a file are skipped: the
reader finds the next intact record after them and counts what it skipped (``gradviz/runlog/_reader.py``).

Write errors. A write that fails (a full disk, a quota, a directory made read-only) never stops the
training: the writer warns once and stops writing records (what it wrote before stays readable); a
``graph.json`` (or ``forensics.json``, ``headroom.json``) that cannot be written is left out (warned once)
and the records go on. No temporary file is left behind.

Logs written by gradviz 0.1 have this same format and read unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gradviz.records import GradState

__all__ = [
    "END_STEP",
    "FORENSICS",
    "FORMAT",
    "GRADS",
    "GRAPH",
    "HEADER",
    "HEADROOM",
    "MAX_STEP",
    "NONFINITE",
    "VERSION",
    "WEIGHTS",
    "grads_dtype",
    "rank_dir",
    "weights_dtype",
]

FORMAT = "gradviz-run"
VERSION = 1
HEADER = "header.json"
GRAPH = "graph.json"
FORENSICS = "forensics.json"
HEADROOM = "headroom.json"
GRADS = "grads.bin"
WEIGHTS = "weights.bin"
END_STEP = -1
MAX_STEP = 1 << 48  # steps are below this (a reader takes no record with a larger one)
NONFINITE = int(GradState.nonfinite)


def grads_dtype(p: int) -> np.dtype:
    """numpy layout of one ``grads.bin`` record for ``p`` parameters."""
    return np.dtype([("step", "<i8"), ("state", "u1", (p,)), ("grad_norm", "<f4", (p,)), ("crc", "<u4")])


def weights_dtype(p: int) -> np.dtype:
    """numpy layout of one ``weights.bin`` record for ``p`` parameters."""
    return np.dtype(
        [("step", "<i8"), ("param_norm", "<f4", (p,)), ("update_ratio", "<f4", (p,)), ("crc", "<u4")]
    )


def rank_dir(log_dir: str | os.PathLike[str], rank: int) -> Path:
    """Where ``rank`` writes: ``log_dir`` itself for rank 0, ``log_dir/rank<r>`` for the others."""
    return Path(log_dir) if rank == 0 else Path(log_dir) / f"rank{rank}"
