"""ps1's references equal the torch modules the contract names, built the contract's way
(default torch initialisation, both biases non-zero), not the way the registry builds them."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from autograder.exercises import registry

torch.manual_seed(0)
ref = lambda name: registry.get(name).reference
N = lambda p: p.detach().numpy().astype(np.float64)


def _rnn_params(rnn, l=0, sfx=""):
    g = lambda k: N(getattr(rnn, f"{k}_l{l}{sfx}"))
    return dict(W_xh=g("weight_ih").T, W_hh=g("weight_hh").T, b_h=g("bias_ih") + g("bias_hh"))


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_references_equal_nn_rnn(nonlinearity):
    rnn = nn.RNN(3, 5, nonlinearity=nonlinearity, batch_first=True).double()
    x, h0 = torch.randn(4, 6, 3, dtype=torch.float64), torch.randn(1, 4, 5, dtype=torch.float64)
    out, h_n = rnn(x, h0)
    h_all, h_last = ref("rnn_forward")(x.numpy(), h0[0].numpy(), **_rnn_params(rnn), nonlinearity=nonlinearity)
    np.testing.assert_allclose(h_all, N(out), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_last, N(h_n[0]), rtol=1e-12, atol=1e-14)
    step = ref("rnn_step_forward")(x[:, 0].numpy(), h0[0].numpy(), **_rnn_params(rnn), nonlinearity=nonlinearity)
    np.testing.assert_allclose(step, N(out[:, 0]), rtol=1e-12, atol=1e-14)


def test_convert_and_stacked_equal_nn_rnn():
    rnn = nn.RNN(3, 4, num_layers=3, batch_first=True).double()
    sd = {k: N(v) for k, v in rnn.state_dict().items()}
    layers = ref("convert_rnn_state_dict")(sd, 3, False)
    for l in range(3):
        for key, value in _rnn_params(rnn, l).items():
            np.testing.assert_array_equal(layers[l][key], value)
    x, h0 = torch.randn(2, 5, 3, dtype=torch.float64), torch.randn(3, 2, 4, dtype=torch.float64)
    out, h_n = rnn(x, h0)
    got_out, got_hn = ref("stacked_rnn_forward")(x.numpy(), h0.numpy(), layers)
    np.testing.assert_allclose(got_out, N(out), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_hn, N(h_n), rtol=1e-12, atol=1e-14)


def test_convert_orders_bidirectional_layers_as_the_contract_says():
    rnn = nn.RNN(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    sd = {k: N(v) for k, v in rnn.state_dict().items()}
    layers = ref("convert_rnn_state_dict")(sd, 2, True)
    expected = [_rnn_params(rnn, l, s) for l in range(2) for s in ["", "_reverse"]]
    assert len(layers) == 4
    for got, want in zip(layers, expected):
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])


def test_cells_equal_torch_cells():
    lstm, gru = nn.LSTMCell(3, 4).double(), nn.GRUCell(3, 4).double()
    x, h, c = (torch.randn(2, k, dtype=torch.float64) for k in (3, 4, 4))
    h_t, c_t = lstm(x, (h, c))
    got = ref("lstm_cell_forward")(x.numpy(), h.numpy(), c.numpy(), N(lstm.weight_ih).T, N(lstm.weight_hh).T,
                                   N(lstm.bias_ih) + N(lstm.bias_hh))
    np.testing.assert_allclose(got[0], N(h_t), rtol=1e-12)
    np.testing.assert_allclose(got[1], N(c_t), rtol=1e-12)
    got = ref("gru_cell_forward")(x.numpy(), h.numpy(), N(gru.weight_ih).T, N(gru.weight_hh).T,
                                  N(gru.bias_ih), N(gru.bias_hh))
    np.testing.assert_allclose(got, N(gru(x, h)), rtol=1e-12)


def test_classifier_equals_rnn_linear_softmax():
    rnn, head = nn.RNN(3, 5, batch_first=True).double(), nn.Linear(5, 4).double()
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    want = torch.softmax(head(rnn(x)[1][0]), dim=-1)
    got = ref("many_to_one_classify")(x.numpy(), None, **_rnn_params(rnn), W_hy=N(head.weight).T, b_y=N(head.bias))
    np.testing.assert_allclose(got, N(want), rtol=1e-12)


def test_dynamics_references():
    rng = np.random.default_rng(0)
    x, h0, W, U, b = rng.normal(size=(2, 7, 3)), rng.normal(size=(2, 4)), rng.normal(size=(4, 4)) / 2, \
        rng.normal(size=(3, 4)), rng.normal(size=4)
    h = h0
    for t in range(7):
        h = h @ W + x[:, t] @ U
    np.testing.assert_allclose(ref("linear_rnn_closed_form")(x, h0, W, U), h, rtol=1e-10)
    assert ref("spectral_radius")(W) == pytest.approx(np.abs(np.linalg.eigvals(W)).max(), rel=1e-12)
    h_star = ref("linear_fixed_point")(x[:, 0], W, U, b)
    np.testing.assert_allclose(h_star, h_star @ W + x[:, 0] @ U + b, rtol=1e-10)
