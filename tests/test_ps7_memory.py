"""ps7_memory: what the generic tests cannot know.

The references load ps1's layout into torch modules with ``bias_hh = 0`` (LSTM) and run a
``StackRNN`` module defined next to them. Here they are compared with torch built independently
the contract's way: default-initialised ``nn.LSTMCell`` / ``nn.GRUCell`` / ``nn.LSTM`` with both
biases non-zero and autograd, and the stack RNN's step checked by hand on a tiny case.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from autograder.exercises import registry

torch.manual_seed(0)
ref = lambda name: registry.get(name).reference
N = lambda p: p.detach().numpy().astype(np.float64)
T64 = torch.float64


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-10, atol=1e-12)


def test_lstm_cell_backward_reference_equals_autograd_through_nn_lstmcell():
    cell = nn.LSTMCell(3, 4).double()                       # default init: bias_ih and bias_hh both non-zero
    x, h, c = (torch.randn(5, k, dtype=T64, requires_grad=True) for k in (3, 4, 4))
    dh, dc = torch.randn(5, 4, dtype=T64), torch.randn(5, 4, dtype=T64)
    h_t, c_t = cell(x, (h, c))
    params = dict(W_x=N(cell.weight_ih).T, W_h=N(cell.weight_hh).T, b=N(cell.bias_ih) + N(cell.bias_hh))
    for with_dc in (True, False):
        loss = (h_t * dh).sum() + ((c_t * dc).sum() if with_dc else 0)
        g = torch.autograd.grad(loss, [x, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh],
                                retain_graph=True)
        got = ref("lstm_cell_backward")(dh_t=N(dh), dc_t=N(dc) if with_dc else None, x_t=N(x), h_prev=N(h),
                                        c_prev=N(c), **params)
        for key, want in zip(["dx_t", "dh_prev", "dc_prev"], g[:3]):
            _close(got[key], want)
        _close(got["dW_x"], g[3].T)
        _close(got["dW_h"], g[4].T)
        _close(got["db"], g[5])
        _close(got["db"], g[6])


def test_lstm_backward_reference_equals_autograd_through_nn_lstm():
    lstm = nn.LSTM(3, 4, batch_first=True).double()
    x = torch.randn(2, 7, 3, dtype=T64, requires_grad=True)
    h0, c0 = (torch.randn(1, 2, 4, dtype=T64, requires_grad=True) for _ in range(2))
    dh_all = torch.randn(2, 7, 4, dtype=T64)
    out, _ = lstm(x, (h0, c0))
    g = torch.autograd.grad((out * dh_all).sum(), [x, h0, c0, lstm.weight_ih_l0, lstm.weight_hh_l0,
                                                   lstm.bias_ih_l0, lstm.bias_hh_l0])
    got = ref("lstm_backward")(dh_all=N(dh_all), x=N(x), h0=N(h0[0]), c0=N(c0[0]), W_x=N(lstm.weight_ih_l0).T,
                               W_h=N(lstm.weight_hh_l0).T, b=N(lstm.bias_ih_l0) + N(lstm.bias_hh_l0))
    _close(got["dx"], g[0])
    _close(got["dh0"], g[1][0])
    _close(got["dc0"], g[2][0])
    _close(got["dW_x"], g[3].T)
    _close(got["dW_h"], g[4].T)
    _close(got["db"], g[5])
    _close(got["db"], g[6])


def test_gru_cell_backward_reference_equals_autograd_through_nn_grucell():
    cell = nn.GRUCell(3, 4).double()
    x, h = torch.randn(5, 3, dtype=T64, requires_grad=True), torch.randn(5, 4, dtype=T64, requires_grad=True)
    dh = torch.randn(5, 4, dtype=T64)
    g = torch.autograd.grad((cell(x, h) * dh).sum(), [x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih,
                                                      cell.bias_hh])
    got = ref("gru_cell_backward")(dh_t=N(dh), x_t=N(x), h_prev=N(h), W_x=N(cell.weight_ih).T,
                                   W_h=N(cell.weight_hh).T, b_x=N(cell.bias_ih), b_h=N(cell.bias_hh))
    for key, want in zip(["dx_t", "dh_prev"], g[:2]):
        _close(got[key], want)
    _close(got["dW_x"], g[2].T)
    _close(got["dW_h"], g[3].T)
    _close(got["db_x"], g[4])
    _close(got["db_h"], g[5])


def _tiny_params(action_logits, value):
    """H = D = M = 1; h_t = tanh(0) = 0 so the actions are softmax(b_a) and v_t = sigmoid(b_v)."""
    z = np.zeros((1, 1))
    return {"W_xh": z, "W_hh": z, "W_sh": z, "b_h": np.zeros(1), "W_a": np.zeros((1, 3)),
            "b_a": np.asarray(action_logits, float), "W_v": z, "b_v": np.array([value])}


def test_stack_rnn_step_by_hand():
    s_prev = np.array([[[0.1], [0.2], [0.3]]])          # top 0.1, bottom 0.3
    x, h = np.zeros((1, 1)), np.zeros((1, 1))
    big = 60.0                                          # softmax one-hot to 1e-26
    v = 1 / (1 + np.exp(-0.5))
    cases = {                                           # action -> stack after the step
        "push": ([big, 0, 0], [v, 0.1, 0.2]),           # everything down, 0.3 falls off the bottom
        "pop": ([0, big, 0], [0.2, 0.3, 0.0]),          # everything up, zeros come in from below
        "no-op": ([0, 0, big], [0.1, 0.2, 0.3]),
    }
    for name, (logits, want) in cases.items():
        h_t, s_t, a_t = ref("stack_rnn_step")(x_t=x, h_prev=h, s_prev=s_prev, params=_tiny_params(logits, 0.5))
        np.testing.assert_allclose(s_t[0, :, 0], want, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(a_t.sum(), 1.0)
    # a blend is the same blend of the three outcomes
    _, s_t, a_t = ref("stack_rnn_step")(x_t=x, h_prev=h, s_prev=s_prev, params=_tiny_params([0.3, -0.2, 0.1], 0.5))
    blend = sum(a_t[0, j] * np.array(cases[k][1]) for j, k in enumerate(["push", "pop", "no-op"]))
    np.testing.assert_allclose(s_t[0, :, 0], blend, atol=1e-12)


def test_stack_rnn_reads_the_top_before_the_update():
    params = _tiny_params([60.0, 0, 0], 0.5)
    params["W_sh"] = np.array([[2.0]])                  # h_t = tanh(2 * top)
    s_prev = np.array([[[0.4], [0.0]]])
    h_t, s_t, _ = ref("stack_rnn_step")(x_t=np.zeros((1, 1)), h_prev=np.zeros((1, 1)), s_prev=s_prev, params=params)
    np.testing.assert_allclose(h_t, [[np.tanh(0.8)]], atol=1e-12)      # the old top 0.4, not the pushed value
    v = 1 / (1 + np.exp(-0.5))
    np.testing.assert_allclose(s_t[0, :, 0], [v, 0.4], atol=1e-9)


def test_stack_rnn_forward_starts_empty_and_carries_state():
    rng = np.random.default_rng(3)
    B, T, D, H, M, K = 2, 6, 3, 4, 2, 3
    params = {"W_xh": rng.normal(size=(D, H)), "W_hh": rng.normal(size=(H, H)), "W_sh": rng.normal(size=(M, H)),
              "b_h": rng.normal(size=H), "W_a": rng.normal(size=(H, 3)), "b_a": rng.normal(size=3),
              "W_v": rng.normal(size=(H, M)), "b_v": rng.normal(size=M)}
    x = rng.normal(size=(B, T, D))
    h_all, s_all, a_all = ref("stack_rnn_forward")(x=x, params=params, K=K)
    h, s = np.zeros((B, H)), np.zeros((B, K, M))
    for t in range(T):
        h, s, a = ref("stack_rnn_step")(x_t=x[:, t], h_prev=h, s_prev=s, params=params)
        _close(h_all[:, t], h)
        _close(s_all[:, t], s)
        _close(a_all[:, t], a)
