"""History (plain per-step data of gradviz.watch) and its bounded StepBuffer."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from gradviz.records import FORMAT_VERSION, GradState, History, StepBuffer

NAMES = ["enc.weight", "enc.bias", "héad.wéight"]


def _row(value: float, state: GradState = GradState.finite) -> tuple[np.ndarray, np.ndarray]:
    return np.full(3, value, np.float32), np.full(3, state, np.uint8)


def _history(first_nonfinite: tuple[int, str] | None = None) -> History:
    rng = np.random.default_rng(0)
    grad = rng.random((4, 3)).astype(np.float32)
    grad[1, 0] = np.nan  # a None gradient ...
    grad[2, 1] = np.nan  # ... and a NaN gradient: told apart by state
    state = np.full((4, 3), GradState.finite, np.uint8)
    state[1, 0] = GradState.none
    state[2, 1] = GradState.nonfinite
    state[3, 2] = GradState.zero
    return History(
        steps=[0, 10, 20, 30],
        names=NAMES,
        grad_norm=grad,
        param_norm=rng.random((4, 3)),
        update_ratio=np.full((4, 3), np.nan),
        state=state,
        first_nonfinite=first_nonfinite,
        every=10,
        weights_every=5,
    )


def test_fields_are_coerced_to_their_dtypes() -> None:
    h = _history()
    assert h.steps.dtype == np.int64 and h.state.dtype == np.uint8
    assert h.grad_norm.dtype == h.param_norm.dtype == h.update_ratio.dtype == np.float32
    assert h.grad_norm.shape == (4, 3) and len(h) == 4
    assert h.index("enc.bias") == 1
    with pytest.raises(KeyError, match="not a watched parameter"):
        h.index("nope")


@pytest.mark.parametrize("first", [None, (20, "enc.bias")])
def test_save_and_load_round_trip(tmp_path, first) -> None:
    h = _history(first)
    path = tmp_path / "run.history"  # any name: written exactly there, numpy would append .npz
    h.save(path)
    assert path.exists() and not (tmp_path / "run.history.npz").exists()
    back = History.load(path)
    assert back.names == NAMES and back.first_nonfinite == first
    assert back.every == 10 and back.weights_every == 5 and back.stride == 1
    for key in ("steps", "grad_norm", "param_norm", "update_ratio", "state"):
        np.testing.assert_array_equal(getattr(back, key), getattr(h, key))
    assert back.state[1, 0] == GradState.none and back.state[2, 1] == GradState.nonfinite


def test_saved_file_holds_no_pickled_object(tmp_path) -> None:
    path = tmp_path / "h.npz"
    _history().save(path)
    with np.load(path, allow_pickle=False) as data:
        assert int(data["format_version"]) == FORMAT_VERSION
        assert all(data[key].dtype != object for key in data.files)
    with zipfile.ZipFile(path) as z:
        assert all(name.endswith(".npy") for name in z.namelist())


def test_empty_history_round_trips(tmp_path) -> None:
    h = History.empty(["a", "b"])
    h.save(tmp_path / "e.npz")
    back = History.load(tmp_path / "e.npz")
    assert len(back) == 0 and back.grad_norm.shape == (0, 2) and back.names == ["a", "b"]
    assert back.weights_every is None


def test_load_refuses_other_files_and_versions(tmp_path) -> None:
    np.savez(tmp_path / "other.npz", x=np.arange(3))
    with pytest.raises(ValueError, match="not a gradviz history"):
        History.load(tmp_path / "other.npz")
    h = _history()
    h.save(tmp_path / "h.npz")
    with np.load(tmp_path / "h.npz") as data:
        arrays = dict(data)
    arrays["format_version"] = np.int64(FORMAT_VERSION + 1)
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(ValueError, match=f"found format {FORMAT_VERSION + 1}"):
        History.load(tmp_path / "future.npz")


def test_repr_names_the_first_nonfinite() -> None:
    text = repr(_history((20, "enc.bias")))
    assert "4 steps x 3 parameters" in text and "step 20 enc.bias" in text


def test_buffer_rows_and_unmeasured_weights_are_nan() -> None:
    buf = StepBuffer(NAMES, max_steps=None)
    grad, state = _row(1.0)
    buf.append(0, grad, state)
    buf.append(1, grad, state, np.full(3, 2.0, np.float32), np.full(3, 0.5, np.float32))
    h = buf.history()
    np.testing.assert_array_equal(h.steps, [0, 1])
    assert np.isnan(h.param_norm[0]).all() and np.isnan(h.update_ratio[0]).all()
    np.testing.assert_array_equal(h.param_norm[1], [2, 2, 2])
    np.testing.assert_array_equal(h.update_ratio[1], [0.5, 0.5, 0.5])


def test_buffer_without_limit_keeps_every_row() -> None:
    buf = StepBuffer(NAMES, max_steps=None)
    for step in range(300):
        buf.append(step, *_row(step))
    h = buf.history()
    np.testing.assert_array_equal(h.steps, np.arange(300))
    np.testing.assert_array_equal(h.grad_norm[:, 0], np.arange(300))


@pytest.mark.parametrize("max_steps", [2, 7, 8, 100])
def test_buffer_memory_is_bounded_and_spans_the_run(max_steps) -> None:
    buf = StepBuffer(NAMES, max_steps=max_steps, every=3)
    total = 1000
    for i in range(total):
        buf.append(3 * i, *_row(i))
        assert buf.n <= max_steps
        assert len(buf._steps) <= max_steps  # never allocated beyond the limit
    h = buf.history()
    assert 1 <= len(h) <= max_steps and h.stride & (h.stride - 1) == 0  # a power of two
    assert h.steps[0] == 0
    np.testing.assert_array_equal(h.steps, 3 * h.stride * np.arange(len(h)))  # evenly spaced rows
    np.testing.assert_array_equal(h.grad_norm[:, 1], h.steps / 3)  # rows still match their steps
    assert h.steps[-1] > 3 * total - 3 * 2 * h.stride  # up to date
    assert not np.isnan(h.grad_norm).any()


def test_first_nonfinite_survives_downsampling() -> None:
    buf = StepBuffer(NAMES, max_steps=4)
    for step in range(100):
        state = GradState.nonfinite if step in (5, 9) else GradState.finite
        grad, states = _row(np.nan if step in (5, 9) else 1.0)
        states[:] = GradState.finite
        states[2] = state  # only the third parameter goes bad
        buf.append(step, grad, states)
    h = buf.history()
    assert 5 not in h.steps.tolist()  # the row itself was dropped ...
    assert h.first_nonfinite == (5, "héad.wéight")  # ... the event was not


@pytest.mark.parametrize("max_steps", [None, 2, 5, 8, 64])
def test_extend_keeps_the_rows_append_keeps(max_steps) -> None:
    """Rows offered in batches of any size (as gradviz.open reads them) end up as rows offered one by one."""
    rng = np.random.default_rng(max_steps or 0)
    total = 700
    grad = rng.random((total, 3)).astype(np.float32)
    state = np.full((total, 3), GradState.finite, np.uint8)
    state[[9, 300], [2, 0]] = GradState.nonfinite
    weighed = np.arange(total) % 7 == 0
    param = np.where(weighed[:, None], rng.random((total, 3)), np.nan).astype(np.float32)
    one, many = StepBuffer(NAMES, max_steps, every=2), StepBuffer(NAMES, max_steps, every=2)
    for i in range(total):
        one.append(
            2 * i, grad[i], state[i], param[i] if weighed[i] else None, param[i] if weighed[i] else None
        )
    start = 0
    while start < total:
        end = min(total, start + int(rng.integers(0, 90)))
        many.extend(
            2 * np.arange(start, end), grad[start:end], state[start:end], param[start:end], param[start:end]
        )
        start = end
    a, b = one.history(), many.history()
    assert many.seen == one.seen == total and many.stride == one.stride
    assert a.first_nonfinite == b.first_nonfinite == (18, "héad.wéight")
    for key in ("steps", "grad_norm", "state", "param_norm", "update_ratio"):
        np.testing.assert_array_equal(getattr(b, key), getattr(a, key))
    if max_steps is not None:
        assert len(many._steps) <= max_steps


def test_reserve_allocates_once_and_changes_no_row() -> None:
    buf = StepBuffer(NAMES, None)
    buf.extend(np.arange(10), np.ones((10, 3), np.float32), np.full((10, 3), 2, np.uint8))
    buf.reserve(5000)
    capacity = len(buf._steps)
    assert capacity >= 5010
    buf.extend(np.arange(10, 5010), np.ones((5000, 3), np.float32), np.full((5000, 3), 2, np.uint8))
    assert len(buf._steps) == capacity
    np.testing.assert_array_equal(buf.history().steps, np.arange(5010))


def _npy(shape: tuple[int, ...], dtype: str, data: bytes = b"") -> bytes:
    """A .npy file whose header claims ``shape`` (the data may be shorter: what a crafted file does)."""
    import io

    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    )
    return out.getvalue() + data


def _archive(path, **members: bytes) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(f"{name}.npy", data)


def test_load_refuses_a_zip_bomb_before_allocating(tmp_path) -> None:
    import tracemalloc

    h = _history()
    h.save(tmp_path / "h.npz")
    with zipfile.ZipFile(tmp_path / "h.npz") as z:
        members = {name[:-4]: z.read(name) for name in z.namelist()}
    # the header claims 600,000 steps x 2,000 parameters of float32: 4.8 GB from a few hundred bytes
    members["grad_norm"] = _npy((600_000, 2_000), "<f4")
    _archive(tmp_path / "claims.npz", **members)
    # a real one: 64 MB of zeros, 64 KB compressed
    members["grad_norm"] = _npy((4_000_000, 4), "<f4", bytes(64_000_000))
    _archive(tmp_path / "bomb.npz", **members)
    assert (tmp_path / "bomb.npz").stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"more than 1,073,741,824 bytes .*'grad_norm\.npy' alone"):
            History.load(tmp_path / "claims.npz")
        with pytest.raises(ValueError, match="more than 16,000,000 bytes"):
            History.load(tmp_path / "bomb.npz", max_bytes=16_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # nothing near the claimed sizes was allocated
    assert len(History.load(tmp_path / "h.npz", max_bytes=10_000)) == 4  # a real history is small


@pytest.mark.parametrize(
    ("label", "change", "message"),
    [
        ("not a zip", None, "not a readable gradviz history"),
        ("no names", {"names": None}, "no names array"),
        ("steps 2-d", {"steps": np.zeros((2, 2), np.int64)}, "steps as a 1-d array of int"),
        ("names numbers", {"names": np.arange(3)}, "names as a 1-d array of str"),
        (
            "wrong shape",
            {"grad_norm": np.zeros((3, 3), np.float32)},
            r"grad_norm should be a \[steps, names\]",
        ),
        ("text norms", {"param_norm": np.full((4, 3), "x")}, "param_norm should be"),
        ("every as text", {"every": np.str_("10")}, "every should be one int"),
        ("stride array", {"stride": np.arange(2)}, "stride should be one int"),
        ("version text", {"format_version": np.str_("1")}, "format_version should be one int"),
        (
            "name list",
            {"first_nonfinite_name": np.array(["a", "b"])},
            "first_nonfinite_name should be one str",
        ),
    ],
)
def test_load_says_what_is_wrong_with_an_archive(tmp_path, label, change, message) -> None:
    path = tmp_path / "h.npz"
    if change is None:
        path.write_bytes(b"PK\x03\x04 not really a zip")
    else:
        _history().save(path)
        with np.load(path) as data:
            arrays = dict(data)
        for key, value in change.items():
            if value is None:
                del arrays[key]
            else:
                arrays[key] = value
        np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as info:
        History.load(path)
    assert type(info.value) is ValueError
