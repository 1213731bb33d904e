"""ps4's references equal PyTorch built the contract's way (default torch initialisation, torch's own
modules and functions, not the registry's loaders), agree with each other, and the declared cases
are safe in float32 (exact large scores, no near-ties in greedy decoding)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.exercises import registry
from autograder.authoring.catalogue import declarations
from autograder.checks.api import case_inputs, expected_output

torch.manual_seed(0)
A = "ps4_attention"
ref = lambda name: registry.get(name).reference
N = lambda p: p.detach().numpy().astype(np.float64)
T = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))


def _cases(name):
    return [c for d in declarations(A)[name] for c in d.cases if "expect" not in c]


def test_masked_softmax_equals_torch_and_zeroes_empty_rows():
    scores = torch.randn(3, 4, 6, dtype=torch.float64) * 3
    mask = torch.rand(3, 4, 6) < 0.6
    mask[1, 2] = False                                       # one row with nothing to attend
    want = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    got = ref("masked_softmax")(scores.numpy(), mask.numpy())
    assert np.isnan(N(want)[1, 2]).all() or (N(want)[1, 2] == 0).all()
    np.testing.assert_array_equal(got[1, 2], 0.0)
    keep = ~np.isnan(N(want))
    np.testing.assert_allclose(got[keep], N(want)[keep], rtol=1e-12, atol=1e-15)


def test_masked_softmax_is_finite_for_scores_of_1e4():
    scores = np.array([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4 + 2.0, 1e4]])
    mask = np.array([[True, True, True], [True, True, False]])
    got = ref("masked_softmax")(scores, mask)
    e = 1 / (1 + math.exp(-1.0))
    np.testing.assert_allclose(got, [[e, 1 - e, 0.0], [1 - 1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(-2.0)), 0.0]],
                               rtol=1e-12)


def test_score_references_equal_torch_layers():
    B, S, dq, dk, Ad = 3, 5, 4, 6, 7
    q, k = torch.randn(B, dq, dtype=torch.float64), torch.randn(B, S, dk, dtype=torch.float64)
    kq = torch.randn(B, S, dq, dtype=torch.float64)
    np.testing.assert_allclose(ref("dot_scores")(q.numpy(), kq.numpy()), N((kq * q[:, None]).sum(-1)), rtol=1e-12)
    bil = nn.Bilinear(dq, dk, 1, bias=False).double()
    want = torch.einsum("bq,qk,bsk->bs", q, bil.weight[0], k)
    np.testing.assert_allclose(ref("general_scores")(q.numpy(), k.numpy(), N(bil.weight[0])), N(want), rtol=1e-12)
    W_q, W_k, v = (nn.Linear(i, o, bias=False).double() for i, o in [(dq, Ad), (dk, Ad), (Ad, 1)])
    want = v(torch.tanh(W_q(q)[:, None] + W_k(k)))[..., 0]
    got = ref("additive_scores")(q.numpy(), k.numpy(), N(W_q.weight).T, N(W_k.weight).T, N(v.weight)[0])
    np.testing.assert_allclose(got, N(want), rtol=1e-12)


def test_attend_with_scaled_dot_scores_equals_sdpa_with_one_query():
    B, S, d, dv = 4, 6, 5, 3
    q, K, V = (torch.randn(*s, dtype=torch.float64) for s in [(B, d), (B, S, d), (B, S, dv)])
    mask = torch.rand(B, S) < 0.7
    mask[:, 0] = True
    scores = ref("dot_scores")(q.numpy(), K.numpy()) / math.sqrt(d)
    context, weights = ref("attend")(scores, V.numpy(), mask.numpy())
    out = F.scaled_dot_product_attention(q[:, None], K, V, attn_mask=mask[:, None, :])[:, 0]
    np.testing.assert_allclose(context, N(out), rtol=1e-12)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(weights[~mask.numpy()], 0.0)


@pytest.mark.parametrize("Tq,S", [(4, 4), (3, 6), (6, 3)])
def test_sdpa_reference_equals_the_formula(Tq, S):
    """softmax(Q K^T / sqrt(d) with the padding mask AND torch's top-left causal triangle) V."""
    B, d, dv = 2, 4, 3
    Q, K, V = (torch.randn(*s, dtype=torch.float64) for s in [(B, Tq, d), (B, S, d), (B, S, dv)])
    pad = torch.arange(S)[None] < torch.tensor([S, max(1, S - 2)])[:, None]
    for mask in [None, pad]:
        for causal in [False, True]:
            allowed = torch.ones(B, Tq, S, dtype=torch.bool)
            if mask is not None:
                allowed &= mask[:, None, :]
            if causal:
                allowed &= torch.arange(S)[None, :] <= torch.arange(Tq)[:, None]
            w = torch.nan_to_num(torch.softmax((Q @ K.transpose(1, 2) / math.sqrt(d)).masked_fill(~allowed, float("-inf")), -1))
            out, weights = ref("scaled_dot_product_attention")(Q.numpy(), K.numpy(), V.numpy(),
                                                                None if mask is None else mask.numpy(), causal)
            np.testing.assert_allclose(weights, N(w), rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(out, N(w @ V), rtol=1e-12, atol=1e-15)


def test_sdpa_large_cases_are_exact_in_float32():
    """The 'large' cases' scores (|s| ~ 1e4) are exactly representable in float32, so float32 solutions
    can be held to the usual tolerance."""
    ex = registry.get("scaled_dot_product_attention")
    large = [c for c in _cases(ex.name) if c.get("large")]
    assert large
    for case in large:
        inputs = case_inputs(ex, case)
        Q, K = inputs["Q"], inputs["K"]
        scores64 = Q @ K.transpose(0, 2, 1) / math.sqrt(Q.shape[-1])
        scores32 = Q.astype(np.float32) @ K.astype(np.float32).transpose(0, 2, 1) / np.float32(2.0)
        assert np.abs(scores64).max() > 5e3
        np.testing.assert_array_equal(scores32, scores64)


def test_entropy_equals_categorical_entropy():
    w = torch.softmax(torch.randn(5, 7, dtype=torch.float64), -1)
    np.testing.assert_allclose(ref("attention_entropy")(w.numpy()),
                               N(torch.distributions.Categorical(probs=w).entropy()), rtol=1e-12)
    special = np.array([[1.0, 0, 0, 0], [0, 0, 0, 0], [0.25] * 4, [0.5, 0.5, 0, 0]])
    np.testing.assert_allclose(ref("attention_entropy")(special), [0, 0, math.log(4), math.log(2)], atol=1e-15)


def _contract_decoder(E, H, K, Ad, V):
    """The contract's decoder from stock torch layers with default (non-zero) initialisation."""
    return dict(W_s=nn.Linear(H, Ad, bias=False).double(), W_e=nn.Linear(K, Ad, bias=False).double(),
                v=nn.Linear(Ad, 1, bias=False).double(), gru=nn.GRUCell(E + K, H).double(),
                out=nn.Linear(H + K, V).double())


def _numpy_params(m):
    return {"W_s": N(m["W_s"].weight).T, "W_e": N(m["W_e"].weight).T, "v": N(m["v"].weight)[0],
            "gru": {"W_x": N(m["gru"].weight_ih).T, "W_h": N(m["gru"].weight_hh).T,
                    "b_x": N(m["gru"].bias_ih), "b_h": N(m["gru"].bias_hh)},
            "W_out": N(m["out"].weight).T, "b_out": N(m["out"].bias)}


def _torch_step(m, y, s_prev, enc, mask):
    scores = m["v"](torch.tanh(m["W_s"](s_prev)[:, None] + m["W_e"](enc)))[..., 0]
    w = torch.nan_to_num(torch.softmax(scores.masked_fill(~mask, float("-inf")), -1))
    ctx = (w[..., None] * enc).sum(1)
    s = m["gru"](torch.cat([y, ctx], -1), s_prev)
    return s, ctx, m["out"](torch.cat([s, ctx], -1)), w


def test_decoder_step_equals_torch_layers():
    E, H, K, Ad, V, B, S = 3, 5, 4, 6, 7, 3, 6
    m = _contract_decoder(E, H, K, Ad, V)
    y, s_prev, enc = (torch.randn(*s, dtype=torch.float64) for s in [(B, E), (B, H), (B, S, K)])
    mask = torch.arange(S)[None] < torch.tensor([6, 2, 0])[:, None]          # the last source is empty
    with torch.no_grad():
        want = _torch_step(m, y, s_prev, enc, mask)
    got = ref("bahdanau_decoder_step")(y.numpy(), s_prev.numpy(), enc.numpy(), mask.numpy(), _numpy_params(m))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, N(w), rtol=1e-12, atol=1e-15)


def test_greedy_reference_equals_a_loop_of_torch_steps():
    E, H, K, Ad, V, B, S, steps = 3, 5, 4, 6, 7, 4, 5, 6
    m = _contract_decoder(E, H, K, Ad, V)
    emb = nn.Embedding(V + 1, E).double()
    enc, s0 = torch.randn(B, S, K, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    mask = torch.arange(S)[None] < torch.tensor([5, 3, 1, 4])[:, None]
    s, y, tokens, weights = s0, torch.full((B,), V), [], []
    with torch.no_grad():
        for _ in range(steps):
            s, _, logits, w = _torch_step(m, emb(y), s, enc, mask)
            y = logits.argmax(-1)
            tokens.append(y)
            weights.append(w)
    got_tokens, got_weights = ref("greedy_decode")(enc.numpy(), mask.numpy(), s0.numpy(), N(emb.weight),
                                                   _numpy_params(m), V, steps)
    assert got_tokens.dtype == np.int64
    np.testing.assert_array_equal(got_tokens, torch.stack(tokens, 1).numpy())
    np.testing.assert_allclose(got_weights, N(torch.stack(weights, 1)), rtol=1e-12, atol=1e-15)


def test_greedy_cases_have_no_near_ties():
    """A float32 solution must pick the same argmax as the float64 reference at every step: along the
    reference path the best logit leads the second by far more than float32 rounding (~1e-6)."""
    ex = registry.get("greedy_decode")
    step = ref("bahdanau_decoder_step")
    for case in _cases(ex.name):
        inputs = case_inputs(ex, {**case, "dtype": "float32"})
        inputs = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
                  for k, v in inputs.items()}
        inputs["params"] = {k: ({kk: vv.astype(np.float64) for kk, vv in v.items()} if isinstance(v, dict)
                                else v.astype(np.float64)) for k, v in inputs["params"].items()}
        tokens, _ = expected_output(ex, case, inputs)
        B, H = inputs["enc_out"].shape[0], inputs["params"]["W_s"].shape[0]
        s = np.zeros((B, H)) if inputs["s0"] is None else inputs["s0"]
        y = np.full(B, inputs["start_token"])
        for t in range(inputs["max_len"]):
            s, _, logits, _ = step(inputs["embedding"][y], s, inputs["enc_out"], inputs["enc_mask"], inputs["params"])
            top2 = np.sort(logits, axis=1)[:, -2:]
            assert (top2[:, 1] - top2[:, 0]).min() > 1e-3, (case, t)
            y = logits.argmax(axis=1)
            np.testing.assert_array_equal(y, tokens[:, t])
