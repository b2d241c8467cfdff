"""The demos in tinyae.demos (quick runs): the files they write and their headline results.

Each quick run takes seconds. The digits-based demos are skipped without
scikit-learn, and must then fail with an ImportError that says what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMOS = ("ae_vs_pca", "sparse", "denoising", "vae")
FIGURES = {
    "ae_vs_pca": ["error_vs_code_size.png", "reconstructions_k2.png", "codes_2d.png", "loss_curves.png"],
    "sparse": ["filters_ufldl.png", "ufldl_training.png", "digits_accuracy.png", "digits_decoder_basis.png"],
    "denoising": ["denoising_digits.png", "denoising_spectra.png", "loss_curves.png"],
    "vae": ["prior_samples.png", "latent_manifold.png", "interpolation.png", "latent_means.png", "loss_curves.png"],
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def run_quick(name: str, out: Path, seed: int = 0) -> dict:
    pytest.importorskip("sklearn", reason="the demo uses scikit-learn's digits")
    return importlib.import_module(f"tinyae.demos.{name}").main(out_dir=out, quick=True, seed=seed)


def check_outputs(result: dict, out: Path, name: str) -> None:
    folder = out / name
    assert result["out_dir"] == str(folder)
    for figure in FIGURES[name]:
        path = folder / figure
        assert path.is_file() and path.stat().st_size > 2000, f"{figure} missing or empty"
        assert figure in result["figures"]
    stored = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert stored["demo"] == name and stored["quick"] is True and stored["seed"] == 0
    assert stored["tables"] and all(t["rows"] for t in stored["tables"])
    markdown = (folder / "results.md").read_text(encoding="utf-8")
    for table in stored["tables"]:
        assert f"### {table['title']}" in markdown
        assert "| " + " | ".join(table["columns"]) + " |" in markdown
    assert 0 < result["seconds"] < 120


def test_ae_vs_pca(tmp_path):
    r = run_quick("ae_vs_pca", tmp_path)
    check_outputs(r, tmp_path, "ae_vs_pca")
    assert r["sizes"][0] == 2
    ae, pca, lin = r["ae_mse"][0], r["pca_mse"][0], r["linear_ae_mse"][0]
    assert ae < 0.9 * pca, f"nonlinear AE {ae:.5f} should beat PCA {pca:.5f} at k=2"
    assert all(a < p for a, p in zip(r["ae_mse"], r["pca_mse"]))
    assert 0.97 < lin / pca < 1.03, f"linear AE {lin:.5f} should match PCA {pca:.5f} at k=2"
    assert r["linear_k2_subspace_captured"] > 0.99


def test_sparse(tmp_path):
    r = run_quick("sparse", tmp_path)
    check_outputs(r, tmp_path, "sparse")
    rho = r["rho"]
    assert rho / 2 < r["mean_activation"] < 2 * rho, r["mean_activation"]
    units = np.asarray(r["unit_mean_activation"])
    assert units.shape == (25,) and np.all((units > rho / 3) & (units < 3 * rho)), units
    # L-BFGS made real progress: below the loss of predicting every patch's mean (variance ~0.0122).
    assert r["lbfgs_reconstruction"] < 0.011
    for label, mean in r["digits_mean_activation"].items():
        target = 0.1 if "rho 0.1" in label else 0.05
        assert target / 2 < mean < 2 * target, (label, mean)
    for name, acc in r["accuracy"].items():
        assert all(0.5 < a <= 1.0 for a in acc["mean"]), (name, acc)  # chance is 0.1


def test_denoising(tmp_path):
    r = run_quick("denoising", tmp_path)
    check_outputs(r, tmp_path, "denoising")
    rows = [*r["digits"].items(), *r["spectra"].items()]
    assert len(rows) == 3
    for kind, m in rows:
        assert m["denoised"] < 0.8 * m["noisy"], (kind, m)
        assert m["denoised"] < m["plain_ae"], (kind, m)


def test_vae_via_cli(tmp_path, capsys):
    pytest.importorskip("sklearn", reason="the demo uses scikit-learn's digits")
    from tinyae.cli import main

    assert main(["demo", "vae", "--quick", "--out", str(tmp_path)]) == 0
    assert "ELBO" in capsys.readouterr().out
    r = json.loads((tmp_path / "vae" / "results.json").read_text(encoding="utf-8"))
    check_outputs(r, tmp_path, "vae")
    for split in ("train", "held-out"):
        t = r["terms"][split]
        assert all(math.isfinite(t[k]) for k in ("reconstruction", "kl", "elbo")), t
        assert t["kl"] > 0 and t["elbo"] < 0
        assert t["elbo"] == pytest.approx(-(t["reconstruction"] + t["kl"]))
    assert math.isfinite(r["elbo_test"]) and abs(r["elbo_test"] - r["terms"]["held-out"]["elbo"]) < 1.0


@pytest.mark.parametrize("name", DEMOS)
def test_without_sklearn_the_error_says_what_to_install(name, tmp_path, monkeypatch):
    for module in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")] + ["sklearn"]:
        monkeypatch.setitem(sys.modules, module, None)  # makes "import sklearn..." raise ImportError
    demo = importlib.import_module(f"tinyae.demos.{name}")
    with pytest.raises(ImportError, match=rf"tinyae demo {name}: .*scikit-learn.*pip install"):
        demo.main(out_dir=tmp_path, quick=True)


@pytest.mark.parametrize("name", DEMOS)
def test_script(name):
    spec = importlib.util.spec_from_file_location(f"_demo_script_{name}", ROOT / "demos" / f"{name}.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)  # defines parse_args; runs nothing (not __main__)
    args = script.parse_args(["--out", "somewhere", "--quick", "--seed", "3"])
    assert (args.out, args.quick, args.seed) == ("somewhere", True, 3)
    assert script.parse_args([]).quick is False
    assert f"python demos/{name}.py" in script.__doc__
