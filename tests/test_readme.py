"""The README's commands and example are the ones that actually work."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def fenced_blocks(text, language):
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def test_ci_runs_exactly_the_readme_test_command():
    after = README.split("**Run the tests:**", 1)
    assert len(after) == 2, "README has no '**Run the tests:**' section"
    blocks = fenced_blocks(after[1], "bash")
    assert blocks, "no bash block after '**Run the tests:**'"
    command = blocks[0].strip()
    assert command and "\n" not in command and "pytest" in command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert command in ci_lines, f".ci/run does not run {command!r}"


def test_readme_python_example_runs():
    blocks = fenced_blocks(README, "python")
    assert blocks, "README has no python example"
    result = subprocess.run(
        [sys.executable, "-c", blocks[0]], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "W: param (4, 2) float64" in result.stdout  # draw_graph's output, the example's last line


def test_readme_estimator_example_runs(tmp_path):
    pytest = __import__("pytest")
    pytest.importorskip("sklearn")
    blocks = fenced_blocks(README, "python")
    assert len(blocks) >= 2, "README has no estimator example"
    script = blocks[1] + "\nassert codes.shape == (1797, 2) and X_hat.shape == (1797, 64)\n"
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "digits.npz").stat().st_size > 0
