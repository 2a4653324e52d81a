"""Benchmark: fedtheory against a peer library, ByzFL (PyPI ``byzfl==0.0.11``), same inputs, one run.

Every row computes the same thing with both libraries, checks the outputs agree to the stated
tolerance (:func:`check_equal`) and only then prints the times and their ratio (ByzFL / fedtheory:
above 1, fedtheory is faster). A row whose outputs differ stops the run with ``SystemExit``.

Rows (defaults; ``--quick`` shrinks them all for a smoke test):

1. **NNM∘trimmed mean, small** (n = 20, f = 3, d = 35, 10,000 sets). fedtheory:
   ``make_aggregator("nnm+trimmed_mean", f)`` on one float64 tensor (sets, n, d). ByzFL: ``NNM(f)``
   then ``TrMean(f)``, one set at a time as a user would loop, on numpy arrays and on torch tensors.
   Inputs: n − f honest vectors N(1, I) and f sign-flipping copies of minus their mean.
2. **The same at n = 600, f = 100, d = 1** (200 sets), fedtheory's default method: sorted windows,
   O(n log n) for d = 1.
3. **The same at n = 600, f = 100, d > 1** (50 sets), fedtheory's default method: exact distances up to
   d = ``NNM_EXACT_MAX_D`` (16), the Gram-matrix ranking above (d = 2, 5, 16, 35); then both methods forced
   at d = 5 and 35 (``--compare-d``), to show why the default switches (the f sign-flipping copies tie).
4. **Algorithm 1 on UCI phishing** (f = 3, m = 48, α = 3, sign flipping, 300 steps, seeds 0, 1, 2; 11 λ
   values, 17 honest clients). fedtheory: ``validation/papers/byzantine_classification.py``'s
   ``run_setting`` (``run_ipgd``, everything batched; its time includes loading the data, partitioning
   and measuring G², which the reference skips). Reference: the same algorithm as a plain loop over
   seeds, λ, clients and steps on the same task tensors (``make_federated_task`` as ``run_setting``
   calls it), closed-form logistic gradients, and ByzFL for every robust part: ``SignFlipping`` for the
   attack, ``ARC`` for the server clip, ``NNM``, ``TrMean``. fedtheory's ``server_clip`` clips the
   k = ⌊f(n − f)/(n − 2f)⌋ largest-norm inputs to the (k+1)-th largest norm (the authors' code);
   ByzFL's ``ARC(f')`` is the same rule with k = ⌊2f'(n − f')/n⌋, so the reference passes the f' that
   gives the same k (n = 20, f = 3: k = 3 from f' = 2; ``ARC(3)`` would clip 5). Where no f' gives k,
   it applies fedtheory's ``server_clip`` before ByzFL's NNM and says so.

Tolerances. Rows 1–3, numpy inputs: max |Δ| ≤ 1e-12 × max |x| (float64 on both sides; only the
summation order differs). Torch inputs: ByzFL casts every tensor to float32 (``check_vectors_type``
calls ``.float()``), so that column is checked at ``--tol-float32`` × max |x| against fedtheory's
float64 result: float32 rounding, plus neighbour sets that change where two distances lie within
float32 rounding of each other (at n > 25 ``torch.cdist`` takes the matrix-product formula, whose
error grows with ‖x‖²). Row 4 runs in float32 on both sides (``make_federated_task``'s dtype, and
ByzFL's cast): the same algorithm with a different summation order. The final models must agree to
``--tol-theta`` (1e-4) × max |θ|: rounding gives ~1e-7, and a rare NNM neighbour set that flips where
two distances tie to float32 rounding ~1e-5 (the largest seen), while a wrong rule does not pass
(ARC(3), clipping 5 inputs instead of 3, moves θ by 1e-3 to 4e-2 of max |θ|). The accuracy of each λ,
averaged over seeds and honest clients, must agree to ``--tol-acc`` (1e-4): each such mean counts
S · h · 512 test predictions (26,112 at the defaults, one prediction = 3.8e-5), so up to two net
predictions may cross the decision boundary where the two models differ by float32 rounding. The
accuracies are the weaker check (the wrong ARC(3) above leaves them equal to 1e-4): θ is the one with teeth.

Run: ``make bench-peers`` (``PEER_ARGS=--quick`` for the smoke test), or by hand from the repository
root: ``PYTHONPATH=bench/peer_stubs .venv-peers/bin/python -m bench.peers [--quick] [--rows 1 2 3 4]``.
ByzFL lives only in ``.venv-peers`` (see the Makefile); ``bench/peer_stubs`` holds a stand-in for the
torchvision that ``import byzfl`` needs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import time
from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np
import threadpoolctl
import torch
from bench.timing import best_time

from fedtheory.simulators.shared.aggregators import NNM_EXACT_MAX_D, make_aggregator, server_clip, server_clip_count

#: sizes per mode: rows 1–3 (n, f, d, sets) and row 4 (Algorithm 1)
SIZES: dict[str, dict[str, Any]] = {
    "full": dict(small=(20, 3, 35, 10_000), windows=(600, 100, 1, 200), pairwise_n=(600, 100),
                 pairwise_d=(2, 5, 16, 35), compare_d=(5, 35), pairwise_sets=50, ipgd_steps=300,
                 ipgd_seeds=(0, 1, 2), repeats=3),
    "quick": dict(small=(20, 3, 35, 300), windows=(600, 100, 1, 8), pairwise_n=(600, 100),
                  pairwise_d=(5, 35), compare_d=(5,), pairwise_sets=3, ipgd_steps=10, ipgd_seeds=(0,), repeats=1),
}
#: row 4's setting (the claims' base setting on phishing)
IPGD_SETTING = dict(dataset="phishing", f=3, m=48, alpha=3.0, attack="sign_flipping")


# --------------------------------------------------------------------------- checks and timing


def check_equal(row: str, ours: np.ndarray | torch.Tensor, theirs: np.ndarray | torch.Tensor, tol: float,
                what: str = "outputs") -> float:
    """Max |ours − theirs| of two arrays that must agree; stop the run when they do not.

    Parameters
    ----------
    row : str
        The row's name, for the message.
    ours, theirs : numpy.ndarray or torch.Tensor
        fedtheory's and the peer's results, of one shape (compared in float64).
    tol : float
        The largest absolute difference allowed (absolute: scale it to the inputs first).
    what : str
        What is compared, for the message.

    Returns
    -------
    float
        The max absolute difference, at most ``tol``.

    Raises
    ------
    SystemExit
        If the shapes differ, a value is not finite, or the difference exceeds ``tol``: a row whose
        outputs differ compares different computations, so it must not print a ratio.
    """
    a = torch.as_tensor(ours).detach().cpu().double().numpy()
    b = torch.as_tensor(theirs).detach().cpu().double().numpy()
    if a.shape != b.shape:
        raise SystemExit(f"{row}: {what} have shapes {a.shape} (fedtheory) and {b.shape} (ByzFL); no ratio printed")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise SystemExit(f"{row}: {what} hold non-finite values; no ratio printed")
    diff = float(np.abs(a - b).max()) if a.size else 0.0
    if not diff <= tol:
        raise SystemExit(f"{row}: fedtheory and ByzFL {what} differ: max |Δ| = {diff:.3e} > tolerance {tol:.3e}; "
                         "no ratio printed")
    return diff


def import_byzfl() -> ModuleType:
    """``import byzfl``, or stop with how to run the benchmark (it lives in ``.venv-peers`` only)."""
    try:
        import byzfl
    except ImportError as exc:
        raise SystemExit(f"bench.peers needs ByzFL ({exc}); run `make bench-peers`, or "
                         "`PYTHONPATH=bench/peer_stubs .venv-peers/bin/python -m bench.peers`") from exc
    return byzfl


# --------------------------------------------------------------------------- rows 1–3: one aggregation


def make_sets(sets: int, n: int, f: int, d: int, seed: int) -> np.ndarray:
    """Inputs (sets, n, d) in float64: n − f honest vectors N(1, I), then f copies of minus their mean.

    The f identical vectors tie in every distance; any neighbour set among ties mixes the same vectors.
    """
    rng = np.random.default_rng(seed)
    honest = 1.0 + rng.standard_normal((sets, n - f, d))
    byz = np.broadcast_to(-honest.mean(1, keepdims=True), (sets, f, d))
    return np.concatenate([honest, byz], axis=1)


def byzfl_loop(byzfl: ModuleType, x: Sequence, f: int) -> np.ndarray:
    """ByzFL's NNM then TrMean on each set of ``x`` in turn, as a user would call them; (sets, d) float64."""
    nnm, trmean = byzfl.NNM(f), byzfl.TrMean(f)
    return np.stack([np.asarray(trmean(nnm(xs)), dtype=np.float64) for xs in x])


def aggregation_row(byzfl: ModuleType, name: str, n: int, f: int, d: int, sets: int, method: str,
                    args: argparse.Namespace) -> dict[str, Any]:
    """Time and check one NNM∘trimmed-mean row; returns its table entries (after the checks passed)."""
    x = make_sets(sets, n, f, d, args.seed)
    xt = torch.from_numpy(x)
    params = {} if method == "auto" else {"method": method}
    ours_fn = make_aggregator("nnm+trimmed_mean", f, **params)
    ours_fn(xt[:2])  # warm-up
    t_ours, ours = best_time(lambda: ours_fn(xt), args.repeats)
    byzfl_loop(byzfl, x[:1], f), byzfl_loop(byzfl, xt[:1], f)  # warm-up
    t_np, theirs_np = best_time(lambda: byzfl_loop(byzfl, x, f), args.repeats)
    t_t, theirs_t = best_time(lambda: byzfl_loop(byzfl, xt, f), args.repeats)
    scale = float(np.abs(x).max())
    diff_np = check_equal(name, ours, theirs_np, args.tol_float64 * scale, "outputs (numpy inputs)")
    diff_t = check_equal(name, ours, theirs_t, args.tol_float32 * scale, "outputs (torch inputs, float32 in ByzFL)")
    us = 1e6 / sets
    return dict(row=name, n=n, f=f, d=d, sets=sets, method=method, ours=t_ours * us, numpy=t_np * us,
                torch=t_t * us, diff_np=diff_np / scale, diff_t=diff_t / scale)


#: the rows 1–3 table: column header, then one format per row
_HEAD = (f"{'row':<5}{'n':>4}{'f':>5}{'d':>4}{'sets':>7}  {'fedtheory':<17}{'µs/set':>9}  {'ByzFL numpy':>11}"
         f"{'×':>7}  {'ByzFL torch':>11}{'×':>7}  {'|Δ| numpy':>10}{'|Δ| torch':>10}")


def print_aggregation_header(args: argparse.Namespace) -> None:
    """The rows 1–3 table's title and header."""
    print(f"\nNNM∘trimmed mean, µs per set: fedtheory one batched call, ByzFL a loop over sets (both best of "
          f"{args.repeats}); × = ByzFL / fedtheory; max |Δ| relative to max |x| (numpy ≤ {args.tol_float64:.0e}, "
          f"torch ≤ {args.tol_float32:.0e}: ByzFL computes torch inputs in float32)")
    print(_HEAD)
    print("-" * len(_HEAD))


def print_aggregation_row(r: dict[str, Any]) -> None:
    """One checked row of the rows 1–3 table."""
    auto = "windows" if r["d"] == 1 else "exact" if r["d"] <= NNM_EXACT_MAX_D else "Gram"
    label = f"{auto} (auto)" if r["method"] == "auto" else f"{r['method']}, forced"
    print(f"{r['row']:<5}{r['n']:>4}{r['f']:>5}{r['d']:>4}{r['sets']:>7}  {label:<17}{r['ours']:>9.2f}  "
          f"{r['numpy']:>11.1f}{r['numpy'] / r['ours']:>6.1f}x  {r['torch']:>11.1f}{r['torch'] / r['ours']:>6.1f}x  "
          f"{r['diff_np']:>10.1e}{r['diff_t']:>10.1e}", flush=True)


# --------------------------------------------------------------------------- row 4: Algorithm 1


def arc_f_for(n: int, k: int) -> int | None:
    """The f' for which ByzFL's ``ARC(f')`` clips ``k`` of ``n`` inputs (its count ⌊2f'(n − f')/n⌋), if any."""
    for fp in range(n):
        if int((2 * fp / n) * (n - fp)) == k:  # ByzFL's expression, float rounding included
            return fp
    return None


def byzfl_server_clip(byzfl: ModuleType, n: int, f: int) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    """fedtheory's ``server_clip`` rule for n inputs and f Byzantine, through ByzFL's ARC where a count matches.

    Returns the clip and a line saying which one it is. ARC clips in place, so it gets a copy.
    """
    k = server_clip_count(n, f)
    fp = arc_f_for(n, k)
    if fp is None:
        return (lambda x: server_clip(x, f)), f"fedtheory's server_clip (no ARC(f') clips k = {k} of n = {n})"
    arc = byzfl.ARC(fp)
    return (lambda x: arc(x.clone())), f"ByzFL ARC(f'={fp}): clips k = {k} of n = {n}, as server_clip(f={f})"


def logreg_gradients(theta: torch.Tensor, X: torch.Tensor, onehot: torch.Tensor, l2: float) -> torch.Tensor:
    """Gradients (k, P) of k clients' mean cross-entropy + (l2/2)‖θ‖² at one model ``theta`` (P,).

    ``X`` (k, m, D), ``onehot`` (k, m, C); θ = [W (D·C, row-major D × C), b (C)], fedtheory's layout.
    """
    k, m, D = X.shape
    C = onehot.shape[-1]
    W, b = theta[: D * C].view(D, C), theta[D * C :]
    r = (torch.softmax(X @ W + b, -1) - onehot) / m  # (k, m, C)
    return torch.cat([(X.transpose(1, 2) @ r).flatten(1), r.sum(1)], 1) + l2 * theta


def reference_ipgd(byzfl: ModuleType, task: Any, cfg: Any, clip: Callable[[torch.Tensor], torch.Tensor]
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 1 as a plain loop with ByzFL's attack and aggregators: θ (S, Λ, h, P), accuracy (S, Λ, h).

    Each honest client's model depends only on its own past (its step uses every client's gradient
    at its own model), so the loop runs each (seed, λ, client) through all T steps in turn.
    """
    S, n, m, D = task.X.shape
    C, f, h = task.n_classes, task.f, task.h
    attack, nnm, trmean = byzfl.SignFlipping(), byzfl.NNM(f), byzfl.TrMean(f)
    P = (D + 1) * C
    theta = torch.zeros(S, len(cfg.lams), h, P, dtype=task.X.dtype)  # logistic regression starts at 0
    acc = torch.zeros(S, len(cfg.lams), h)
    for s in range(S):
        X, onehot = task.X[s, :h], torch.nn.functional.one_hot(task.Y[s, :h], C).to(task.X.dtype)
        for li, lam in enumerate(cfg.lams):
            for i in range(h):
                th = theta[s, li, i].clone()
                for _ in range(cfg.T):
                    grads = logreg_gradients(th, X, onehot, cfg.l2)  # (h, P): every honest client at θ_i
                    byz = attack(grads).expand(f, P)
                    robust = trmean(nnm(clip(torch.cat([grads, byz]))))
                    th = th - cfg.lr * ((1 - lam) * grads[i] + lam * robust)
                theta[s, li, i] = th
                W, b = th[: D * C].view(D, C), th[D * C :]
                acc[s, li, i] = ((task.X_test[s, i] @ W + b).argmax(-1) == task.Y_test[s, i]).float().mean()
    return theta, acc


def ipgd_row(byzfl: ModuleType, args: argparse.Namespace) -> None:
    """Row 4: time ``run_setting`` against the reference loop on the same task; check, then print."""
    from fedtheory.simulators.byzantine.personalized_gd import make_federated_task, run_ipgd
    from fedtheory.validation.papers import byzantine_classification as bc

    st, seeds = IPGD_SETTING, list(args.ipgd_seeds)
    cfg = bc._config(st["dataset"], st["attack"], args.ipgd_steps)
    clip, clip_line = byzfl_server_clip(byzfl, bc.N_CLIENTS, st["f"])

    t0 = time.perf_counter()
    ours = bc.run_setting(st["dataset"], st["f"], st["m"], st["alpha"], st["attack"], args.ipgd_steps, seeds)
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    tr, te = bc._load(st["dataset"])
    task = make_federated_task(tr.X, tr.y, te.X, te.y, n=bc.N_CLIENTS, f=st["f"], m=st["m"], alpha=st["alpha"],
                               seeds=seeds)
    theta_ref, acc_ref = reference_ipgd(byzfl, task, cfg, clip)
    t_ref = time.perf_counter() - t0

    # the final models, for the θ check (run_setting returns accuracies only): same task and config, untimed
    theta = run_ipgd(task, cfg, seeds=seeds).theta
    theta_tol = args.tol_theta * float(theta.abs().max())
    d_theta = check_equal("4", theta, theta_ref, theta_tol, "final models θ")
    d_acc = check_equal("4", ours["accuracy"].mean((0, 2)), acc_ref.mean((0, 2)).numpy(), args.tol_acc,
                        "mean accuracies per λ")
    flips = int((predictions(theta, task) != predictions(theta_ref, task)).sum())
    S, L, h = acc_ref.shape
    n_pred = S * L * h * task.Y_test.shape[-1]
    print(f"\nAlgorithm 1 on UCI phishing: n = {bc.N_CLIENTS}, f = {st['f']}, m = {st['m']}, α = {st['alpha']}, "
          f"{st['attack']}, server_clip → NNM → trimmed mean, T = {cfg.T}, seeds {seeds}, {L} λ values, "
          f"{h} honest clients ({S * L * h * cfg.T:,} aggregations), float32")
    print(f"  server clip in the reference: {clip_line}")
    print(f"  fedtheory run_setting (batched run_ipgd, with data, partition, G²):  {t_ours:9.2f} s")
    print(f"  reference loop with ByzFL (SignFlipping, ARC, NNM, TrMean):          {t_ref:9.2f} s   "
          f"ratio {t_ref / t_ours:.1f}x")
    print(f"  max |Δθ| = {d_theta:.2e} (≤ {args.tol_theta:.0e} × max |θ| = {theta_tol:.2e}); "
          f"max |Δ mean accuracy| per λ = {d_acc:.2e} (≤ {args.tol_acc:.0e}); "
          f"{flips} of {n_pred:,} test predictions differ; mean accuracy {ours['accuracy'].mean():.5f} "
          f"(fedtheory) / {float(acc_ref.mean()):.5f} (reference)")


def predictions(theta: torch.Tensor, task: Any) -> torch.Tensor:
    """Classes (S, Λ, h, test points) predicted by logistic-regression models θ (S, Λ, h, P) on their test sets."""
    D, C = task.X.shape[-1], task.n_classes
    W, b = theta[..., : D * C].unflatten(-1, (D, C)), theta[..., D * C :]
    return (torch.einsum("shtd,slhdc->slhtc", task.X_test, W) + b.unsqueeze(-2)).argmax(-1)


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Flags; sizes left unset take the ``--quick`` or the full defaults of :data:`SIZES`."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    p.add_argument("--rows", type=int, nargs="+", default=[1, 2, 3, 4], choices=[1, 2, 3, 4])
    p.add_argument("--small", type=int, nargs=4, metavar=("N", "F", "D", "SETS"), help="row 1 (20 3 35 10000)")
    p.add_argument("--windows", type=int, nargs=4, metavar=("N", "F", "D", "SETS"), help="row 2 (600 100 1 200)")
    p.add_argument("--pairwise-n", type=int, nargs=2, metavar=("N", "F"), help="row 3 (600 100)")
    p.add_argument("--pairwise-d", type=int, nargs="+", metavar="D", help="row 3's dimensions (2 5 16 35)")
    p.add_argument("--compare-d", type=int, nargs="*", metavar="D",
                   help="row 3's dimensions with both methods forced (5 35)")
    p.add_argument("--pairwise-sets", type=int, help="row 3 (50)")
    p.add_argument("--ipgd-steps", type=int, help="row 4: gradient steps T (300)")
    p.add_argument("--ipgd-seeds", type=int, nargs="+", help="row 4: seeds (0 1 2)")
    p.add_argument("--repeats", type=int, help="rows 1–3: best of this many timings (3)")
    p.add_argument("--threads", type=int, default=1, help="torch and BLAS threads for both libraries (0: leave "
                   "torch's default); one by default, so a shared machine's other work hardly moves the times")
    p.add_argument("--seed", type=int, default=0, help="rows 1–3: the inputs' seed")
    p.add_argument("--tol-float64", type=float, default=1e-12, help="rows 1–3, numpy: max |Δ| / max |x|")
    p.add_argument("--tol-float32", type=float, default=1e-4,
                   help="rows 1–3, torch (float32 in ByzFL): max |Δ| / max |x|")
    p.add_argument("--tol-theta", type=float, default=1e-4, help="row 4: max |Δθ| / max |θ|")
    p.add_argument("--tol-acc", type=float, default=1e-4, help="row 4: max |Δ mean accuracy| per λ")
    args = p.parse_args(argv)
    for key, value in SIZES["quick" if args.quick else "full"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    byzfl = import_byzfl()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
        threadpoolctl.threadpool_limits(args.threads)  # numpy/scipy's BLAS, for ByzFL's numpy path
    print(f"fedtheory against ByzFL {importlib.metadata.version('byzfl')} ({'quick' if args.quick else 'full'} sizes), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, numpy {np.__version__}")
    specs = {1: [("1", *args.small, "auto")], 2: [("2", *args.windows, "auto")],
             3: [(f"3.{j + 1}", *args.pairwise_n, d, args.pairwise_sets, "auto")
                 for j, d in enumerate(args.pairwise_d)]
             + [(f"3.{len(args.pairwise_d) + 2 * j + k + 1}", *args.pairwise_n, d, args.pairwise_sets, method)
                for j, d in enumerate(args.compare_d) for k, method in enumerate(("exact", "pairwise"))]}
    rows = [spec for r in args.rows for spec in specs.get(r, [])]
    if rows:
        print_aggregation_header(args)
    for name, n, f, d, sets, method in rows:  # each row printed once its check passed
        print_aggregation_row(aggregation_row(byzfl, name, n, f, d, sets, method, args))
    if 4 in args.rows:
        ipgd_row(byzfl, args)


if __name__ == "__main__":
    main()
