"""ps2_bptt: what the generic tests cannot know.

The registry's references for the backward passes recover the bias from the states (the contract
does not pass ``b_h`` to them), pin states, or build graphs step by step. Here each reference is
compared with PyTorch built exactly the way the contract words it, with the true bias, and with
brute-force computations that share no code with it. The last test backs the float32 tolerance
with a measurement.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from autograder.exercises import registry
from autograder.checks.cells import load_functions
from autograder.checks.api import case_inputs, expected_output
from autograder.course import ROOT
from autograder.exercises.inputs import CaseRandom

ex = registry.get
T64 = torch.float64


def _contract_rnn(W_xh, W_hh, b_h, split=0.3):
    """nn.RNN as the contract builds it: weight_ih = W_xh.T, weight_hh = W_hh.T, bias_ih + bias_hh = b_h."""
    D, H = W_xh.shape
    rnn = nn.RNN(D, H, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor(W_xh.T))
        rnn.weight_hh_l0.copy_(torch.tensor(W_hh.T))
        rnn.bias_ih_l0.copy_(torch.tensor(split * b_h))
        rnn.bias_hh_l0.copy_(torch.tensor((1 - split) * b_h))
    return rnn


def _close(a, b, rtol=1e-9, atol=1e-11):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol)


def _seq_problem(B, T, D, H, seed, h0=True, rho=None):
    r = CaseRandom({"seed": seed})
    x, W_xh, W_hh, b_h = r.normal(B, T, D), r.weight(H, D, H), r.weight(H, H, H), r.weight(H, H)
    if rho is not None:
        W_hh = W_hh * rho / np.abs(np.linalg.eigvals(W_hh)).max()
    return x, (r.normal(B, H, scale=0.5) if h0 else None), W_xh, W_hh, b_h, r


@pytest.mark.parametrize("h0, with_all, with_last, rho", [
    (True, True, False, None), (False, True, True, None), (True, False, True, 1.4), (False, True, True, 0.6)])
def test_rnn_backward_reference_equals_autograd_through_nn_rnn(h0, with_all, with_last, rho):
    B, T, D, H = 3, 11, 4, 5
    x, h0_, W_xh, W_hh, b_h, r = _seq_problem(B, T, D, H, seed=7, h0=h0, rho=rho)
    dh_all = r.normal(B, T, H) if with_all else np.zeros((B, T, H))
    dh_last = r.normal(B, H) if with_last else None
    rnn = _contract_rnn(W_xh, W_hh, b_h)
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(np.zeros((1, B, H)) if h0_ is None else h0_[None], requires_grad=True)
    out, h_n = rnn(xt, h0t)
    loss = (out * torch.tensor(dh_all)).sum()
    if dh_last is not None:
        loss = loss + (h_n[0] * torch.tensor(dh_last)).sum()
    g = torch.autograd.grad(loss, [xt, h0t, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0])
    ref = ex("rnn_backward").reference(dh_all=dh_all, x=x, h0=h0_, h_all=out.detach().numpy(),
                                       W_xh=W_xh, W_hh=W_hh, dh_last=dh_last)
    _close(ref["dx"], g[0])
    _close(ref["dh0"], g[1][0])
    _close(ref["dW_xh"], g[2].T)
    _close(ref["dW_hh"], g[3].T)
    _close(ref["db_h"], g[4])
    _close(ref["db_h"], g[5])          # both torch biases get the same gradient


def test_rnn_step_backward_reference_equals_one_step_of_nn_rnn():
    x, h_prev, W_xh, W_hh, b_h, r = _seq_problem(4, 1, 3, 5, seed=8)
    dh = r.normal(4, 5)
    rnn = _contract_rnn(W_xh, W_hh, b_h, split=0.8)
    xt, ht = torch.tensor(x, requires_grad=True), torch.tensor(h_prev[None], requires_grad=True)
    out, _ = rnn(xt, ht)
    g = torch.autograd.grad((out[:, 0] * torch.tensor(dh)).sum(), [xt, ht, rnn.weight_ih_l0, rnn.weight_hh_l0,
                                                                   rnn.bias_hh_l0])
    ref = ex("rnn_step_backward").reference(dh_t=dh, x_t=x[:, 0], h_prev=h_prev, h_t=out[:, 0].detach().numpy(),
                                            W_xh=W_xh, W_hh=W_hh)
    for key, want in zip(["dx_t", "dh_prev", "dW_xh", "dW_hh", "db_h"], [g[0][:, 0], g[1][0], g[2].T, g[3].T, g[4]]):
        _close(ref[key], want)


def test_truncated_reference_by_brute_force():
    """k >= T is full BPTT; k = 1 is the sum of one-step gradients at the forward states."""
    B, T, D, H = 2, 6, 3, 4
    x, h0, W_xh, W_hh, b_h, r = _seq_problem(B, T, D, H, seed=9)
    dh_all = r.normal(B, T, H)
    trunc = ex("truncated_bptt_grads").reference
    rnn = _contract_rnn(W_xh, W_hh, b_h)
    out, _ = rnn(torch.tensor(x), torch.tensor(h0[None]))
    h_all = out.detach().numpy()
    full = ex("rnn_backward").reference(dh_all=dh_all, x=x, h0=h0, h_all=h_all, W_xh=W_xh, W_hh=W_hh)
    for k in (T, T + 3):
        got = trunc(x=x, h0=h0, W_xh=W_xh, W_hh=W_hh, b_h=b_h, dh_all=dh_all, k=k)
        for key in got:
            _close(got[key], full[key])
    prev = np.concatenate([h0[:, None], h_all[:, :-1]], axis=1)
    dz = dh_all * (1 - h_all ** 2)
    got = trunc(x=x, h0=h0, W_xh=W_xh, W_hh=W_hh, b_h=b_h, dh_all=dh_all, k=1)
    _close(got["dW_xh"], np.einsum("btd,bth->dh", x, dz))
    _close(got["dW_hh"], np.einsum("btk,bth->kh", prev, dz))
    _close(got["db_h"], dz.sum(axis=(0, 1)))


def test_jacobian_norms_reference_against_finite_differences():
    r = CaseRandom({"seed": 10})
    T, D, H = 7, 3, 4
    x, h0 = r.normal(T, D), r.normal(H, scale=0.5)
    W_xh, W_hh, b_h = r.weight(H, D, H), r.weight(H, H, H) * 2, r.weight(H, H)

    def run(h, start):                             # h_T from h_start
        for s in range(start, T):
            h = np.tanh(x[s] @ W_xh + h @ W_hh + b_h)
        return h

    states = [h0]                                  # states[k] = h_k
    for s in range(T):
        states.append(np.tanh(x[s] @ W_xh + states[-1] @ W_hh + b_h))
    want = []
    for k in range(T):
        J = np.stack([(run(states[k] + 1e-6 * e, k) - run(states[k] - 1e-6 * e, k)) / 2e-6 for e in np.eye(H)], axis=1)
        want.append(np.linalg.norm(J, 2))
    _close(ex("hidden_jacobian_norms").reference(x=x, h0=h0, W_xh=W_xh, W_hh=W_hh, b_h=b_h), want, rtol=1e-7, atol=0)


def test_temporal_loss_reference_against_ignore_index_and_a_loop():
    case = {"B": 3, "T": 6, "V": 5, "seed": 11, "mask": "lengths", "pad": True}
    inputs = case_inputs("temporal_softmax_loss", case)
    loss, dlogits = expected_output("temporal_softmax_loss", case, inputs)
    logits, targets, mask = inputs["logits"], inputs["targets"], inputs["mask"]
    lt = torch.tensor(logits, requires_grad=True)
    other = F.cross_entropy(lt.reshape(-1, 5), torch.tensor(np.where(mask, targets, -100)).reshape(-1))
    other.backward()
    _close(loss, other.item())
    _close(dlogits, lt.grad)
    picked = [(b, t) for b in range(3) for t in range(6) if mask[b, t]]
    by_hand = -np.mean([logits[b, t, targets[b, t]] - np.log(np.exp(logits[b, t]).sum()) for b, t in picked])
    _close(loss, by_hand)
    empty = expected_output("temporal_softmax_loss", dict(case, mask="empty"))
    assert empty[0] == 0.0 and not empty[1].any()


def test_clip_reference_is_the_documented_formula():
    for case in [{"D": 3, "H": 4, "seed": 1, "norm": 5.0, "max_norm": 1.0},
                 {"D": 3, "H": 4, "seed": 2, "norm": 1e-6, "max_norm": 5e-7},
                 {"D": 2, "H": 3, "seed": 3, "norm": 0.3, "max_norm": 1.0}]:
        inputs = case_inputs("clip_grad_norm", case)
        clipped, total = expected_output("clip_grad_norm", case, inputs)
        norm = np.sqrt(sum((g ** 2).sum() for g in inputs["grads"].values()))
        assert total == pytest.approx(case["norm"], rel=1e-12) and total == pytest.approx(norm, rel=1e-12)
        scale = min(1.0, case["max_norm"] / (norm + 1e-6))
        for key, g in inputs["grads"].items():
            _close(clipped[key], g * scale, rtol=1e-12, atol=0)


def test_numeric_gradient_reference_approximates_the_true_gradient():
    case = {"B": 2, "T": 4, "D": 3, "H": 3, "seed": 12, "h0": True, "dh_last": True}
    for wrt, key in [("x", "dx"), ("h0", "dh0"), ("W_hh", "dW_hh"), ("b_h", "db_h")]:
        inputs = case_inputs("rnn_numeric_gradient", dict(case, wrt=wrt))
        numeric = expected_output("rnn_numeric_gradient", dict(case, wrt=wrt), inputs)
        rnn = _contract_rnn(inputs["W_xh"], inputs["W_hh"], inputs["b_h"])
        out, _ = rnn(torch.tensor(inputs["x"]), torch.tensor(inputs["h0"][None]))
        exact = ex("rnn_backward").reference(dh_all=inputs["dh_all"], x=inputs["x"], h0=inputs["h0"],
                                             h_all=out.detach().numpy(), W_xh=inputs["W_xh"], W_hh=inputs["W_hh"],
                                             dh_last=inputs["dh_last"])[key]
        _close(numeric, exact, rtol=1e-6, atol=1e-8)


def test_float32_bptt_error_is_far_inside_the_tolerance():
    """The tolerance note: BPTT through 30 steps in float32 stays within ~1e-5 of float64."""
    solution = load_functions(ROOT / "source" / "ps2_bptt" / "ps2_bptt.ipynb")["rnn_backward"]
    for case in [{"B": 2, "T": 30, "D": 3, "H": 8, "seed": 24, "h0": True, "dh_last": True, "dtype": "float32"},
                 {"B": 2, "T": 30, "D": 3, "H": 6, "seed": 3, "rho": 1.5, "h0": True, "loss": "last", "dtype": "float32"}]:
        inputs = case_inputs("rnn_backward", case)
        want = expected_output("rnn_backward", case, inputs)
        got = solution(**inputs)
        for key in want:
            err = np.abs(got[key].astype(np.float64) - want[key]).max() / np.abs(want[key]).max()
            assert err < 1e-5, (case, key, err)
