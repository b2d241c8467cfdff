"""The command line: every command end to end, and errors that say what to fix."""

import subprocess
import sys

import numpy as np
import pytest

from tinyae.cli import DEMOS, build_parser, main


@pytest.fixture(autouse=True)
def restore_backend():
    # --backend sets the global backend; give the next tests the one they had.
    from tinyae import backend
    previous = backend._State.current
    yield
    backend._State.current = previous


@pytest.fixture
def data(tmp_path):
    X = np.random.default_rng(0).random((120, 10))
    path = tmp_path / "X.npy"
    np.save(path, X)
    return X, path


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("demo", "train", "encode", "decode", "gradcheck"):
        assert command in out


def test_demo_defaults_to_spectra():
    args = build_parser().parse_args(["demo"])
    assert args.name == "spectra" and set(DEMOS) >= {"spectra", "ae_vs_pca", "sparse", "denoising", "vae"}


def test_train_encode_decode_round_trip(tmp_path, data, capsys):
    X, path = data
    model = tmp_path / "m.npz"
    assert main(["--backend", "numpy", "train", str(path), "--n-components", "3", "--hidden", "8",
                 "--epochs", "3", "--out", str(model), "--plots", str(tmp_path / "plots"), "--verbose", "0"]) == 0
    assert model.stat().st_size > 0 and (tmp_path / "plots" / "loss_curves.png").stat().st_size > 0
    codes, recon = tmp_path / "c.npy", tmp_path / "r.npy"
    assert main(["encode", str(model), str(path), "--out", str(codes)]) == 0
    assert main(["decode", str(model), str(codes), "--out", str(recon)]) == 0
    C, R = np.load(codes), np.load(recon)
    assert C.shape == (120, 3) and R.shape == X.shape and np.isfinite(R).all()
    # The CLI's model is the estimator's: encoding again gives the same codes.
    from tinyae.checkpoint import load
    np.testing.assert_allclose(load(model).transform(X), C)


def test_train_from_csv_with_config_and_vae(tmp_path, data):
    X, _ = data
    csv = tmp_path / "X.csv"
    np.savetxt(csv, X, delimiter=",")
    config = tmp_path / "cfg.json"
    config.write_text('{"n_components": 2, "hidden_sizes": [6], "epochs": 2}')
    out = tmp_path / "vae.npz"
    assert main(["train", str(csv), "--config", str(config), "--vae", "--out", str(out), "--verbose", "0"]) == 0
    from tinyae.checkpoint import load
    est = load(out)
    assert type(est).__name__ == "VariationalAutoencoder" and est.n_components == 2 and est.n_iter_ == 2


@pytest.mark.parametrize("argv, message", [
    (["train", "missing.npy"], "does not exist"),
    (["train", "{data}", "--n-components", "0"], "n_components"),
    (["train", "{data}", "--loss", "bce", "--output-activation", "linear"], "loss"),
    (["train", "{data}", "--config", "missing.json"], "--config"),
    (["train", "{data}", "--vae", "--noise", "masking:0.3"], "--noise"),
    (["encode", "missing.npz", "{data}", "--out", "c.npy"], "model"),
    (["encode", "{bad_model}", "{data}", "--out", "c.npy"], "checkpoint"),
])
def test_errors_exit_2_with_a_message_and_no_traceback(tmp_path, data, capsys, argv, message):
    _, path = data
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    argv = [a.format(data=path, bad_model=bad) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err and "Traceback" not in err


def test_bad_flag_values_are_argparse_errors(data, capsys):
    _, path = data
    assert main(["train", str(path), "--hidden", "8,x"]) == 2
    assert "comma-separated integers" in capsys.readouterr().err


def test_unknown_backend_and_unavailable_cupy(capsys):
    assert main(["--backend", "tpu", "gradcheck"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    try:
        import cupy  # noqa: F401
    except ImportError:
        assert main(["--backend", "cupy", "gradcheck"]) == 2
        assert "not available" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_gradcheck_self_test_passes(backend, capsys):
    assert main(["--backend", backend, "gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and f"backend {backend!r}" in out


def test_python_dash_m_and_console_script_run():
    result = subprocess.run([sys.executable, "-m", "tinyae", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "demo" in result.stdout
