"""Symbolic checks of the derivations in fedtheory.theory.personalization and fedtheory.theory.portfolio (sympy)."""

import sympy as sp

import fedtheory.theory.personalization as tp


def _symbols():
    s, c, b, d2, k, g = sp.symbols("s c bias2 Delta2 kappa gamma", positive=True)
    lam = sp.symbols("lambda", real=True)
    q = (1 - 1 / c) * s
    m0 = s - 2 * lam * q + lam**2 * (q + b)
    bound = (1 + g) * m0 + (1 + 1 / g) * lam**2 * k * (q + d2)
    lam_star = q / (q + b + k / g * (q + d2))
    return s, c, b, d2, k, g, lam, q, m0, bound, lam_star


def test_exact_mse_is_the_noise_variance_expansion():
    s, c, b, *_ , lam, q, m0, _, _ = _symbols()
    # Var[(1-λ+λ/c) e_i + (λ/c) Σ_{j≠i} e_j] + λ² bias2
    direct = s * ((1 - lam + lam / c) ** 2 + (c - 1) * lam**2 / c**2) + lam**2 * b
    assert sp.simplify(direct - m0) == 0


def test_lambda_star_is_the_stationary_point_and_a_minimum():
    *_, lam, q, m0, bound, lam_star = _symbols()
    d1 = sp.diff(bound, lam)
    assert sp.simplify(d1.subs(lam, lam_star)) == 0
    d2 = sp.simplify(sp.diff(bound, lam, 2))
    assert d2.free_symbols.isdisjoint({lam})  # a quadratic: constant curvature
    s, c, b, dd, k, g = sp.symbols("s c bias2 Delta2 kappa gamma", positive=True)
    # curvature = 2[(1+γ)(q + bias2) + (1 + 1/γ) κ (q + Δ²)] > 0 for c > 1
    expected = 2 * ((1 + g) * ((1 - 1 / c) * s + b) + (1 + 1 / g) * k * ((1 - 1 / c) * s + dd))
    assert sp.simplify(d2 - expected) == 0


def test_minimum_value_matches_closed_form():
    s, c, b, d2, k, g, lam, q, m0, bound, lam_star = _symbols()
    denom = q + b + k / g * (q + d2)
    assert sp.simplify(bound.subs(lam, lam_star) - (1 + g) * (s - q**2 / denom)) == 0


def test_limits():
    s, c, b, d2, k, g, lam, q, m0, bound, lam_star = _symbols()
    # no heterogeneity: λ* = 1/(1 + κ/γ)
    assert sp.simplify(lam_star.subs({b: 0, d2: 0}) - 1 / (1 + k / g)) == 0
    # heterogeneity → ∞: λ* → 0
    h = sp.symbols("h", positive=True)
    assert sp.limit(lam_star.subs({b: h, d2: h}), h, sp.oo) == 0
    # local noise → ∞: λ* → 1/(1 + κ/γ)
    assert sp.simplify(sp.limit(lam_star, s, sp.oo) - 1 / (1 + k / g)) == 0


def test_numeric_function_agrees_with_symbolic():
    s, c, b, d2, k, g, lam, q, m0, bound, lam_star = _symbols()
    vals = {s: 11.25, c: 500, b: 3.0, d2: 4.0, k: 0.25, g: 1.0}
    sym = float(lam_star.subs(vals))
    num = tp.lambda_star_mean(sigma2=225.0, m=20, n=600, f=100, kappa=0.25, bias2=3.0, spread2=4.0)
    assert abs(sym - num) < 1e-12


# --------------------------------------------------------------------------- PromptFolio portfolio
def test_theta_star_is_the_only_stationary_point_of_the_sharpe_ratio():
    t, mg, ml, sg, sl, r = sp.symbols("theta m_G m_L s_G s_L rho", real=True)
    m = (1 - t) * mg + t * ml
    s2 = (1 - t) ** 2 * sg**2 + t**2 * sl**2 + 2 * t * (1 - t) * r * sg * sl
    c = r * sg * sl
    D = ml * sg**2 + mg * sl**2 - (mg + ml) * c
    # d(m/s)/dθ = N(θ)/s³ with N = m' s² − m (s²)'/2, which is linear in θ with slope −D
    N = sp.expand(sp.diff(m, t) * s2 - m * sp.diff(s2, t) / 2)
    assert sp.degree(N, t) == 1
    assert sp.simplify(sp.diff(N, t) + D) == 0
    theta0 = (ml * sg**2 - mg * c) / D
    assert sp.simplify(N.subs(t, theta0)) == 0


def test_max_sharpe_ratio_is_the_quadratic_form():
    mg, ml, sg, sl = sp.symbols("m_G m_L s_G s_L", positive=True)
    r = sp.symbols("rho", real=True)
    Sigma = sp.Matrix([[sg**2, r * sg * sl], [r * sg * sl, sl**2]])
    mv = sp.Matrix([mg, ml])
    quad = (mv.T * Sigma.inv() * mv)[0]
    SG, SL = mg / sg, ml / sl
    assert sp.simplify(quad - (SG**2 + SL**2 - 2 * r * SG * SL) / (1 - r**2)) == 0


def test_stage1_theta_star_closed_form():
    n, h = sp.symbols("n h", positive=True)  # n clients
    sG = 1 / sp.sqrt(n)  # s_L = 1, ρ = 1/√n so c = s_G²
    mL, mG = 1, 1 - h + h / n
    c = sG**2
    theta0 = (mL * sG**2 - mG * c) / (mL * sG**2 + mG * 1 - (mG + mL) * c)
    assert sp.simplify(theta0 - h / (n * (1 - h) + h)) == 0


def _private_symbols():
    """The private release model of fedtheory.theory.private_personalization (per-client moments s, s_c, s_×)."""
    s, sc, sx, c, b, t2, k, g, v = sp.symbols("s s_c s_x c bias2 tau2 kappa gamma V", positive=True)
    lam = sp.symbols("lambda", real=True)
    return s, sc, sx, c, b, t2, k, g, v, lam


def test_private_mse_is_the_covariance_expansion():
    import fedtheory.theory.private_personalization as pp

    s, sc, sx, c, b, t2, k, g, v, lam = _private_symbols()
    # error = (1-λ) e_i + (λ/c) u_i + (λ/c) Σ_{j≠i} u_j + λ ξ̄ + λ (ν_C − μ_i): E e_i² = s, E u_j² = s_c,
    # E e_i u_i = s_×, E ξ̄² = dτ²/c, all other pairs independent and zero-mean
    direct = ((1 - lam) ** 2 * s + 2 * (1 - lam) * (lam / c) * sx + (lam / c) ** 2 * sc + (c - 1) * (lam / c) ** 2 * sc
              + lam**2 * t2 / c + lam**2 * b)
    a, bb, e = pp._coefficients(s, 1, c, 0, b, t2, sc, sx)  # m = 1: the moments are already per mean
    assert sp.simplify(direct - (a - 2 * lam * bb + lam**2 * e)) == 0
    # no clipping and no noise: the non-private exact MSE
    assert sp.simplify(direct.subs({sc: s, sx: s, t2: 0}) - (s - 2 * lam * (1 - 1 / c) * s + lam**2 * ((1 - 1 / c) * s + b))) == 0


def test_private_lambda_star_is_the_stationary_point_of_the_bound():
    import fedtheory.theory.private_personalization as pp

    s, sc, sx, c, b, t2, k, g, v, lam = _private_symbols()
    a, bb, e = pp._coefficients(s, 1, c, 0, b, t2, sc, sx)
    bound = (1 + g) * (a - 2 * lam * bb + lam**2 * e) + (1 + 1 / g) * lam**2 * k * v
    star = bb / (e + k * v / g)
    assert sp.simplify(sp.diff(bound, lam).subs(lam, star)) == 0
    # V is the expected spread of the honest releases: (1 − 1/c)(s_c + dτ²) + Δ²
    d2 = sp.symbols("Delta2", positive=True)
    assert sp.simplify(pp._spread_term(c, 0, t2, sc, 1, d2) - ((1 - 1 / c) * (sc + t2) + d2)) == 0
