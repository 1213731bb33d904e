"""ps6_dynamics: what the generic tests cannot know.

Each registry reference is compared with a PyTorch (or exact) computation built here independently,
the way the contract words it: the Jacobian from one batched autograd call through nn.RNNCell,
Lyapunov exponents against cases with a known answer and against the determinant identity, fixed
points against a dense grid and autograd slopes, Euler's bound against the eigenvalues of
I + dt*A and a simulated blow-up, the recurrences and forecasts against nn modules. The last tests
run the validation mistakes that the catalogue cannot name against the public cases, and measure
the float32 error that the tolerances allow for.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from autograder.exercises import registry
from autograder.authoring.catalogue import declarations
from autograder.checks.cells import load_functions
from autograder.checks.api import case_inputs, expected_output, run_case
from autograder.course import ROOT
from autograder.exercises import ps6_dynamics as ps6

A = "ps6_dynamics"
ex = registry.get
T64 = torch.float64


def _tt(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def _cell(W_xh, W_hh, b_h, split=0.3):
    """nn.RNNCell as the contract builds it: weight_ih = W_xh.T, weight_hh = W_hh.T, biases adding to b_h."""
    D, H = W_xh.shape
    cell = nn.RNNCell(D, H).double()
    with torch.no_grad():
        cell.weight_ih.copy_(_tt(W_xh.T))
        cell.weight_hh.copy_(_tt(W_hh.T))
        cell.bias_ih.copy_(_tt(split * b_h))
        cell.bias_hh.copy_(_tt((1 - split) * b_h))
    return cell


def _rnn(W_xh, W_hh, b_h):
    D, H = W_xh.shape
    rnn = nn.RNN(D, H, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(_tt(W_xh.T))
        rnn.weight_hh_l0.copy_(_tt(W_hh.T))
        rnn.bias_ih_l0.copy_(_tt(0.6 * b_h))
        rnn.bias_hh_l0.copy_(_tt(0.4 * b_h))
    return rnn


def _close(a, b, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def solution():
    return load_functions(ROOT / "source" / A / f"{A}.ipynb")


# ---------------------------------------------------------------- rnn_jacobian
@pytest.mark.parametrize("case", [{"B": 3, "D": 2, "H": 4, "seed": 5}, {"B": 2, "D": 3, "H": 6, "seed": 6, "scale": 3.0}])
def test_jacobian_reference_is_the_block_diagonal_of_one_batched_autograd_call(case):
    inp = case_inputs("rnn_jacobian", case)
    cell = _cell(inp["W_xh"], inp["W_hh"], inp["b_h"])
    full = torch.autograd.functional.jacobian(lambda h: cell(_tt(inp["x_t"]), h), _tt(inp["h_prev"]))  # (B,H,B,H)
    B = case["B"]
    blocks = np.stack([full[b, :, b, :].numpy() for b in range(B)])
    _close(expected_output("rnn_jacobian", case), blocks)
    off = full.clone()
    for b in range(B):
        off[b, :, b, :] = 0
    assert float(off.abs().max()) == 0.0          # rows of the batch do not interact


# ---------------------------------------------------------------- lyapunov_spectrum
def test_lyapunov_of_a_diagonal_linear_regime_is_log_of_the_diagonal():
    """x = 0, b = 0, h0 = 0: the state stays at 0, every J_t = W_hh.T, and QR of a diagonal product is exact."""
    d = np.array([0.9, -0.5, 0.3, 1.2])
    H = len(d)
    args = dict(x=np.zeros((25, 2)), h0=np.zeros(H), W_xh=np.ones((2, H)), W_hh=np.diag(d), b_h=np.zeros(H))
    _close(ps6._lyapunov(**args, k=H), np.sort(np.log(np.abs(d)))[::-1])
    # Q_0 = I[:, :2] spans an invariant subspace of a diagonal J: the first two coordinates' rates
    _close(ps6._lyapunov(**args, k=2), np.log([0.9, 0.5]))


@pytest.mark.parametrize("gain", [0.5, 1.5])
def test_lyapunov_sum_equals_the_mean_log_determinant(gain):
    """With k = H the exponents add up to (1/T) sum_t log|det J_t| (QR preserves |det|)."""
    case = {"T": 60, "D": 2, "H": 5, "k": 5, "seed": 9, "gain": gain, "h0": True}
    inp = case_inputs("lyapunov_spectrum", case)
    cell = _cell(inp["W_xh"], inp["W_hh"], inp["b_h"], split=0.8)
    h, logdet = _tt(inp["h0"]), 0.0
    for s in range(case["T"]):
        xs = _tt(inp["x"][s])[None]
        J = torch.autograd.functional.jacobian(lambda v: cell(xs, v[None])[0], h)
        logdet += float(torch.linalg.slogdet(J)[1])
        with torch.no_grad():
            h = cell(xs, h[None])[0]
    _close(expected_output("lyapunov_spectrum", case).sum(), logdet / case["T"], rtol=1e-9, atol=1e-10)


def test_largest_lyapunov_exponent_equals_the_growth_of_one_tangent_vector():
    """k = 1: the renormalised power iteration v <- J v / |J v| gives the same mean log growth."""
    case = {"T": 80, "D": 2, "H": 6, "k": 1, "seed": 10, "gain": 1.5, "h0": True}
    inp = case_inputs("lyapunov_spectrum", case)
    cell = _cell(inp["W_xh"], inp["W_hh"], inp["b_h"])
    h, v, total = _tt(inp["h0"]), torch.eye(6, dtype=T64)[:, 0], 0.0
    for s in range(case["T"]):
        xs = _tt(inp["x"][s])[None]
        J = torch.autograd.functional.jacobian(lambda u: cell(xs, u[None])[0], h)
        v = J @ v
        total += float(torch.log(v.norm()))
        v = v / v.norm()
        with torch.no_grad():
            h = cell(xs, h[None])[0]
    _close(expected_output("lyapunov_spectrum", case), [total / case["T"]], rtol=1e-9, atol=1e-10)


# ---------------------------------------------------------------- tanh_fixed_points
@pytest.mark.parametrize("regime", ["monostable", "bistable", "biased", "zero_bias", "oscillating"])
@pytest.mark.parametrize("seed", [1, 2, 11])
def test_fixed_points_are_roots_counted_on_a_dense_grid_with_autograd_slopes(regime, seed):
    inp = case_inputs("tanh_fixed_points", {"regime": regime, "seed": seed})
    w, b = inp["w"], inp["b"]
    h_star, stable = expected_output("tanh_fixed_points", {"regime": regime, "seed": seed})
    assert np.all(np.abs(np.tanh(w * h_star + b) - h_star) < 1e-12)
    grid = np.linspace(-1 + 1e-9, 1 - 1e-9, 1_000_000)     # a different, much finer grid (no point at 0)
    f = np.tanh(w * grid + b) - grid
    assert len(h_star) == int((np.sign(f[:-1]) != np.sign(f[1:])).sum())
    assert np.all(np.diff(h_star) > 1e-6)
    hs = torch.tensor(h_star, requires_grad=True)
    (slope,) = torch.autograd.grad(torch.tanh(w * hs + b).sum(), hs)
    np.testing.assert_array_equal(stable, slope.abs().numpy() < 1)
    expect_k = {"monostable": 1, "bistable": 3, "biased": 1, "zero_bias": 3, "oscillating": 1}[regime]
    assert len(h_star) == expect_k
    if regime == "oscillating":
        assert not stable.any()


def test_known_fixed_points():
    h, s = ps6._fixed_points(0.5, 0.0)
    _close(h, [0.0]); assert s.tolist() == [True]
    h, s = ps6._fixed_points(2.0, 0.0)                    # h = tanh(2h): +-0.957504
    _close(h, [-0.9575040240772687, 0.0, 0.9575040240772687], atol=1e-12)
    assert s.tolist() == [True, False, True]


# ---------------------------------------------------------------- Euler
def _radius(M):
    return float(torch.linalg.eigvals(_tt(M)).abs().max())


@pytest.mark.parametrize("kind,seed", [("stable", 1), ("stable", 11), ("real", 2), ("zero_eig", 5), ("zero_eig", 15)])
def test_euler_bound_is_where_the_spectral_radius_reaches_one_and_trajectories_blow_up(kind, seed):
    A_ = case_inputs("euler_max_stable_dt", {"H": 5, "kind": kind, "seed": seed})["A"]
    dt = expected_output("euler_max_stable_dt", {"H": 5, "kind": kind, "seed": seed})
    I = np.eye(5)
    assert abs(_radius(I + dt * A_) - 1) < 1e-9
    assert _radius(I + 0.98 * dt * A_) <= 1 + 1e-12 < _radius(I + 1.02 * dt * A_)
    lin = nn.Linear(5, 5, bias=False).double()
    h0 = torch.ones(1, 5, dtype=T64)
    for factor, grows in [(0.9, False), (1.1, True)]:
        with torch.no_grad():
            lin.weight.copy_(_tt((I + factor * dt * A_).T))
            h = h0
            for _ in range(3000):
                h = lin(h)
        assert (float(h.norm()) > 10 * float(h0.norm())) == grows, (factor, float(h.norm()))


@pytest.mark.parametrize("kind", ["unstable", "imaginary"])
def test_no_step_is_stable_with_an_eigenvalue_on_or_right_of_the_axis(kind):
    A_ = case_inputs("euler_max_stable_dt", {"H": 5, "kind": kind, "seed": 3})["A"]
    assert expected_output("euler_max_stable_dt", {"H": 5, "kind": kind, "seed": 3}) == 0.0
    for dt in [1e-3, 1e-2, 0.1]:
        assert _radius(np.eye(5) + dt * A_) > 1 + 1e-9


def test_all_zero_spectrum_sets_no_limit():
    assert expected_output("euler_max_stable_dt", {"H": 3, "kind": "zero", "seed": 6}) == float("inf")


@pytest.mark.parametrize("case", [{"B": 2, "T": 7, "D": 3, "H": 4, "seed": 3, "dt": 0.1, "h0": True},
                                  {"B": 3, "T": 5, "D": 2, "H": 3, "seed": 4, "dt": 0.5}])
def test_euler_forward_reference_equals_the_closed_form_of_the_linear_rnn(case):
    """h_t = h0 W^t + sum_{s<=t} x_s (dt U) W^(t-s), W = I + dt A, from torch.linalg.matrix_power."""
    inp = case_inputs("euler_rnn_forward", case)
    B, T, H = case["B"], case["T"], case["H"]
    W = _tt(np.eye(H) + inp["dt"] * inp["A"])
    h0 = torch.zeros(B, H, dtype=T64) if inp["h0"] is None else _tt(inp["h0"])
    xU = _tt(inp["x"]) @ _tt(inp["dt"] * inp["U"])
    want = [h0 @ torch.linalg.matrix_power(W, t + 1)
            + sum(xU[:, s] @ torch.linalg.matrix_power(W, t - s) for s in range(t + 1)) for t in range(T)]
    _close(expected_output("euler_rnn_forward", case), torch.stack(want, 1).numpy(), rtol=1e-9, atol=1e-11)


# ---------------------------------------------------------------- leaky RNN and forecasts
@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_leaky_reference_against_nn_rnn(alpha):
    case = {"B": 2, "T": 6, "D": 3, "H": 4, "seed": 8, "alpha": alpha, "h0": True}
    inp = case_inputs("leaky_rnn_forward", case)
    rnn = _rnn(inp["W_xh"], inp["W_hh"], inp["b_h"])
    with torch.no_grad():
        if alpha == 1.0:                                    # alpha = 1 is nn.RNN itself
            out, h_n = rnn(_tt(inp["x"]), _tt(inp["h0"])[None])
            want = (out.numpy(), h_n[0].numpy())
        else:
            h, outs = _tt(inp["h0"])[None], []
            for s in range(case["T"]):
                _, new = rnn(_tt(inp["x"][:, s:s + 1]), h)
                h = (1 - alpha) * h + alpha * new
                outs.append(h[0])
            want = (torch.stack(outs, 1).numpy(), h[0].numpy())
    got = expected_output("leaky_rnn_forward", case)
    _close(got[0], want[0]); _close(got[1], want[1])


def test_forecast_references_against_nn_modules():
    case = {"B": 3, "T": 6, "D": 2, "H": 5, "horizon": 4, "seed": 21}
    inp = case_inputs("iterative_forecast", case)
    p = inp["params"]
    rnn = _rnn(p["rnn"]["W_xh"], p["rnn"]["W_hh"], p["rnn"]["b_h"])
    head = nn.Linear(5, 2).double()
    with torch.no_grad():
        head.weight.copy_(_tt(p["W_out"].T)); head.bias.copy_(_tt(p["b_out"]))
        _, h = rnn(_tt(inp["context"]))
        ys = []
        for _ in range(case["horizon"]):
            y = head(h[0])
            ys.append(y)
            _, h = rnn(y[:, None], h)
    _close(expected_output("iterative_forecast", case), torch.stack(ys, 1).numpy())

    inp = case_inputs("direct_forecast", case)
    p = inp["params"]
    rnn = _rnn(p["rnn"]["W_xh"], p["rnn"]["W_hh"], p["rnn"]["b_h"])
    head = nn.Linear(5, 8).double()
    with torch.no_grad():
        head.weight.copy_(_tt(p["W_dir"].T)); head.bias.copy_(_tt(p["b_dir"]))
        _, h = rnn(_tt(inp["context"]))
        want = head(h[0]).reshape(3, 4, 2).numpy()
    _close(expected_output("direct_forecast", case), want)
    assert expected_output("direct_forecast", case)[0, 1, 0] == pytest.approx(float(want.reshape(3, 8)[0, 2]))


# ---------------------------------------------------------------- what the catalogue cannot name
def _public(name):
    return [c for d in declarations(A)[name] if not d.hidden for c in d.cases]


def _rejected(name, fn, cases):
    out = []
    for c in cases:
        try:
            out.append(run_case(ex(name), fn, c) is not None)
        except Exception:
            out.append(True)                      # the cell errors: a rejection too
    return any(out)


@pytest.mark.parametrize("check_mode", ["none", "closed", "open"])
def test_leaky_validation_mistakes_fail_in_public(check_mode):
    """No ValueError at all / alpha = 0 accepted / alpha = 1 rejected: each fails a public case."""
    fn = lambda x, h0, W_xh, W_hh, b_h, alpha: ps6._leaky_np(x, h0, W_xh, W_hh, b_h, alpha, check=check_mode)
    assert _rejected("leaky_rnn_forward", fn, _public("leaky_rnn_forward"))


def test_direct_head_width_mistake_fails_in_public():
    fn = lambda context, params, horizon: ps6._direct_np(context, params, horizon, check=False)
    assert _rejected("direct_forecast", fn, _public("direct_forecast"))


def test_zero_instead_of_inf_for_an_all_zero_A_fails_in_public():
    fn = lambda A_: ps6._max_dt_np(A_, empty="zero")
    assert _rejected("euler_max_stable_dt", fn, _public("euler_max_stable_dt"))


# ---------------------------------------------------------------- float32 headroom
def test_float32_cases_stay_well_inside_the_tolerances(solution):
    """The solution on every declared float32 case: its error against the float64 reference, as a
    fraction of what the tolerance allows, stays below 0.1."""
    worst = {}
    for name, decls in declarations(A).items():
        e = ex(name)
        rtol, atol = e.rtol32, e.atol32
        for c in (c for d in decls for c in d.cases if c.get("dtype") == "float32"):
            inp = case_inputs(e, c)
            got, want = solution[name](**inp), expected_output(e, c, inp)
            for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
                g, w = np.asarray(g, dtype=float), np.asarray(w, dtype=float)
                ratio = float((np.abs(g - w) / (atol + rtol * np.abs(w))).max())
                worst[name] = max(worst.get(name, 0.0), ratio)
    assert worst and max(worst.values()) < 0.1, worst
