"""ps7_memory: backpropagation through gated cells, and a stack-augmented RNN.

References are PyTorch in float64 on the very values the learner gets:

* ``lstm_cell_backward`` / ``gru_cell_backward``: ``torch.autograd.grad`` through ``nn.LSTMCell`` /
  ``nn.GRUCell`` loaded with ps1's layout (``weight_ih = W_x.T``, ``weight_hh = W_h.T``; the LSTM's
  ``b`` goes to ``bias_ih`` with ``bias_hh = 0``, so ``db`` is the gradient of either bias, which
  ``tests/test_ps7_memory.py`` checks with both biases non-zero);
* ``lstm_backward`` (added in the contract's style, built on the cell backward): autograd of
  ``(h_all * dh_all).sum()`` through ``nn.LSTM(batch_first=True)`` with the same layout;
* ``stack_rnn_step`` / ``stack_rnn_forward``: ``StackRNN`` below, an ``nn.Module`` of ``nn.Linear``
  layers holding the contract's weights, one step and the same step unrolled.

The backward passes recompute the forward pass from the inputs (a cell backward needs only its
inputs), so no state is pinned. Tolerances: the defaults. In float64 numpy and torch differ by
reordering only (about 1e-15 relative); in float32 the solution's largest error on every declared
case, relative to the largest expected entry, stays below 1e-6 (20 LSTM steps included), inside
rtol32 2e-4 / atol32 2e-5.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .inputs import CaseRandom
from .registry import Exercise, Mistake, register
from .torch_ref import load, n, t

A = "ps7_memory"


def _sig(z):
    return 1 / (1 + np.exp(-z))


def _grad(loss, tensors):
    return [n(g) for g in torch.autograd.grad(loss, tensors)]


# ---------------------------------------------------------------- LSTM cell backward
def _lstm_weights(r, D, H):
    return r.weight(H, D, 4 * H), r.weight(H, H, 4 * H), r.weight(H, 4 * H)


def _lstm_cell_inputs(case):
    r = CaseRandom(case)
    B, D, H = case["B"], case["D"], case["H"]
    x_t, h_prev, c_prev = r.normal(B, D), r.normal(B, H, scale=0.5), r.normal(B, H)
    W_x, W_h, b = _lstm_weights(r, D, H)
    dh_t, dc_t = r.normal(B, H), r.normal(B, H)
    return dict(dh_t=dh_t, dc_t=dc_t if case.get("dc", True) else None, x_t=x_t, h_prev=h_prev,
                c_prev=c_prev, W_x=W_x, W_h=W_h, b=b)


def _lstm_cell_module(W_x, W_h, b):
    D, H4 = W_x.shape
    return load(nn.LSTMCell(D, H4 // 4), {"weight_ih": W_x.T, "weight_hh": W_h.T, "bias_ih": b,
                                          "bias_hh": np.zeros(H4)})


def _lstm_cell_backward(dh_t, dc_t, x_t, h_prev, c_prev, W_x, W_h, b):
    cell = _lstm_cell_module(W_x, W_h, b)
    xt, hp, cp = (t(a).requires_grad_() for a in (x_t, h_prev, c_prev))
    h, c = cell(xt, (hp, cp))
    loss = (h * t(dh_t)).sum() + ((c * t(dc_t)).sum() if dc_t is not None else 0)
    g = _grad(loss, [xt, hp, cp, cell.weight_ih, cell.weight_hh, cell.bias_ih])
    return {"dx_t": g[0], "dh_prev": g[1], "dc_prev": g[2], "dW_x": g[3].T, "dW_h": g[4].T, "db": g[5]}


def _lstm_cell_np(dh_t, dc_t, x_t, h_prev, c_prev, W_x, W_h, b, *, order="ifgo", use_dc=True, through_f=True,
                  slope="tanh_c", sig_slope=True, g_slope=True, db_scale=1.0, dW_scale="sum", layout="ours"):
    """A numpy LSTM cell backward with switches for the catalogued mistakes."""
    B = x_t.shape[0]
    blocks = dict(zip(order, np.split(x_t @ W_x + h_prev @ W_h + b, 4, axis=1)))
    i, f, g, o = _sig(blocks["i"]), _sig(blocks["f"]), np.tanh(blocks["g"]), _sig(blocks["o"])
    c = f * c_prev + i * g
    tc = np.tanh(c)
    tanh_slope = {"tanh_c": 1 - tc ** 2, "none": 1.0, "c_t": 1 - c ** 2, "c_prev": 1 - np.tanh(c_prev) ** 2}[slope]
    dc = dh_t * o * tanh_slope + (dc_t if (use_dc and dc_t is not None) else 0)
    ds = (lambda s: s * (1 - s)) if sig_slope else (lambda s: s)
    dz = {"i": dc * g * ds(i), "f": dc * c_prev * ds(f), "o": dh_t * tc * ds(o),
          "g": dc * i * ((1 - g ** 2) if g_slope else g * (1 - g))}
    dz = np.concatenate([dz[k] for k in order], axis=1)
    scale = 1.0 if dW_scale == "sum" else 1.0 / B
    dW_x, dW_h = scale * (x_t.T @ dz), scale * (h_prev.T @ dz)
    if layout == "torch":
        dW_x, dW_h = dW_x.T, dW_h.T
    return {"dx_t": dz @ W_x.T, "dh_prev": dz @ W_h.T, "dc_prev": dc * f if through_f else dc,
            "dW_x": dW_x, "dW_h": dW_h, "db": db_scale * dz.sum(axis=0)}


_GATE_ORDER = ("gate blocks in the order i, f, o, g", "torch packs the four blocks of W_x, W_h and b as i, f, g, o; "
               "recompute the gates and place their gradients in that order.")
_SIG_SLOPE = ("sigmoid derivative taken as s instead of s * (1 - s)", "For s = sigmoid(a), ds/da = s * (1 - s).")

register(Exercise(
    name="lstm_cell_backward", assignment=A,
    variant_shapes=("B", "D", "H"),
    args=("dh_t", "dc_t", "x_t", "h_prev", "c_prev", "W_x", "W_h", "b"), outputs=("grads",),
    shapes={"dx_t": "(B, D)", "dh_prev": "(B, H)", "dc_prev": "(B, H)", "dW_x": "(D, 4H)", "dW_h": "(H, 4H)",
            "db": "(4H,)"},
    make_inputs=_lstm_cell_inputs, reference=_lstm_cell_backward,
    mistakes=(
        Mistake("cell-state path through f forgotten in dc_prev", "c_t = f * c_prev + i * g, so the gradient "
                "reaching c_prev is dc * f, where dc = dc_t + dh_t * o * (1 - tanh(c_t)**2).",
                lambda **kw: _lstm_cell_np(**kw, through_f=False)),
        Mistake("dc_t ignored", "dc_t is gradient arriving at c_t from the next step (None means zeros); add it to "
                "the part that comes through h_t = o * tanh(c_t).", lambda **kw: _lstm_cell_np(**kw, use_dc=False)),
        Mistake(*_GATE_ORDER, lambda **kw: _lstm_cell_np(**kw, order="ifog")),
        Mistake("input and forget gate blocks swapped", "Block 0 is the input gate i, block 1 the forget gate f.",
                lambda **kw: _lstm_cell_np(**kw, order="figo")),
        Mistake("tanh'(c_t) missing", "h_t = o * tanh(c_t): the gradient from h_t into c_t is "
                "dh_t * o * (1 - tanh(c_t)**2).", lambda **kw: _lstm_cell_np(**kw, slope="none")),
        Mistake("tanh' taken as 1 - c_t**2", "The slope of tanh at c_t is 1 - tanh(c_t)**2; c_t itself is not "
                "a tanh output.", lambda **kw: _lstm_cell_np(**kw, slope="c_t")),
        Mistake("tanh' taken at c_prev", "h_t = o * tanh(c_t) uses the new cell state: the slope is "
                "1 - tanh(c_t)**2.", lambda **kw: _lstm_cell_np(**kw, slope="c_prev")),
        Mistake(*_SIG_SLOPE, lambda **kw: _lstm_cell_np(**kw, sig_slope=False)),
        Mistake("sigmoid derivative used for the candidate g", "g = tanh(a_g): its slope is 1 - g**2.",
                lambda **kw: _lstm_cell_np(**kw, g_slope=False)),
        Mistake("dW averaged over the batch", "The loss sums over the batch rows, so dW_x = x_t.T @ da "
                "sums over them too.", lambda **kw: _lstm_cell_np(**kw, dW_scale="mean")),
        Mistake("dW_x, dW_h in torch's layout (transposed)", "Return gradients in the layout of W_x (D, 4H) and "
                "W_h (H, 4H): dW_x = x_t.T @ da.", lambda **kw: _lstm_cell_np(**kw, layout="torch")),
        Mistake("db counted for both torch biases", "b stands for bias_ih + bias_hh; its gradient equals the "
                "gradient of each of them (da summed over the batch), not their sum.",
                lambda **kw: _lstm_cell_np(**kw, db_scale=2.0)),
    ),
))


# ---------------------------------------------------------------- LSTM over a sequence
def _lstm_seq_inputs(case):
    r = CaseRandom(case)
    B, T, D, H = case["B"], case["T"], case["D"], case["H"]
    x = r.normal(B, T, D)
    h0, c0 = r.initial_state(B, H), r.initial_state(B, H)
    W_x, W_h, b = _lstm_weights(r, D, H)
    dh_all = r.normal(B, T + (1 if case.get("bad_dh") else 0), H)
    if case.get("loss") == "last":              # many-to-one: only the final state is scored
        dh_all[:, :-1] = 0.0
    return dict(dh_all=dh_all, x=x, h0=h0, c0=c0, W_x=W_x, W_h=W_h, b=b)


def _lstm_backward(dh_all, x, h0, c0, W_x, W_h, b):
    B, T, D = x.shape
    H = W_h.shape[0]
    lstm = load(nn.LSTM(D, H, batch_first=True), {"weight_ih_l0": W_x.T, "weight_hh_l0": W_h.T,
                                                   "bias_ih_l0": b, "bias_hh_l0": np.zeros(4 * H)})
    zeros = np.zeros((B, H))
    xt = t(x).requires_grad_()
    h0t = t(zeros if h0 is None else h0)[None].requires_grad_()
    c0t = t(zeros if c0 is None else c0)[None].requires_grad_()
    out, _ = lstm(xt, (h0t, c0t))
    g = _grad((out * t(dh_all)).sum(), [xt, h0t, c0t, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0])
    return {"dx": g[0], "dh0": g[1][0], "dc0": g[2][0], "dW_x": g[3].T, "dW_h": g[4].T, "db": g[5]}


def _lstm_seq_np(dh_all, x, h0, c0, W_x, W_h, b, *, recurrent=True, carry_c=True, start="given", dstart="carried",
                 accumulate=True, shift=False, swap_out=False):
    """A numpy LSTM backward over a sequence (cell forward + the correct cell backward), with switches."""
    B, T, _ = x.shape
    H = W_h.shape[0]
    zeros = np.zeros((B, H))
    h = zeros if (h0 is None or start == "zeros") else h0
    c = zeros if (c0 is None or start == "zeros") else c0
    hs, cs = [h], [c]
    for s in range(T):
        i, f, g, o = np.split(x[:, s] @ W_x + h @ W_h + b, 4, axis=1)
        c = _sig(f) * c + _sig(i) * np.tanh(g)
        h = _sig(o) * np.tanh(c)
        hs.append(h)
        cs.append(c)
    grads = {"dx": np.zeros_like(x), "dW_x": np.zeros_like(W_x), "dW_h": np.zeros_like(W_h), "db": np.zeros(4 * H)}
    dh, dc = zeros, zeros
    for s in reversed(range(T)):
        k = s + 1 if shift else s                  # shift: the step's own output state taken as its input
        step = _lstm_cell_np(dh_all[:, s] + dh, dc, x[:, s], hs[k], cs[k], W_x, W_h, b)
        grads["dx"][:, s] = step["dx_t"]
        for name in ("dW_x", "dW_h", "db"):
            grads[name] = grads[name] + step[name] if accumulate else step[name]
        dh = step["dh_prev"] if recurrent else zeros
        dc = step["dc_prev"] if carry_c else zeros
        last_dh, last_dc = step["dh_prev"], step["dc_prev"]
    if dstart == "zeros":
        last_dh, last_dc = zeros, zeros
    grads["dh0"], grads["dc0"] = (last_dc, last_dh) if swap_out else (last_dh, last_dc)
    return grads


register(Exercise(
    name="lstm_backward", assignment=A,
    variant_shapes=("B", "T", "D", "H"),
    args=("dh_all", "x", "h0", "c0", "W_x", "W_h", "b"), outputs=("grads",),
    shapes={"dx": "(B, T, D)", "dh0": "(B, H)", "dc0": "(B, H)", "dW_x": "(D, 4H)", "dW_h": "(H, 4H)",
            "db": "(4H,)"},
    builds_on=("lstm_cell_backward",),
    make_inputs=_lstm_seq_inputs, reference=_lstm_backward,
    mistakes=(
        Mistake("recurrent term forgotten", "h_t also feeds step t+1: the gradient into step t is dh_all[:, t] "
                "plus the dh_prev that step t+1 sent back.", lambda **kw: _lstm_seq_np(**kw, recurrent=False)),
        Mistake("cell-state gradient not carried", "Pass the dc_prev of step t+1 as dc_t into step t: this is "
                "the gradient highway.", lambda **kw: _lstm_seq_np(**kw, carry_c=False)),
        Mistake("h0 and c0 ignored in the forward pass", "Recompute the states from the given h0 and c0 "
                "(None means zeros).", lambda **kw: _lstm_seq_np(**kw, start="zeros")),
        Mistake("dh0 and dc0 returned as zeros", "dh0 and dc0 are what the first step sends back, even when "
                "h0 and c0 are None.", lambda **kw: _lstm_seq_np(**kw, dstart="zeros")),
        Mistake("dh0 and dc0 swapped", "dh0 is the cell backward's dh_prev at step 0, dc0 its dc_prev.",
                lambda **kw: _lstm_seq_np(**kw, swap_out=True)),
        Mistake("parameter gradients overwritten instead of summed", "The weights are shared by every step: add "
                "each step's dW_x, dW_h, db to running sums.", lambda **kw: _lstm_seq_np(**kw, accumulate=False)),
        Mistake("states shifted by one step", "Step t (from 0) reads h_prev = the state before it: h0 for t = 0, "
                "h_all[:, t-1] after.", lambda **kw: _lstm_seq_np(**kw, shift=True)),
    ),
))


# ---------------------------------------------------------------- GRU cell backward
def _gru_cell_inputs(case):
    r = CaseRandom(case)
    B, D, H = case["B"], case["D"], case["H"]
    x_t, h_prev = r.normal(B, D), r.normal(B, H, scale=0.5)
    W_x, W_h, b_x, b_h = r.weight(H, D, 3 * H), r.weight(H, H, 3 * H), r.weight(H, 3 * H), r.weight(H, 3 * H)
    return dict(dh_t=r.normal(B, H), x_t=x_t, h_prev=h_prev, W_x=W_x, W_h=W_h, b_x=b_x, b_h=b_h)


def _gru_cell_backward(dh_t, x_t, h_prev, W_x, W_h, b_x, b_h):
    D, H3 = W_x.shape
    cell = load(nn.GRUCell(D, H3 // 3), {"weight_ih": W_x.T, "weight_hh": W_h.T, "bias_ih": b_x, "bias_hh": b_h})
    xt, hp = t(x_t).requires_grad_(), t(h_prev).requires_grad_()
    g = _grad((cell(xt, hp) * t(dh_t)).sum(), [xt, hp, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh])
    return {"dx_t": g[0], "dh_prev": g[1], "dW_x": g[2].T, "dW_h": g[3].T, "db_x": g[4], "db_h": g[5]}


def _gru_cell_np(dh_t, x_t, h_prev, W_x, W_h, b_x, b_h, *, order="rzn", reset_before=False, flip=False,
                 r_path=True, direct=True, db_h_r=True, sig_slope=True, tanh_slope=True):
    """A numpy GRU cell backward with switches for the catalogued mistakes."""
    ax = dict(zip(order, np.split(x_t @ W_x + b_x, 3, axis=1)))
    Wh = dict(zip(order, np.split(W_h, 3, axis=1)))
    bh = dict(zip(order, np.split(b_h, 3)))
    r = _sig(ax["r"] + h_prev @ Wh["r"] + bh["r"])
    z = _sig(ax["z"] + h_prev @ Wh["z"] + bh["z"])
    hn = (r * h_prev if reset_before else h_prev) @ Wh["n"] + bh["n"]
    nn_ = np.tanh(ax["n"] + (hn if reset_before else r * hn))
    keep, write = (1 - z, z) if flip else (z, 1 - z)        # h_t = write * n + keep * h_prev
    dn = dh_t * write
    dz = dh_t * ((nn_ - h_prev) if flip else (h_prev - nn_))
    da_n = dn * ((1 - nn_ ** 2) if tanh_slope else 1.0)
    ds = (lambda s: s * (1 - s)) if sig_slope else (lambda s: s)
    if reset_before:
        dhn = da_n                                            # gradient of (r * h_prev) @ W_hn + b_hn
        back = dhn @ Wh["n"].T
        dr, dh_n_path, dWn_in = back * h_prev, r * back, r * h_prev
    else:
        dhn = da_n * r                                        # gradient of h_prev @ W_hn + b_hn
        dr, dh_n_path, dWn_in = da_n * hn, dhn @ Wh["n"].T, h_prev
    if not r_path:
        dr = 0 * dr
    da_r, da_z = dr * ds(r), dz * ds(z)
    dax = {"r": da_r, "z": da_z, "n": da_n}
    dah = {"r": da_r, "z": da_z, "n": dhn}
    dax_all = np.concatenate([dax[k] for k in order], axis=1)
    dW_h = np.concatenate([(dWn_in if k == "n" else h_prev).T @ dah[k] for k in order], axis=1)
    db_h = np.concatenate([(dah[k] if (k != "n" or db_h_r) else da_n).sum(axis=0) for k in order])
    dh_prev = (dh_t * keep if direct else 0) + da_r @ Wh["r"].T + da_z @ Wh["z"].T + dh_n_path
    return {"dx_t": dax_all @ W_x.T, "dh_prev": dh_prev, "dW_x": x_t.T @ dax_all, "dW_h": dW_h,
            "db_x": dax_all.sum(axis=0), "db_h": db_h}


register(Exercise(
    name="gru_cell_backward", assignment=A,
    variant_shapes=("B", "D", "H"),
    args=("dh_t", "x_t", "h_prev", "W_x", "W_h", "b_x", "b_h"), outputs=("grads",),
    shapes={"dx_t": "(B, D)", "dh_prev": "(B, H)", "dW_x": "(D, 3H)", "dW_h": "(H, 3H)", "db_x": "(3H,)",
            "db_h": "(3H,)"},
    make_inputs=_gru_cell_inputs, reference=_gru_cell_backward,
    mistakes=(
        Mistake("reset gate applied before the matrix product", "torch computes n = tanh(x W_xn + b_xn + "
                "r * (h_prev W_hn + b_hn)): r scales the product, it does not enter it.",
                lambda **kw: _gru_cell_np(**kw, reset_before=True)),
        Mistake("(1 - z) and z swapped", "torch: h_t = (1 - z) * n + z * h_prev, so dn = dh_t * (1 - z) and the "
                "direct path to h_prev carries dh_t * z.", lambda **kw: _gru_cell_np(**kw, flip=True)),
        Mistake("path through the reset gate r forgotten", "r multiplies (h_prev W_hn + b_hn), so it gets "
                "gradient da_n * (h_prev W_hn + b_hn), which flows on into W_x, W_h, the biases and h_prev.",
                lambda **kw: _gru_cell_np(**kw, r_path=False)),
        Mistake("dh_prev missing the direct z * dh_t term", "h_prev enters h_t twice: through the gates and the "
                "candidate, and directly as z * h_prev.", lambda **kw: _gru_cell_np(**kw, direct=False)),
        Mistake("db_h missing the r-scaled part of the n block", "b_hn sits inside r * (h_prev W_hn + b_hn): "
                "its gradient is (da_n * r) summed over the batch, unlike b_xn's.",
                lambda **kw: _gru_cell_np(**kw, db_h_r=False)),
        Mistake("r and z blocks swapped", "torch packs the GRU's blocks as r, z, n.",
                lambda **kw: _gru_cell_np(**kw, order="zrn")),
        Mistake(*_SIG_SLOPE, lambda **kw: _gru_cell_np(**kw, sig_slope=False)),
        Mistake("tanh' of the candidate missing", "n = tanh(a_n): multiply dn by 1 - n**2 first.",
                lambda **kw: _gru_cell_np(**kw, tanh_slope=False)),
    ),
))


# ---------------------------------------------------------------- the stack-augmented RNN
class StackRNN(nn.Module):
    """The contract's stack RNN as a torch module: x2h holds W_xh and b_h, the rest one Linear each."""

    def __init__(self, D, H, M):
        super().__init__()
        self.x2h, self.h2h, self.s2h = nn.Linear(D, H), nn.Linear(H, H, bias=False), nn.Linear(M, H, bias=False)
        self.action, self.value = nn.Linear(H, 3), nn.Linear(H, M)

    def step(self, x_t, h_prev, s_prev):
        h = torch.tanh(self.x2h(x_t) + self.h2h(h_prev) + self.s2h(s_prev[:, 0]))   # the top before the update
        a = torch.softmax(self.action(h), dim=-1)
        v = torch.sigmoid(self.value(h))
        empty = torch.zeros_like(s_prev[:, :1])
        pushed = torch.cat([v[:, None], s_prev[:, :-1]], dim=1)      # everything moves down; the bottom is lost
        popped = torch.cat([s_prev[:, 1:], empty], dim=1)            # everything moves up; zeros come in below
        push, pop, noop = (a[:, j, None, None] for j in range(3))
        return h, push * pushed + pop * popped + noop * s_prev, a

    def forward(self, x, K):
        B, T, _ = x.shape
        h = x.new_zeros(B, self.h2h.in_features)
        s = x.new_zeros(B, K, self.s2h.in_features)
        hs, ss, acts = [], [], []
        for i in range(T):
            h, s, a = self.step(x[:, i], h, s)
            hs.append(h), ss.append(s), acts.append(a)
        return torch.stack(hs, 1), torch.stack(ss, 1), torch.stack(acts, 1)


def stack_module(params):
    """A float64 StackRNN holding the contract's numpy parameters."""
    (D, H), M = params["W_xh"].shape, params["W_sh"].shape[0]
    module = StackRNN(D, H, M).double()
    weights = {"x2h.weight": params["W_xh"].T, "x2h.bias": params["b_h"], "h2h.weight": params["W_hh"].T,
               "s2h.weight": params["W_sh"].T, "action.weight": params["W_a"].T, "action.bias": params["b_a"],
               "value.weight": params["W_v"].T, "value.bias": params["b_v"]}
    with torch.no_grad():        # torch_ref.load reads top-level names only; these are nested
        for name, value in weights.items():
            module.get_parameter(name).copy_(t(value))
    return module


def _stack_params(r, case, D, H, M):
    big = case.get("logit_scale", 1.0)                # large action logits: the softmax must be stable
    return {"W_xh": r.weight(H, D, H), "W_hh": r.weight(H, H, H), "W_sh": r.normal(M, H), "b_h": r.weight(H, H),
            "W_a": r.normal(H, 3, scale=big), "b_a": r.normal(3, scale=big), "W_v": r.normal(H, M),
            "b_v": r.normal(M)}


def _stack_step_inputs(case):
    r = CaseRandom(case)
    B, D, H, M, K = case["B"], case["D"], case["H"], case["M"], case["K"]
    x_t, h_prev, s_prev = r.normal(B, D), r.normal(B, H, scale=0.5), r.rng.uniform(size=(B, K, M))
    return dict(x_t=x_t, h_prev=h_prev, s_prev=s_prev, params=_stack_params(r, case, D, H, M))


def _stack_step(x_t, h_prev, s_prev, params):
    with torch.no_grad():
        h, s, a = stack_module(params).step(t(x_t), t(h_prev), t(s_prev))
    return n(h), n(s), n(a)


def _softmax(z, axis=-1, stable=True):
    e = np.exp(z - z.max(axis=axis, keepdims=True)) if stable else np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _stack_step_np(x_t, h_prev, s_prev, params, *, cols=(0, 1, 2), read="before", axis=-1, squash=True,
                   push_kind="shift", pop_kind="zeros", read_row=0, stable=True):
    """A numpy stack RNN step with switches for the catalogued mistakes."""
    p = params
    if read == "after":                 # actions from h_prev, update, then read the new top
        a = _softmax(h_prev @ p["W_a"] + p["b_a"], axis)
        v = h_prev @ p["W_v"] + p["b_v"]
    else:
        h = np.tanh(x_t @ p["W_xh"] + h_prev @ p["W_hh"] + s_prev[:, read_row] @ p["W_sh"] + p["b_h"])
        with np.errstate(over="ignore", invalid="ignore"):
            a = _softmax(h @ p["W_a"] + p["b_a"], axis, stable)
        v = h @ p["W_v"] + p["b_v"]
    v = _sig(v) if squash else v
    empty = np.zeros_like(s_prev[:, :1])
    if push_kind == "overwrite":      # the top replaced, nothing moves down
        pushed = np.concatenate([v[:, None], s_prev[:, 1:]], axis=1)
    else:
        pushed = np.concatenate([v[:, None], s_prev[:, :-1]], axis=1)
    popped = np.roll(s_prev, -1, axis=1) if pop_kind == "roll" else np.concatenate([s_prev[:, 1:], empty], axis=1)
    push, pop, noop = (a[:, c, None, None] for c in cols)
    s = push * pushed + pop * popped + noop * s_prev
    if push_kind == "bottom_fixed" and s.shape[1] > 1:   # a loop over rows 1..K-2 leaves the bottom row alone
        s[:, -1] = s_prev[:, -1]
    if read == "after":
        h = np.tanh(x_t @ p["W_xh"] + h_prev @ p["W_hh"] + s[:, 0] @ p["W_sh"] + p["b_h"])
    return h, s, a


_STACK_STEP_MISTAKES = (
    Mistake("push and pop swapped", "The action columns are push, pop, no-op: column 0 moves the stack down and "
            "writes v_t on top, column 1 moves it up.", lambda **kw: _stack_step_np(**kw, cols=(1, 0, 2))),
    Mistake("push and no-op swapped", "The action columns are push, pop, no-op, in that order.",
            lambda **kw: _stack_step_np(**kw, cols=(2, 1, 0))),
    Mistake("top read after the update", "h_t reads s_prev[:, 0], the top before this step's update; the "
            "actions and the pushed value then come from h_t.", lambda **kw: _stack_step_np(**kw, read="after")),
    Mistake("the bottom row read as the top", "s[:, 0] is the top of the stack, s[:, K-1] its bottom.",
            lambda **kw: _stack_step_np(**kw, read_row=-1)),
    Mistake("action softmax over the batch axis", "Each sequence chooses among its own three actions: the "
            "softmax runs over the last axis (3), so every row of a_t sums to 1.",
            lambda **kw: _stack_step_np(**kw, axis=0)),
    Mistake("softmax overflows on large logits", "exp(700) is already inf: subtract each row's largest logit "
            "before np.exp (the result is the same, and it stays finite).",
            lambda **kw: _stack_step_np(**kw, stable=False)),
    Mistake("pushed value not squashed by sigmoid", "v_t = sigmoid(h_t W_v + b_v), so stack entries stay in "
            "(0, 1).", lambda **kw: _stack_step_np(**kw, squash=False)),
    Mistake("the bottom row never updated", "Every row 0 < i < K changes: s_t[:, K-1] = push * s_prev[:, K-2] "
            "+ pop * 0 + noop * s_prev[:, K-1] (what was at the bottom falls off on a push).",
            lambda **kw: _stack_step_np(**kw, push_kind="bottom_fixed")),
    Mistake("pop brings up the old top instead of zeros (np.roll pop)", "A pop moves every row up by one and "
            "a row of zeros enters at the bottom (s_prev[:, K] is zeros).",
            lambda **kw: _stack_step_np(**kw, pop_kind="roll")),
    Mistake("push overwrites the top without moving the stack down", "A push writes v_t on top and moves the "
            "old rows down: s_t[:, i] gets push * s_prev[:, i-1] for i > 0.",
            lambda **kw: _stack_step_np(**kw, push_kind="overwrite")),
)

register(Exercise(
    name="stack_rnn_step", assignment=A,
    variant_shapes=("B", "D", "H", "M"),
    args=("x_t", "h_prev", "s_prev", "params"), outputs=("h_t", "s_t", "a_t"),
    shapes={"h_t": "(B, H)", "s_t": "(B, K, M)", "a_t": "(B, 3)"},
    make_inputs=_stack_step_inputs, reference=_stack_step, mistakes=_STACK_STEP_MISTAKES,
))


def _stack_fwd_inputs(case):
    r = CaseRandom(case)
    B, T, D, H, M = case["B"], case["T"], case["D"], case["H"], case["M"]
    x = r.normal(B, T, D, scale=case.get("x_scale", 1.0))
    return dict(x=x, params=_stack_params(r, case, D, H, M), K=case["K"])


def _stack_forward(x, params, K):
    with torch.no_grad():
        h, s, a = stack_module(params)(t(x), K)
    return n(h), n(s), n(a)


def _stack_fwd_np(x, params, K, *, start=0.0, carry_h=True, carry_s=True, record="after", extra=0):
    B, T, _ = x.shape
    H, M = params["W_hh"].shape[0], params["W_sh"].shape[0]
    h, s = np.zeros((B, H)), np.full((B, K + extra, M), start)
    hs, ss, acts = [], [], []
    for i in range(T):
        h_new, s_new, a = _stack_step_np(x[:, i], h, s, params)
        ss.append((s_new if record == "after" else s)[:, :K])
        hs.append(h_new), acts.append(a)
        h = h_new if carry_h else np.zeros((B, H))
        s = s_new if carry_s else np.full_like(s, start)
    return np.stack(hs, 1), np.stack(ss, 1), np.stack(acts, 1)


register(Exercise(
    name="stack_rnn_forward", assignment=A,
    variant_shapes=("B", "D", "H", "M"),
    args=("x", "params", "K"), outputs=("h_all", "s_all", "a_all"),
    shapes={"h_all": "(B, T, H)", "s_all": "(B, T, K, M)", "a_all": "(B, T, 3)"},
    builds_on=("stack_rnn_step",),
    make_inputs=_stack_fwd_inputs, reference=_stack_forward,
    mistakes=(
        Mistake("stack not starting empty (ones)", "The stack starts empty: np.zeros((B, K, M)).",
                lambda **kw: _stack_fwd_np(**kw, start=1.0)),
        Mistake("hidden state not carried", "Each step starts from the h_t of the step before (zeros only at "
                "the first step).", lambda **kw: _stack_fwd_np(**kw, carry_h=False)),
        Mistake("stack not carried", "Each step updates the stack the step before returned.",
                lambda **kw: _stack_fwd_np(**kw, carry_s=False)),
        Mistake("s_all records the stack before each step's update", "s_all[:, t] is the s_t that step t "
                "returns (after its update), like h_all[:, t].", lambda **kw: _stack_fwd_np(**kw, record="before")),
        Mistake("stack deeper than K (what falls off the bottom kept)", "The stack has exactly K rows; what is "
                "pushed past row K-1 is lost and cannot be popped back.",
                lambda **kw: _stack_fwd_np(**kw, extra=3)),
    ),
))
