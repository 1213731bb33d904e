"""ps6_dynamics: RNNs as dynamical systems (Jacobians, Lyapunov exponents, fixed points, Euler, leaks,
multi-step forecasting).

Every reference is computed in float64 the way the contract says: Jacobians with
``torch.autograd.functional.jacobian`` of an ``nn.RNNCell`` step, Lyapunov exponents with the same
Jacobians and ``torch.linalg.qr``, Euler's bound with ``torch.linalg.eigvals``, the recurrences with
``nn.RNNCell`` / ``nn.Linear`` / ``nn.RNN`` loops. ``tanh_fixed_points`` has no torch counterpart; its
reference is the sign-change scan refined by bisection that the contract names.

The catalogue's mistake functions validate their arguments like a correct solution does, so a mistake
counts as rejected only when a case that exercises it rejects it, never merely because it fails to
raise on a ValueError case. Mistakes that are only about validation (no ValueError for alpha outside
(0, 1], alpha = 0 accepted, alpha = 1 rejected, a head of the wrong width not detected) and the answer
0.0 for an all-zero A are not in the catalogue: ``check`` cannot name them (an ``expect`` case says
"should raise ValueError", a raised ValueError is the learner's own traceback, and an expected inf
accepts any finite float in ``compare._compare_scalar``). The switches that produce them stay in the
helpers below, and tests/test_ps6_dynamics.py runs them against the public cases.

Cases are plain data. Numeric knobs that are not shapes (``gain``, ``dt``, ``alpha``, ``kind``,
``regime``) take a few named values, and the hidden cases reuse the public values with other
shapes and seeds, so that no behaviour is hidden-only.

Tolerances. Float64: numpy against torch differs by rounding only (about 1e-14 after 150 steps of
an ordered network); the defaults rtol 1e-6 / atol 1e-8 hold. Float32 inputs against the float64
reference: the declared float32 cases are short or contracting, where the solution stays within
about 1e-6 of the reference (tests/test_ps6_dynamics.py measures it); chaotic trajectories are only
declared in float64, since two correct float32 runs of a chaotic map part ways after a few dozen
steps. Exceptions are explained where they are set.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .inputs import CaseRandom
from .registry import Exercise, Mistake, register
from .torch_ref import load, n, t

A = "ps6_dynamics"


# ---------------------------------------------------------------- shared pieces
def _cell(W_xh, W_hh, b_h):
    """nn.RNNCell (tanh) with the contract's numpy parameters, the bias split over both torch biases."""
    D, H = W_xh.shape
    return load(nn.RNNCell(D, H), {"weight_ih": W_xh.T, "weight_hh": W_hh.T, "bias_ih": 0.5 * b_h,
                                   "bias_hh": 0.5 * b_h})


def _rnn_weights(r: CaseRandom, case, D, H):
    """W_xh, W_hh, b_h like torch's init (times case["scale"]); with case["gain"], W_hh ~ N(0, gain^2 / H)."""
    W_xh, W_hh, b_h = r.weight(H, D, H), r.weight(H, H, H), r.weight(H, H)
    if "gain" in case:
        W_hh = r.normal(H, H, scale=case["gain"] / np.sqrt(H))
    return W_xh, W_hh, b_h


def _step_np(x_t, h, W_xh, W_hh, b_h):
    return np.tanh(x_t @ W_xh + h @ W_hh + b_h)


# ---------------------------------------------------------------- rnn_jacobian
def _jac_inputs(case):
    r = CaseRandom(case)
    B, D, H = case["B"], case["D"], case["H"]
    x_t, h_prev = r.normal(B, D), r.normal(B, H, scale=0.5)
    W_xh, W_hh, b_h = _rnn_weights(r, case, D, H)
    return dict(x_t=x_t, h_prev=h_prev, W_xh=W_xh, W_hh=W_hh, b_h=b_h)


def _rnn_jacobian(x_t, h_prev, W_xh, W_hh, b_h):
    """torch.autograd.functional.jacobian of one nn.RNNCell step, row by row of the batch."""
    cell = _cell(W_xh, W_hh, b_h)
    B, H = h_prev.shape
    out = np.empty((B, H, H))
    for b in range(B):
        step = lambda h, b=b: cell(t(x_t[b])[None], h[None])[0]
        out[b] = n(torch.autograd.functional.jacobian(step, t(h_prev[b])))
    return out


def _jac_np(x_t, h_prev, W_xh, W_hh, b_h, *, slope="h_t", layout="rows", bias=True, batch="rows"):
    """diag(s) @ W_hh.T per row, with switches for the catalogued mistakes."""
    z = x_t @ W_xh + h_prev @ W_hh + (b_h if bias else 0.0)
    h = np.tanh(z)
    s = {"h_t": 1 - h ** 2, "h_prev": 1 - h_prev ** 2, "z": 1 - z ** 2, "twice": 1 - np.tanh(h) ** 2,
         "none": np.ones_like(h)}[slope]
    if batch == "mean":
        s = np.broadcast_to(s.mean(axis=0), s.shape)
    elif batch == "first":
        s = np.broadcast_to(s[0], s.shape)
    if layout == "rows":          # J[i, j] = s_i W_hh[j, i]
        return s[:, :, None] * W_hh.T[None]
    if layout == "transposed":    # J.T
        return W_hh[None] * s[:, None, :]
    if layout == "no_T":          # diag(s) @ W_hh
        return s[:, :, None] * W_hh[None]
    if layout == "right":         # W_hh.T @ diag(s)
        return W_hh.T[None] * s[:, None, :]
    raise ValueError(layout)


_TANH_PREV = ("tanh' taken at h_prev", "h_t = tanh(z_t), so the slope is 1 - h_t**2 with the state the step "
              "produces, not 1 - h_prev**2.")
_TANH_Z = ("1 - z**2 of the pre-activation", "tanh'(z) = 1 - tanh(z)**2 = 1 - h_t**2; 1 - z**2 squares the "
           "pre-activation itself.")
_NO_T = ("W_hh not transposed", "With row vectors, h_t[i] depends on h_prev[j] through W_hh[j, i], so "
         "J = diag(1 - h_t**2) @ W_hh.T (torch's layout J[i, j] = d h_t[i] / d h_prev[j]).")

register(Exercise(
    name="rnn_jacobian", assignment=A,
    variant_shapes=("B", "D", "H"),
    args=("x_t", "h_prev", "W_xh", "W_hh", "b_h"), outputs=("J",), shapes={"J": "(B, H, H)"},
    make_inputs=_jac_inputs, reference=_rnn_jacobian,
    mistakes=(
        Mistake("Jacobian transposed", "J[b, i, j] is d h_t[i] / d h_prev[j]: row i belongs to output unit i. "
                "You returned J[b].T.", lambda **kw: _jac_np(**kw, layout="transposed")),
        Mistake(*_NO_T, lambda **kw: _jac_np(**kw, layout="no_T")),
        Mistake("slope multiplied on the wrong side", "The slope of unit i scales row i: diag(s) @ W_hh.T, i.e. "
                "s[:, :, None] * W_hh.T, not W_hh.T @ diag(s).", lambda **kw: _jac_np(**kw, layout="right")),
        Mistake(*_TANH_PREV, lambda **kw: _jac_np(**kw, slope="h_prev")),
        Mistake(*_TANH_Z, lambda **kw: _jac_np(**kw, slope="z")),
        Mistake("tanh applied twice", "h_t is already tanh(z): the slope is 1 - h_t**2, not 1 - tanh(h_t)**2.",
                lambda **kw: _jac_np(**kw, slope="twice")),
        Mistake("tanh' forgotten", "The Jacobian of tanh(h W_hh + ...) is diag(1 - h_t**2) @ W_hh.T, not W_hh.T.",
                lambda **kw: _jac_np(**kw, slope="none")),
        Mistake("bias left out of the pre-activation", "The slope depends on z = x_t W_xh + h_prev W_hh + b_h, "
                "bias included.", lambda **kw: _jac_np(**kw, bias=False)),
        Mistake("slope averaged over the batch", "Each batch row has its own state and so its own slope: "
                "J[b] uses 1 - h_t[b]**2 only.", lambda **kw: _jac_np(**kw, batch="mean")),
        Mistake("every row uses the first row's slope", "Compute the slope for every batch row (broadcast "
                "s[:, :, None] over the (B, H, H) result).", lambda **kw: _jac_np(**kw, batch="first")),
    ),
))


# ---------------------------------------------------------------- lyapunov_spectrum
def _lyap_inputs(case):
    r = CaseRandom(case)
    T, D, H = case["T"], case["D"], case["H"]
    x = r.normal(T, D)
    h0 = r.normal(H, scale=0.5) if case.get("h0") else np.zeros(H)
    W_xh, W_hh, b_h = _rnn_weights(r, case, D, H)
    return dict(x=x, h0=h0, W_xh=W_xh, W_hh=W_hh, b_h=b_h, k=case["k"])


def _check_k(k, H):
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= H):
        raise ValueError(f"k must be an integer in 1..{H}, got {k!r}")


def _lyapunov(x, h0, W_xh, W_hh, b_h, k):
    """The contract's loop: Jacobians by autograd of an nn.RNNCell step, QR by torch.linalg.qr."""
    H = W_hh.shape[0]
    _check_k(k, H)
    cell = _cell(W_xh, W_hh, b_h)
    h = t(h0)
    Q = torch.eye(H, dtype=torch.float64)[:, :k]
    total = torch.zeros(k, dtype=torch.float64)
    for s in range(x.shape[0]):
        xs = t(x[s])[None]
        J = torch.autograd.functional.jacobian(lambda v: cell(xs, v[None])[0], h)
        Q, R = torch.linalg.qr(J @ Q, mode="reduced")
        total += torch.log(torch.abs(torch.diagonal(R)))
        with torch.no_grad():
            h = cell(xs, h[None])[0]
    return np.sort(n(total / x.shape[0]))[::-1].copy()


def _lyap_np(x, h0, W_xh, W_hh, b_h, k, *, carry=True, reortho=True, absval=True, order="desc", denom="T",
             slope="h_t", transpose=True, start="h0", advance=True):
    _check_k(k, W_hh.shape[0])
    T, H = x.shape[0], W_hh.shape[0]
    h = h0 if start == "h0" else np.zeros(H)
    Q0 = np.eye(H)[:, :k]
    Q, total = Q0, np.zeros(k)
    with np.errstate(all="ignore"):
        for s in range(T):
            h_new = _step_np(x[s], h, W_xh, W_hh, b_h)
            sl = 1 - (h_new if slope == "h_t" else h) ** 2
            J = sl[:, None] * (W_hh.T if transpose else W_hh)
            if reortho:
                Q, R = np.linalg.qr(J @ (Q if carry else Q0))
                d = np.diag(R)
                total += np.log(np.abs(d) if absval else d)
            else:
                Q = J @ Q
            if advance:
                h = h_new
        if not reortho:                       # one QR of the whole product at the end
            total = np.log(np.abs(np.diag(np.linalg.qr(Q)[1])))
        lam = total / {"T": T, "T-1": T - 1, "1": 1}[denom]
    if order == "desc":
        return np.sort(lam)[::-1].copy()
    return np.sort(lam) if order == "asc" else lam


register(Exercise(
    name="lyapunov_spectrum", assignment=A,
    args=("x", "h0", "W_xh", "W_hh", "b_h", "k"), outputs=("exponents",), shapes={"exponents": "(k,)"},
    builds_on=("rnn_jacobian",),
    fixed_hidden=("whether QR's exponents come out already in descending order (so that 'exponents not "
                  "sorted' goes unnoticed) depends on the draw; the declared seeds were checked not to"),
    make_inputs=_lyap_inputs, reference=_lyapunov,
    mistakes=(
        Mistake("Q not carried from step to step", "Each step multiplies the previous step's Q: "
                "Q_t, R_t = qr(J_t @ Q_{t-1}). Restarting from I[:, :k] measures one step at a time.",
                lambda **kw: _lyap_np(**kw, carry=False)),
        Mistake("Jacobians multiplied without re-orthonormalising", "The columns of a long product of Jacobians "
                "all turn towards the fastest-growing direction and under- or overflow; the QR at every step "
                "keeps them orthonormal so the slower exponents survive.", lambda **kw: _lyap_np(**kw, reortho=False)),
        Mistake("log of diag(R) without abs", "QR may return negative diagonal entries (a reflection); the "
                "growth factor is |R_t[i, i]|.", lambda **kw: _lyap_np(**kw, absval=False)),
        Mistake("exponents not sorted", "The contract returns them in descending order: np.sort(...)[::-1].",
                lambda **kw: _lyap_np(**kw, order="none")),
        Mistake("exponents sorted ascending", "The largest exponent comes first: np.sort(...)[::-1].",
                lambda **kw: _lyap_np(**kw, order="asc")),
        Mistake("divided by T - 1", "There are T Jacobians (steps t = 1..T): divide the sum by T.",
                lambda **kw: _lyap_np(**kw, denom="T-1")),
        Mistake("sum of the logs, not their mean", "An exponent is a rate per step: divide the sum by T.",
                lambda **kw: _lyap_np(**kw, denom="1")),
        Mistake(*_TANH_PREV, lambda **kw: _lyap_np(**kw, slope="h_prev")),
        Mistake(*_NO_T, lambda **kw: _lyap_np(**kw, transpose=False)),
        Mistake("trajectory started from zeros", "The exponents are measured along the trajectory from the "
                "given h0.", lambda **kw: _lyap_np(**kw, start="zeros")),
        Mistake("state never advanced", "Step the RNN too: J_t is the Jacobian at the state the trajectory "
                "has reached, h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h).", lambda **kw: _lyap_np(**kw, advance=False)),
    ),
    # Exponents sit near 0 at the edge of chaos, so the comparison is absolute: atol 1e-8 in float64
    # (rounding after 150 steps is about 1e-14); float32 cases are short or ordered and stay within
    # 2e-6 of the reference.
    rtol=1e-6, atol=1e-8, rtol32=1e-4, atol32=2e-5,
))


# ---------------------------------------------------------------- tanh_fixed_points
def _tangent_bias(w):
    """|b| at which h = tanh(w h + b) has a double root (w > 1): the edge of the bistable region."""
    hc = np.sqrt(1 - 1 / w)
    return w * hc - np.arctanh(hc)


def _fixed_inputs(case):
    rng = np.random.default_rng(case.get("seed", 0))
    regime = case["regime"]
    if regime == "monostable":
        w, b = rng.uniform(-0.9, 0.9), rng.uniform(-1, 1)
    elif regime == "bistable":
        w = rng.uniform(1.5, 4.0)
        b = rng.uniform(-0.6, 0.6) * _tangent_bias(w)
    elif regime == "biased":
        w = rng.uniform(1.5, 3.0)
        b = rng.choice([-1, 1]) * (1.5 * _tangent_bias(w) + rng.uniform(0, 1))
    elif regime == "zero_bias":
        w, b = rng.uniform(1.3, 4.0), 0.0
    elif regime == "oscillating":
        w, b = rng.uniform(-4.0, -1.5), rng.uniform(-0.3, 0.3)
    else:
        raise ValueError(f"unknown regime {regime!r}")
    return dict(w=float(w), b=float(b))


def _scan(w, b, grid=20001, pairs="strict", refine=True, lo=-1.0, hi=1.0):
    """Sign changes of f(h) = tanh(w h + b) - h on a grid, refined by bisection; exact zeros kept."""
    f = lambda h: np.tanh(w * h + b) - h
    h = np.linspace(lo, hi, grid)
    v = f(h)
    exact = h[v == 0.0]
    prod = v[:-1] * v[1:]
    idx = np.flatnonzero(prod < 0 if pairs == "strict" else prod <= 0)
    a, c = h[idx], h[idx + 1]
    if refine:
        fa = f(a)
        for _ in range(80):
            m = 0.5 * (a + c)
            fm = f(m)
            left = np.sign(fm) == np.sign(fa)
            a, fa, c = np.where(left, m, a), np.where(left, fm, fa), np.where(left, c, m)
        a = np.where(f(a) == 0.0, a, 0.5 * (a + c))
    roots = np.concatenate([exact, a]) if pairs == "strict" else a
    return np.sort(roots)


def _stable(w, h, test="abs"):
    s = w * (1 - h ** 2)
    return {"abs": np.abs(s) < 1, "signed": s < 1, "no_w": np.abs(1 - h ** 2) < 1}[test]


def _fixed_points(w, b):
    h = _scan(w, b)
    return h, _stable(w, h)


def _iterate(w, b, starts):
    found = []
    for h in starts:
        for _ in range(3000):
            h = np.tanh(w * h + b)
        if not any(abs(h - g) < 1e-8 for g in found):
            found.append(h)
    h = np.sort(np.array(found, dtype=float))
    return h, _stable(w, h)


def _fixed_variant(w, b, *, test="abs", order="asc", **scan):
    h = _scan(w, b, **scan)
    st = _stable(w, h, test)
    if order == "desc":
        return h[::-1].copy(), st[::-1].copy()
    if order == "stable_first":
        i = np.argsort(~st, kind="stable")
        return h[i], st[i]
    return h, st


register(Exercise(
    name="tanh_fixed_points", assignment=A,
    args=("w", "b"), outputs=("h_star", "stable"), shapes={"h_star": "(K,)", "stable": "(K,) bool"},
    make_inputs=_fixed_inputs, reference=_fixed_points,
    mistakes=(
        Mistake("fixed-point iteration from one start", "Iterating h <- tanh(w h + b) finds one stable fixed "
                "point (the one whose basin you start in) and never an unstable one: scan f(h) = tanh(w h + b) - h "
                "for sign changes on [-1, 1].", lambda w, b: _iterate(w, b, [0.5])),
        Mistake("fixed-point iteration from both ends", "Iteration from -1 and from 1 finds the stable states "
                "but can never land on the unstable one between them.", lambda w, b: _iterate(w, b, [-1.0, 1.0])),
        Mistake("roots not refined", "A grid point next to a sign change is only as close as the grid spacing; "
                "bisect each bracketing interval down to 1e-10.", lambda w, b: _fixed_variant(w, b, refine=False)),
        Mistake("a root on a grid point counted twice", "With f[:-1] * f[1:] <= 0 a root that falls exactly on "
                "a grid point brackets two intervals; keep each root once.",
                lambda w, b: _fixed_variant(w, b, pairs="loose")),
        Mistake("stability test without abs", "A slope below -1 is unstable too (the iteration overshoots and "
                "oscillates): stable means |w (1 - h*^2)| < 1.", lambda w, b: _fixed_variant(w, b, test="signed")),
        Mistake("stability test without w", "The slope of h -> tanh(w h + b) at h* is w (1 - h*^2).",
                lambda w, b: _fixed_variant(w, b, test="no_w")),
        Mistake("roots in descending order", "Return the roots ascending (np.sort).",
                lambda w, b: _fixed_variant(w, b, order="desc")),
        Mistake("stable roots listed first", "Return the roots ascending, with stable[i] describing h_star[i].",
                lambda w, b: _fixed_variant(w, b, order="stable_first")),
    ),
    # Every root must be within 1e-10 (the contract); stable is compared exactly.
    rtol=0.0, atol=1e-10, rtol32=0.0, atol32=1e-10,
))


# ---------------------------------------------------------------- euler_rnn_forward
def _euler_inputs(case):
    r = CaseRandom(case)
    B, T, D, H = case["B"], case["T"], case["D"], case["H"]
    x, h0 = r.normal(B, T, D), r.initial_state(B, H)
    A_ = r.normal(H, H, scale=1 / np.sqrt(H)) - np.eye(H)
    return dict(x=x, h0=h0, A=A_, U=r.normal(D, H), dt=float(case["dt"]))


def _euler(x, h0, A, U, dt):
    """A linear RNN in torch: W_hh = I + dt A, W_xh = dt U, no bias, no nonlinearity."""
    B, T, D = x.shape
    H = A.shape[0]
    rec = load(nn.Linear(H, H, bias=False), {"weight": (np.eye(H) + dt * A).T})
    inp = load(nn.Linear(D, H, bias=False), {"weight": (dt * U).T})
    h = torch.zeros(B, H, dtype=torch.float64) if h0 is None else t(h0)
    out = []
    with torch.no_grad():
        for s in range(T):
            h = rec(h) + inp(t(x[:, s]))
            out.append(h)
    return n(torch.stack(out, dim=1))


def _euler_np(x, h0, A, U, dt, *, dt_in=True, dt_rec=True, identity=True, A_T=False, include_h0=False,
              use_h0=True):
    B, T, _ = x.shape
    H = A.shape[0]
    h = np.zeros((B, H)) if (h0 is None or not use_h0) else h0
    M = A.T if A_T else A
    out = []
    for s in range(T):
        if include_h0:
            out.append(h)
        h = (h if identity else 0) + (dt if dt_rec else 1) * (h @ M) + (dt if dt_in else 1) * (x[:, s] @ U)
        if not include_h0:
            out.append(h)
    return np.stack(out, axis=1)


register(Exercise(
    name="euler_rnn_forward", assignment=A,
    args=("x", "h0", "A", "U", "dt"), outputs=("h_all",), shapes={"h_all": "(B, T, H)"},
    make_inputs=_euler_inputs, reference=_euler,
    mistakes=(
        Mistake("dt missing on the input term", "The whole right-hand side is scaled: "
                "h_t = h_{t-1} + dt * (h_{t-1} @ A + x_t @ U).", lambda **kw: _euler_np(**kw, dt_in=False)),
        Mistake("dt missing on the A term", "The whole right-hand side is scaled: "
                "h_t = h_{t-1} + dt * (h_{t-1} @ A + x_t @ U).", lambda **kw: _euler_np(**kw, dt_rec=False)),
        Mistake("identity missing (h_t = dt * (h A + x U))", "Euler adds the increment to the current state: "
                "h_t = h_{t-1} + dt * (...), so W_hh = I + dt A.", lambda **kw: _euler_np(**kw, identity=False)),
        Mistake("A transposed", "With row vectors dh/dt = h @ A, so the step uses h_{t-1} @ A, not A @ h "
                "(= h @ A.T).", lambda **kw: _euler_np(**kw, A_T=True)),
        Mistake("h_all starts with h0", "h_all[:, t] is the state after step t+1; h0 itself is not an output.",
                lambda **kw: _euler_np(**kw, include_h0=True)),
        Mistake("h0 ignored", "Start from the given h0 (zeros only when it is None).",
                lambda **kw: _euler_np(**kw, use_h0=False)),
    ),
))


# ---------------------------------------------------------------- euler_max_stable_dt
def _spectrum_matrix(r: CaseRandom, eigs):
    """A real (H, H) matrix with the given eigenvalues (complex ones as a+-ib pairs), mixed by a random
    well-conditioned similarity."""
    blocks = []
    for lam in eigs:
        if isinstance(lam, complex):
            blocks.append(np.array([[lam.real, lam.imag], [-lam.imag, lam.real]]))
        else:
            blocks.append(np.array([[lam]]))
    H = sum(bl.shape[0] for bl in blocks)
    M = np.zeros((H, H))
    i = 0
    for bl in blocks:
        k = bl.shape[0]
        M[i:i + k, i:i + k] = bl
        i += k
    S = np.eye(H) + r.normal(H, H, scale=0.3 / np.sqrt(H))
    return S @ M @ np.linalg.inv(S)


def _dt_inputs(case):
    r = CaseRandom(case)
    H, kind = case["H"], case["kind"]
    if kind == "zero":
        return dict(A=np.zeros((H, H)))
    pairs = (H - 1) // 2 if kind != "real" else 0        # complex pairs a+-ib, then real eigenvalues
    stable = [complex(-r.rng.uniform(0.2, 2.0), r.rng.uniform(0.5, 3.0)) for _ in range(pairs)]
    stable += [-float(r.rng.uniform(0.2, 3.0)) for _ in range(H - 2 * pairs)]
    if kind == "unstable":
        stable[-1] = float(r.rng.uniform(0.1, 1.0))
    elif kind == "zero_eig":
        stable[-1] = 0.0
    elif kind == "imaginary":
        if pairs == 0:
            raise ValueError("kind 'imaginary' needs H >= 3")
        stable[0] = complex(0.0, stable[0].imag)
    elif kind not in ("stable", "real"):
        raise ValueError(f"unknown kind {kind!r}")
    return dict(A=_spectrum_matrix(r, stable))


_ZERO = 1e-12


def _max_dt(A):
    """The contract's formula on torch.linalg.eigvals."""
    lam = n(torch.linalg.eigvals(t(A)))
    nonzero = lam[np.abs(lam) > _ZERO]
    if nonzero.size == 0:
        return float("inf")
    if (nonzero.real > -_ZERO).any():
        return 0.0
    return float(np.min(-2 * nonzero.real / np.abs(nonzero) ** 2))


def _max_dt_np(A, *, formula="contract", zero="skip", unstable="zero", empty="inf"):
    lam = np.linalg.eigvals(A)
    if zero == "skip":
        keep = lam[np.abs(lam) > _ZERO]
    elif zero == "skip_re0":                 # skips every eigenvalue with Re = 0, not only lam = 0
        keep = lam[np.abs(lam.real) > _ZERO]
    else:                                    # a zero eigenvalue treated like an unstable one
        keep = lam
    if keep.size == 0:
        return float("inf") if empty == "inf" else 0.0
    if unstable == "zero" and (keep.real > -_ZERO).any():
        return 0.0
    with np.errstate(all="ignore"):
        bound = {"contract": -2 * keep.real / np.abs(keep) ** 2, "real": -2 / keep.real,
                 "radius": 2 / np.abs(keep), "abs": -2 * keep.real / np.abs(keep)}[formula]
    return float(np.min(bound))


register(Exercise(
    name="euler_max_stable_dt", assignment=A,
    args=("A",), outputs=("dt",),
    make_inputs=_dt_inputs, reference=_max_dt,
    mistakes=(
        Mistake("the bound from the real part only (2 / |Re lam|)", "|1 + dt lam| <= 1 involves the imaginary "
                "part too: for lam = a + ib it gives dt <= -2a / (a^2 + b^2) = -2 Re(lam) / |lam|^2.",
                lambda A: _max_dt_np(A, formula="real")),
        Mistake("the bound 2 / |lam|", "spectral_radius(I + dt A) <= 1 is |1 + dt lam| <= 1, a disc centred at "
                "-1/dt, not |dt lam| <= 2: the bound is -2 Re(lam) / |lam|^2.", lambda A: _max_dt_np(A, formula="radius")),
        Mistake("|lam| not squared", "Solve |1 + dt lam|^2 = 1 + 2 dt Re(lam) + dt^2 |lam|^2 <= 1: "
                "dt <= -2 Re(lam) / |lam|**2.", lambda A: _max_dt_np(A, formula="abs")),
        Mistake("zero eigenvalue treated as unstable", "A zero eigenvalue gives 1 + dt*0 = 1 for every dt: it "
                "sets no limit. Leave eigenvalues with |lam| <= 1e-12 out before the Re(lam) >= 0 test.",
                lambda A: _max_dt_np(A, zero="none")),
        Mistake("eigenvalues with Re = 0 left out", "Only lam = 0 sets no limit. A purely imaginary lam = ib "
                "gives |1 + i dt b| > 1 for every dt > 0, so the answer is 0.0.",
                lambda A: _max_dt_np(A, zero="skip_re0")),
        Mistake("negative dt for an unstable A", "When some eigenvalue has Re(lam) > 0, no dt > 0 is stable: "
                "return 0.0, not the (negative) formula.", lambda A: _max_dt_np(A, unstable="formula")),
    ),
    # A scalar of order 0.1 .. 3 (or 0.0, or inf): absolute tolerances only, so that an expected inf
    # rejects every finite answer (compare.py lets rtol * inf accept anything). Float32 eigenvalues
    # of these well-conditioned matrices are good to ~1e-6.
    rtol=0.0, atol=1e-9, rtol32=0.0, atol32=1e-5,
))


# ---------------------------------------------------------------- leaky_rnn_forward
def _leaky_inputs(case):
    r = CaseRandom(case)
    B, T, D, H = case["B"], case["T"], case["D"], case["H"]
    x, h0 = r.normal(B, T, D), r.initial_state(B, H)
    W_xh, W_hh, b_h = _rnn_weights(r, case, D, H)
    return dict(x=x, h0=h0, W_xh=W_xh, W_hh=W_hh, b_h=b_h, alpha=float(case["alpha"]))


def _check_alpha(alpha):
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")


def _leaky(x, h0, W_xh, W_hh, b_h, alpha):
    """h_t = (1 - alpha) h_{t-1} + alpha * nn.RNNCell(x_t, h_{t-1}), looped in torch."""
    _check_alpha(alpha)
    B, T, _ = x.shape
    cell = _cell(W_xh, W_hh, b_h)
    h = torch.zeros(B, W_hh.shape[0], dtype=torch.float64) if h0 is None else t(h0)
    out = []
    with torch.no_grad():
        for s in range(T):
            h = (1 - alpha) * h + alpha * cell(t(x[:, s]), h)
            out.append(h)
    out = torch.stack(out, dim=1)
    return n(out), n(h)


def _leaky_np(x, h0, W_xh, W_hh, b_h, alpha, *, form="contract", check="contract", use_h0=True):
    if check == "contract":
        _check_alpha(alpha)
    elif check == "open" and not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    elif check == "closed" and not 0 <= alpha <= 1:
        raise ValueError("alpha must be in [0, 1]")
    B, T, _ = x.shape
    H = W_hh.shape[0]
    h = np.zeros((B, H)) if (h0 is None or not use_h0) else h0
    out = []
    for s in range(T):
        z = x[:, s] @ W_xh + h @ W_hh + b_h
        if form == "contract":
            h = (1 - alpha) * h + alpha * np.tanh(z)
        elif form == "swapped":
            h = alpha * h + (1 - alpha) * np.tanh(z)
        elif form == "no_alpha_new":
            h = (1 - alpha) * h + np.tanh(z)
        elif form == "inside":
            h = np.tanh((1 - alpha) * h + alpha * z)
        out.append(h)
    out = np.stack(out, axis=1)
    return out, out[:, -1].copy()


register(Exercise(
    name="leaky_rnn_forward", assignment=A,
    variant_shapes=("B", "T", "D", "H"),
    args=("x", "h0", "W_xh", "W_hh", "b_h", "alpha"), outputs=("h_all", "h_last"),
    shapes={"h_all": "(B, T, H)", "h_last": "(B, H)"},
    make_inputs=_leaky_inputs, reference=_leaky,
    mistakes=(
        Mistake("the leak on the wrong term (alpha on the previous state)", "alpha is the share of the NEW "
                "value: h_t = (1 - alpha) * h_{t-1} + alpha * tanh(...); alpha = 1 must give the plain RNN.",
                lambda **kw: _leaky_np(**kw, form="swapped")),
        Mistake("alpha missing on the new term", "The two weights add up to 1: (1 - alpha) * h_{t-1} + "
                "alpha * tanh(...).", lambda **kw: _leaky_np(**kw, form="no_alpha_new")),
        Mistake("leak applied inside the tanh", "The state is mixed after the nonlinearity: "
                "h_t = (1 - alpha) * h_{t-1} + alpha * tanh(z_t), not tanh((1 - alpha) h + alpha z).",
                lambda **kw: _leaky_np(**kw, form="inside")),
        Mistake("h0 ignored", "Start from the given h0 (zeros only when it is None).",
                lambda **kw: _leaky_np(**kw, use_h0=False)),
    ),
))


# ---------------------------------------------------------------- forecasting
def _forecast_params(r: CaseRandom, case, D, H):
    W_xh, W_hh, b_h = _rnn_weights(r, case, D, H)
    return {"rnn": {"W_xh": W_xh, "W_hh": W_hh, "b_h": b_h}}


def _iter_inputs(case):
    r = CaseRandom(case)
    B, T, D, H, K = case["B"], case["T"], case["D"], case["H"], case["horizon"]
    context = r.normal(B, T, D)
    params = _forecast_params(r, case, D, H)
    params["W_out"], params["b_out"] = r.normal(H, D), r.normal(D, scale=0.3)
    return dict(context=context, params=params, horizon=K)


def _encode(context, rnn):
    """h_T of nn.RNN over the context, from zeros."""
    D = context.shape[2]
    H = rnn["W_hh"].shape[0]
    mod = load(nn.RNN(D, H, batch_first=True), {"weight_ih_l0": rnn["W_xh"].T, "weight_hh_l0": rnn["W_hh"].T,
                                                "bias_ih_l0": rnn["b_h"], "bias_hh_l0": np.zeros(H)})
    with torch.no_grad():
        _, h_n = mod(t(context))
    return h_n[0]


def _iterative(context, params, horizon):
    """nn.RNNCell + nn.Linear in an autoregressive loop: each prediction is the next input."""
    rnn = params["rnn"]
    cell = _cell(rnn["W_xh"], rnn["W_hh"], rnn["b_h"])
    H, D = params["W_out"].shape
    head = load(nn.Linear(H, D), {"weight": params["W_out"].T, "bias": params["b_out"]})
    B = context.shape[0]
    h = torch.zeros(B, H, dtype=torch.float64)
    ys = []
    with torch.no_grad():
        for s in range(context.shape[1]):
            h = cell(t(context[:, s]), h)
        for _ in range(horizon):
            y = head(h)
            ys.append(y)
            h = cell(y, h)
    return n(torch.stack(ys, dim=1))


def _iter_np(context, params, horizon, *, feed="prediction", extra_step=False, shift=False, feed_bias=True):
    rnn = params["rnn"]
    step = lambda u, h: _step_np(u, h, rnn["W_xh"], rnn["W_hh"], rnn["b_h"])
    B, T, D = context.shape
    h = np.zeros((B, rnn["W_hh"].shape[0]))
    for s in range(T):
        h = step(context[:, s], h)
    if extra_step:                     # the last context input consumed a second time
        h = step(context[:, -1], h)
    ys = []
    for _ in range(horizon + (1 if shift else 0)):
        y = h @ params["W_out"] + params["b_out"]
        ys.append(y)
        u = {"prediction": y if feed_bias else h @ params["W_out"], "last_input": context[:, -1],
             "zeros": np.zeros_like(y)}[feed]
        h = step(u, h)
    ys = ys[1:] if shift else ys
    return np.stack(ys, axis=1)


register(Exercise(
    name="iterative_forecast", assignment=A,
    args=("context", "params", "horizon"), outputs=("forecast",), shapes={"forecast": "(B, horizon, D)"},
    make_inputs=_iter_inputs, reference=_iterative,
    mistakes=(
        Mistake("the last context input fed back", "After the context, the input of each step is the "
                "model's own previous prediction y_i, not context[:, -1].",
                lambda **kw: _iter_np(**kw, feed="last_input")),
        Mistake("nothing fed back (zero input)", "Each prediction y_i is the next step's input: "
                "h = tanh(y_i W_xh + h W_hh + b_h).", lambda **kw: _iter_np(**kw, feed="zeros")),
        Mistake("prediction fed back without b_out", "Feed back exactly the prediction you output, "
                "y_i = h @ W_out + b_out.", lambda **kw: _iter_np(**kw, feed_bias=False)),
        Mistake("the last context input consumed twice", "The encoder has already read context[:, -1]; the "
                "first prediction comes from that state, before any further step.",
                lambda **kw: _iter_np(**kw, extra_step=True)),
        Mistake("stepped before predicting (off by one)", "y_0 = h_T @ W_out + b_out predicts the value right "
                "after the context; stepping first skips it.", lambda **kw: _iter_np(**kw, shift=True)),
    ),
))


def _direct_inputs(case):
    r = CaseRandom(case)
    B, T, D, H, K = case["B"], case["T"], case["D"], case["H"], case["horizon"]
    context = r.normal(B, T, D)
    params = _forecast_params(r, case, D, H)
    width = (K + 1) * D if case.get("bad_head") else K * D   # a head that does not fit the horizon
    params["W_dir"], params["b_dir"] = r.normal(H, width), r.normal(width, scale=0.3)
    return dict(context=context, params=params, horizon=K)


def _direct(context, params, horizon):
    """nn.RNN + nn.Linear(H, horizon * D), reshaped step-major."""
    B, _, D = context.shape
    W, bias = params["W_dir"], params["b_dir"]
    if W.shape[1] != horizon * D or bias.shape != (horizon * D,):
        raise ValueError(f"W_dir should be (H, {horizon * D}), got {W.shape}")
    head = load(nn.Linear(*W.shape), {"weight": W.T, "bias": bias})
    with torch.no_grad():
        out = head(_encode(context, params["rnn"]))
    return n(out.reshape(B, horizon, D))


def _direct_np(context, params, horizon, *, layout="step", state="last", bias=True, check=True):
    B, T, D = context.shape
    rnn = params["rnn"]
    if check and params["W_dir"].shape[1] != horizon * D:
        raise ValueError("W_dir does not fit the horizon")
    h, states = np.zeros((B, rnn["W_hh"].shape[0])), []
    for s in range(T):
        h = _step_np(context[:, s], h, rnn["W_xh"], rnn["W_hh"], rnn["b_h"])
        states.append(h)
    h = states[-1] if state == "last" else states[0]
    out = h @ params["W_dir"] + (params["b_dir"] if bias else 0.0)
    if layout == "feature":
        return out.reshape(B, D, -1).transpose(0, 2, 1).copy()
    return out.reshape(B, -1, D)


register(Exercise(
    name="direct_forecast", assignment=A,
    args=("context", "params", "horizon"), outputs=("forecast",), shapes={"forecast": "(B, horizon, D)"},
    make_inputs=_direct_inputs, reference=_direct,
    mistakes=(
        Mistake("reshaped feature-major", "The head's outputs are step-major: entries i*D .. i*D + D-1 are "
                "step i, so out.reshape(B, horizon, D), not reshape(B, D, horizon).transpose(0, 2, 1).",
                lambda **kw: _direct_np(**kw, layout="feature")),
        Mistake("head applied to the first state", "The head reads the encoder's LAST state h_T, the summary "
                "of the whole context.", lambda **kw: _direct_np(**kw, state="first")),
        Mistake("b_dir left out", "The head is h_T @ W_dir + b_dir.", lambda **kw: _direct_np(**kw, bias=False)),
    ),
))
