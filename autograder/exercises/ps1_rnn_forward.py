"""ps1_rnn_forward: forward passes of RNNs and gated cells, and linear-RNN dynamics."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .inputs import CaseRandom
from .registry import Exercise, Mistake, register
from .torch_ref import load, n, t

A = "ps1_rnn_forward"


# ---------------------------------------------------------------- one RNN direction
def _rnn(x, h0, W_xh, W_hh, b_h, nonlinearity="tanh"):
    """nn.RNN(batch_first=True) with the contract's numpy parameters: (h_all, h_last)."""
    D, H = W_xh.shape
    rnn = load(nn.RNN(D, H, nonlinearity=nonlinearity, batch_first=True),
               {"weight_ih_l0": W_xh.T, "weight_hh_l0": W_hh.T, "bias_ih_l0": b_h, "bias_hh_l0": np.zeros(H)})
    h = None if h0 is None else t(h0)[None]
    out, h_n = rnn(t(x), h)
    return n(out), n(h_n[0])


def _step(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity="tanh"):
    return _rnn(x_t[:, None, :], h_prev, W_xh, W_hh, b_h, nonlinearity)[1]


def _step_inputs(case):
    r = CaseRandom(case)
    B, D, H = case["B"], case["D"], case["H"]
    return dict(x_t=r.normal(B, D), h_prev=r.normal(B, H, scale=0.5), W_xh=r.weight(H, D, H),
                W_hh=r.weight(H, H, H), b_h=r.weight(H, H), nonlinearity=case.get("nonlinearity", "tanh"))


register(Exercise(
    name="rnn_step_forward", assignment=A, variant_shapes=("B", "D", "H"),
    args=("x_t", "h_prev", "W_xh", "W_hh", "b_h", "nonlinearity"), outputs=("h_t",),
    shapes={"h_t": "(B, H)"},
    make_inputs=_step_inputs, reference=_step,
    mistakes=(
        Mistake("W_hh transposed", "The row-vector convention is h_prev @ W_hh with W_hh of shape (H, H) = "
                "weight_hh.T; h_prev @ W_hh.T is the column-vector formula in disguise.",
                lambda x_t, h_prev, W_xh, W_hh, b_h, nonlinearity: _step(x_t, h_prev, W_xh, W_hh.T, b_h, nonlinearity)),
        Mistake("bias forgotten", "Add b_h inside the nonlinearity.",
                lambda x_t, h_prev, W_xh, W_hh, b_h, nonlinearity: _step(x_t, h_prev, W_xh, W_hh, 0 * b_h, nonlinearity)),
        Mistake("previous state ignored", "The recurrent term h_prev @ W_hh is missing.",
                lambda x_t, h_prev, W_xh, W_hh, b_h, nonlinearity: _step(x_t, 0 * h_prev, W_xh, W_hh, b_h, nonlinearity)),
        Mistake("nonlinearity argument ignored (always tanh)", "Use np.tanh for 'tanh' and max(z, 0) for 'relu'.",
                lambda x_t, h_prev, W_xh, W_hh, b_h, nonlinearity: _step(x_t, h_prev, W_xh, W_hh, b_h, "tanh")),
        Mistake("no nonlinearity applied", "h_t is phi(z), not the pre-activation z.",
                lambda x_t, h_prev, W_xh, W_hh, b_h, nonlinearity: x_t @ W_xh + h_prev @ W_hh + b_h),
        Mistake("sigmoid instead of tanh", "tanh squashes into (-1, 1); the logistic sigmoid into (0, 1).",
                lambda x_t, h_prev, W_xh, W_hh, b_h, nonlinearity: 1 / (1 + np.exp(-(x_t @ W_xh + h_prev @ W_hh + b_h)))),
    ),
))


def _seq_inputs(case):
    r = CaseRandom(case)
    B, T, D, H = case["B"], case["T"], case["D"], case["H"]
    return dict(x=r.normal(B, T, D), h0=r.initial_state(B, H), W_xh=r.weight(H, D, H), W_hh=r.weight(H, H, H),
                b_h=r.weight(H, H), nonlinearity=case.get("nonlinearity", "tanh"))


def _shifted(x, h0, W_xh, W_hh, b_h, nonlinearity):
    h_all, h_last = _rnn(x, h0, W_xh, W_hh, b_h, nonlinearity)
    start = np.zeros_like(h_last) if h0 is None else h0
    return np.concatenate([start[:, None], h_all[:, :-1]], axis=1), h_last


def _state_not_carried(x, h0, W_xh, W_hh, b_h, nonlinearity):
    start = np.zeros((x.shape[0], W_hh.shape[0])) if h0 is None else h0
    h_all = np.stack([_step(x[:, s], start, W_xh, W_hh, b_h, nonlinearity) for s in range(x.shape[1])], axis=1)
    return h_all, h_all[:, -1]


register(Exercise(
    name="rnn_forward", assignment=A, variant_shapes=("B", "T", "D", "H"),
    args=("x", "h0", "W_xh", "W_hh", "b_h", "nonlinearity"), outputs=("h_all", "h_last"),
    shapes={"h_all": "(B, T, H)", "h_last": "(B, H)"}, builds_on=("rnn_step_forward",),
    make_inputs=_seq_inputs, reference=_rnn,
    mistakes=(
        Mistake("initial state h0 ignored", "Start from h0 when it is given; only h0=None means zeros.",
                lambda x, h0, W_xh, W_hh, b_h, nonlinearity: _rnn(x, None, W_xh, W_hh, b_h, nonlinearity)),
        Mistake("h_last taken at the first step", "h_last is the state after the last step, h_all[:, -1].",
                lambda x, h0, W_xh, W_hh, b_h, nonlinearity: (lambda o: (o[0], o[0][:, 0]))(_rnn(x, h0, W_xh, W_hh, b_h, nonlinearity))),
        Mistake("h_all shifted by one step", "h_all[:, t] is the state *after* reading x[:, t]; do not store h0 "
                "as the first entry.", _shifted),
        Mistake("state not carried between steps", "Each step must read the previous step's output, "
                "not h0 again.", _state_not_carried),
        Mistake("W_hh transposed", "Use h_prev @ W_hh with W_hh = weight_hh.T.",
                lambda x, h0, W_xh, W_hh, b_h, nonlinearity: _rnn(x, h0, W_xh, W_hh.T, b_h, nonlinearity)),
        Mistake("nonlinearity argument ignored (always tanh)", "Pass nonlinearity on to every step.",
                lambda x, h0, W_xh, W_hh, b_h, nonlinearity: _rnn(x, h0, W_xh, W_hh, b_h, "tanh")),
        Mistake("bias forgotten", "Add b_h at every step.",
                lambda x, h0, W_xh, W_hh, b_h, nonlinearity: _rnn(x, h0, W_xh, W_hh, 0 * b_h, nonlinearity)),
    ),
))


# ---------------------------------------------------------------- torch's parameters
def _torch_rnn(D, H, L, bidirectional, nonlinearity="tanh"):
    return nn.RNN(D, H, num_layers=L, bidirectional=bidirectional, nonlinearity=nonlinearity,
                  batch_first=True).double()


def _state_dict_inputs(case):
    r = CaseRandom(case)
    D, H, L, bi = case["D"], case["H"], case["L"], case.get("bidirectional", False)
    names = [(k, tuple(v.shape)) for k, v in _torch_rnn(D, H, L, bi).state_dict().items()]
    return dict(state_dict={k: r.weight(H, *shape) for k, shape in names}, num_layers=L, bidirectional=bi)


def _suffixes(bidirectional):
    return ["", "_reverse"] if bidirectional else [""]


def _convert(state_dict, num_layers, bidirectional):
    first = state_dict["weight_ih_l0"]
    rnn = _torch_rnn(first.shape[1], first.shape[0], num_layers, bidirectional)
    rnn.load_state_dict({k: t(v) for k, v in state_dict.items()})   # the names must be torch's own
    layers = []
    for l in range(num_layers):
        for sfx in _suffixes(bidirectional):
            p = lambda kind: n(getattr(rnn, f"{kind}_l{l}{sfx}"))
            layers.append({"W_xh": p("weight_ih").T, "W_hh": p("weight_hh").T, "b_h": p("bias_ih") + p("bias_hh")})
    return layers


def _convert_variant(state_dict, num_layers, bidirectional, *, transpose=True, both_biases=True,
                     direction_major=False, swap=False):
    order = ([(l, s) for s in _suffixes(bidirectional) for l in range(num_layers)] if direction_major else
             [(l, s) for l in range(num_layers) for s in _suffixes(bidirectional)])
    out = []
    for l, s in order:
        ih, hh = state_dict[f"weight_ih_l{l}{s}"], state_dict[f"weight_hh_l{l}{s}"]
        if swap:
            ih, hh = hh, ih
        b = state_dict[f"bias_ih_l{l}{s}"] + (state_dict[f"bias_hh_l{l}{s}"] if both_biases else 0)
        out.append({"W_xh": ih.T if transpose else ih.copy(), "W_hh": hh.T if transpose else hh.copy(), "b_h": b})
    return out


register(Exercise(
    name="convert_rnn_state_dict", assignment=A, variant_shapes=("D", "H", "L"),
    args=("state_dict", "num_layers", "bidirectional"), outputs=("layers",),
    make_inputs=_state_dict_inputs, reference=_convert,
    mistakes=(
        Mistake("weights not transposed", "torch stores weight_ih as (H, D) for column vectors; the course's "
                "row-vector W_xh is its transpose.", lambda **kw: _convert_variant(**kw, transpose=False)),
        Mistake("bias_hh forgotten", "nn.RNN adds two biases; b_h = bias_ih + bias_hh.",
                lambda **kw: _convert_variant(**kw, both_biases=False)),
        Mistake("layers ordered direction first", "torch's order is layer by layer: [l0, l0_reverse, l1, l1_reverse, ...].",
                lambda **kw: _convert_variant(**kw, direction_major=True)),
        Mistake("weight_ih and weight_hh swapped", "W_xh comes from weight_ih (input to hidden), W_hh from weight_hh.",
                lambda **kw: _convert_variant(**kw, swap=True)),
        Mistake("reverse direction dropped", "With bidirectional=True every layer has a '_reverse' entry too.",
                lambda **kw: _convert_variant(kw["state_dict"], kw["num_layers"], False)),
    ),
))


# ---------------------------------------------------------------- stacked RNN
def _stack_inputs(case):
    r = CaseRandom(case)
    B, T, D, H, L = case["B"], case["T"], case["D"], case["H"], case["L"]
    layers = [{"W_xh": r.weight(H, D if l == 0 else H, H), "W_hh": r.weight(H, H, H), "b_h": r.weight(H, H)}
              for l in range(L)]
    return dict(x=r.normal(B, T, D), h0=r.initial_state(L, B, H), layers=layers,
                nonlinearity=case.get("nonlinearity", "tanh"))


def _stacked(x, h0, layers, nonlinearity="tanh"):
    L = len(layers)
    D, H = layers[0]["W_xh"].shape
    params = {}
    for l, p in enumerate(layers):
        params.update({f"weight_ih_l{l}": p["W_xh"].T, f"weight_hh_l{l}": p["W_hh"].T,
                       f"bias_ih_l{l}": p["b_h"], f"bias_hh_l{l}": np.zeros(H)})
    rnn = load(nn.RNN(D, H, num_layers=L, nonlinearity=nonlinearity, batch_first=True), params)
    out, h_n = rnn(t(x), t(h0))
    return n(out), n(h_n)


def _stacked_loop(x, h0, layers, nonlinearity="tanh", *, feed_x=False, h0_first_only=False, out_layer=-1):
    inp, outs, lasts = x, [], []
    for l, p in enumerate(layers):
        start = None if h0 is None else h0[0 if h0_first_only else l]
        out, last = _rnn(x if feed_x else inp, start, p["W_xh"], p["W_hh"], p["b_h"], nonlinearity)
        outs.append(out)
        lasts.append(last)
        inp = out
    return outs[out_layer], np.stack(lasts)


register(Exercise(
    name="stacked_rnn_forward", assignment=A, variant_shapes=("B", "T", "D", "H", "L"),
    args=("x", "h0", "layers", "nonlinearity"), outputs=("out", "h_n"),
    shapes={"out": "(B, T, H)", "h_n": "(L, B, H)"}, builds_on=("rnn_forward",),
    make_inputs=_stack_inputs, reference=_stacked,
    mistakes=(
        Mistake("every layer reads x", "Layer l+1 reads the outputs of layer l, not the original input.",
                lambda **kw: _stacked_loop(**kw, feed_x=True)),
        Mistake("out taken from the first layer", "out is the top layer's h_all.",
                lambda **kw: _stacked_loop(**kw, out_layer=0)),
        Mistake("h_n in reversed layer order", "h_n[l] is the last state of layer l, bottom layer first.",
                lambda **kw: (lambda o: (o[0], o[1][::-1].copy()))(_stacked(**kw))),
        Mistake("h0[0] used for every layer", "Layer l starts from h0[l].",
                lambda **kw: _stacked_loop(**kw, h0_first_only=True)),
        Mistake("initial state h0 ignored", "Start layer l from h0[l] when h0 is given; only h0=None means zeros.",
                lambda **kw: _stacked(**{**kw, "h0": None})),
        Mistake("nonlinearity argument ignored (always tanh)", "Pass nonlinearity on to every layer.",
                lambda **kw: _stacked(**{**kw, "nonlinearity": "tanh"})),
    ),
))


# ---------------------------------------------------------------- LSTM and GRU cells
def _lstm_inputs(case):
    r = CaseRandom(case)
    B, D, H = case["B"], case["D"], case["H"]
    return dict(x_t=r.normal(B, D), h_prev=r.normal(B, H, scale=0.5), c_prev=r.normal(B, H),
                W_x=r.weight(H, D, 4 * H), W_h=r.weight(H, H, 4 * H), b=r.weight(H, 4 * H))


def _lstm(x_t, h_prev, c_prev, W_x, W_h, b):
    D, H4 = W_x.shape
    cell = load(nn.LSTMCell(D, H4 // 4), {"weight_ih": W_x.T, "weight_hh": W_h.T, "bias_ih": b,
                                          "bias_hh": np.zeros(H4)})
    h, c = cell(t(x_t), (t(h_prev), t(c_prev)))
    return n(h), n(c)


def _sig(z):
    return 1 / (1 + np.exp(-z))


def _lstm_np(x_t, h_prev, c_prev, W_x, W_h, b, order="ifgo", g_act=np.tanh, tanh_c=True):
    blocks = dict(zip(order, np.split(x_t @ W_x + h_prev @ W_h + b, 4, axis=1)))
    i, f, o, g = _sig(blocks["i"]), _sig(blocks["f"]), _sig(blocks["o"]), g_act(blocks["g"])
    c = f * c_prev + i * g
    return o * (np.tanh(c) if tanh_c else c), c


register(Exercise(
    name="lstm_cell_forward", assignment=A, variant_shapes=("B", "D", "H"),
    args=("x_t", "h_prev", "c_prev", "W_x", "W_h", "b"), outputs=("h_t", "c_t"),
    shapes={"h_t": "(B, H)", "c_t": "(B, H)"},
    make_inputs=_lstm_inputs, reference=_lstm,
    mistakes=(
        Mistake("gate blocks in the order i, f, o, g", "torch packs the four blocks of W_x as i, f, g, o "
                "(input, forget, cell candidate, output).", lambda **kw: _lstm_np(**kw, order="ifog")),
        Mistake("input and forget gates swapped", "Block 0 is the input gate i, block 1 the forget gate f.",
                lambda **kw: _lstm_np(**kw, order="figo")),
        Mistake("tanh of the cell state forgotten", "h_t = o * tanh(c_t), not o * c_t.",
                lambda **kw: _lstm_np(**kw, tanh_c=False)),
        Mistake("sigmoid on the candidate g", "The candidate g uses tanh; only i, f, o are sigmoids.",
                lambda **kw: _lstm_np(**kw, g_act=_sig)),
        Mistake("(c_t, h_t) returned instead of (h_t, c_t)", "Return the hidden state first, like nn.LSTMCell.",
                lambda **kw: _lstm(**kw)[::-1]),
        Mistake("previous cell state ignored", "c_t = f * c_prev + i * g.",
                lambda **kw: _lstm(**{**kw, "c_prev": 0 * kw["c_prev"]})),
    ),
))


def _gru_inputs(case):
    r = CaseRandom(case)
    B, D, H = case["B"], case["D"], case["H"]
    return dict(x_t=r.normal(B, D), h_prev=r.normal(B, H, scale=0.5), W_x=r.weight(H, D, 3 * H),
                W_h=r.weight(H, H, 3 * H), b_x=r.weight(H, 3 * H), b_h=r.weight(H, 3 * H))


def _gru(x_t, h_prev, W_x, W_h, b_x, b_h):
    D, H3 = W_x.shape
    cell = load(nn.GRUCell(D, H3 // 3), {"weight_ih": W_x.T, "weight_hh": W_h.T, "bias_ih": b_x, "bias_hh": b_h})
    return n(cell(t(x_t), t(h_prev)))


def _gru_np(x_t, h_prev, W_x, W_h, b_x, b_h, order="rzn", reset_before=False, bias_outside=False, flip=False):
    gx = dict(zip(order, np.split(x_t @ W_x + b_x, 3, axis=1)))
    wh, bh = dict(zip(order, np.split(W_h, 3, axis=1))), dict(zip(order, np.split(b_h, 3)))
    r = _sig(gx["r"] + h_prev @ wh["r"] + bh["r"])
    z = _sig(gx["z"] + h_prev @ wh["z"] + bh["z"])
    if reset_before:
        hn = (r * h_prev) @ wh["n"] + bh["n"]
    elif bias_outside:
        hn = r * (h_prev @ wh["n"]) + bh["n"]
    else:
        hn = r * (h_prev @ wh["n"] + bh["n"])
    cand = np.tanh(gx["n"] + hn)
    return z * cand + (1 - z) * h_prev if flip else (1 - z) * cand + z * h_prev


register(Exercise(
    name="gru_cell_forward", assignment=A, variant_shapes=("B", "D", "H"),
    args=("x_t", "h_prev", "W_x", "W_h", "b_x", "b_h"), outputs=("h_t",),
    shapes={"h_t": "(B, H)"},
    make_inputs=_gru_inputs, reference=_gru,
    mistakes=(
        Mistake("reset gate applied before the matmul", "That is Cho et al.'s original GRU; torch computes "
                "n = tanh(x W_xn + b_xn + r * (h W_hn + b_hn)).", lambda **kw: _gru_np(**kw, reset_before=True)),
        Mistake("b_hn outside the reset gate", "In torch the reset gate multiplies (h W_hn + b_hn), bias included.",
                lambda **kw: _gru_np(**kw, bias_outside=True)),
        Mistake("update gate convention flipped", "torch: h_t = (1 - z) * n + z * h_prev; z near 1 keeps the old state.",
                lambda **kw: _gru_np(**kw, flip=True)),
        Mistake("r and z blocks swapped", "torch packs the blocks as r, z, n.",
                lambda **kw: _gru_np(**kw, order="zrn")),
    ),
))


# ---------------------------------------------------------------- many-to-one classifier
def _clf_inputs(case):
    r = CaseRandom(case)
    B, T, D, H, C = case["B"], case["T"], case["D"], case["H"], case["C"]
    return dict(x=r.normal(B, T, D), h0=r.initial_state(B, H), W_xh=r.weight(H, D, H), W_hh=r.weight(H, H, H),
                b_h=r.weight(H, H), W_hy=r.normal(H, C, scale=case.get("logit_scale", 1.0)), b_y=r.normal(C))


def _classify(x, h0, W_xh, W_hh, b_h, W_hy, b_y, pool="last", axis=-1, probs=True):
    H, C = W_hy.shape
    h_all, h_last = _rnn(x, h0, W_xh, W_hh, b_h)          # nn.RNN, as in rnn_forward
    head = load(nn.Linear(H, C), {"weight": W_hy.T, "bias": b_y})
    logits = head(t(h_last) if pool == "last" else t(h_all).mean(dim=1))
    return n(torch.softmax(logits, dim=axis)) if probs else n(logits)


def _naive_softmax(**kw):
    logits = _classify(**kw, probs=False)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


register(Exercise(
    name="many_to_one_classify", assignment=A, variant_shapes=("B", "T", "D", "H", "C"),
    args=("x", "h0", "W_xh", "W_hh", "b_h", "W_hy", "b_y"), outputs=("probs",),
    shapes={"probs": "(B, C)"}, builds_on=("rnn_forward",),
    make_inputs=_clf_inputs, reference=_classify,
    mistakes=(
        Mistake("softmax over the batch axis", "Normalise each row (axis=-1): one distribution per sequence.",
                lambda **kw: _classify(**kw, axis=0)),
        Mistake("hidden states averaged instead of the last one", "Many-to-one reads h_last only.",
                lambda **kw: _classify(**kw, pool="mean")),
        Mistake("logits returned, not probabilities", "Apply a softmax to h_last @ W_hy + b_y.",
                lambda **kw: _classify(**kw, probs=False)),
        Mistake("softmax without subtracting the row maximum", "exp overflows for large logits; subtract "
                "logits.max(axis=-1, keepdims=True) first (the result is the same, only stable).", _naive_softmax),
        Mistake("initial state h0 ignored", "Start the RNN from h0 when it is given.",
                lambda **kw: _classify(**{**kw, "h0": None})),
    ),
))


# ---------------------------------------------------------------- linear RNN dynamics
def _linear_inputs(case):
    r = CaseRandom(case)
    B, T, D, H = case["B"], case["T"], case["D"], case["H"]
    return dict(x=r.normal(B, T, D), h0=r.normal(B, H), W=r.normal(H, H, scale=case.get("scale", 0.9) / np.sqrt(H)),
                U=r.normal(D, H, scale=1 / np.sqrt(D)))


def _linear_loop(x, h0, W, U, transpose=False, skip_h0=False):
    h = torch.zeros_like(t(h0)) if skip_h0 else t(h0)
    Wt = t(W).T if transpose else t(W)
    for s in range(x.shape[1]):
        h = h @ Wt + t(x[:, s]) @ t(U)
    return n(h)


def _closed_form_variant(x, h0, W, U, shift=0, h0_power=None):
    T = x.shape[1]
    mp = np.linalg.matrix_power
    h = h0 @ mp(W, T if h0_power is None else h0_power)
    for s in range(T):                      # x[:, s] is x_{s+1}: power T-(s+1)
        h = h + x[:, s] @ U @ mp(W, T - s - 1 + shift)
    return h


register(Exercise(
    name="linear_rnn_closed_form", assignment=A, variant_shapes=("B", "T", "D", "H"),
    args=("x", "h0", "W", "U"), outputs=("h_T",), shapes={"h_T": "(B, H)"},
    make_inputs=_linear_inputs, reference=_linear_loop,
    mistakes=(
        Mistake("powers of W off by one", "x_t is multiplied by W^(T-t): the last input gets W^0 = I.",
                lambda **kw: _closed_form_variant(**kw, shift=1)),
        Mistake("h0 multiplied by W^(T-1)", "h_0 passes through all T steps: h_0 W^T.",
                lambda **kw: _closed_form_variant(**kw, h0_power=kw["x"].shape[1] - 1)),
        Mistake("h0 term missing", "The initial state contributes h_0 W^T.",
                lambda **kw: _linear_loop(**kw, skip_h0=True)),
        Mistake("W transposed", "Row vectors multiply on the left: h W, so the powers are of W itself.",
                lambda **kw: _linear_loop(**kw, transpose=True)),
    ),
    rtol=1e-6, atol=1e-8, rtol32=1e-3, atol32=1e-4,
))


def _square_inputs(case):
    r = CaseRandom(case)
    H = case["H"]
    if case.get("kind") == "rotation":      # eigenvalues rho * exp(+-i theta): real parts mislead
        th, rho = r.rng.uniform(0.5, 1.5), case.get("scale", 1.1)
        Q = np.linalg.qr(r.normal(H, H))[0]
        R = np.eye(H) * 0.3
        R[:2, :2] = rho * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        return dict(W=Q @ R @ Q.T)
    return dict(W=r.normal(H, H, scale=case.get("scale", 1.0) / np.sqrt(H)))


def _spectral_radius(W):
    return float(torch.linalg.eigvals(t(W)).abs().max())


register(Exercise(
    name="spectral_radius", assignment=A, variant_shapes=("H",), args=("W",), outputs=("rho",),
    make_inputs=_square_inputs, reference=_spectral_radius,
    mistakes=(
        Mistake("largest singular value", "The spectral norm ||W||_2 bounds the spectral radius from above but "
                "differs for non-normal W: take the largest |eigenvalue|.",
                lambda W: float(torch.linalg.matrix_norm(t(W), ord=2))),
        Mistake("largest real part", "Eigenvalues of a real matrix can be complex: use their modulus, np.abs.",
                lambda W: float(torch.linalg.eigvals(t(W)).real.max())),
        Mistake("largest |real part|", "Use the complex modulus |lambda|, not |Re lambda|.",
                lambda W: float(torch.linalg.eigvals(t(W)).real.abs().max())),
    ),
))


def _fixed_inputs(case):
    r = CaseRandom(case)
    B, D, H = case["B"], case["D"], case["H"]
    return dict(x=r.normal(B, D), W=r.normal(H, H, scale=case.get("scale", 0.8) / np.sqrt(H)),
                U=r.normal(D, H, scale=1 / np.sqrt(D)), b=r.normal(H))


def _fixed_point(x, W, U, b, sign=-1.0, column=False, bias=True):
    """h* = h* W + x U + b  =>  h* (I - W) = x U + b, solved as (I - W)^T h*^T = (x U + b)^T."""
    I = torch.eye(W.shape[0], dtype=torch.float64)
    A = I + sign * t(W)
    rhs = t(x) @ t(U) + (t(b) if bias else 0)
    return n(torch.linalg.solve(A if column else A.T, rhs.T).T)


register(Exercise(
    name="linear_fixed_point", assignment=A, variant_shapes=("B", "D", "H"),
    args=("x", "W", "U", "b"), outputs=("h_star",),
    shapes={"h_star": "(B, H)"},
    make_inputs=_fixed_inputs, reference=_fixed_point,
    mistakes=(
        Mistake("bias forgotten", "The constant drive is x U + b.", lambda **kw: _fixed_point(**kw, bias=False)),
        Mistake("column-vector solve", "With row vectors h (I - W) = x U + b, so h = (x U + b) (I - W)^-1; "
                "np.linalg.solve(I - W, ...) solves the transposed system.", lambda **kw: _fixed_point(**kw, column=True)),
        Mistake("sign of W flipped", "Move h W to the left-hand side: h - h W = h (I - W).",
                lambda **kw: _fixed_point(**kw, sign=1.0)),
    ),
    rtol32=1e-3, atol32=1e-4,
))
