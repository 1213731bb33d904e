"""ps4_attention: masked softmax, attention scores, scaled dot-product attention, attention
entropy, a Bahdanau decoder step and greedy decoding.

Every reference is float64 PyTorch: ``torch.softmax`` of ``masked_fill(~mask, -inf)``,
``nn.Bilinear`` for general scores, ``nn.Linear`` layers for additive scores,
``F.scaled_dot_product_attention`` (its weights too: attention applied to the identity matrix
returns them), ``torch.special.entr`` for the entropy, and ``BahdanauDecoder``, a module of
``nn.GRUCell``, ``nn.Linear``s and ``nn.Embedding`` built the contract's way. Torch gives NaN on
a row with nothing to attend; the contract asks for zeros there, so the references turn those
NaNs into zeros (and only those: no input here contains NaN).

Mistakes are computed in float64 (torch, or numpy where the mistake is a numerical one such as an
exponential that overflows). Invalid shapes make torch raise RuntimeError; ``_mistake`` turns that
into the ValueError the contract asks for, so that a mistake is judged by its values, never by a
crash on a case that expects ValueError.

Tolerances: the defaults (float64 rtol 1e-6, atol 1e-8; float32 rtol 2e-4, atol 2e-5). Every
output is a softmax, a short sum of products or a GRU step of O(1) numbers, so an honest float32
implementation is within ~1e-6 relative of the float64 reference. The large-score cases (|score|
~ 1e4) stay inside those tolerances in float32 because their scores are exactly representable:
masked_softmax gets the scores themselves, and scaled_dot_product_attention's large case uses
integer-valued Q and K with d = 4 (products, sums and the division by sqrt(4) = 2 are exact), so
the only float32 rounding is in exp and in the weighted sum of V.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .inputs import CaseRandom
from .registry import Exercise, Mistake, register
from .torch_ref import load, n, t

A = "ps4_attention"
NEG_INF = float("-inf")


def _mistake(name: str, hint: str, fn) -> Mistake:
    """A Mistake whose shape errors (RuntimeError in torch) surface as ValueError, like a learner's numpy."""
    @functools.wraps(fn)
    def outputs(**kw):
        try:
            with np.errstate(all="ignore"):
                return fn(**kw)
        except RuntimeError as err:
            raise ValueError(str(err)) from None
    return Mistake(name, hint, outputs)


def _b(mask) -> torch.Tensor | None:
    return None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))


def _no_nan(w: torch.Tensor) -> torch.Tensor:
    """Rows with nothing to attend: torch's NaN (0/0) becomes the contract's 0."""
    return torch.nan_to_num(w, nan=0.0)


def _random_mask(r: CaseRandom, shape: tuple, empty_rows: int = 0, p: float = 0.65) -> np.ndarray:
    """A boolean mask with at least one True per row along the last axis, then `empty_rows` rows all False."""
    m = r.rng.random(shape) < p
    rows = m.reshape(-1, shape[-1])
    keep = r.rng.integers(0, shape[-1], size=rows.shape[0])
    rows[np.arange(rows.shape[0]), keep] = True
    if empty_rows:
        rows[r.rng.choice(rows.shape[0], size=empty_rows, replace=False)] = False
    return rows.reshape(shape)


def _padding_mask(r: CaseRandom, B: int, S: int, empty_rows: int = 0) -> np.ndarray:
    """(B, S): sequence b has lengths[b] real positions at the front, padding after them."""
    lengths = r.rng.integers(1, S + 1, size=B)
    lengths[r.rng.integers(B)] = S                    # the longest sequence fills the batch
    if empty_rows:
        lengths[r.rng.choice(B, size=empty_rows, replace=False)] = 0
    return np.arange(S)[None, :] < lengths[:, None]


# ================================================================ masked softmax
def _softmax_inputs(case):
    r = CaseRandom(case)
    B, S, T = case["B"], case["S"], case.get("T")
    shape = (B, S) if T is None else (B, T, S)
    scores = r.normal(*shape, scale=2.0)
    if case.get("large") == "rows":          # every row sits at +1e4 or -1e4
        scores = scores + 1e4 * r.rng.choice([-1.0, 1.0], size=shape[:-1] + (1,))
    elif case.get("large") == "entries":     # entries 2e4 apart inside a row
        scores = scores + 1e4 * r.rng.choice([-1.0, 1.0], size=shape)
    kind, empty = case.get("mask", "none"), case.get("empty_rows", 0)
    if kind == "none":
        mask = None
    elif kind == "full":
        mask = _random_mask(r, shape, empty)
    elif kind == "keys":                     # one mask over positions, broadcast over the other axes
        mshape = (S,) if T is None else (B, 1, S)
        mask = _random_mask(r, mshape, empty)
    elif kind == "bad":                      # not broadcastable: the function must raise ValueError
        mask = np.ones(S + 1, dtype=bool)
    else:
        raise ValueError(f"unknown mask kind {kind!r}")
    if case.get("large") == "masked" and mask is not None:   # masked entries 1e4 above the allowed ones
        scores = scores + 1e4 * ~np.broadcast_to(mask, shape)
    return dict(scores=scores, mask=mask)


def _masked_softmax(scores, mask=None, *, dim=-1, fill=NEG_INF, invert=False, nan_fix=True):
    s = t(scores)
    if mask is not None:
        m = _b(mask)
        s = s.masked_fill(m if invert else ~m, fill)
    w = torch.softmax(s, dim=dim)
    return n(_no_nan(w) if nan_fix else w)


def _np_mask(scores, mask):
    return np.ones(scores.shape, dtype=bool) if mask is None else np.broadcast_to(mask, scores.shape)


def _softmax_no_max(scores, mask=None):
    m = _np_mask(scores, mask)
    e = np.where(m, np.exp(scores), 0.0)
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_max_before_mask(scores, mask=None):
    """exp(s - max over the whole row, masked entries included) * mask, renormalised."""
    m = _np_mask(scores, mask)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True)) * m
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_global_max(scores, mask=None):
    m = _np_mask(scores, mask)
    s = np.where(m, scores, -np.inf)
    e = np.exp(s - s.max())
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_then_mask(scores, mask=None):
    w = _masked_softmax(scores, None)
    return w * _np_mask(scores, mask)


register(Exercise(
    name="masked_softmax", assignment=A,
    args=("scores", "mask"), outputs=("weights",),
    shapes={"weights": "(same shape as scores)"},
    make_inputs=_softmax_inputs, reference=_masked_softmax,
    mistakes=(
        _mistake("softmax without subtracting the maximum",
                 "np.exp overflows to inf above ~709 (float64) or ~88 (float32) and underflows to 0 far below; "
                 "subtract each row's maximum over the allowed entries first: the result is the same, only stable.",
                 _softmax_no_max),
        _mistake("maximum taken before masking",
                 "A masked entry can be the row's maximum; exp(s - max) then underflows to 0 for every allowed "
                 "entry and the row becomes 0/0. Fill masked entries with -inf first, then take the row maximum "
                 "of what is left.", _softmax_max_before_mask),
        _mistake("maximum over the whole array, not per row",
                 "Subtract each row's own maximum (axis=-1, keepdims=True): a row far below the global maximum "
                 "underflows to all zeros.", _softmax_global_max),
        _mistake("fully masked row gives NaN",
                 "A row with no True entry is exp(-inf)/sum = 0/0. The contract asks for all zeros there: guard "
                 "the maximum (-inf) and the denominator (0) of such rows.",
                 lambda scores, mask: _masked_softmax(scores, mask, nan_fix=False)),
        _mistake("fully masked row gives uniform weights",
                 "Filling masked entries with a large negative number (-1e9) instead of -inf makes a row with no "
                 "True entry uniform; the contract asks for all zeros.",
                 lambda scores, mask: _masked_softmax(scores, mask, fill=-1e9)),
        _mistake("mask ignored", "Entries where mask is False must get weight 0.",
                 lambda scores, mask: _masked_softmax(scores, None)),
        _mistake("mask inverted", "Like torch's boolean attn_mask, True means 'may attend' and False means "
                 "'masked out'.", lambda scores, mask: _masked_softmax(scores, mask, invert=True)),
        _mistake("mask applied after the softmax",
                 "Multiplying the weights by the mask leaves rows that no longer sum to 1; mask the scores "
                 "(-inf) before normalising.", _softmax_then_mask),
        _mistake("softmax over the first axis", "Normalise over the last axis (axis=-1): one distribution per "
                 "query, over the positions it looks at.",
                 lambda scores, mask: _masked_softmax(scores, mask, dim=0)),
        _mistake("softmax over axis 1",
                 "axis=1 is the last axis only for 2-D scores; for (B, T, S) scores it mixes queries. Use axis=-1.",
                 lambda scores, mask: _masked_softmax(scores, mask, dim=1)),
    ),
))


# ================================================================ scores
def _squeezed(fn):
    return lambda **kw: np.squeeze(fn(**kw))


def _softmaxed(fn):
    return lambda **kw: _masked_softmax(fn(**kw), None)


def _dot_inputs(case):
    r = CaseRandom(case)
    B, S, d = case["B"], case["S"], case["d"]
    return dict(query=r.normal(B, d), keys=r.normal(B, S, d + (1 if case.get("bad") else 0)))


def _dot(query, keys):
    return n(torch.bmm(t(keys), t(query)[:, :, None])[:, :, 0])


register(Exercise(
    name="dot_scores", assignment=A, args=("query", "keys"), outputs=("scores",), shapes={"scores": "(B, S)"},
    variant_shapes=("d",),
    make_inputs=_dot_inputs, reference=_dot,
    mistakes=(
        _mistake("scaled by 1/sqrt(d)", "Plain dot scores are q . k, unscaled; the 1/sqrt(d) belongs to "
                 "scaled_dot_product_attention.",
                 lambda query, keys: _dot(query, keys) / math.sqrt(query.shape[-1])),
        _mistake("squeeze() without an axis", "np.squeeze() also drops the batch axis when B = 1 (or the "
                 "position axis when S = 1); index [..., 0] or squeeze(axis=-1).", _squeezed(_dot)),
        _mistake("softmax applied to the scores", "Return the raw scores q . k; the softmax comes later, "
                 "in attend.", _softmaxed(_dot)),
    ),
))


def _general_inputs(case):
    r = CaseRandom(case)
    B, S, dq, dk = case["B"], case["S"], case["dq"], case["dk"]
    return dict(query=r.normal(B, dq), keys=r.normal(B, S, dk), W=r.normal(dq, dk, scale=1 / math.sqrt(dk)))


def _general(query, keys, W):
    B, S, dk = keys.shape
    bil = load(nn.Bilinear(W.shape[0], dk, 1, bias=False), {"weight": W[None]})
    q = t(query)[:, None, :].expand(B, S, W.shape[0])
    return n(bil(q, t(keys))[..., 0])


register(Exercise(
    name="general_scores", assignment=A, args=("query", "keys", "W"), outputs=("scores",),
    variant_shapes=("dq", "dk"),
    shapes={"scores": "(B, S)"}, make_inputs=_general_inputs, reference=_general,
    mistakes=(
        _mistake("W transposed (k W q^T)", "The score is q W k^T with W of shape (dq, dk): query @ W first, "
                 "then the dot product with each key.",
                 lambda query, keys, W: _general(query, keys, W.T)),
        _mistake("W ignored (plain dot product)", "General (Luong) scores put a learned matrix between q and k.",
                 lambda query, keys, W: _dot(query, keys)),
        _mistake("scaled by 1/sqrt(dk)", "General scores are not scaled.",
                 lambda query, keys, W: _general(query, keys, W) / math.sqrt(keys.shape[-1])),
        _mistake("squeeze() without an axis", "np.squeeze() also drops the batch axis when B = 1 (or the "
                 "position axis when S = 1); index [..., 0] or squeeze(axis=-1).", _squeezed(_general)),
        _mistake("softmax applied to the scores", "Return the raw scores; attend applies the softmax.",
                 _softmaxed(_general)),
    ),
))


def _additive_inputs(case):
    r = CaseRandom(case)
    B, S, dq, dk, Ad = case["B"], case["S"], case["dq"], case["dk"], case["A"]
    sc = case.get("scale", 1.0)
    return dict(query=r.normal(B, dq), keys=r.normal(B, S, dk), W_q=r.normal(dq, Ad, scale=sc / math.sqrt(dq)),
                W_k=r.normal(dk, Ad, scale=sc / math.sqrt(dk)), v=r.normal(Ad))


class AdditiveScore(nn.Module):
    """score_j = v . tanh(q W_q + k_j W_k): Bahdanau's additive (MLP) score."""

    def __init__(self, dq: int, dk: int, A: int):
        super().__init__()
        self.W_q = nn.Linear(dq, A, bias=False)
        self.W_k = nn.Linear(dk, A, bias=False)
        self.v = nn.Linear(A, 1, bias=False)

    def forward(self, query, keys):
        return self.v(torch.tanh(self.W_q(query)[:, None, :] + self.W_k(keys)))[..., 0]


def additive_module(W_q, W_k, v) -> AdditiveScore:
    mod = AdditiveScore(W_q.shape[0], W_k.shape[0], W_q.shape[1])
    load(mod.W_q, {"weight": W_q.T})
    load(mod.W_k, {"weight": W_k.T})
    load(mod.v, {"weight": v[None]})
    return mod.double()


def _additive(query, keys, W_q, W_k, v):
    return n(additive_module(W_q, W_k, v)(t(query), t(keys)))


def _additive_np(query, keys, W_q, W_k, v, *, act=np.tanh, outer=None, no_position_axis=False):
    q = query @ W_q if no_position_axis else (query @ W_q)[:, None, :]
    pre = q + keys @ W_k
    return outer(pre @ v) if outer else act(pre) @ v


register(Exercise(
    name="additive_scores", assignment=A, args=("query", "keys", "W_q", "W_k", "v"), outputs=("scores",),
    variant_shapes=("dq", "dk", "A"),
    shapes={"scores": "(B, S)"}, make_inputs=_additive_inputs, reference=_additive,
    mistakes=(
        _mistake("W_q and W_k swapped", "W_q (dq, A) projects the query, W_k (dk, A) the keys.",
                 lambda query, keys, W_q, W_k, v: _additive(query, keys, W_k, W_q, v)),
        _mistake("tanh forgotten", "The additive score is v . tanh(q W_q + k W_k); without tanh it is linear "
                 "and the query term adds the same constant to every position.",
                 lambda **kw: _additive_np(**kw, act=lambda z: z)),
        _mistake("tanh applied after the product with v", "tanh acts on the A-dimensional hidden layer "
                 "q W_q + k W_k, before the product with v.", lambda **kw: _additive_np(**kw, outer=np.tanh)),
        _mistake("query projection not given a position axis",
                 "q W_q is (B, A) and k W_k is (B, S, A): numpy aligns the trailing axes, so without "
                 "(q @ W_q)[:, None, :] the query of batch element j is added at position j (when B = S) "
                 "instead of every position of its own batch element.",
                 lambda **kw: _additive_np(**kw, no_position_axis=True)),
        _mistake("squeeze() without an axis", "np.squeeze() also drops the batch axis when B = 1 (or the "
                 "position axis when S = 1); use v of shape (A,) or squeeze(axis=-1).", _squeezed(_additive)),
    ),
))


# ================================================================ attend
def _attend_inputs(case):
    r = CaseRandom(case)
    B, S, dv = case["B"], case["S"], case["dv"]
    scores, values = r.normal(B, S, scale=2.0 * case.get("score_scale", 1.0)), r.normal(B, S, dv)
    kind, empty = case.get("mask", "none"), case.get("empty_rows", 0)
    mask = None if kind == "none" else _padding_mask(r, B, S, empty) if kind == "pad" else _random_mask(r, (B, S), empty)
    if case.get("large") == "masked" and mask is not None:   # masked entries 1e4 above the allowed ones
        scores = scores + 1e4 * ~mask
    return dict(scores=scores, values=values, mask=mask)


def _weighted_sum(w: np.ndarray, values) -> np.ndarray:
    return n(torch.bmm(t(w)[:, None, :], t(values))[:, 0, :])


def _attend(scores, values, mask=None, *, dim=-1, invert=False):
    w = _masked_softmax(scores, mask, dim=dim, invert=invert)
    return _weighted_sum(w, values), w


register(Exercise(
    name="attend", assignment=A, args=("scores", "values", "mask"), outputs=("context", "weights"),
    variant_shapes=("dv",),
    shapes={"context": "(B, dv)", "weights": "(B, S)"}, builds_on=("masked_softmax",),
    make_inputs=_attend_inputs, reference=_attend,
    mistakes=(
        _mistake("context summed over the feature axis",
                 "The context is a weighted sum over the S source positions: sum_j weights[:, j] * values[:, j, :], "
                 "of shape (B, dv). Summing over the last axis gives one number per position instead.",
                 lambda scores, values, mask: (lambda w: ((w[..., None] * values).sum(axis=-1), w))(
                     _masked_softmax(scores, mask))),
        _mistake("context weighted by the raw scores", "Weight the values by the softmax weights, not by the scores.",
                 lambda scores, values, mask: (_weighted_sum(scores, values), _masked_softmax(scores, mask))),
        _mistake("mask ignored", "Pass the mask on to masked_softmax.",
                 lambda scores, values, mask: _attend(scores, values, None)),
        _mistake("mask inverted", "True means 'may attend'.",
                 lambda scores, values, mask: _attend(scores, values, mask, invert=True)),
        _mistake("softmax over the batch axis", "Normalise each row (axis=-1): one distribution per batch element.",
                 lambda scores, values, mask: _attend(scores, values, mask, dim=0)),
        _mistake("(weights, context) returned instead of (context, weights)", "Return the context first.",
                 lambda scores, values, mask: _attend(scores, values, mask)[::-1]),
        _mistake("squeeze() without an axis", "np.squeeze() also drops the batch axis when B = 1; "
                 "index [:, 0, :] or squeeze(axis=1).",
                 lambda scores, values, mask: (lambda c, w: (np.squeeze(c), w))(*_attend(scores, values, mask))),
        _mistake("fully masked row gives NaN", "A row with no True entry must give all-zero weights and a zero "
                 "context, not 0/0 (masked_softmax's contract).",
                 lambda scores, values, mask: (lambda w: (_weighted_sum(w, values), w))(
                     _masked_softmax(scores, mask, nan_fix=False))),
        _mistake("softmax without subtracting the maximum", "Scores of size 1e4 overflow np.exp: subtract each "
                 "row's maximum over the allowed entries first (masked_softmax does it for you).",
                 lambda scores, values, mask: (lambda w: (_weighted_sum(w, values), w))(_softmax_no_max(scores, mask))),
        _mistake("maximum taken before masking", "A masked entry can be the row's maximum; fill masked entries "
                 "with -inf first, then subtract the maximum of what is left.",
                 lambda scores, values, mask: (lambda w: (_weighted_sum(w, values), w))(
                     _softmax_max_before_mask(scores, mask))),
    ),
))


# ================================================================ scaled dot-product attention
def _sdpa_inputs(case):
    r = CaseRandom(case)
    B, Tq, S, d, dv = case["B"], case["Tq"], case["S"], case["d"], case["dv"]
    if case.get("large"):
        # integer-valued Q and K with one large coordinate: scores ~ +-1e4 that are exact in float32
        # (see the module docstring); only d = 4 keeps the scaling by 1/sqrt(d) = 1/2 exact.
        if d != 4:
            raise ValueError("a 'large' case needs d = 4")
        Q = r.rng.integers(-3, 4, size=(B, Tq, d)).astype(float)
        K = r.rng.integers(-3, 4, size=(B, S, d)).astype(float)
        Q[..., 0] = 200.0 * r.rng.choice([-1.0, 1.0], size=(B, Tq))
        K[..., 0] = 100.0
    else:
        Q, K = r.normal(B, Tq, d), r.normal(B, S, d)
    if case.get("bad") == "d":
        K = r.normal(B, S, d + 1)
    V = r.normal(B, S + (1 if case.get("bad") == "S" else 0), dv)
    kind, empty = case.get("mask", "none"), case.get("empty_rows", 0)
    if kind == "none":
        mask = None
    elif kind == "pad":
        mask = _padding_mask(r, B, S, empty)
    elif kind == "full":
        mask = _random_mask(r, (B, Tq, S), empty)
    else:
        raise ValueError(f"unknown mask kind {kind!r}")
    return dict(Q=Q, K=K, V=V, mask=mask, causal=bool(case.get("causal", False)))


def _attn_mask(mask, causal, Tq, S) -> torch.Tensor | None:
    """The boolean attn_mask (True = attend) torch gets: the mask, and the causal triangle when both are given."""
    if mask is None:
        return None
    m = _b(mask)
    m = m[:, None, :] if m.ndim == 2 else m
    if causal:      # torch refuses attn_mask together with is_causal=True: pass their AND
        m = m & torch.ones(Tq, S, dtype=torch.bool).tril()
    return m


def _sdpa(Q, K, V, mask=None, causal=False):
    """F.scaled_dot_product_attention; its weights are the attention applied to the identity matrix."""
    B, Tq, _ = Q.shape
    S = K.shape[1]
    if V.shape[1] != S:
        raise ValueError(f"K has {S} positions, V has {V.shape[1]}")
    m = _attn_mask(mask, causal, Tq, S)
    is_causal = causal and m is None
    out = F.scaled_dot_product_attention(t(Q), t(K), t(V), attn_mask=m, is_causal=is_causal)
    eye = torch.eye(S, dtype=torch.float64).expand(B, S, S)
    w = F.scaled_dot_product_attention(t(Q), t(K), eye, attn_mask=m, is_causal=is_causal)
    return n(_no_nan(out)), n(_no_nan(w))


def _sdpa_variant(Q, K, V, mask=None, causal=False, *, scale="sqrt", tril_k=0, upper=False, mask_mode="ok",
                  dim=-1, nan_fix=True, naive=False):
    """The attention computed step by step in float64, with one known mistake switched on."""
    B, Tq, d = Q.shape
    S = K.shape[1]
    s = t(Q) @ t(K).transpose(1, 2)
    s = s / {"sqrt": math.sqrt(d), "d": d, "none": 1.0, "dv": math.sqrt(V.shape[-1])}[scale]
    allowed = torch.ones(B, Tq, S, dtype=torch.bool)
    if mask is not None and mask_mode != "ignore":
        m = _b(mask)
        if m.ndim == 2:
            if mask_mode == "queries":          # (B, S) broadcast as (B, S, 1): masks queries, not keys
                if Tq != S:
                    raise ValueError("this mistake needs Tq == S")
                m = m[:, :, None]
            else:
                m = m[:, None, :]
        allowed = allowed & (~m if mask_mode == "invert" else m)
    if causal:
        tri = torch.ones(Tq, S, dtype=torch.bool)
        allowed = allowed & (tri.triu(tril_k) if upper else tri.tril(tril_k))
    if naive:
        e = torch.where(allowed, torch.exp(s), torch.zeros(()))
        w = e / e.sum(dim=-1, keepdim=True)
    else:
        w = torch.softmax(s.masked_fill(~allowed, NEG_INF), dim=dim)
    if nan_fix:
        w = _no_nan(w)
    return n(w @ t(V)), n(w)


def _sv(**flags):
    return lambda **kw: _sdpa_variant(**kw, **flags)


register(Exercise(
    name="scaled_dot_product_attention", assignment=A, args=("Q", "K", "V", "mask", "causal"),
    variant_shapes=("dv",),             # not d: a "large" case is built for d = 4
    outputs=("out", "weights"), shapes={"out": "(B, Tq, dv)", "weights": "(B, Tq, S)"},
    builds_on=("masked_softmax",), make_inputs=_sdpa_inputs, reference=_sdpa,
    mistakes=(
        _mistake("no 1/sqrt(d) scaling", "Divide the scores Q K^T by sqrt(d), d = Q.shape[-1]: dot products of "
                 "d-dimensional vectors grow like sqrt(d) and would saturate the softmax.", _sv(scale="none")),
        _mistake("scaled by 1/d instead of 1/sqrt(d)", "The scale is 1/sqrt(d), not 1/d.", _sv(scale="d")),
        _mistake("scaled by the value size 1/sqrt(dv)", "d is the size of the queries and keys, Q.shape[-1]; "
                 "the values' size dv = V.shape[-1] plays no part in the scale.", _sv(scale="dv")),
        _mistake("causal mask excludes the diagonal", "Query i may attend keys j <= i, itself included: "
                 "np.tril(np.ones((Tq, S), dtype=bool)), k = 0. With j < i the first query sees nothing.",
                 _sv(tril_k=-1)),
        _mistake("causal mask lets each query see one step ahead", "Query i may attend keys j <= i only "
                 "(np.tril with k = 0), not j <= i + 1.", _sv(tril_k=1)),
        _mistake("causal mask transposed (the future is allowed)", "The allowed entries are the lower triangle "
                 "(np.tril): key j <= query i. np.triu keeps the future and hides the past.", _sv(upper=True)),
        _mistake("causal flag ignored", "With causal=True query i must not attend keys j > i.",
                 lambda **kw: _sdpa_variant(**{**kw, "causal": False})),
        _mistake("mask ignored", "Positions where mask is False must get weight 0.", _sv(mask_mode="ignore")),
        _mistake("mask inverted", "Like torch's boolean attn_mask, True means 'may attend'.",
                 _sv(mask_mode="invert")),
        _mistake("(B, S) mask broadcast over the queries", "A (B, S) padding mask hides keys: give it a query "
                 "axis, mask[:, None, :] of shape (B, 1, S), not mask[:, :, None].", _sv(mask_mode="queries")),
        _mistake("softmax over the query axis", "Each query's weights form one distribution over the S keys: "
                 "normalise over the last axis.", _sv(dim=-2)),
        _mistake("fully masked row gives NaN", "A query with nothing to attend gets weights 0/0; the contract "
                 "(unlike torch) asks for zeros there: out is then 0 too.", _sv(nan_fix=False)),
        _mistake("softmax without subtracting the maximum", "Scores of size 1e4 overflow np.exp; subtract each "
                 "row's maximum over the allowed keys (masked_softmax does it for you).", _sv(naive=True)),
    ),
))


# ================================================================ attention entropy
def _entropy_inputs(case):
    r = CaseRandom(case)
    B, S = case["B"], case["S"]
    w = _masked_softmax(r.normal(B, S, scale=case.get("spread", 2.0)),
                        _random_mask(r, (B, S), case.get("empty_rows", 0)) if case.get("zeros") else None)
    for b in range(case.get("onehot", 0)):
        w[b] = 0.0
        w[b, r.rng.integers(S)] = 1.0
    return dict(weights=w)


def _entropy(weights):
    return n(torch.special.entr(t(weights)).sum(dim=-1))


def _plogp(weights):
    return weights * np.log(weights)


register(Exercise(
    name="attention_entropy", assignment=A, args=("weights",), outputs=("entropy",), shapes={"entropy": "(B,)"},
    make_inputs=_entropy_inputs, reference=_entropy,
    mistakes=(
        _mistake("0 * log 0 gives NaN", "np.log(0) is -inf and 0 * -inf is NaN; positions with weight 0 "
                 "contribute 0 (the limit of p log p): compute p log p only where p > 0.",
                 lambda weights: -_plogp(weights).sum(axis=-1)),
        _mistake("sign flipped", "H = -sum p log p is never negative.",
                 lambda weights: -_entropy(weights)),
        _mistake("log base 2", "The contract measures entropy in nats: use the natural log, np.log.",
                 lambda weights: _entropy(weights) / math.log(2)),
        _mistake("mean instead of sum over positions", "H = -sum_j p_j log p_j: sum over the S positions.",
                 lambda weights: _entropy(weights) / weights.shape[-1]),
        _mistake("entropy over the batch axis", "One entropy per row (axis=-1): each row is one distribution.",
                 lambda weights: n(torch.special.entr(t(weights)).sum(dim=0))),
    ),
))


# ================================================================ Bahdanau decoder
class BahdanauDecoder(nn.Module):
    """One decoder step of Bahdanau et al. (2015), the contract's way (E inputs, H state, K encoder
    features, A attention units, V output classes):

    weights = masked softmax of v . tanh(s_prev W_s + enc_j W_e)       (additive scores from s_prev)
    context = sum_j weights_j enc_j
    s       = GRUCell(concat[y_prev, context], s_prev)
    logits  = concat[s, context] @ W_out + b_out
    """

    def __init__(self, E: int, H: int, K: int, A: int, V: int):
        super().__init__()
        self.attn = AdditiveScore(H, K, A)
        self.gru = nn.GRUCell(E + K, H)
        self.out = nn.Linear(H + K, V)

    def forward(self, y_prev, s_prev, enc_out, enc_mask):
        scores = self.attn(s_prev, enc_out)
        if enc_mask is not None:
            scores = scores.masked_fill(~enc_mask, NEG_INF)
        weights = _no_nan(torch.softmax(scores, dim=-1))
        context = torch.bmm(weights[:, None, :], enc_out)[:, 0, :]
        s = self.gru(torch.cat([y_prev, context], dim=-1), s_prev)
        logits = self.out(torch.cat([s, context], dim=-1))
        return s, context, logits, weights


def decoder_module(params) -> BahdanauDecoder:
    """The numpy parameters of the contract loaded into a float64 BahdanauDecoder."""
    H, Ad = params["W_s"].shape
    K = params["W_e"].shape[0]
    E = params["gru"]["W_x"].shape[0] - K
    V = params["W_out"].shape[1]
    dec = BahdanauDecoder(E, H, K, Ad, V)
    load(dec.attn.W_q, {"weight": params["W_s"].T})
    load(dec.attn.W_k, {"weight": params["W_e"].T})
    load(dec.attn.v, {"weight": params["v"][None]})
    g = params["gru"]
    load(dec.gru, {"weight_ih": g["W_x"].T, "weight_hh": g["W_h"].T, "bias_ih": g["b_x"], "bias_hh": g["b_h"]})
    load(dec.out, {"weight": params["W_out"].T, "bias": params["b_out"]})
    return dec.double()


def _decoder_params(r: CaseRandom, E, H, K, Ad, V, out_scale=1.0, score_scale=1.0):
    """``score_scale`` multiplies v: the attention scores then reach ~score_scale (1e4 in the stability cases)."""
    return {"W_s": r.normal(H, Ad, scale=1 / math.sqrt(H)), "W_e": r.normal(K, Ad, scale=1 / math.sqrt(K)),
            "v": r.normal(Ad, scale=score_scale),
            "gru": {"W_x": r.weight(H, E + K, 3 * H), "W_h": r.weight(H, H, 3 * H),
                    "b_x": r.weight(H, 3 * H), "b_h": r.weight(H, 3 * H)},
            "W_out": r.normal(H + K, V, scale=out_scale / math.sqrt(H + K)), "b_out": r.normal(V, scale=0.5)}


def _enc_mask(r: CaseRandom, case, B, S):
    kind = case.get("mask", "pad")
    return None if kind == "none" else _padding_mask(r, B, S, case.get("empty_rows", 0))


def _step_inputs(case):
    r = CaseRandom(case)
    B, S, E, H, K, Ad, V = (case[k] for k in ("B", "S", "E", "H", "K", "A", "V"))
    return dict(y_prev=r.normal(B, E), s_prev=r.normal(B, H, scale=0.5), enc_out=r.normal(B, S, K),
                enc_mask=_enc_mask(r, case, B, S),
                params=_decoder_params(r, E, H, K, Ad, V, score_scale=case.get("score_scale", 1.0)))


def _step(y_prev, s_prev, enc_out, enc_mask, params):
    outs = decoder_module(params)(t(y_prev), t(s_prev), t(enc_out), _b(enc_mask))
    return tuple(n(o) for o in outs)


def _step_np(y_prev, s_prev, enc_out, enc_mask, params, *, query="s_prev", swap_attn=False, gru_ctx=True,
             gru_order="yc", out_state="s", out_ctx=True, out_order="sc", use_mask=True, softmax="ok"):
    """The decoder step in float64 numpy, with one known mistake switched on."""
    P = params
    W_s, W_e = (P["W_e"], P["W_s"]) if swap_attn else (P["W_s"], P["W_e"])
    scores = _additive_np(s_prev, enc_out, W_s, W_e, P["v"])
    if softmax == "nan":          # a fully masked row left at 0/0
        w = _masked_softmax(scores, enc_mask if use_mask else None, nan_fix=False)
    elif softmax == "naive":      # no maximum subtracted
        w = _softmax_no_max(scores, enc_mask if use_mask else None)
    else:
        w = _masked_softmax(scores, enc_mask if use_mask else None)
    ctx = np.einsum("bs,bsk->bk", w, enc_out)
    c_in = ctx if gru_ctx else np.zeros_like(ctx)
    x = np.concatenate([y_prev, c_in] if gru_order == "yc" else [c_in, y_prev], axis=-1)
    s = _gru_np(x, s_prev, **P["gru"])
    st = s if out_state == "s" else s_prev
    c_out = ctx if out_ctx else np.zeros_like(ctx)
    logits = np.concatenate([st, c_out] if out_order == "sc" else [c_out, st], axis=-1) @ P["W_out"] + P["b_out"]
    return s, ctx, logits, w


def _gru_np(x_t, h_prev, W_x, W_h, b_x, b_h):
    gx_r, gx_z, gx_n = np.split(x_t @ W_x + b_x, 3, axis=1)
    gh_r, gh_z, gh_n = np.split(h_prev @ W_h + b_h, 3, axis=1)
    sig = lambda z: 1 / (1 + np.exp(-z))
    r, z = sig(gx_r + gh_r), sig(gx_z + gh_z)
    return (1 - z) * np.tanh(gx_n + r * gh_n) + z * h_prev


def _dv(**flags):
    return lambda **kw: _step_np(**kw, **flags)


register(Exercise(
    name="bahdanau_decoder_step", assignment=A, args=("y_prev", "s_prev", "enc_out", "enc_mask", "params"),
    outputs=("s", "context", "logits", "weights"),
    shapes={"s": "(B, H)", "context": "(B, K)", "logits": "(B, V)", "weights": "(B, S)"},
    builds_on=("additive_scores", "attend"), make_inputs=_step_inputs, reference=_step,
    mistakes=(
        _mistake("GRU fed y_prev without the context", "The GRU input is concat[y_prev, context] of size E + K: "
                 "the context is what lets the decoder read the source at this step.", _dv(gru_ctx=False)),
        _mistake("GRU input concatenated as [context, y_prev]", "params['gru']['W_x'] expects "
                 "concat[y_prev, context]: the E input features first.", _dv(gru_order="cy")),
        _mistake("logits from the new state only", "The output layer reads concat[s, context] "
                 "(H + K features), the context included.", _dv(out_ctx=False)),
        _mistake("logits concatenated as [context, s]", "params['W_out'] expects concat[s, context].",
                 _dv(out_order="cs")),
        _mistake("logits from s_prev instead of the new state s", "Update the state first, then compute the "
                 "logits from the new s.", _dv(out_state="s_prev")),
        _mistake("W_s and W_e swapped", "W_s (H, A) projects the decoder state, W_e (K, A) the encoder outputs.",
                 _dv(swap_attn=True)),
        _mistake("enc_mask ignored", "Padded source positions (enc_mask False) must get weight 0.",
                 _dv(use_mask=False)),
        _mistake("fully masked row gives NaN", "A source with no real position (enc_mask all False) gets zero "
                 "weights and a zero context, never 0/0.", _dv(softmax="nan")),
        _mistake("softmax without subtracting the maximum", "Attention scores of size 1e4 overflow np.exp: "
                 "subtract each row's maximum first (attend and masked_softmax do).", _dv(softmax="naive")),
    ),
))


# ================================================================ greedy decoding
def _greedy_inputs(case):
    r = CaseRandom(case)
    B, S, E, H, K, Ad, V = (case[k] for k in ("B", "S", "E", "H", "K", "A", "V"))
    return dict(enc_out=r.normal(B, S, K), enc_mask=_enc_mask(r, case, B, S),
                s0=r.normal(B, H, scale=0.5) if case.get("s0", True) else None,
                embedding=r.normal(V + 1, E, scale=2.0),
                params=_decoder_params(r, E, H, K, Ad, V, out_scale=3.0, score_scale=case.get("score_scale", 1.0)),
                start_token=V, max_len=case["max_len"])


def _greedy(enc_out, enc_mask, s0, embedding, params, start_token, max_len):
    dec = decoder_module(params)
    emb = nn.Embedding.from_pretrained(t(embedding))
    B = enc_out.shape[0]
    H = params["W_s"].shape[0]
    s = torch.zeros(B, H, dtype=torch.float64) if s0 is None else t(s0)
    y = torch.full((B,), start_token, dtype=torch.long)
    tokens, weights = [], []
    for _ in range(max_len):
        s, _, logits, w = dec(emb(y), s, t(enc_out), _b(enc_mask))
        y = logits.argmax(dim=-1)           # ties: the first maximum, like np.argmax
        tokens.append(y)
        weights.append(w)
    return torch.stack(tokens, 1).numpy().astype(np.int64), n(torch.stack(weights, 1))


def _greedy_np(enc_out, enc_mask, s0, embedding, params, start_token, max_len, *, feed_back=True,
               carry=True, shift=False, use_mask=True, softmax="ok"):
    B, H = enc_out.shape[0], params["W_s"].shape[0]
    s_init = np.zeros((B, H)) if s0 is None else s0
    s, y = s_init, np.full(B, start_token)
    tokens, weights = [], []
    for _ in range(max_len):
        s_new, _, logits, w = _step_np(embedding[y], s, enc_out, enc_mask, params, use_mask=use_mask,
                                         softmax=softmax)
        tokens.append(y if shift else logits.argmax(axis=-1))
        y_next = logits.argmax(axis=-1)
        y = y_next if feed_back else np.full(B, start_token)
        s = s_new if carry else s_init
        weights.append(w)
    return np.stack(tokens, axis=1).astype(np.int64), np.stack(weights, axis=1)


def _gv(**flags):
    return lambda **kw: _greedy_np(**kw, **flags)


register(Exercise(
    name="greedy_decode", assignment=A,
    args=("enc_out", "enc_mask", "s0", "embedding", "params", "start_token", "max_len"),
    outputs=("tokens", "weights"), shapes={"tokens": "(B, max_len)", "weights": "(B, max_len, S)"},
    builds_on=("bahdanau_decoder_step",), make_inputs=_greedy_inputs, reference=_greedy,
    mistakes=(
        _mistake("start token fed at every step", "After the first step the decoder reads the embedding of the "
                 "token it just predicted: y = embedding[tokens[:, t - 1]].", _gv(feed_back=False)),
        _mistake("decoder state not carried", "Each step starts from the state the previous step returned, "
                 "not from s0 again.", _gv(carry=False)),
        _mistake("tokens shifted by one (start token stored)", "tokens[:, t] is the argmax of step t's logits; "
                 "the start token is an input, never an output.", _gv(shift=True)),
        _mistake("enc_mask ignored", "Pass enc_mask on to every decoder step.", _gv(use_mask=False)),
        _mistake("initial state s0 ignored", "Start the decoder from s0 when it is given; only s0=None means zeros.",
                 lambda **kw: _greedy(**{**kw, "s0": None})),
        _mistake("fully masked row gives NaN", "A source with no real position gets zero attention weights, "
                 "never 0/0.", _gv(softmax="nan")),
        _mistake("softmax without subtracting the maximum", "Attention scores of size 1e4 overflow np.exp: "
                 "subtract each row's maximum first.", _gv(softmax="naive")),
    ),
))
