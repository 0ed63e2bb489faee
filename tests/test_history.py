"""History (plain per-step data of gradviz.watch) and its bounded StepBuffer."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from gradviz._history import FORMAT_VERSION, GradState, History, StepBuffer

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
