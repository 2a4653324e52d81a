r"""Full-model checks: the LA-LoRA and Byzantine-personalization claims on a real pretrained transformer.

Model and data: all-MiniLM-L6-v2 with peft LoRA on query/value, fine-tuned federatedly on Amazon
fine-food reviews (:mod:`simulators.lora_transformer`, :mod:`simulators.personalized_lora`).
Predictions: :mod:`theory.dp_lora` (noise terms), :mod:`theory.privacy` (opacus RDP),
:func:`theory.personalization.lambda_star_classification`, and the paper's ordering of the DP methods.

Select them with ``fedtheory validate full-model`` (or ``--full-model``). The quick budget adapts the
last layer only (the five frozen layers below are computed once and cached, which is exact) and uses
2 seeds so that the four checks fit in CI on 2 CPU cores; with 2 seeds the intervals are wide and the
checks are underpowered, which the messages say. The full budget adapts all six layers with 5 seeds
(a GPU recommended: ``--device cuda``).
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch

from theory.dp_lora import crossover_sigma, full_model_noise_norm2, noise_term_norms2
from theory.personalization import lambda_star_classification

from . import figures as fig
from . import stats
from .claims import ClaimContext, register
from .records import ClaimResult, Verdict

#: per budget: the federated runs (claims 1–3) and Algorithm 1 (claim 4)
SIZES = {
    "quick": dict(seeds=2, fed=dict(clients=4, alpha=1.0, rounds=4, local_steps=5, batch_size=16, layers=(5,),
                                    train_examples=2000, test_examples=500),
                  methods=("dp_lora", "ffa_lora", "rolora", "la_lora"), trials=100, sigmas=9,
                  pers=dict(clients=6, alpha=3.0, m=32, steps=20, batch_size=8, layers=(5,), train_examples=2000,
                            test_examples=500),
                  lams=(0.0, 0.25, 0.5, 0.75, 1.0), byzantine=(0, 2)),
    "full": dict(seeds=5, fed=dict(clients=8, alpha=1.0, rounds=20, local_steps=10, batch_size=32, layers=None,
                                   train_examples=4000, test_examples=1000),
                 methods=("dp_lora", "ffa_lora", "rolora", "la_lora", "la_lora_filter"), trials=200, sigmas=13,
                 pers=dict(clients=10, alpha=3.0, m=64, steps=100, batch_size=16, layers=None, test_examples=1000,
                           train_examples=4000),
                 lams=tuple(np.round(np.linspace(0, 1, 11), 10)), byzantine=(0, 2, 3)),
}
#: one optimizer for every method (reset each round); AdamW because plain SGD on this head leaves
#: the majority class only after many more steps than the quick budget has
OPTIM = dict(optimizer="adamw", lr=1e-2)
EPSILONS = (1.0, 3.0, None)  # None: non-private (no clipping, no noise)
DELTA = 1e-5
PAPER_ORDER = ("la_lora", "rolora", "ffa_lora", "dp_lora")
LABELS = {"dp_lora": "DP-LoRA", "ffa_lora": "FFA-LoRA", "rolora": "RoLoRA", "la_lora": "LA-LoRA",
          "la_lora_filter": "LA-LoRA (+filter)"}
RUNS_NS = "full-model.runs"


def _sizes(ctx: ClaimContext) -> dict:
    return SIZES.get(ctx.budget.name, SIZES["full"])


def _seeds(ctx: ClaimContext) -> list[int]:
    return list(range(ctx.seed, ctx.seed + _sizes(ctx)["seeds"]))


def _eps_key(eps: float | None) -> str:
    return "inf" if eps is None else f"{eps:g}"


def _run(ctx: ClaimContext, method: str, eps: float | None, seed: int) -> dict[str, np.ndarray]:
    """One federated LoRA run (a stored unit): history, final factors and per-example test correctness."""
    from simulators.lora_transformer import FedLoRAConfig, run_federated_lora

    cfg = FedLoRAConfig(method=method, epsilon=eps, delta=DELTA, **OPTIM, **_sizes(ctx)["fed"])

    def compute():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # opacus' RDP order warnings
            out = run_federated_lora(cfg, seed=seed, device=ctx.device, progress=ctx.progress)
        h = out["history"]
        factors = {f"state:{k}": v.double().cpu().numpy() for k, v in out["state"].items() if "lora_" in k}
        return {"test_acc": np.array(h["test_acc"]), "cos": np.array(h["cos"]), "loss": np.array(h["train_loss"]),
                "test_correct": out["test_correct"].astype(np.int8), "sigma": np.array(out["noise_multiplier"]),
                "sample_rates": np.array(out["sample_rates"]), **factors}

    return ctx.unit(f"{method}/eps={_eps_key(eps)}/seed={seed}", {"cfg": repr(cfg), "seed": seed, "_v": 1}, compute,
                    namespace=RUNS_NS)


def _test_labels(ctx: ClaimContext) -> np.ndarray:
    from simulators.lora_transformer import example_pool, tokenized

    fed = _sizes(ctx)["fed"]
    _, test = example_pool(fed["train_examples"], fed["test_examples"])
    return tokenized()["labels"][test]


def _hier_boot(x: np.ndarray, n_boot: int, seed: int = 0) -> np.ndarray:
    """Bootstrap means of x (S, N): resample seeds, then test examples within each (hierarchical)."""
    rng = np.random.default_rng(seed)
    S, N = x.shape
    s = rng.integers(0, S, size=(n_boot, S))
    e = rng.integers(0, N, size=(n_boot, S, N))
    return x[s[..., None], e].mean((1, 2))


# --------------------------------------------------------------------------- claim 1
@register(
    "full-model.noise_on_factors",
    "Noise on real LoRA factors: ‖N_B A‖, ‖B N_A‖, ‖N_B N_A‖ follow the closed forms",
    "On the query/value LoRA factors of MiniLM after non-private federated fine-tuning, i.i.d. N(0, σ²) noise on "
    "both factors gives Monte-Carlo squared norms matching σ²m‖A‖², σ²n‖B‖² and σ⁴mnr (theory.dp_lora) at every σ "
    "(two-sided t-tests over trials, Holm over all (module, σ, term) points), and the quadratic term overtakes "
    "full-model noise σ²mn at σ* = 1/√r.",
)
def noise_on_factors(ctx: ClaimContext) -> ClaimResult:
    sz = _sizes(ctx)
    seed = _seeds(ctx)[0]
    run = _run(ctx, "dp_lora", None, seed)  # non-private: schedule of DP-LoRA, no clipping, no noise
    names = sorted(k[len("state:"):] for k in run if k.startswith("state:") and "lora_A" in k)
    sigmas = np.geomspace(0.01, 2.0, sz["sigmas"])
    T = sz["trials"]

    def compute():
        g = torch.Generator().manual_seed(seed * 7919 + 11)
        out = {}
        for i, a_name in enumerate(names):
            A = torch.as_tensor(run["state:" + a_name])  # (r, n)
            B = torch.as_tensor(run["state:" + a_name.replace("lora_A", "lora_B")])  # (m, r)
            (m, r), n = B.shape, A.shape[1]
            AAt, BtB = A @ A.T, B.T @ B
            x = np.zeros((T, sigmas.size, 3))
            for j, s in enumerate(sigmas):
                NB = s * torch.randn(T, m, r, generator=g, dtype=torch.float64)
                NA = s * torch.randn(T, r, n, generator=g, dtype=torch.float64)
                NBtNB, NANAt = NB.mT @ NB, NA @ NA.mT  # ‖XY‖² = tr(XᵀX YYᵀ)
                x[:, j] = torch.stack([(NBtNB * AAt).sum((1, 2)), (BtB * NANAt).sum((1, 2)),
                                       (NBtNB * NANAt).sum((1, 2))], -1).numpy()
            out[f"norm2:{i}"] = x
        return out

    d = ctx.unit(f"seed={seed}", {"sigmas": sigmas.tolist(), "trials": T, "modules": names, "_v": 1}, compute)
    pvals, rows = [], {}
    fig_, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.8), squeeze=False)
    for i, a_name in enumerate(names):
        A, B = run["state:" + a_name], run["state:" + a_name.replace("lora_A", "lora_B")]
        (m, r), n = B.shape, A.shape[1]
        pred = noise_term_norms2(sigmas, m, n, r, float((A**2).sum()), float((B**2).sum()))
        preds = np.stack([pred["NB_A"], pred["B_NA"], pred["NB_NA"]], -1)
        x = d[f"norm2:{i}"]
        for j in range(sigmas.size):
            for k in range(3):
                pvals.append(min(1.0, 2 * min(stats.t_pvalue(x[:, j, k] - preds[j, k], "less"),
                                              stats.t_pvalue(x[:, j, k] - preds[j, k], "greater"))))
        mean, lo, hi = stats.mean_ci(x)
        short = a_name.split("encoder.layer.")[1].split(".lora_A")[0].replace("attention.self.", "")
        rows[short] = dict(A_fro=float(np.sqrt((A**2).sum())), B_fro=float(np.sqrt((B**2).sum())),
                           ratio_measured=(mean / preds).tolist())
        ax = axes[0, i]
        for k, (lab, col) in enumerate((("‖N_B A‖", "C0"), ("‖B N_A‖", "C1"), ("‖N_B N_A‖", "C3"))):
            fig.plot_theory(ax, sigmas, np.sqrt(preds[:, k]), f"{lab}: theory", color=col, alpha=0.7)
            fig.plot_measured(ax, sigmas, np.sqrt(mean[:, k]), np.sqrt(lo[:, k]), np.sqrt(hi[:, k]),
                              f"{lab}: measured", color=col)
        fig.plot_theory(ax, sigmas, np.sqrt(full_model_noise_norm2(sigmas, m, n)), "‖N_W‖ full model", color="k",
                        linestyle=":")
        ax.axvline(crossover_sigma(r), color="grey", lw=0.8, ls="--")
        ax.set(xscale="log", yscale="log", xlabel="σ", ylabel="Frobenius norm", title=f"layer {short}")
        ax.legend(fontsize=6)
    adj = stats.holm(pvals)
    ok = bool(adj.min() > 0.05)
    path = fig.save(fig_, ctx.figure_path("noise_on_factors"), None, {"sigmas": sigmas, "trials": T, "seed": seed})
    msg = (f"{len(pvals)} (module, σ, term) points of {len(names)} real q/v modules: smallest Holm-adjusted p "
           f"{adj.min():.2f} ({'no point off its closed form' if ok else 'points off their closed forms'}). "
           + "; ".join(f"{k}: ‖A‖ = {v['A_fro']:.2f}, ‖B‖ = {v['B_fro']:.3f}" for k, v in rows.items())
           + f". Crossover with full-model noise at σ* = 1/√r = {crossover_sigma(int(B.shape[1])):.3f} "
           "(the quadratic term does not involve A or B). B starts at 0 and is still small after short "
           "fine-tuning, so ‖B N_A‖ is the smallest term here.")
    return ClaimResult(ctx.claim.id, Verdict.AGREES if ok else Verdict.DISAGREES,
                       {**rows, "min_holm_p": float(adj.min())}, msg, figure=path,
                       config={"sigmas": sigmas.tolist(), "trials": T, "fed": _sizes(ctx)["fed"], **OPTIM})


# --------------------------------------------------------------------------- claim 3 (and its runs)
@register(
    "full-model.accuracy_vs_epsilon",
    "Real transformer: accuracy at ε ∈ {1, 3, ∞}, LA ≥ Ro ≥ FFA ≥ DP",
    "Federated DP LoRA on MiniLM (fine-food reviews, Dirichlet clients, Poisson sampling, RDP accountant, "
    "δ = 1e-5): non-private LoRA beats the majority-class rate of the test set, and at each ε ∈ {1, 3} where some "
    "method beats it too, the final accuracies show no significant reversal of the paper's order LA-LoRA ≥ RoLoRA "
    "≥ FFA-LoRA ≥ DP-LoRA (hierarchical bootstrap over seeds and test reviews, Holm over adjacent pairs). "
    "Vacuous when no private level leaves the majority class.",
)
def accuracy_vs_epsilon(ctx: ClaimContext) -> ClaimResult:
    sz = _sizes(ctx)
    seeds, methods = _seeds(ctx), sz["methods"]
    y = _test_labels(ctx)
    majority = float(max(y.mean(), 1 - y.mean()))
    B = ctx.budget.bootstrap
    runs = {(m, _eps_key(e)): [_run(ctx, m, e, s) for s in seeds] for e in EPSILONS for m in methods}
    corr = {k: np.stack([r["test_correct"] for r in v]).astype(float) for k, v in runs.items()}  # (S, N)
    rows = {}
    for (m, e), c in corr.items():
        boot = _hier_boot(c, B)
        lo, hi = stats.percentile_ci(boot)
        rows.setdefault(f"eps={e}", {})[m] = dict(mean=float(c.mean()), lo=float(lo), hi=float(hi),
                                                  per_seed=c.mean(1).tolist())
    for e in EPSILONS:
        if e is not None:
            sig = [float(r["sigma"]) for m in methods for r in runs[(m, _eps_key(e))]]
            rows[f"eps={_eps_key(e)}"]["noise_multiplier"] = [min(sig), max(sig)]
    base = corr[("dp_lora", "inf")]
    p_major = float((_hier_boot(base, B, seed=1) <= majority).mean())
    meaningful = p_major < 0.05
    # a private level can order the methods only if some method there beats the majority class (Holm over all)
    above_p = {(m, e): float((np.sum(_hier_boot(corr[(m, _eps_key(e))], B, seed=3) <= majority) + 1) / (B + 1))
               for e in EPSILONS[:-1] for m in methods}
    above_adj = dict(zip(above_p, stats.holm(list(above_p.values()))))
    informative = [e for e in EPSILONS[:-1] if any(above_adj[(m, e)] <= 0.05 for m in methods)]
    rev_p, rev_names = [], []
    order = [m for m in PAPER_ORDER if m in methods]
    for e in informative:
        for a, b in zip(order, order[1:]):  # reversal: a significantly below b
            diff = _hier_boot(corr[(a, _eps_key(e))] - corr[(b, _eps_key(e))], B, seed=2)
            rev_p.append(float(min(1.0, (np.sum(diff >= 0) + 1) / (B + 1))))
            rev_names.append(f"{LABELS[a]} < {LABELS[b]} at ε = {e:g}")
    adj = stats.holm(rev_p) if rev_p else np.array([])
    found = [n for n, a in zip(rev_names, adj) if a <= 0.05]
    if not meaningful or not informative:
        verdict = Verdict.VACUOUS
    else:
        verdict = Verdict.AGREES if not found else Verdict.DISAGREES
    fig_, axes = plt.subplots(1, len(EPSILONS), figsize=(4.2 * len(EPSILONS), 3.6), squeeze=False, sharey=True)
    for c, e in enumerate(EPSILONS):
        key = f"eps={_eps_key(e)}"
        ax = axes[0, c]
        for i, m in enumerate(methods):
            r = rows[key][m]
            ax.errorbar([i], [r["mean"]], yerr=[[r["mean"] - r["lo"]], [r["hi"] - r["mean"]]], fmt="o", capsize=3)
            ax.plot([i] * len(seeds), r["per_seed"], "x", color="grey", ms=4)
        ax.axhline(majority, color="k", ls=":", lw=1, label=f"majority {majority:.3f}")
        ax.set_xticks(range(len(methods)), [LABELS[m] for m in methods], rotation=30, fontsize=7, ha="right")
        sig = rows[key].get("noise_multiplier")
        ax.set(title=f"ε = {'∞' if e is None else f'{e:g}'}" + (f" (σ {sig[0]:.2f}–{sig[1]:.2f})" if sig else ""),
               ylabel="final test accuracy")
        ax.legend(fontsize=7)
    path = fig.save(fig_, ctx.figure_path("accuracy_vs_epsilon"), None,
                    {"fed": sz["fed"], "seeds": seeds, "delta": DELTA, **OPTIM})
    measured = {k: " > ".join(LABELS[m] for m in sorted(methods, key=lambda m: -v[m]["mean"]))
                for k, v in rows.items()}
    msg = (f"Non-private LoRA {rows['eps=inf']['dp_lora']['mean']:.3f} [{rows['eps=inf']['dp_lora']['lo']:.3f}, "
           f"{rows['eps=inf']['dp_lora']['hi']:.3f}] vs majority {majority:.3f} (bootstrap P(≤ majority) = {p_major:.3f}"
           f"{'' if meaningful else ': not clearly above, the ordering check is vacuous'}). "
           + (f"Private levels where some method beats the majority class: "
              f"{', '.join(f'ε = {e:g}' for e in informative)}; {len(found)} significant reversals of "
              f"LA ≥ Ro ≥ FFA ≥ DP there (Holm over {len(adj)} pairs): {'; '.join(found) or 'none'}. "
              if informative else
              "At every private level every method stays at the majority class (no method significantly above it, "
              "Holm): the privacy noise swamps the gradient signal at this budget, so the ordering cannot be "
              "tested here (vacuous). ")
           + "Accuracies: "
           + "; ".join(f"{k}: " + ", ".join(f"{LABELS[m]} {v[m]['mean']:.3f}" for m in methods) for k, v in rows.items())
           + ". Measured order: " + "; ".join(f"{k}: {v}" for k, v in measured.items())
           + f". {len(seeds)} seeds: seed-to-seed variation is estimated from {len(seeds)} draws, so the intervals "
           "are optimistic at the quick budget.")
    return ClaimResult(ctx.claim.id, verdict, {**rows, "majority": majority, "reversals": found,
                                               "informative_eps": [float(e) for e in informative],
                                               "p_non_private_at_most_majority": p_major}, msg, figure=path,
                       config={"fed": sz["fed"], "methods": methods, "epsilons": [_eps_key(e) for e in EPSILONS],
                               "delta": DELTA, **OPTIM})


# --------------------------------------------------------------------------- claim 2
@register(
    "full-model.coupling",
    "Real transformer: alternation raises the late cos(∇_A, ∇_Bᵀ)",
    "At ε = 3, the cos(vec ∇_A, vec ∇_Bᵀ) of the global model's clean gradient on a fixed probe batch, averaged "
    "over the adapted q/v modules and the last rounds, is higher for LA-LoRA than for DP-LoRA (paired 95% CI "
    "over seeds), as on the synthetic task.",
)
def coupling(ctx: ClaimContext) -> ClaimResult:
    seeds = _seeds(ctx)
    rounds = _sizes(ctx)["fed"]["rounds"]
    late = max(1, rounds // 4)
    cos = {m: np.stack([_run(ctx, m, 3.0, s)["cos"] for s in seeds]) for m in ("dp_lora", "la_lora")}
    cos_np = {m: np.stack([_run(ctx, m, None, s)["cos"] for s in seeds]) for m in ("dp_lora", "la_lora")}
    diff = cos["la_lora"][:, -late:].mean(1) - cos["dp_lora"][:, -late:].mean(1)
    d, lo, hi = stats.mean_ci(diff)
    verdict = Verdict.AGREES if lo > 0 else Verdict.DISAGREES
    fig_, ax = plt.subplots(figsize=(6, 3.6))
    x = np.arange(1, rounds + 1)
    for (m, c), col in zip(cos.items(), ("C0", "C3")):
        for s in range(len(seeds)):
            ax.plot(x, c[s], color=col, lw=1, label=f"{LABELS[m]} ε = 3" if s == 0 else None)
            ax.plot(x, cos_np[m][s], color=col, lw=1, ls=":", label=f"{LABELS[m]} non-private" if s == 0 else None)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="round", ylabel="cos(vec ∇_A, vec ∇_Bᵀ)", title="Gradient coupling on MiniLM q/v (per seed)")
    ax.legend(fontsize=7)
    path = fig.save(fig_, ctx.figure_path("coupling"), None, {"seeds": seeds, "late_rounds": late})
    rows = {m: float(c[:, -late:].mean()) for m, c in cos.items()}
    rows.update({f"{m}_non_private": float(c[:, -late:].mean()) for m, c in cos_np.items()})
    rows["la_minus_dp"] = dict(mean=float(d), lo=float(lo), hi=float(hi))
    msg = (("" if lo > 0 else f"Not supported: the interval contains 0 ({len(seeds)} seeds). ")
           + f"late cos (last {late} rounds) at ε = 3: DP-LoRA {rows['dp_lora']:.3f}, LA-LoRA {rows['la_lora']:.3f}; "
           f"LA − DP = {d:.3f} [{lo:.3f}, {hi:.3f}] (t over {len(seeds)} seeds); non-private "
           f"{rows['dp_lora_non_private']:.3f} / {rows['la_lora_non_private']:.3f}. The paper reports 0.68 for "
           "centralized DP-LoRA on Swin-T; on MiniLM's q/v factors the clean gradients of A and Bᵀ are "
           + ("clearly aligned." if max(abs(rows['dp_lora']), abs(rows['la_lora'])) > 0.3 else "nearly orthogonal."))
    return ClaimResult(ctx.claim.id, verdict, rows, msg, figure=path, config={"fed": _sizes(ctx)["fed"], **OPTIM})


# --------------------------------------------------------------------------- claim 4
def _personalized(ctx: ClaimContext, f: int, seed: int) -> dict[str, np.ndarray]:
    from simulators.personalized_lora import PersonalizedLoRAConfig, run_personalized_lora

    sz = _sizes(ctx)
    cfg = PersonalizedLoRAConfig(byzantine=f, **sz["pers"])

    def compute():
        return run_personalized_lora(cfg, sz["lams"], seed=seed, device=ctx.device, progress=ctx.progress)

    return ctx.unit(f"f={f}/seed={seed}", {"cfg": repr(cfg), "lams": list(sz["lams"]), "seed": seed, "_v": 1},
                    compute, namespace="full-model.personalized")


@register(
    "full-model.personalization",
    "Real transformer: best collaboration level λ under Byzantine clients vs the classification λ*",
    "Algorithm 1 (interpolated personalized robust steps) on MiniLM's LoRA parameters with f of n clients "
    "Byzantine (sign flipping, server clip → NNM → trimmed mean): the λ maximizing personalized test accuracy "
    "(hierarchical bootstrap over seeds and clients) contains the predicted λ* of lambda_star_classification "
    "(Pdim = trainable parameters, Φ = label-distribution TV distance, G² = measured gradient dissimilarity).",
)
def personalization(ctx: ClaimContext) -> ClaimResult:
    sz = _sizes(ctx)
    seeds, lams = _seeds(ctx), np.asarray(sz["lams"])
    n, m = sz["pers"]["clients"], sz["pers"]["m"]
    rows, ok = {}, []
    fig_, ax = plt.subplots(figsize=(6, 3.8))
    for i, f in enumerate(sz["byzantine"]):
        units = [_personalized(ctx, f, s) for s in seeds]
        acc = np.stack([u["accuracy"] for u in units])  # (S, Λ, h)
        pred = np.stack([lambda_star_classification(int(u["pdim"]), m, u["phi"], f, n, float(u["G2"]))
                         for u in units])  # (S, h)
        rng = np.random.default_rng(i)
        S, L, h = acc.shape
        s_idx = rng.integers(0, S, (ctx.budget.bootstrap, S))
        c_idx = rng.integers(0, h, (ctx.budget.bootstrap, S, h))
        boot_curves = acc[s_idx[..., None], :, c_idx].mean((1, 2))  # (B, Λ)
        best_b = lams[boot_curves.argmax(-1)]
        curve = acc.mean((0, 2))
        best = float(lams[curve.argmax()])
        lo, hi = stats.percentile_ci(best_b)
        step = float(np.diff(lams).max())
        p_mean = float(pred.mean())
        hit = bool(lo - step / 2 <= p_mean <= hi + step / 2)
        ok.append(hit)
        rows[f"f={f}"] = dict(best=best, best_ci=[float(lo), float(hi)], lambda_star=p_mean,
                              lambda_star_range=[float(pred.min()), float(pred.max())],
                              acc_lambda0=float(curve[0]), acc_best=float(curve.max()), acc_lambda1=float(curve[-1]),
                              G2=[float(u["G2"]) for u in units], phi=float(np.mean([u["phi"].mean() for u in units])),
                              pdim=int(units[0]["pdim"]))
        lo_c, hi_c = stats.percentile_ci(boot_curves)
        fig.plot_measured(ax, lams, curve, lo_c, hi_c, f"f = {f} measured", color=f"C{i}", line=True)
        ax.axvline(p_mean, color=f"C{i}", ls="--", lw=1, label=f"f = {f}: predicted λ* = {p_mean:.2f}")
    ax.set(xlabel="λ", ylabel="personalized test accuracy", title=f"Algorithm 1 on MiniLM LoRA (n = {n}, m = {m})")
    ax.legend(fontsize=7)
    path = fig.save(fig_, ctx.figure_path("personalization"), None, {"pers": sz["pers"], "lams": lams, "seeds": seeds})
    msg = ("; ".join(f"{k}: best λ {v['best']:.2f} [{v['best_ci'][0]:.2f}, {v['best_ci'][1]:.2f}] vs λ* {v['lambda_star']:.2f}"
                     f" (accuracy λ=0 {v['acc_lambda0']:.3f}, best {v['acc_best']:.3f}, λ=1 {v['acc_lambda1']:.3f}; "
                     f"G² {np.mean(v['G2']):.3g}, Φ {v['phi']:.2f})" for k, v in rows.items())
           + f". Pdim = {rows[next(iter(rows))]['pdim']} trainable parameters against m = {m} examples makes "
           "√(Pdim/m) far larger than Φ ≤ 1, so the bound favours collaboration unless (f/n)·G² is large; the "
           "theory assumes a convex model, which a transformer is not.")
    return ClaimResult(ctx.claim.id, Verdict.AGREES if all(ok) else Verdict.DISAGREES, rows, msg, figure=path,
                       config={"pers": sz["pers"], "lams": list(lams)})
