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


def test_lambda_star_prints_the_prediction_without_torch(capsys):
    import subprocess
    import sys

    code = ("import sys; from fedtheory.cli import main; "
            "rc = main(['lambda-star', '--n', '20', '--f', '2', '--m', '20', '--sigma2', '1', '--heterogeneity', '0.09', "
            "'--epsilon', '1', '--clip', '2']); print('torch' in sys.modules); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("λ* = ") and "without privacy" in out and out.strip().endswith("False")
    from fedtheory.theory.private_personalization import lambda_star_private_mean, release_noise2
    from fedtheory.theory.robust_aggregation import kappa_of

    expected = lambda_star_private_mean(sigma2=1.0, m=20, n=20, f=2, kappa=kappa_of("nnm+trimmed_mean", 20, 2),
                                        bias2=0.09, spread2=0.09,
                                        noise2=release_noise2(1.0, delta=1e-5, clip=2.0, m=20, dim=1))
    assert f"λ* = {float(expected):.4f}" in out
    assert main(["lambda-star", "--n", "20", "--m", "20", "--sigma2", "1", "--heterogeneity", "0.1", "--epsilon", "1"]) == 2
    assert "clip" in capsys.readouterr().err


def test_model_path_errors_are_clear_and_come_before_anything_runs(tmp_path, capsys):
    pytest.importorskip("peft")
    out = tmp_path / "out"
    missing = tmp_path / "no_such_checkpoint"
    assert main(["validate", "full-model.coupling", "--model", str(missing), "--out", str(out), "--no-progress"]) == 2
    assert f"{missing} is not a directory" in capsys.readouterr().err
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text('{"model_type": "gpt2", "num_hidden_layers": 2}')
    assert main(["validate", "full-model.references", "--model", str(tmp_path / "ckpt"), "--out", str(out),
                 "--no-progress"]) == 2
    assert "model_type 'gpt2'" in capsys.readouterr().err
    assert main(["validate", "la-lora.filter_statistics", "--model", str(tmp_path), "--out", str(out)]) == 2
    assert "--model applies to the claims that run a transformer encoder" in capsys.readouterr().err
    from fedtheory.validation.harness.store import ResultsStore

    if (out / "results.sqlite").exists():  # refused at planning: no unit ran
        with ResultsStore(out / "results.sqlite", write=False) as st:
            assert st.count_units() == 0
