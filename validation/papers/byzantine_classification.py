r"""Claims of arXiv 2409.20329 on real data: Algorithm 1 (interpolated personalized robust GD).

Measurement: :func:`fedtheory.simulators.byzantine.personalized_gd.run_ipgd` on *UCI phishing, 23-attribute subset*
(one-hot, 35 features; logistic regression, convex: the theory's assumptions hold) and on
Fashion-MNIST (7×7 pooled, a 49-16-10 ReLU MLP: non-convex, so the theory is stretched), with
n = 20 clients, m samples each, Dirichlet(α) label skew, f Byzantine clients and server
clipping → NNM → trimmed mean.
Accuracy is measured on a test set per honest client drawn from its own label distribution.

Prediction: :func:`fedtheory.theory.lambda_star_classification` (**reconstructed**, "up to constants") with
its inputs estimated from the data and the model:

- ``Pdim = d + 1`` for a linear model on d features; for the MLP its parameter count, a
  lower-order proxy (the pseudo-dimension of ReLU networks grows like P·depth·log P);
- G² = the largest measured gradient dissimilarity
  :math:`\frac1{|C|}\sum_{j\in C}\lVert\nabla L_j(\theta) - \nabla L_C(\theta)\rVert^2` over the initial
  model and every final personalized model (the assumption is a sup over θ);
- Φ(D_i, D_C) = total variation between client i's label distribution and the honest clients'
  average. Justification: the partition only skews labels (class-conditionals are shared), and then
  for every classifier h, :math:`|R_i(h) - R_C(h)| = |\sum_y (p_i(y) - p_C(y))\,P(h(x)\ne y\mid y)| \le
  \mathrm{TV}(p_i, p_C)`, so TV upper-bounds the 0-1 discrepancy :math:`\sup_h |R_i(h) - R_C(h)|`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from fedtheory.simulators.byzantine.personalized_gd import (
    IPGDConfig,
    gradient_dissimilarity_at,
    init_params,
    make_federated_task,
    n_params,
    run_ipgd,
)
from fedtheory.simulators.shared.heterogeneity import tv_distance
from fedtheory.theory import lambda_star_classification
from fedtheory.validation.harness import figures as fig
from fedtheory.validation.harness import stats
from fedtheory.validation.harness.claims import Claim, register
from fedtheory.validation.harness.figures import Figure
from fedtheory.validation.harness.records import Finding, Verdict
from fedtheory.validation.harness.units import Unit, unit

N_CLIENTS = 20
LAMS = tuple(np.round(np.linspace(0, 1, 11), 10))
AGGREGATOR = "server_clip+nnm+trimmed_mean"
ATTACK_PARAMS = {"sign_flipping": {}, "alie": {"tau": 1.5}, "label_flipping": {}}

#: Model and optimizer per dataset. Phishing: the paper's η = 0.1 with a small L2 term (strongly
#: convex). Fashion-MNIST: 4×4-average-pooled 7×7 images and a 49-16-10 ReLU MLP trained by
#: full-batch GD (non-convex: the theory is stretched; pooling keeps the CPU budget small).
#: ``steps``: the fraction of the budget's ``steps`` this dataset runs.
SETUPS = {
    "phishing": dict(model="logreg", lr=0.1, l2=1e-3, hidden=0, steps=1.0,
                     label="UCI phishing (23-attribute subset), logistic regression"),
    "fashion_mnist": dict(model="mlp", lr=0.2, l2=1e-4, hidden=16, steps=1 / 3,
                          label="Fashion-MNIST (7×7 pooled), MLP 49-16-10"),
}
#: Settings per budget: f × m at the base α and f × α at the base m; the full budget runs the
#: whole f × m × α grid of the paper.
GRIDS = {
    "quick": {
        "phishing": dict(f=[0, 3, 6, 9], m=[16, 48, 128], alpha=[1.0, 3.0, 100.0], base=dict(f=3, m=48, alpha=3.0)),
        "fashion_mnist": dict(f=[0, 9], m=[16], alpha=[1.0], base=dict(f=9, m=16, alpha=1.0)),
    },
    "full": {
        "phishing": dict(f=[0, 3, 6, 9], m=[16, 48, 128], alpha=[1.0, 3.0, 10.0, 100.0],
                         base=dict(f=3, m=48, alpha=3.0), factorial=True),
        "fashion_mnist": dict(f=[0, 3, 6, 9], m=[8, 16, 64], alpha=[1.0, 3.0, 100.0], base=dict(f=3, m=16, alpha=1.0),
                              factorial=True),
    },
}
#: sizes per budget: seeds and gradient steps of Algorithm 1, bootstrap resamples, the grids
SIZES = {
    "quick": dict(seeds=3, steps=300, bootstrap=400, grids=GRIDS["quick"]),
    "full": dict(seeds=5, steps=500, bootstrap=2000, grids=GRIDS["full"]),
}


def _load(dataset: str):
    """(train, test) as ``Dataset`` records; Fashion-MNIST pooled to 7×7 = 49 features."""
    from fedtheory.simulators.data.datasets import load, pooled

    if dataset == "phishing":
        return load("phishing", "train", one_hot=True), load("phishing", "test", one_hot=True)
    if dataset == "fashion_mnist":
        return pooled(load("fashion_mnist", "train")), pooled(load("fashion_mnist", "test"))
    raise ValueError(f"dataset must be one of {sorted(SETUPS)}, got {dataset!r}")


def _config(dataset: str, attack: str, steps: int) -> IPGDConfig:
    st = SETUPS[dataset]
    return IPGDConfig(lams=LAMS, T=max(1, int(round(steps * st["steps"]))), lr=st["lr"], l2=st["l2"],
                      model=st["model"], hidden=st["hidden"] or 32, aggregator=AGGREGATOR,
                      attack="sign_flipping" if attack == "none" else attack,
                      attack_params=ATTACK_PARAMS.get(attack, {}))


def run_setting(dataset: str, f: int, m: int, alpha: float, attack: str, steps: int, seeds: list[int],
                device: str = "cpu") -> dict[str, np.ndarray]:
    """One setting of Algorithm 1 for every seed and λ: accuracy (S, Λ, h), Φ (S, h), G² (S,), pdim."""
    cfg = _config(dataset, attack, steps)
    tr, te = _load(dataset)
    task = make_federated_task(tr.X, tr.y, te.X, te.y, n=N_CLIENTS, f=f, m=m, alpha=alpha, seeds=seeds, device=device)
    res = run_ipgd(task, cfg, seeds=seeds)
    theta0 = init_params(cfg.model, task.X.shape[-1], task.n_classes, cfg.hidden, seeds, task.X.device,
                         task.X.dtype)[:, None, None]
    g2 = np.maximum(gradient_dissimilarity_at(cfg, res.theta, task).amax((1, 2)).cpu().numpy(),
                    gradient_dissimilarity_at(cfg, theta0, task).amax((1, 2)).cpu().numpy())
    phi = tv_distance(task.label_dist[:, : task.h].cpu().numpy(), task.global_dist[:, None].cpu().numpy())
    # Pdim: d + 1 for a linear model; for the MLP the parameter count (a lower-order proxy).
    D = task.X.shape[-1]
    pdim = D + 1 if cfg.model == "logreg" else n_params(cfg.model, D, task.n_classes, cfg.hidden)
    return {"accuracy": res.accuracy.cpu().numpy(), "phi": phi, "G2": g2, "pdim": np.array(pdim)}


def _key(dataset: str, f: int, m: int, alpha: float, attack: str) -> str:
    attack = "none" if f == 0 else attack  # with no Byzantine client the attack is irrelevant
    return f"{dataset}/{attack}/f={f}/m={m}/alpha={alpha:g}"


def _run_unit(sizes, seed: int, *, dataset: str, f: int, m: int, alpha: float, attack: str) -> tuple[str, Unit]:
    key = _key(dataset, f, m, alpha, attack)
    return key, unit(run_setting, dataset=dataset, f=f, m=m, alpha=alpha, attack="none" if f == 0 else attack,
                     steps=sizes["steps"], seeds=range(seed, seed + sizes["seeds"]), label=key,
                     cost=40 if dataset == "fashion_mnist" else 10 + m / 5)  # quick-budget seconds on one core


def _runs(data, dataset: str, attack: str, settings: list[dict]) -> dict[tuple, dict]:
    return {tuple(st.values()): data[_key(dataset, attack=attack, **st)] for st in settings}


def _predict(run: dict, f: int, m: int) -> np.ndarray:
    """Predicted λ* per (seed, honest client): (S, h)."""
    return lambda_star_classification(int(run["pdim"]), m, run["phi"], f, N_CLIENTS, run["G2"][:, None])


def _best_lambda(acc: np.ndarray, n_boot: int) -> tuple[float, float, float, np.ndarray]:
    """Argmax over λ of the accuracy (S, Λ, h) averaged over seeds and clients, with a hierarchical bootstrap
    (seeds, then clients within each drawn seed: :func:`~fedtheory.validation.harness.stats.hierarchical_argmax`).

    Every setting uses the same bootstrap seed, so the draws of two settings with as many clients are paired.
    """
    point, lo, hi, boot, _ = stats.hierarchical_argmax(acc.transpose(0, 2, 1), np.asarray(LAMS), n_boot)
    return point, lo, hi, boot


def _units(acc: np.ndarray) -> np.ndarray:
    """(S, Λ, h) → (S·h, Λ): one row per (seed, honest client) run."""
    return acc.transpose(0, 2, 1).reshape(-1, acc.shape[1])


def _settings(grid: dict) -> list[dict]:
    """f × m at the base α, then f × α at the base m (no duplicates); every combination if factorial."""
    if grid.get("factorial"):
        return [dict(f=f, m=m, alpha=a) for a in grid["alpha"] for m in grid["m"] for f in grid["f"]]
    out = [dict(f=f, m=m, alpha=grid["base"]["alpha"]) for m in grid["m"] for f in grid["f"]]
    out += [dict(f=f, m=grid["base"]["m"], alpha=a) for a in grid["alpha"] for f in grid["f"]]
    seen, uniq = set(), []
    for st in out:
        key = tuple(st.values())
        if key not in seen:
            seen.add(key), uniq.append(st)
    return uniq


def _trend(runs: dict, grid: dict, name: str, want: int, n_boot: int) -> dict | None:
    """Best λ along one axis (others at base); first-to-last change with a bootstrap CI."""
    values = grid[name]
    if len(values) < 2:
        return None
    best, boots = [], []
    for v in values:
        st = {**grid["base"], name: v}
        b, _, _, boot = _best_lambda(runs[tuple(st.values())]["accuracy"], n_boot)
        best.append(b), boots.append(boot)
    lo, hi = stats.percentile_ci(boots[-1] - boots[0])
    right = (lo > 0) if want > 0 else (hi < 0)
    wrong = (hi < 0) if want > 0 else (lo > 0)
    return dict(values=list(values), best_lambda=best, change_ci=[float(lo), float(hi)], expected_sign=want,
                direction="right" if right else "wrong" if wrong else "unclear")


# --------------------------------------------------------------------------- claim 1
TREND_SIGNS = {"f": -1, "alpha": +1, "m": -1}  # expected sign of d(best λ)/d(value)


def _grid_units(sizes, seed: int, attacks=("sign_flipping",)) -> dict[str, Unit]:
    return dict(_run_unit(sizes, seed, dataset=ds, attack=a, **st)
                for ds in SETUPS for a in attacks for st in _settings(sizes["grids"][ds]))


def _trends_judge(data) -> Finding:
    summary, directions = {}, []
    for dataset in SETUPS:
        grid = data.sizes["grids"][dataset]
        runs = _runs(data, dataset, "sign_flipping", _settings(grid))
        for name, want in TREND_SIGNS.items():
            t = _trend(runs, grid, name, want, data.sizes["bootstrap"])
            if t is not None:
                summary[f"{dataset}: best λ vs {name}"] = t
                directions.append(t["direction"])
    if not directions:
        verdict = Verdict.VACUOUS  # no axis of the grid has two values: no trend can be measured
    elif "wrong" in directions:
        verdict = Verdict.DISAGREES
    elif directions and all(d == "right" for d in directions):
        verdict = Verdict.AGREES
    else:
        verdict = Verdict.QUALITATIVE
    msg = "; ".join(f"{k}: {v['best_lambda'][0]:.1f} → {v['best_lambda'][-1]:.1f} ({v['direction']})"
                    for k, v in summary.items())
    msg += (". 'unclear' = the first-to-last change has a bootstrap CI that contains 0. Dotted lines: the theory's λ* "
            "(reconstructed, 'up to constants'; G² and Φ estimated from the data, Pdim = d + 1 for the linear model and "
            "the parameter count for the MLP).")
    return Finding(verdict, summary, msg)


def _trends_draw(data, finding: Finding) -> list[Figure]:
    """Accuracy against λ for each f, one panel per m, predicted λ* marked; then best λ vs f per α."""
    lam = np.asarray(LAMS)
    figs = []
    for dataset in SETUPS:
        grid = data.sizes["grids"][dataset]
        runs = _runs(data, dataset, "sign_flipping", _settings(grid))
        ms = grid["m"]
        fig_, axes = plt.subplots(1, len(ms) + 1, figsize=(4.2 * (len(ms) + 1), 3.5), squeeze=False)
        table = {"lam": lam}
        for ax, m in zip(axes[0], ms):
            for i, f in enumerate(grid["f"]):
                run = runs[(f, m, grid["base"]["alpha"])]
                mu, lo, hi = stats.mean_ci(_units(run["accuracy"]))
                fig.plot_measured(ax, lam, mu, lo, hi, f"f = {f}", color=f"C{i}")
                pred = _predict(run, f, m)  # (S, h): uncertainty from the estimated Φ and G²
                ax.axvline(float(pred.mean()), color=f"C{i}", ls=":", lw=1.2)
                plo, phi_ = np.quantile(pred, [0.025, 0.975])
                if phi_ > plo:
                    ax.axvspan(plo, phi_, color=f"C{i}", alpha=0.06, lw=0)
                table[f"m{m}_f{f}_acc"] = mu
                table[f"m{m}_f{f}_lambda_star_pred"] = [float(pred.mean())]
            ax.set(xlabel="λ", ylabel="test accuracy (95% CI)", title=f"m = {m}, α = {grid['base']['alpha']:g}")
            ax.legend(fontsize=7, title="dotted: λ* (theory), span: 95% of clients", title_fontsize=6)
        ax = axes[0, -1]
        for i, a in enumerate(grid["alpha"]):
            pts = [_best_lambda(runs[(f, grid["base"]["m"], a)]["accuracy"], data.sizes["bootstrap"])
                   for f in grid["f"]]
            fig.plot_errorbars(ax, np.asarray(grid["f"], float), np.array([p[0] for p in pts]),
                               np.array([p[1] for p in pts]), np.array([p[2] for p in pts]), f"α = {a:g}",
                               color=f"C{i}")
            table[f"best_lambda_alpha{a:g}"] = [p[0] for p in pts]
        ax.set(xlabel="f", ylabel="measured best λ (95% bootstrap CI)", ylim=(-0.05, 1.05),
               title=f"best λ vs f and α (m = {grid['base']['m']})")
        ax.legend(fontsize=7)
        fig_.suptitle(f"{SETUPS[dataset]['label']}, n = {N_CLIENTS}, sign flipping", fontsize=9)
        figs.append(Figure(f"classification_{dataset}_accuracy_vs_lambda", fig_, table, grid))
    return figs


register(Claim(
    "byzantine.classification.best_lambda_trends",
    "The best λ moves with f, heterogeneity and m",
    "On real data (UCI phishing, 23-attribute subset, logistic regression; Fashion-MNIST, MLP; sign flipping against "
    "server clipping → NNM → trimmed mean), the measured best λ moves toward 0 as f grows and as heterogeneity grows "
    "(smaller Dirichlet α), and toward 1 as m shrinks.",
    SIZES, _grid_units, _trends_judge, _trends_draw, formulas=(lambda_star_classification,),
))


# --------------------------------------------------------------------------- claim 2
def _local_settings(grid: dict) -> list[dict]:
    """The grid, plus the heterogeneity sweep at the largest m, where √(Pdim/m) is smallest and the
    λ* = 0 condition can fire."""
    extra = [dict(f=grid["base"]["f"], m=max(grid["m"]), alpha=a) for a in grid["alpha"]]
    return _settings(grid) + [e for e in extra if e not in _settings(grid)]


def _local_units(sizes, seed: int) -> dict[str, Unit]:
    return dict(_run_unit(sizes, seed, dataset="phishing", attack="sign_flipping", **st)
                for st in _local_settings(sizes["grids"]["phishing"]))


def _local_judge(data) -> Finding:
    deficits, summary = [], {}
    for st in _local_settings(data.sizes["grids"]["phishing"]):
        run = data[_key("phishing", attack="sign_flipping", **st)]
        zero = _predict(run, st["f"], st["m"]) == 0  # (S, h)
        if zero.any():
            a = run["accuracy"].transpose(0, 2, 1)[zero]  # (k, Λ) clients predicted local
            deficits.append(a[:, 1:].max(1) - a[:, 0])  # best λ > 0 minus local, per client
        summary[f"f={st['f']}, m={st['m']}, alpha={st['alpha']:g}"] = f"{int(zero.sum())}/{zero.size} predicted λ* = 0"
    if sum(len(d) for d in deficits) < 2:  # no interval can be formed
        return Finding(Verdict.VACUOUS, summary,
                       f"{sum(len(d) for d in deficits)} client run(s) in the tested settings have Φ ≥ √(Pdim/m): "
                       "the λ* = 0 condition (almost) never fires, so the claim cannot be tested here.")
    d = np.concatenate(deficits)
    mu, lo, hi = stats.mean_ci(d)
    summary |= {"client_runs": int(d.size), "mean_gain_of_best_lambda_over_local": float(mu), "ci": [float(lo), float(hi)]}
    msg = (f"{d.size} client runs are predicted λ* = 0; the best λ > 0 beats local learning by {mu:+.4f} accuracy on "
           f"average (95% CI [{lo:+.4f}, {hi:+.4f}]). The best λ > 0 is picked on the test data, so this gain is "
           "biased upward: a CI that reaches 0 supports the prediction.")
    return Finding(Verdict.AGREES if lo <= 0 else Verdict.DISAGREES, summary, msg, curves={"deficit": d})


def _local_draw(data, finding: Finding) -> list[Figure]:
    grid = data.sizes["grids"]["phishing"]
    fig_, ax = plt.subplots(figsize=(5, 3.4))
    d = finding.curves.get("deficit")
    if d is None:
        ax.text(0.5, 0.5, "fewer than 2 client runs with Φ ≥ √(Pdim/m)", ha="center")
        return [Figure("classification_local_when_predicted", fig_, None, grid)]
    ax.hist(d, bins=20, color="C0")
    ax.axvline(0, color="k")
    ax.set(xlabel="best accuracy over λ > 0 − accuracy at λ = 0", ylabel="client runs predicted λ* = 0")
    return [Figure("classification_local_when_predicted", fig_, {"deficit": d}, grid)]


register(Claim(
    "byzantine.classification.local_when_predicted",
    "Local learning is best where the theory predicts λ* = 0",
    "For clients with Φ(D_i, D_C) ≥ √(Pdim/m) (predicted λ* = 0), the measured accuracy of local learning (λ = 0) "
    "is at least that of every λ > 0 (95% t-interval over those clients). Logistic regression on phishing.",
    SIZES, _local_units, _local_judge, _local_draw, formulas=(lambda_star_classification,),
))


# --------------------------------------------------------------------------- claim 3
COLLAPSE_F = 9


def _collapse_units(sizes, seed: int) -> dict[str, Unit]:
    out = {}
    for ds in SETUPS:
        base = sizes["grids"][ds]["base"]
        out.update([_run_unit(sizes, seed, dataset=ds, attack="sign_flipping", **{**base, "f": 0})])
        out.update(_run_unit(sizes, seed, dataset=ds, attack=a, **{**base, "f": COLLAPSE_F}) for a in ATTACK_PARAMS)
    return out


def _collapse_judge(data) -> Finding:
    summary, verdicts = {}, []
    lam = np.asarray(LAMS)
    for dataset in SETUPS:
        base = data.sizes["grids"][dataset]["base"]
        clean = _units(data[_key(dataset, attack="sign_flipping", **{**base, "f": 0})]["accuracy"])
        for attack in ATTACK_PARAMS:
            acc = data[_key(dataset, attack=attack, **{**base, "f": COLLAPSE_F})]["accuracy"]  # (S, Λ, h)
            u = _units(acc)
            best = int(u.mean(0).argmax())
            # different honest clients at f = 0 and f = 9: an unpaired (Welch) interval over client runs
            drop = stats.welch_diff_ci(clean[:, -1], u[:, -1])
            # cross-fitted "tuned λ": chosen on the other seeds, evaluated on the held-out seed, so
            # the gain is not inflated by picking λ on the numbers it is tested on
            S = acc.shape[0]
            picks = [int(acc[np.arange(S) != s].mean((0, 2)).argmax()) for s in range(S)]
            held = np.concatenate([acc[s, picks[s]] - acc[s, -1] for s in range(S)])
            gap = stats.mean_ci(held)
            verdicts.append(drop[1] > 0 and gap[1] > 0)
            summary[f"{dataset}, {attack}, f={COLLAPSE_F}"] = dict(
                acc_lambda0=float(u[:, 0].mean()), best_lambda=float(lam[best]), acc_best=float(u[:, best].mean()),
                acc_lambda1=float(u[:, -1].mean()), acc_lambda1_f0=float(clean[:, -1].mean()),
                drop_at_lambda1_vs_f0=[float(x) for x in drop],
                crossfitted_tuned_minus_lambda1=[float(x) for x in gap])
    msg = "; ".join(f"{k}: λ=0 {v['acc_lambda0']:.3f}, best λ={v['best_lambda']:.1f} {v['acc_best']:.3f}, "
                    f"λ=1 {v['acc_lambda1']:.3f} (f=0: {v['acc_lambda1_f0']:.3f})" for k, v in summary.items())
    if all(verdicts):
        verdict = Verdict.AGREES
    elif any(verdicts):
        verdict = Verdict.QUALITATIVE
        msg += (". Collapse (a significant drop at λ = 1 against f = 0 and a significant gain of the cross-fitted λ) for "
                + ", ".join(k for k, ok in zip(summary, verdicts) if ok) + " only.")
    else:
        verdict = Verdict.DISAGREES
        msg += ". No attack makes full collaboration collapse against the robust aggregator here."
    return Finding(verdict, summary, msg)


def _collapse_draw(data, finding: Finding) -> list[Figure]:
    lam = np.asarray(LAMS)
    fig_, axes = plt.subplots(1, len(SETUPS), figsize=(5.5 * len(SETUPS), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], SETUPS):
        base = data.sizes["grids"][dataset]["base"]
        clean = _units(data[_key(dataset, attack="sign_flipping", **{**base, "f": 0})]["accuracy"])
        fig.plot_measured(ax, lam, *stats.mean_ci(clean), "f = 0")
        for attack in ATTACK_PARAMS:
            u = _units(data[_key(dataset, attack=attack, **{**base, "f": COLLAPSE_F})]["accuracy"])
            fig.plot_measured(ax, lam, *stats.mean_ci(u), f"f = {COLLAPSE_F}, {attack}")
        ax.set(xlabel="λ", ylabel="test accuracy (95% CI)",
               title=f"{SETUPS[dataset]['label']}\nm = {base['m']}, α = {base['alpha']:g}")
        ax.title.set_fontsize(8)
        ax.legend(fontsize=7)
    return [Figure("classification_collapse_vs_tuned", fig_, {"lam": lam}, data.sizes["grids"])]


register(Claim(
    "byzantine.classification.collapse_vs_tuned",
    "Full collaboration collapses under attack, tuned λ holds up",
    "With many Byzantine clients (f = 9 of 20), full collaboration (λ = 1) loses accuracy against f = 0, "
    "while a tuned λ keeps it; reported as accuracy at λ = 0, the best λ and λ = 1, and the gain of a tuned λ (chosen "
    "on the other seeds) over λ = 1.",
    SIZES, _collapse_units, _collapse_judge, _collapse_draw,
))


# --------------------------------------------------------------------------- claim 4
SLOPE_LAMS = (0.05, 0.1, 0.2, 0.4)
SLOPE_SETTING = dict(f=6, m=48, alpha=3.0, lr=0.5, l2=0.05, ref_steps_factor=5)


def optimization_gaps(f: int, m: int, alpha: float, lr: float, l2: float, ref_steps_factor: int, lams: list[float],
                      steps: int, seeds: list[int], device: str = "cpu") -> dict[str, np.ndarray]:
    """L_i^λ(θ_i^T) − min L_i^λ per attack (S, Λ, h); the minimum from ``ref_steps_factor``× as many attack-free steps."""
    tr, te = _load("phishing")  # the convex model
    task = make_federated_task(tr.X, tr.y, te.X, te.y, n=N_CLIENTS, f=f, m=m, alpha=alpha, seeds=seeds, device=device)
    ref = run_ipgd(task, IPGDConfig(lams=tuple(lams), T=steps * ref_steps_factor, lr=lr, l2=l2,
                                    aggregator="honest_mean"), seeds=seeds)
    out = {}
    for attack, params in ATTACK_PARAMS.items():
        res = run_ipgd(task, IPGDConfig(lams=tuple(lams), T=steps, lr=lr, l2=l2, aggregator=AGGREGATOR,
                                        attack=attack, attack_params=params), seeds=seeds)
        out[attack] = (res.objective - ref.objective).cpu().numpy()  # (S, Λ, h)
    return out


def _slope_units(sizes, seed: int) -> dict[str, Unit]:
    return {"slope": unit(optimization_gaps, **SLOPE_SETTING, lams=list(SLOPE_LAMS), steps=sizes["steps"],
                          seeds=range(seed, seed + sizes["seeds"]), label="phishing optimization gaps", cost=30)}


def _slope_judge(data) -> Finding:
    gaps = data["slope"]
    lam = np.asarray(SLOPE_LAMS)
    summary, verdicts = {}, []
    for attack, g in gaps.items():
        per_seed = g.mean(2)  # (S, Λ): average over honest clients
        if np.any(per_seed <= 0):
            summary[attack] = "gap ≤ 0 at some λ: the attack is fully filtered, no slope to fit"
            verdicts.append(None)
            continue
        slopes = np.array([np.polyfit(np.log(lam), np.log(row), 1)[0] for row in per_seed])
        mu, lo, hi = stats.mean_ci(slopes)
        verdicts.append(bool(lo <= 2 <= hi))
        summary[attack] = dict(slope=float(mu), ci=[float(lo), float(hi)], gap_at_lambda=per_seed.mean(0).tolist())
    fitted = [v for v in verdicts if v is not None]
    verdict = (Verdict.VACUOUS if not fitted else Verdict.AGREES if all(fitted) else Verdict.DISAGREES)
    msg = ("Fitted log–log slopes (per seed, then 95% t-interval over seeds): "
           + "; ".join(f"{k}: {v['slope']:.3f} [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}]" if isinstance(v, dict)
                       else f"{k}: {v}" for k, v in summary.items()) + ". Predicted: 2.")
    return Finding(verdict, summary, msg)


def _slope_draw(data, finding: Finding) -> list[Figure]:
    gaps = data["slope"]
    lam = np.asarray(SLOPE_LAMS)
    fig_, ax = plt.subplots(figsize=(5.5, 3.8))
    for attack, row in finding.facts.items():
        if not isinstance(row, dict):
            continue
        m_, l_, h_ = stats.mean_ci(gaps[attack].mean(2))
        fig.plot_errorbars(ax, lam, m_, np.maximum(l_, 1e-12), h_,
                           f"{attack}: slope {row['slope']:.2f} [{row['ci'][0]:.2f}, {row['ci'][1]:.2f}]")
        fig.plot_theory(ax, lam, m_[0] * (lam / lam[0]) ** 2, None, color="0.6", ls=":")
    ax.set(xscale="log", yscale="log", xlabel="λ", ylabel="L_i^λ(θ_T) − min L_i^λ (mean over clients, 95% CI)",
           title="optimization error vs λ (dotted: slope 2)")
    ax.legend(fontsize=6)
    config = dict(SLOPE_SETTING, lams=SLOPE_LAMS, T=data.sizes["steps"], aggregator=AGGREGATOR,
                  attacks=list(ATTACK_PARAMS))
    return [Figure("classification_optimization_error_slope", fig_,
                   {"lam": lam, **{k: v.mean((0, 2)) for k, v in gaps.items()}}, config)]


register(Claim(
    "byzantine.classification.optimization_error_slope",
    "Optimization error grows as λ²",
    "On the convex model (logistic regression + L2, µ-strongly convex), the final gap "
    "L_i^λ(θ_i^T) − min L_i^λ under attack grows as λ²κG²: its log–log slope against λ is 2.",
    SIZES, _slope_units, _slope_judge, _slope_draw,
))
