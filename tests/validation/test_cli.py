"""The `fedtheory` command as a user meets it."""

import pytest
import torch

from fedtheory.cli import main


def test_list_names_every_claim(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "byzantine.mean.exact_mse_f0" in out and "byzantine.classification.optimization_error_slope" in out


def test_unknown_selector_is_a_clear_error(capsys):
    assert main(["validate", "no_such_paper", "--no-progress"]) == 2
    assert "no claim or paper matches 'no_such_paper'" in capsys.readouterr().err


def test_report_without_results_is_a_clear_error(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path)]) == 2
    assert "run `fedtheory validate` first" in capsys.readouterr().err


def test_cuda_without_a_gpu_is_a_clear_error(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert main(["validate", "byzantine.mean.exact_mse_f0", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "--device cpu" in capsys.readouterr().err


def test_validate_one_claim_writes_report(tmp_path, capsys):
    code = main(["validate", "byzantine.mean.exact_mse_f0", "--seeds", "5", "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    assert (tmp_path / "REPORT.md").exists() and (tmp_path / "results.sqlite").exists()
    assert "byzantine.mean.exact_mse_f0" in capsys.readouterr().out
    assert main(["report", "--out", str(tmp_path)]) == 0
