"""Data larger than memory: fit, transform, score and the CLI stream minibatches
from an np.memmap, reading rows with pread (not through the mapping) and
checking each batch for NaN/inf as it is read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinyae as ta
from tinyae.backend import use_backend
from tinyae.base import validate_X
from tinyae.training import RowSubset, read_rows


def unit_data(n: int = 60, d: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 0.5 + 0.25 * np.tanh(rng.standard_normal((n, 2)) @ rng.standard_normal((2, d)))


def as_memmap(tmp_path, X: np.ndarray, name: str = "X.npy") -> np.memmap:
    np.save(tmp_path / name, X)
    out = np.load(tmp_path / name, mmap_mode="r")
    assert isinstance(out, np.memmap)
    return out


def small_ae(**kwargs) -> ta.Autoencoder:
    params = dict(n_components=2, hidden_sizes=(4,), epochs=3, batch_size=16, random_state=0)
    params.update(kwargs)
    return ta.Autoencoder(**params)


# -- read_rows: the same rows as indexing -------------------------------------------------------

INDEXES = [slice(0, 7), slice(5, 6), slice(10, 40), np.array([0]), np.array([3, 4, 5, 9, 10, 39]),
           np.array([39, 0, 12, 13]), np.arange(40), np.array([], dtype=np.int64)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8])
@pytest.mark.parametrize("offset", [0, 1, 123, 4096, 65537])
def test_read_rows_equals_indexing(tmp_path, dtype, offset):
    path = tmp_path / "raw.bin"
    X = (np.arange(40 * 7).reshape(40, 7) % 250).astype(dtype)
    with open(path, "wb") as f:
        f.write(b"\x07" * offset)
        f.write(X.tobytes())
    M = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(40, 7))
    for idx in INDEXES:
        got = read_rows(M, idx)
        assert type(got) is np.ndarray and got.dtype == dtype
        assert np.array_equal(got, X[idx])
    view = M[11:30]  # a view of a memmap starts elsewhere in the file
    assert isinstance(view, np.memmap)
    for idx in (slice(0, 19), np.array([0, 1, 2, 17, 18]), slice(4, 5)):
        assert np.array_equal(read_rows(view, idx), X[11:30][idx])


def test_read_rows_sees_writes_to_a_shared_map_and_falls_back_otherwise(tmp_path):
    X = unit_data(n=20)
    np.save(tmp_path / "X.npy", X)
    shared = np.load(tmp_path / "X.npy", mmap_mode="r+")
    shared[3, 1] = 42.0  # MAP_SHARED: the file's pages hold it at once
    assert read_rows(shared, np.array([3]))[0, 1] == 42.0
    private = np.load(tmp_path / "X.npy", mmap_mode="c")
    private[4, 2] = -7.0  # copy-on-write: only the mapping has it, so read through the mapping
    assert read_rows(private, np.array([4]))[0, 2] == -7.0
    fortran = np.memmap(tmp_path / "f.bin", dtype=np.float64, mode="w+", shape=(20, 5), order="F")
    fortran[:] = X
    assert np.array_equal(read_rows(fortran, np.array([2, 3, 19])), X[[2, 3, 19]])
    columns = np.load(tmp_path / "X.npy", mmap_mode="r")[:, 1:3]  # not C-contiguous
    assert np.array_equal(read_rows(columns, slice(0, 20)), np.load(tmp_path / "X.npy")[:, 1:3])


def test_row_subset_reads_the_selected_rows(tmp_path):
    X = unit_data(n=30)
    M = as_memmap(tmp_path, X)
    rows = np.array([1, 2, 3, 10, 20, 29])
    sub = RowSubset(M, rows)
    assert len(sub) == 6 and sub.shape == (6, X.shape[1]) and sub.dtype == X.dtype
    assert np.array_equal(sub[np.array([0, 5])], X[[1, 29]])
    assert np.array_equal(read_rows(sub, slice(1, 4)), X[[2, 3, 10]])


# -- validate_X does not load a memmap ----------------------------------------------------------

def test_validate_x_returns_a_streamed_memmap_unread(tmp_path):
    X = unit_data()
    X[7, 2] = np.nan  # not scanned here: found when its batch is read
    M = as_memmap(tmp_path, X.astype(np.float32))
    assert validate_X(M, streamed=True) is M
    with pytest.raises(ValueError, match="expected finite values"):
        validate_X(M)  # without streaming a memmap is checked like any array


# -- fit/transform on a memmap equal the in-memory results ---------------------------------------

@pytest.mark.parametrize("stored", [np.float64, np.float32, np.int16])
def test_estimator_on_memmap_equals_in_memory(tmp_path, stored):
    X = (unit_data() * 1000).astype(stored)
    M = as_memmap(tmp_path, X)
    with use_backend("numpy"):
        a = small_ae(noise=("masking", 0.2)).fit(X)
        b = small_ae(noise=("masking", 0.2)).fit(M)
        assert a.history_.history == b.history_.history
        sa, sb = a.model_.state_dict(), b.model_.state_dict()
        assert all(np.array_equal(sa[k], sb[k]) for k in sa)
        assert np.array_equal(a.transform(X), b.transform(M))
        assert a.score(X) == b.score(M)
        assert np.array_equal(a.inverse_transform(a.transform(X)), b.inverse_transform(as_memmap(
            tmp_path, b.transform(M), "codes.npy")))


def test_early_stopping_split_of_a_memmap_is_not_copied(tmp_path, monkeypatch):
    X = unit_data(n=80)
    M = as_memmap(tmp_path, X)
    import tinyae.estimators as est_module

    seen = []
    real = est_module.fit_module

    def spy(model, X, **kwargs):
        seen.append((type(X), type(kwargs.get("validation_data"))))
        return real(model, X, **kwargs)

    monkeypatch.setattr(est_module, "fit_module", spy)
    with use_backend("numpy"):
        a = small_ae(early_stopping=True, n_iter_no_change=2, epochs=6).fit(X)
        b = small_ae(early_stopping=True, n_iter_no_change=2, epochs=6).fit(M)
    assert seen[1] == (RowSubset, RowSubset)
    assert a.history_.history == b.history_.history
    sa, sb = a.model_.state_dict(), b.model_.state_dict()
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)


def test_vae_on_memmap(tmp_path):
    X = unit_data()
    M = as_memmap(tmp_path, X)
    with use_backend("numpy"):
        a = ta.VariationalAutoencoder(n_components=2, hidden_sizes=(4,), epochs=2, batch_size=16, random_state=0)
        b = ta.VariationalAutoencoder(n_components=2, hidden_sizes=(4,), epochs=2, batch_size=16, random_state=0)
        assert np.array_equal(a.fit(X).transform(X), b.fit(M).transform(M))


# -- streamed checks: NaN/inf and the BCE range, naming the rows ---------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_row_in_a_memmap_is_caught_when_read(tmp_path, bad):
    X = unit_data(n=60)
    X[37, 3] = bad
    M = as_memmap(tmp_path, X)
    with pytest.raises(ValueError, match=r"^X: expected finite values, got 1 NaN or infinity entries in the "
                                         r"minibatch of 16 rows \(row indices \d+\.\.\d+\); the first at row 37, "
                                         r"column 3\. A memmap is checked as its rows are read"):
        small_ae().fit(M)
    fitted = small_ae().fit(unit_data(n=60))
    with pytest.raises(ValueError, match=r"^X: expected finite values, got NaN or infinity in row 37 "
                                         r"\(in the minibatch of rows 0\.\.59\)"):
        fitted.transform(M)
    with pytest.raises(ValueError, match=r"the first at row 37, column 3"):
        fitted.score(M)
    with pytest.raises(ValueError, match=r"the first at row 37"):
        fitted.resume_fit(M, epochs=1)
    with pytest.raises(ValueError, match=r"^validation_data: .*the first at row 37"):
        small_ae().fit(unit_data(n=60), validation_data=M)


def test_non_finite_codes_in_a_memmap_are_caught_by_inverse_transform(tmp_path):
    fitted = small_ae().fit(unit_data())
    codes = fitted.transform(unit_data())
    codes[5, 0] = np.nan
    with pytest.raises(ValueError, match=r"^codes: expected finite values, got NaN or infinity in row 5"):
        fitted.inverse_transform(as_memmap(tmp_path, codes, "codes.npy"))


def test_bce_range_is_checked_on_streamed_batches(tmp_path):
    X = unit_data(n=40)
    X[12, 0] = 1.5
    M = as_memmap(tmp_path, X)
    bce = dict(output_activation="sigmoid", loss="bce")
    with pytest.raises(ValueError, match=r"X: loss='bce' expects values in \[0, 1\], got range .* in the minibatch"):
        small_ae(**bce).fit(M)
    fitted = small_ae(**bce).fit(unit_data(n=40))
    assert fitted.transform(M).shape == (40, 2)  # encoding only: no target, no range check
    with pytest.raises(ValueError, match="loss='bce' expects values in"):
        fitted.score(M)


# -- bounded memory: a file several times larger than the memory used ----------------------------

CHILD = textwrap.dedent("""
    import json, os, re, resource, sys, time
    import numpy as np

    path, out_dir, n, d = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    t0 = time.time()
    with open(path, "wb") as f:  # written in chunks with plain writes: nothing is mapped
        header = {"descr": "<f4", "fortran_order": False, "shape": (n, d)}
        np.lib.format.write_array_header_1_0(f, header)
        rng = np.random.default_rng(0)
        for start in range(0, n, 50_000):
            f.write(rng.random((min(50_000, n - start), d), dtype=np.float32).tobytes())
    timings = {"write": time.time() - t0}

    from tinyae.cli import main
    import tinyae

    def status_mb(key):
        return int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) / 1024

    def reset_peak():
        try:  # Linux >= 4.0: writing 5 resets the peak RSS (VmHWM) to the current RSS
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    growth = {}
    def phase(name, fn):
        before = status_mb("VmRSS")
        exact = reset_peak()
        t0 = time.time()
        result = fn()
        timings[name] = time.time() - t0
        peak = status_mb("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        growth[name] = peak - before
        return result

    X = np.load(path, mmap_mode="r")
    # Warm up: imports and compiled kernels, so the phases measure the data only.
    tinyae.Autoencoder(n_components=2, epochs=1, batch_size=256, dtype="float32", random_state=0).fit(np.asarray(X[:512]))
    model, codes = os.path.join(out_dir, "model.npz"), os.path.join(out_dir, "codes.npy")
    config = os.path.join(out_dir, "config.json")
    with open(config, "w") as f:
        json.dump({"dtype": "float32"}, f)
    rc_train = phase("train", lambda: main(["train", path, "--config", config, "--n-components", "2", "--epochs",
                                             "1", "--batch-size", "4096", "--verbose", "0", "--out", model]))
    rc_encode = phase("encode", lambda: main(["encode", model, path, "--out", codes]))
    # Control: the same file read through the mapping shows up in the resident memory.
    phase("through_mapping", lambda: [float(X[s:s + 65536].sum()) for s in range(0, n, 65536)])
    C = np.load(codes, mmap_mode="r")
    print(json.dumps({"rc_train": rc_train, "rc_encode": rc_encode, "growth_mb": growth,
                      "file_mb": os.path.getsize(path) / 2 ** 20, "codes_shape": list(C.shape),
                      "codes_finite": bool(np.isfinite(C).all()), "seconds": timings}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/status and pread: Linux")
def test_cli_train_and_encode_stream_a_600_mb_memmap_in_bounded_memory(tmp_path):
    """`tinyae train` (1 epoch, batches of 4096 shuffled rows) and `tinyae encode` on a
    600 MB float32 .npy, in a fresh process: the peak resident memory grows by tens of
    MB, while reading the same file through the mapping grows it by the whole file."""
    n, d = 375_000, 400
    path = tmp_path / "big.npy"
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(tmp_path), str(n), str(d)],
                              capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        if path.exists():
            path.unlink()  # pytest keeps old tmp folders: do not leave 600 MB behind
    print(report)
    assert report["rc_train"] == 0 and report["rc_encode"] == 0
    assert report["file_mb"] > 570
    assert report["codes_shape"] == [n, 2] and report["codes_finite"]
    growth = report["growth_mb"]
    assert growth["through_mapping"] > 0.7 * report["file_mb"], report  # the measurement sees mapped pages
    assert growth["train"] < 100, report  # measured: 42 MB (a batch is 6.5 MB)
    assert growth["encode"] < 100, report  # measured: 2 MB (the codes are 6 MB)
