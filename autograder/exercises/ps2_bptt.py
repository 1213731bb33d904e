"""ps2_bptt: backpropagation through time for a tanh RNN, losses, clipping, truncation, Jacobians.

Every reference is PyTorch autograd in float64 on the very values the learner gets. Two functions
of the contract, ``rnn_step_backward`` and ``rnn_backward``, receive the states but not the bias
``b_h`` (a backward pass does not need it); their references recover it from the states
(``b = atanh(h_t) - x_t W_xh - h_prev W_hh``, averaged over positions, which in float64 gives the
case's bias to about 1e-15) and run ``nn.RNNCell`` steps with every step's output pinned to the
given state, so that the graph is evaluated exactly where the learner's backward pass is.
``tests/test_ps2_bptt.py`` checks these references against ``nn.RNN`` built the contract's way
with the true bias, and the others against brute-force computations.

Inputs are plain data (arrays, a dict of arrays, numbers, strings, None) so that a sandboxed
grader can ship them; the numeric gradient check therefore differentiates the RNN loss named by
its arguments rather than an arbitrary callable.

Tolerances. Float64 inputs: the learner's numpy and torch differ only in the order of floating
point operations, about 1e-15 relative after 30 steps, far inside the default rtol 1e-6 /
atol 1e-8. Float32 inputs against the float64 reference: the solution's largest error on every
declared case, relative to the largest expected entry, is 5e-7 (BPTT through 30 steps included;
even an expanding W_hh with spectral radius 1.5 stays below 2e-6, see the tests), well inside the
default rtol32 2e-4 / atol32 2e-5. Exceptions are explained where they are set.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .inputs import CaseRandom
from .registry import Exercise, Mistake, register
from .torch_ref import load, n, t

A = "ps2_bptt"


# ---------------------------------------------------------------- shared pieces
def _rnn_module(W_xh, W_hh, b_h):
    """nn.RNN(batch_first=True) holding the contract's numpy parameters (bias in bias_ih_l0)."""
    D, H = W_xh.shape
    return load(nn.RNN(D, H, batch_first=True),
                {"weight_ih_l0": W_xh.T, "weight_hh_l0": W_hh.T, "bias_ih_l0": b_h, "bias_hh_l0": np.zeros(H)})


def _forward(x, h0, W_xh, W_hh, b_h):
    """(h_all, h_last) of nn.RNN in float64."""
    rnn = _rnn_module(W_xh, W_hh, b_h)
    with torch.no_grad():
        out, h_n = rnn(t(x), None if h0 is None else t(h0)[None])
    return n(out), n(h_n[0])


def _weights(r: CaseRandom, case, D, H):
    """W_xh, W_hh, b_h like torch's init; with case["rho"], W_hh is rescaled to that spectral radius."""
    W_xh, W_hh, b_h = r.weight(H, D, H), r.weight(H, H, H), r.weight(H, H)
    if "rho" in case:
        W_hh = r.normal(H, H)
        W_hh *= case["rho"] / np.abs(np.linalg.eigvals(W_hh)).max()
    return W_xh, W_hh, b_h


def _recover_bias(x, h_prev, h, W_xh, W_hh):
    """The bias that makes h = tanh(x W_xh + h_prev W_hh + b), averaged over all positions."""
    H = W_hh.shape[0]
    z = np.arctanh(np.clip(h, -1 + 1e-16, 1 - 1e-16))
    return (z - x @ W_xh - h_prev @ W_hh).reshape(-1, H).mean(axis=0)


def _states_before(h0, h_all):
    """h_prev for every step: (B, T, H) = [h0, h_all[:, :-1]]."""
    B, _, H = h_all.shape
    start = np.zeros((B, H)) if h0 is None else h0
    return np.concatenate([start[:, None], h_all[:, :-1]], axis=1)


# ---------------------------------------------------------------- one step backward
def _step_inputs(case):
    r = CaseRandom(case)
    B, D, H = case["B"], case["D"], case["H"]
    x_t, h_prev = r.normal(B, D), r.normal(B, H, scale=0.5)
    W_xh, W_hh, b_h = _weights(r, case, D, H)
    h_t = np.tanh(x_t @ W_xh + h_prev @ W_hh + b_h)
    return dict(dh_t=r.normal(B, H), x_t=x_t, h_prev=h_prev, h_t=h_t, W_xh=W_xh, W_hh=W_hh)


def _step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    D, H = W_xh.shape
    b = _recover_bias(x_t, h_prev, h_t, W_xh, W_hh)
    cell = load(nn.RNNCell(D, H), {"weight_ih": W_xh.T, "weight_hh": W_hh.T, "bias_ih": b, "bias_hh": np.zeros(H)})
    xt, hp = t(x_t).requires_grad_(), t(h_prev).requires_grad_()
    loss = (cell(xt, hp) * t(dh_t)).sum()
    g = torch.autograd.grad(loss, [xt, hp, cell.weight_ih, cell.weight_hh, cell.bias_ih])
    return {"dx_t": n(g[0]), "dh_prev": n(g[1]), "dW_xh": n(g[2]).T, "dW_hh": n(g[3]).T, "db_h": n(g[4])}


def _tanh_slope(h_t, h_prev, deriv):
    if deriv == "h_t":
        return 1 - h_t ** 2
    if deriv == "h_prev":
        return 1 - h_prev ** 2
    if deriv == "tanh_twice":
        return 1 - np.tanh(h_t) ** 2
    if deriv == "none":
        return np.ones_like(h_t)
    raise ValueError(deriv)


def _step_np(dh_t, x_t, h_prev, h_t, W_xh, W_hh, *, deriv="h_t", transpose=True, dW_state="prev", db="sum"):
    dz = dh_t * _tanh_slope(h_t, h_prev, deriv)
    return {"dx_t": dz @ W_xh.T, "dh_prev": dz @ (W_hh.T if transpose else W_hh),
            "dW_xh": x_t.T @ dz, "dW_hh": (h_prev if dW_state == "prev" else h_t).T @ dz,
            "db_h": dz.sum(axis=0) if db == "sum" else dz.mean(axis=0)}


_TANH_PREV = ("tanh' taken at the previous state", "h_t = tanh(z_t), so dh_t/dz_t = 1 - h_t**2 uses the state "
              "this step produced, not h_prev.")
_TANH_TWICE = ("tanh' applied to the state instead of the pre-activation", "h_t is already tanh(z_t): the slope is "
               "1 - h_t**2, not 1 - tanh(h_t)**2.")
_NO_T = ("W_hh not transposed in the backward pass", "z = h_prev @ W_hh, so dh_prev = dz @ W_hh.T "
         "(a square W_hh has the right shape either way).")
_DW_HT = ("dW_hh built from h_t instead of h_prev", "W_hh multiplies the state that entered the step: "
          "dW_hh = h_prev.T @ dz.")

register(Exercise(
    name="rnn_step_backward", assignment=A,
    variant_shapes=("B", "D", "H"),
    args=("dh_t", "x_t", "h_prev", "h_t", "W_xh", "W_hh"), outputs=("grads",),
    shapes={"dx_t": "(B, D)", "dh_prev": "(B, H)", "dW_xh": "(D, H)", "dW_hh": "(H, H)", "db_h": "(H,)"},
    make_inputs=_step_inputs, reference=_step_backward,
    mistakes=(
        Mistake(*_TANH_PREV, lambda **kw: _step_np(**kw, deriv="h_prev")),
        Mistake(*_TANH_TWICE, lambda **kw: _step_np(**kw, deriv="tanh_twice")),
        Mistake("tanh' forgotten", "Multiply the upstream gradient by the slope of tanh first: "
                "dz = dh_t * (1 - h_t**2).", lambda **kw: _step_np(**kw, deriv="none")),
        Mistake(*_NO_T, lambda **kw: _step_np(**kw, transpose=False)),
        Mistake(*_DW_HT, lambda **kw: _step_np(**kw, dW_state="t")),
        Mistake("db_h averaged over the batch", "The loss adds the contributions of the B sequences: "
                "db_h = dz.sum(axis=0), like dW_xh = x_t.T @ dz sums over the batch.",
                lambda **kw: _step_np(**kw, db="mean")),
    ),
))


# ---------------------------------------------------------------- BPTT over a sequence
def _seq_inputs(case):
    r = CaseRandom(case)
    B, T, D, H = case["B"], case["T"], case["D"], case["H"]
    x, h0 = r.normal(B, T, D), r.initial_state(B, H)
    W_xh, W_hh, b_h = _weights(r, case, D, H)
    h_all, _ = _forward(x, h0, W_xh, W_hh, b_h)
    dh_all = r.normal(B, T, H)
    dh_last = r.normal(B, H) if case.get("dh_last") or case.get("loss") == "last" else None
    if case.get("loss") == "last":              # many-to-one: only the final state is scored
        dh_all = np.zeros((B, T, H))
    if case.get("bad_dh"):                      # an upstream gradient that does not fit h_all
        dh_all = r.normal(B, T + 1, H)
    return dict(dh_all=dh_all, x=x, h0=h0, h_all=h_all, W_xh=W_xh, W_hh=W_hh, dh_last=dh_last)


def _rnn_backward(dh_all, x, h0, h_all, W_xh, W_hh, dh_last=None):
    """autograd of (h_all*dh_all).sum() + (h_last*dh_last).sum() through the unrolled nn.RNNCell steps.

    Each step's output is pinned to the given state (``h + (given - h).detach()``: the value of the
    given state, the gradient of the step), so the graph is evaluated where the learner's backward
    pass is. In float64 this equals autograd through ``nn.RNN`` (tests/test_ps2_bptt.py); with
    float32 inputs a re-run forward pass would drift from the given ``h_all`` when W_hh is expanding.
    """
    B, T, H = h_all.shape
    if np.shape(dh_all) != h_all.shape:      # the contract's ValueError (the reference stands in for learners')
        raise ValueError(f"dh_all should have shape {h_all.shape}, got {np.shape(dh_all)}")
    D = W_xh.shape[0]
    b = _recover_bias(x, _states_before(h0, h_all), h_all, W_xh, W_hh)
    cell = load(nn.RNNCell(D, H), {"weight_ih": W_xh.T, "weight_hh": W_hh.T, "bias_ih": b, "bias_hh": np.zeros(H)})
    xt = t(x).requires_grad_()
    h0t = (torch.zeros(B, H, dtype=torch.float64) if h0 is None else t(h0)).requires_grad_()
    given = t(h_all)
    h, loss = h0t, torch.zeros((), dtype=torch.float64)
    for s in range(T):
        step = cell(xt[:, s], h)
        h = step + (given[:, s] - step).detach()
        loss = loss + (h * given.new_tensor(dh_all[:, s])).sum()
    if dh_last is not None:
        loss = loss + (h * t(dh_last)).sum()
    g = torch.autograd.grad(loss, [xt, h0t, cell.weight_ih, cell.weight_hh, cell.bias_ih])
    return {"dx": n(g[0]), "dh0": n(g[1]), "dW_xh": n(g[2]).T, "dW_hh": n(g[3]).T, "db_h": n(g[4])}


def _bptt_np(dh_all, x, h0, h_all, W_xh, W_hh, dh_last=None, *, recurrent=True, use_last=True, dh0="carried",
             deriv="h_t", transpose=True, dW_state="prev"):
    """A numpy BPTT with switches for the catalogued mistakes."""
    B, T, H = h_all.shape
    prev = _states_before(h0, h_all)
    grads = {"dx": np.zeros_like(x), "dW_xh": np.zeros_like(W_xh), "dW_hh": np.zeros_like(W_hh),
             "db_h": np.zeros(H)}
    carried = dh_last.copy() if (dh_last is not None and use_last) else np.zeros((B, H))
    for s in reversed(range(T)):
        dz = (dh_all[:, s] + carried) * _tanh_slope(h_all[:, s], prev[:, s], deriv)
        grads["dx"][:, s] = dz @ W_xh.T
        grads["dW_xh"] += x[:, s].T @ dz
        grads["dW_hh"] += (prev[:, s] if dW_state == "prev" else h_all[:, s]).T @ dz
        grads["db_h"] += dz.sum(axis=0)
        dh_prev = dz @ (W_hh.T if transpose else W_hh)
        carried = dh_prev if recurrent else np.zeros((B, H))
    grads["dh0"] = np.zeros((B, H)) if dh0 == "zeros" else dh_prev
    return grads


register(Exercise(
    name="rnn_backward", assignment=A,
    variant_shapes=("B", "T", "D", "H"),
    args=("dh_all", "x", "h0", "h_all", "W_xh", "W_hh", "dh_last"), outputs=("grads",),
    shapes={"dx": "(B, T, D)", "dh0": "(B, H)", "dW_xh": "(D, H)", "dW_hh": "(H, H)", "db_h": "(H,)"},
    builds_on=("rnn_step_backward",),
    make_inputs=_seq_inputs, reference=_rnn_backward,
    mistakes=(
        Mistake("recurrent term forgotten", "The state h_t also feeds step t+1: the gradient into step t is "
                "dh_all[:, t] plus the dh_prev that step t+1 sent back.", lambda **kw: _bptt_np(**kw, recurrent=False)),
        Mistake("dh_last ignored", "When dh_last is given it is extra gradient on the final state: start the "
                "backward loop with carried = dh_last (h_last is h_all[:, -1]).", lambda **kw: _bptt_np(**kw, use_last=False)),
        Mistake("initial state h0 ignored", "The state before step 0 is h0 when it is given (only h0=None "
                "means zeros): it enters dW_hh through h_prev at t = 0.",
                lambda **kw: _bptt_np(**{**kw, "h0": None})),
        Mistake("gradient into h0 missing", "dh0 is the dh_prev that the first step (t = 0) sends back, "
                "even when h0 is None (then it is the gradient at the zero state).",
                lambda **kw: _bptt_np(**kw, dh0="zeros")),
        Mistake(*_TANH_PREV, lambda **kw: _bptt_np(**kw, deriv="h_prev")),
        Mistake(*_TANH_TWICE, lambda **kw: _bptt_np(**kw, deriv="tanh_twice")),
        Mistake(*_NO_T, lambda **kw: _bptt_np(**kw, transpose=False)),
        Mistake(*_DW_HT, lambda **kw: _bptt_np(**kw, dW_state="t")),
    ),
))


# ---------------------------------------------------------------- numeric gradient check
def _numeric_inputs(case):
    r = CaseRandom(case)
    B, T, D, H = case["B"], case["T"], case["D"], case["H"]
    x, h0 = r.normal(B, T, D), r.initial_state(B, H)
    W_xh, W_hh, b_h = _weights(r, case, D, H)
    dh_all = r.normal(B, T, H)
    dh_last = r.normal(B, H) if case.get("dh_last") else None
    return dict(x=x, h0=h0, W_xh=W_xh, W_hh=W_hh, b_h=b_h, dh_all=dh_all, wrt=case["wrt"], dh_last=dh_last,
                eps=case.get("eps", 1e-5))


def _loss(params, dh_all, dh_last):
    h_all, h_last = _forward(params["x"], params["h0"], params["W_xh"], params["W_hh"], params["b_h"])
    value = float((h_all * dh_all).sum())
    return value + (float((h_last * dh_last).sum()) if dh_last is not None else 0.0)


def _numeric_gradient(x, h0, W_xh, W_hh, b_h, dh_all, wrt, dh_last=None, eps=1e-5, *, scheme="central",
                      restore=True, use_last=True):
    B, H = x.shape[0], W_hh.shape[0]
    params = dict(x=x.copy(), h0=np.zeros((B, H)) if h0 is None else h0.copy(), W_xh=W_xh.copy(),
                  W_hh=W_hh.copy(), b_h=b_h.copy())
    last = dh_last if use_last else None
    p = params[wrt]
    grad = np.zeros_like(p)
    base = _loss(params, dh_all, last) if scheme == "forward" else None
    for i in np.ndindex(p.shape):
        old = p[i]
        p[i] = old + eps
        plus = _loss(params, dh_all, last)
        if scheme == "forward":
            grad[i] = (plus - base) / eps
        else:
            p[i] = old - eps
            minus = _loss(params, dh_all, last)
            grad[i] = (plus - minus) / (2 * eps if scheme == "central" else eps)
        if restore:
            p[i] = old
    return grad


register(Exercise(
    name="rnn_numeric_gradient", assignment=A,
    args=("x", "h0", "W_xh", "W_hh", "b_h", "dh_all", "wrt", "dh_last", "eps"), outputs=("grad",),
    shapes={"grad": "(the shape of the argument named by wrt)"},
    make_inputs=_numeric_inputs, reference=_numeric_gradient,
    mistakes=(
        Mistake("one-sided difference", "(L(p + eps) - L(p)) / eps has an error proportional to eps; the "
                "centred (L(p + eps) - L(p - eps)) / (2 eps) one is proportional to eps**2.",
                lambda **kw: _numeric_gradient(**kw, scheme="forward")),
        Mistake("divided by eps instead of 2 eps", "The two evaluations are 2 eps apart.",
                lambda **kw: _numeric_gradient(**kw, scheme="half")),
        Mistake("perturbation not undone", "Put every entry back to its original value before moving to the "
                "next one; otherwise later entries are differentiated at a shifted point.",
                lambda **kw: _numeric_gradient(**kw, restore=False)),
        Mistake("dh_last ignored", "The loss is sum(h_all * dh_all) + sum(h_last * dh_last) when dh_last is given.",
                lambda **kw: _numeric_gradient(**kw, use_last=False)),
    ),
    # Both sides compute the same centred difference in float64 (a learner casts float32 inputs to
    # float64 first, as the docstring asks). They differ by the rounding of L, about
    # |L| * 1e-16 / eps ~ 1e-10 for eps = 1e-5: far inside atol 1e-8. In float32 the cast answer is
    # off by float32 rounding only (rtol32 1e-5), while differencing in float32 itself is off by
    # |L| * 6e-8 / eps ~ 1e-2 and is rejected.
    rtol=1e-6, atol=1e-8, rtol32=1e-5, atol32=1e-7,
))


# ---------------------------------------------------------------- temporal softmax loss
def _loss_inputs(case):
    r = CaseRandom(case)
    B, T, V = case["B"], case["T"], case["V"]
    logits = r.normal(B, T, V, scale=case.get("logit_scale", 1.0))
    targets = r.rng.integers(0, V, size=(B, T))
    kind = case.get("mask")
    if kind is None:
        mask = None
    elif kind == "random":
        mask = r.rng.random((B, T)) < 0.6
    elif kind == "lengths":                       # padded batch: sequence b has lengths[b] real steps
        lengths = r.rng.integers(0, T + 1, size=B)
        lengths[0] = T
        mask = np.arange(T)[None, :] < lengths[:, None]
    elif kind == "empty":
        mask = np.zeros((B, T), dtype=bool)
    else:
        raise ValueError(f"unknown mask kind {kind!r}")
    if mask is not None and case.get("pad"):
        targets = np.where(mask, targets, -1)    # padding positions carry an invalid target
    if case.get("bad_targets"):
        targets = r.rng.integers(0, V, size=(B, T + 1))
    return dict(logits=logits, targets=targets.astype(np.int64), mask=mask)


def _temporal_loss(logits, targets, mask=None):
    sel = np.ones(targets.shape, dtype=bool) if mask is None else mask
    lt = t(logits).requires_grad_()
    if not sel.any():
        return 0.0, np.zeros_like(logits)
    s = torch.as_tensor(sel)
    loss = F.cross_entropy(lt[s], torch.as_tensor(targets)[s], reduction="mean")
    (g,) = torch.autograd.grad(loss, [lt])
    return float(loss.detach()), n(g)


def _loss_np(logits, targets, mask=None, *, denom="selected", use_mask=True, mask_grad=True, stable=True,
             grad_scale=True, empty="zero"):
    B, T, V = logits.shape
    sel = np.ones((B, T), dtype=bool) if (mask is None or not use_mask) else mask.astype(bool)
    shifted = logits - logits.max(axis=-1, keepdims=True) if stable else logits
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        e = np.exp(shifted)
        p = e / e.sum(axis=-1, keepdims=True)
        safe = np.where(sel, targets, 0)
        onehot = np.eye(V)[safe]
        logp = np.log(np.take_along_axis(p, safe[..., None], axis=-1)[..., 0])
        count = {"selected": sel.sum(), "batch": B, "all": B * T}[denom]
        if count == 0 and empty == "zero":
            return 0.0, np.zeros_like(logits)
        loss = float(-(logp * sel).sum() / count)
        g = (p - onehot)
        if mask_grad:
            g = g * sel[..., None]
        if grad_scale:
            g = g / count
    return loss, g


register(Exercise(
    name="temporal_softmax_loss", assignment=A,
    args=("logits", "targets", "mask"), outputs=("loss", "dlogits"),
    shapes={"dlogits": "(B, T, V)"},
    make_inputs=_loss_inputs, reference=_temporal_loss,
    mistakes=(
        Mistake("loss averaged over the batch instead of over the selected tokens", "F.cross_entropy with "
                "reduction='mean' divides by the number of positions that count (mask.sum()), not by B.",
                lambda **kw: _loss_np(**kw, denom="batch")),
        Mistake("divided by B*T instead of the number of selected tokens", "Masked positions do not count: "
                "divide by mask.sum().", lambda **kw: _loss_np(**kw, denom="all")),
        Mistake("mask ignored", "Only positions where mask is True enter the loss and get gradient.",
                lambda **kw: _loss_np(**kw, use_mask=False)),
        Mistake("gradient at masked positions not zeroed", "A position outside the mask does not touch the loss, "
                "so its dlogits row is 0.", lambda **kw: _loss_np(**kw, mask_grad=False)),
        Mistake("softmax without subtracting the maximum", "exp overflows for large logits: subtract "
                "logits.max(axis=-1, keepdims=True) first.", lambda **kw: _loss_np(**kw, stable=False)),
        Mistake("no selected position gives 0/0", "When mask selects nothing the loss is 0.0 and dlogits is all "
                "zeros; do not divide by a count of 0.", lambda **kw: _loss_np(**kw, empty="nan")),
        Mistake("gradient not divided by the number of tokens", "The loss is a mean, so every dlogits row is "
                "(p - onehot) / N.", lambda **kw: _loss_np(**kw, grad_scale=False)),
    ),
))


# ---------------------------------------------------------------- gradient clipping
def _clip_inputs(case):
    r = CaseRandom(case)
    D, H = case["D"], case["H"]
    grads = {"W_xh": r.normal(D, H), "W_hh": r.normal(H, H), "b_h": r.normal(H)}
    if case.get("zero"):
        return dict(grads={k: 0 * g for k, g in grads.items()}, max_norm=float(case["max_norm"]))
    total = np.sqrt(sum((g ** 2).sum() for g in grads.values()))
    grads = {k: g * (case.get("norm", 1.0) / total) for k, g in grads.items()}
    return dict(grads=grads, max_norm=float(case["max_norm"]))


def _clip(grads, max_norm):
    params = []
    for g in grads.values():
        p = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
        p.grad = t(g).clone()
        params.append(p)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return {k: n(p.grad) for k, p in zip(grads, params)}, float(total)


def _clip_np(grads, max_norm, *, eps=1e-6, always=False, per_array=False, total="l2", by_value=False,
             report="before"):
    with np.errstate(all="ignore"):           # a mistaken 0/0 gives nan, silently
        return _clip_np_body(grads, max_norm, eps, always, per_array, total, by_value, report)


def _clip_np_body(grads, max_norm, eps, always, per_array, total, by_value, report):
    norms = {k: np.sqrt((g ** 2).sum()) for k, g in grads.items()}
    sq = sum(v ** 2 for v in norms.values())
    tot = {"l2": np.sqrt(sq), "sum": sum(norms.values()), "squared": sq}[total]
    if by_value:
        out = {k: np.clip(g, -max_norm, max_norm) for k, g in grads.items()}
    elif per_array:
        out = {k: g * min(1.0, max_norm / (norms[k] + eps)) for k, g in grads.items()}
    else:
        coef = max_norm / (tot + eps)
        out = {k: g * (coef if always else min(1.0, coef)) for k, g in grads.items()}
    if report == "after":
        tot = np.sqrt(sum((g ** 2).sum() for g in out.values()))
    return out, float(tot)


register(Exercise(
    name="clip_grad_norm", assignment=A,
    args=("grads", "max_norm"), outputs=("clipped", "total_norm"),
    make_inputs=_clip_inputs, reference=_clip,
    mistakes=(
        Mistake("clipping without the epsilon", "torch scales by max_norm / (total_norm + 1e-6); the epsilon "
                "matters when the norm is tiny (and avoids 0/0).", lambda **kw: _clip_np(**kw, eps=0.0)),
        Mistake("gradients scaled up", "Clipping only ever shrinks: scale by min(1, max_norm / (total + 1e-6)).",
                lambda **kw: _clip_np(**kw, always=True)),
        Mistake("each array clipped on its own", "clip_grad_norm_ uses one norm over all arrays together and "
                "one common scale, so the direction of the whole gradient is kept.",
                lambda **kw: _clip_np(**kw, per_array=True)),
        Mistake("total norm as the sum of the arrays' norms", "The total norm is the L2 norm of all entries: "
                "sqrt of the sum of every array's squared entries.", lambda **kw: _clip_np(**kw, total="sum")),
        Mistake("square root forgotten in the total norm", "total_norm = sqrt(sum of squares).",
                lambda **kw: _clip_np(**kw, total="squared")),
        Mistake("clipped by value instead of by norm", "np.clip(g, -max_norm, max_norm) is clip_grad_value_; "
                "clip_grad_norm_ rescales the whole gradient.", lambda **kw: _clip_np(**kw, by_value=True)),
        Mistake("total norm reported after clipping", "Return the norm of the gradients you were given "
                "(torch returns it so you can log how large they were).", lambda **kw: _clip_np(**kw, report="after")),
    ),
    # The reference is one scale factor times the inputs, so agreement is relative (atol 0): a
    # correct float64 answer is off by ~1e-16, and rtol 1e-9 still sees the missing epsilon at an
    # ordinary norm of 5 (2e-7 relative); the tiny-norm case (entries ~1e-7, where the epsilon
    # changes the scale by half) catches it in float32 too, where rtol32 1e-5 covers rounding.
    rtol=1e-9, atol=0.0, rtol32=1e-5, atol32=0.0,
))


# ---------------------------------------------------------------- truncated BPTT
def _trunc_inputs(case):
    r = CaseRandom(case)
    B, T, D, H = case["B"], case["T"], case["D"], case["H"]
    x, h0 = r.normal(B, T, D), r.initial_state(B, H)
    W_xh, W_hh, b_h = _weights(r, case, D, H)
    return dict(x=x, h0=h0, W_xh=W_xh, W_hh=W_hh, b_h=b_h, dh_all=r.normal(B, T, H), k=case["k"])


def _param_grads(rnn):
    return {"dW_xh": n(rnn.weight_ih_l0.grad).T, "dW_hh": n(rnn.weight_hh_l0.grad).T, "db_h": n(rnn.bias_ih_l0.grad)}


def _truncated(x, h0, W_xh, W_hh, b_h, dh_all, k, *, cut=True, restart=None, drop_last=False):
    B, T, _ = x.shape
    rnn = _rnn_module(W_xh, W_hh, b_h)
    start = torch.zeros(1, B, W_hh.shape[0], dtype=torch.float64) if h0 is None else t(h0)[None]
    h = start
    loss = torch.zeros((), dtype=torch.float64)
    for s in range(0, T, k):
        if drop_last and s + k > T:
            break
        if restart == "zeros":
            h = torch.zeros_like(start)
        elif restart == "h0":
            h = start
        out, h = rnn(t(x[:, s:s + k]), h.detach() if cut else h)
        loss = loss + (out * t(dh_all[:, s:s + k])).sum()
    loss.backward()
    return _param_grads(rnn)


def _sliding_window(x, h0, W_xh, W_hh, b_h, dh_all, k):
    """Each step's loss backpropagated at most k steps (a different truncation scheme)."""
    B, T, _ = x.shape
    rnn = _rnn_module(W_xh, W_hh, b_h)
    with torch.no_grad():
        h_all, _ = rnn(t(x), None if h0 is None else t(h0)[None])
    zeros = torch.zeros(1, B, W_hh.shape[0], dtype=torch.float64)
    for s in range(T):
        first = max(0, s - k + 1)
        h = (zeros if h0 is None else t(h0)[None]) if first == 0 else h_all[:, first - 1][None]
        out, _ = rnn(t(x[:, first:s + 1]), h)
        (out[:, -1] * t(dh_all[:, s])).sum().backward()
    return _param_grads(rnn)


register(Exercise(
    name="truncated_bptt_grads", assignment=A,
    variant_shapes=("B", "D", "H"),
    args=("x", "h0", "W_xh", "W_hh", "b_h", "dh_all", "k"), outputs=("grads",),
    shapes={"dW_xh": "(D, H)", "dW_hh": "(H, H)", "db_h": "(H,)"},
    builds_on=("rnn_backward",),
    make_inputs=_trunc_inputs, reference=_truncated,
    mistakes=(
        Mistake("truncation does not cut the carried state", "The state carried into the next chunk is a "
                "constant for the backward pass: each chunk's backward stops at its first step (call rnn_backward "
                "per chunk and throw its dh0 away).", lambda **kw: _truncated(**kw, cut=False)),
        Mistake("state reset to zeros at every chunk", "Truncation cuts the gradient, not the forward pass: "
                "chunk i+1 starts from the last state of chunk i.", lambda **kw: _truncated(**kw, restart="zeros")),
        Mistake("initial state h0 ignored", "The first chunk starts from h0 when it is given; only h0=None "
                "means zeros.", lambda **kw: _truncated(**{**kw, "h0": None})),
        Mistake("every chunk restarted from h0", "Only the first chunk starts from h0; later chunks start from "
                "the previous chunk's last state.", lambda **kw: _truncated(**kw, restart="h0")),
        Mistake("the last, shorter chunk dropped", "When k does not divide T the last chunk has T % k steps "
                "and still counts.", lambda **kw: _truncated(**kw, drop_last=True)),
        Mistake("sliding window instead of chunks", "Here truncation splits the sequence into consecutive "
                "chunks of k steps; it does not send every step's loss back exactly k steps.", _sliding_window),
    ),
))


# ---------------------------------------------------------------- Jacobian norms
def _jac_inputs(case):
    r = CaseRandom(case)
    T, D, H = case["T"], case["D"], case["H"]
    x = r.normal(T, D, scale=case.get("x_scale", 1.0))
    h0 = r.normal(H, scale=0.5) if case.get("h0") else np.zeros(H)
    W_xh, W_hh, b_h = _weights(r, case, D, H)
    return dict(x=x, h0=h0, W_xh=W_xh, W_hh=W_hh, b_h=b_h)


def _jacobian_norms(x, h0, W_xh, W_hh, b_h):
    T = x.shape[0]
    rnn = _rnn_module(W_xh, W_hh, b_h)
    with torch.no_grad():
        states, _ = rnn(t(x)[None], t(h0)[None, None])
    states = torch.cat([t(h0)[None], states[0]])          # states[k] = h_k, k = 0..T
    norms = np.empty(T)
    for k in range(T):
        run = lambda h, k=k: rnn(t(x[k:])[None], h[None, None])[1][0, 0]
        J = torch.autograd.functional.jacobian(run, states[k])
        norms[k] = float(torch.linalg.matrix_norm(J, ord=2))
    return norms


def _jac_np(x, h0, W_xh, W_hh, b_h, *, deriv="h_t", transpose=True, order="left", combine="product",
            norm=2, shift=False, reverse=False, zero_h0=False):
    T, H = x.shape[0], W_hh.shape[0]
    h, states = (np.zeros(H) if zero_h0 else h0), []
    for s in range(T):
        states.append(h)
        h = np.tanh(x[s] @ W_xh + h @ W_hh + b_h)
    states.append(h)                                   # states[k] = h_k
    P, prod, out = np.eye(H), 1.0, np.empty(T)
    for k in reversed(range(T)):                       # J_{k+1} = d h_{k+1} / d h_k
        slope = {"h_t": 1 - states[k + 1] ** 2, "h_prev": 1 - states[k] ** 2, "none": np.ones(H)}[deriv]
        J = slope[:, None] * (W_hh.T if transpose else W_hh)
        P = P @ J if order == "left" else J @ P
        prod *= np.linalg.norm(J, 2)
        out[k] = prod if combine == "norms" else np.linalg.norm(P, norm)
    if shift:                                          # entry k holds d h_T / d h_{k+1}
        out = np.concatenate([out[1:], [1.0]])
    return out[::-1].copy() if reverse else out


register(Exercise(
    name="hidden_jacobian_norms", assignment=A,
    variant_shapes=("D", "H"),
    args=("x", "h0", "W_xh", "W_hh", "b_h"), outputs=("norms",), shapes={"norms": "(T,)"},
    make_inputs=_jac_inputs, reference=_jacobian_norms,
    mistakes=(
        Mistake("product of the per-step norms", "||J_T ... J_{k+1}|| is at most the product of the norms, "
                "and usually much smaller: multiply the matrices, then take one norm.",
                lambda **kw: _jac_np(**kw, combine="norms")),
        Mistake("tanh' ignored (powers of W_hh)", "Each step's Jacobian is diag(1 - h_t**2) @ W_hh.T, "
                "not W_hh.T alone.", lambda **kw: _jac_np(**kw, deriv="none")),
        Mistake(*_TANH_PREV, lambda **kw: _jac_np(**kw, deriv="h_prev")),
        Mistake("W_hh not transposed in the Jacobian", "With row vectors h_t = tanh(h_{t-1} @ W_hh + ...), so "
                "d h_t / d h_{t-1} = diag(1 - h_t**2) @ W_hh.T.", lambda **kw: _jac_np(**kw, transpose=False)),
        Mistake("Jacobians multiplied in the wrong order", "d h_T / d h_k = J_T @ J_{T-1} @ ... @ J_{k+1}: the "
                "latest step's Jacobian on the left.", lambda **kw: _jac_np(**kw, order="right")),
        Mistake("Frobenius norm instead of the spectral norm", "Use np.linalg.norm(J, 2), the largest singular "
                "value.", lambda **kw: _jac_np(**kw, norm="fro")),
        Mistake("entries in reversed order", "Entry k belongs to h_k (k = 0 is the initial state), so the "
                "distance T - k shrinks along the array.", lambda **kw: _jac_np(**kw, reverse=True)),
        Mistake("off by one: entry k is d h_T / d h_{k+1}", "Entry 0 is the Jacobian with respect to h_0 = h0, "
                "a product of T step Jacobians; the last entry has one.", lambda **kw: _jac_np(**kw, shift=True)),
        Mistake("h0 ignored", "The trajectory starts from the given h0, which changes every tanh'.",
                lambda **kw: _jac_np(**kw, zero_h0=True)),
    ),
    # Norms span many orders of magnitude (1e-12 ... 1e3), so the comparison is relative (atol
    # negligible): an absolute tolerance would wave through every mistake in the vanishing tail.
    # In float32 the product of up to 30 Jacobians stays within 3e-7 relative of float64 on the
    # declared cases; rtol32 2e-4 leaves room for other correct orders of multiplication.
    rtol=1e-6, atol=1e-30, rtol32=2e-4, atol32=1e-30,
))
