"""ps3's references equal the torch modules the contract names, built the contract's way (default
torch initialisation, both biases non-zero, packed sequences for lengths), and agree with brute
force: each sequence cut to its length and run alone, and a perturbation probe run one step at a
time. The numpy helper that the mistake catalogue is built on equals the reference with its
default settings, so every catalogued mistake is a deliberate change of a correct computation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from autograder.exercises import registry
from autograder.checks.api import case_inputs, expected_output
from autograder.exercises import ps3_birnn as ps3

torch.manual_seed(0)
ref = lambda name: registry.get(name).reference
N = lambda p: p.detach().numpy().astype(np.float64)
close = lambda got, want: np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def _params(rnn, l=0, sfx=""):
    g = lambda k: N(getattr(rnn, f"{k}_l{l}{sfx}"))
    return dict(W_xh=g("weight_ih").T, W_hh=g("weight_hh").T, b_h=g("bias_ih") + g("bias_hh"))


def _layers(rnn, L):
    return [_params(rnn, l, s) for l in range(L) for s in ["", "_reverse"]]


def _packed(rnn, x, h0, lengths):
    packed = pack_padded_sequence(x, torch.as_tensor(lengths), batch_first=True, enforce_sorted=False)
    out, h_n = rnn(packed, h0)
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], h_n


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("lengths", [None, [6, 2, 1, 4]])
def test_birnn_reference_equals_nn_rnn(nonlinearity, lengths):
    rnn = nn.RNN(3, 5, nonlinearity=nonlinearity, bidirectional=True, batch_first=True).double()
    x, h0 = torch.randn(4, 6, 3, dtype=torch.float64), torch.randn(2, 4, 5, dtype=torch.float64)
    out, h_n = rnn(x, h0) if lengths is None else _packed(rnn, x, h0, lengths)
    got = ref("birnn_forward")(x.numpy(), h0.numpy(), *_layers(rnn, 1),
                               lengths=None if lengths is None else np.array(lengths), nonlinearity=nonlinearity)
    close(got[0], N(out))
    close(got[1], N(h_n))


def test_packed_semantics_equal_each_sequence_run_alone():
    """The contract's three rules, by brute force: cut sequence b to lengths[b], run it alone."""
    case = {"B": 5, "T": 7, "D": 3, "H": 4, "seed": 9, "h0": True, "lengths": [7, 1, 4, 2, 6]}
    inputs = case_inputs("birnn_forward", case)
    out, h_n = expected_output("birnn_forward", case)
    rnn = nn.RNN(3, 4, bidirectional=True, batch_first=True).double()
    for name, value in ps3._torch_params([inputs["fwd"], inputs["bwd"]], 4).items():
        getattr(rnn, name).data.copy_(torch.as_tensor(value))
    for b, L in enumerate(case["lengths"]):
        x_b = torch.as_tensor(inputs["x"][b:b + 1, :L])
        out_b, h_b = rnn(x_b, torch.as_tensor(inputs["h0"][:, b:b + 1]).contiguous())
        close(out[b, :L], N(out_b[0]))
        close(h_n[:, b], N(h_b[:, 0]))
        assert not out[b, L:].any(), "padded steps are zero"
        close(h_n[1, b], out[b, 0, 4:])                     # h_n[1] is the backward state at step 0
        close(h_n[0, b], out[b, L - 1, :4])                 # h_n[0] the forward state at step L-1


@pytest.mark.parametrize("lengths", [None, [5, 3, 1]])
def test_stacked_reference_equals_nn_rnn_and_layer_by_layer(lengths):
    rnn = nn.RNN(3, 4, num_layers=3, bidirectional=True, batch_first=True).double()
    x, h0 = torch.randn(3, 5, 3, dtype=torch.float64), torch.randn(6, 3, 4, dtype=torch.float64)
    out, h_n = rnn(x, h0) if lengths is None else _packed(rnn, x, h0, lengths)
    lens = None if lengths is None else np.array(lengths)
    layers = _layers(rnn, 3)
    got = ref("stacked_birnn_forward")(x.numpy(), h0.numpy(), layers, lens)
    close(got[0], N(out))
    close(got[1], N(h_n))
    inp, finals = x.numpy(), []                             # layer l+1 reads both directions of layer l
    for l in range(3):
        inp, h = ref("birnn_forward")(inp, h0.numpy()[2 * l:2 * l + 2], layers[2 * l], layers[2 * l + 1], lens)
        finals.append(h)
    close(got[0], inp)
    close(got[1], np.concatenate(finals))


def test_reverse_padded_reference():
    x = np.arange(2 * 5 * 2, dtype=np.float64).reshape(2, 5, 2)
    y = ref("reverse_padded")(x, np.array([5, 3]))
    np.testing.assert_array_equal(y[0], x[0, ::-1])
    np.testing.assert_array_equal(y[1], x[1, [2, 1, 0, 3, 4]])
    np.testing.assert_array_equal(ref("reverse_padded")(y, np.array([5, 3])), x)     # its own inverse


@pytest.mark.parametrize("bidirectional", [False, True])
def test_influence_reference_is_a_step_by_step_probe(bidirectional):
    rnn = nn.RNN(2, 3, bidirectional=bidirectional, batch_first=True).double()
    x, delta = torch.randn(2, 6, 2, dtype=torch.float64), torch.randn(2, dtype=torch.float64)
    base = rnn(x)[0]
    want = np.zeros((2, 6, 6))
    for s in range(6):
        probe = x.clone()
        probe[:, s] += delta
        want[:, :, s] = N(torch.linalg.vector_norm(rnn(probe)[0] - base, dim=-1))
    fwd, bwd = _layers(rnn, 1) if bidirectional else (_params(rnn), None)
    M = ref("influence_map")(x.numpy(), fwd, bwd, delta.numpy())
    close(M, want)
    upper = np.triu(np.ones((6, 6), dtype=bool), 1)
    if bidirectional:
        assert (M > 0).all(), "every BiRNN output depends on every input"
    else:
        assert (M[:, upper] == 0).all() and (M[:, ~upper] > 0).all(), "causal: exactly the future is zero"


CASES = [
    {"B": 4, "T": 6, "D": 3, "H": 4, "seed": 1, "h0": True, "lengths": [6, 1, 3, 5]},
    {"B": 2, "T": 5, "D": 2, "H": 3, "seed": 2, "nonlinearity": "relu"},
]


@pytest.mark.parametrize("case", CASES)
def test_mistake_helpers_are_correct_with_default_settings(case):
    inputs = case_inputs("birnn_forward", case)
    want = expected_output("birnn_forward", case)
    got = ps3._bi(**inputs)
    close(got[0], want[0])
    close(got[1], want[1])
    stack_case = {**case, "L": 2}
    inputs = case_inputs("stacked_birnn_forward", stack_case)
    want = expected_output("stacked_birnn_forward", stack_case)
    got = ps3._stack_np(**inputs)
    close(got[0], want[0])
    close(got[1], want[1])
    for bi in (False, True):
        probe_case = {"B": 2, "T": 5, "D": 3, "H": 4, "seed": case["seed"], "bidirectional": bi}
        inputs = case_inputs("influence_map", probe_case)
        close(ps3._influence_np(**inputs), expected_output("influence_map", probe_case))


def test_padding_values_do_not_matter_to_the_reference():
    case = {"B": 3, "T": 5, "D": 2, "H": 3, "seed": 4, "h0": True, "lengths": [5, 2, 3]}
    random_pad = expected_output("birnn_forward", case)
    zero_pad = expected_output("birnn_forward", {**case, "pad": "zeros"})
    close(random_pad[0], zero_pad[0])
    close(random_pad[1], zero_pad[1])
    x_random = case_inputs("birnn_forward", case)["x"]
    x_zero = case_inputs("birnn_forward", {**case, "pad": "zeros"})["x"]
    assert x_random[1, 2:].any() and not x_zero[1, 2:].any()
