"""ps3_birnn: bidirectional RNNs, padded batches with packed-sequence semantics, stacking, and
which outputs depend on which inputs.

The references are PyTorch modules in float64: ``nn.RNN(bidirectional=True, batch_first=True)``
run on ``pack_padded_sequence(..., enforce_sorted=False)`` when lengths are given, exactly as the
contract says. The mistakes are written in numpy on top of one small helper, ``_bi``, whose
settings reproduce what a mistaken learner computes; ``tests/test_ps3_birnn.py`` checks that the
helper with its default settings equals the torch reference, so every mistake is a deliberate
change of a correct computation.

Tolerances are the registry's defaults. Every output is a tanh or relu state of a short recurrence
(at most 9 steps here, |values| of order 1), so a correct float64 numpy implementation agrees with
torch to about 1e-15 and a float32 one to about 1e-6: rtol 1e-6 / atol 1e-8 (float64) and
rtol 2e-4 / atol 2e-5 (float32) leave ample room for honest rounding, while every catalogued
mistake moves some entry by more than 1e-2. The probe's M is a difference of two such outputs, so
its absolute error is that of the outputs; entries that must be exactly 0 (the future of a causal
RNN) are 0 in any correct implementation.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .inputs import CaseRandom
from .registry import Exercise, Mistake, register
from .torch_ref import load, n, t

A = "ps3_birnn"


# ---------------------------------------------------------------- inputs from a case
def _lengths(case):
    """The case's "lengths" (a literal list) as an int64 array, or None (every sequence has T steps)."""
    lengths = case.get("lengths")
    return None if lengths is None else np.asarray(lengths, dtype=np.int64)


def _padded(x, case):
    """Padded steps hold random values unless the case says "pad": "zeros" (what real batches hold).
    Random padding shows any use of the padding; the zero padding of a public case hides some."""
    lengths = case.get("lengths")
    if case.get("pad") == "zeros" and lengths is not None:
        for b, L in enumerate(lengths):
            x[b, max(L, 0):] = 0.0
    return x


def _direction(r, D, H):
    return {"W_xh": r.weight(H, D, H), "W_hh": r.weight(H, H, H), "b_h": r.weight(H, H)}


def _birnn_inputs(case):
    r = CaseRandom(case)
    B, T, D, H = case["B"], case["T"], case["D"], case["H"]
    return dict(x=_padded(r.normal(B, T, D), case), h0=r.initial_state(2, B, H), fwd=_direction(r, D, H),
                bwd=_direction(r, D, H), lengths=_lengths(case), nonlinearity=case.get("nonlinearity", "tanh"))


def _stack_inputs(case):
    r = CaseRandom(case)
    B, T, D, H, L = case["B"], case["T"], case["D"], case["H"], case["L"]
    layers = [_direction(r, D if l == 0 else 2 * H, H) for l in range(L) for _ in range(2)]
    return dict(x=_padded(r.normal(B, T, D), case), h0=r.initial_state(2 * L, B, H), layers=layers,
                lengths=_lengths(case), nonlinearity=case.get("nonlinearity", "tanh"))


def _reverse_inputs(case):
    r = CaseRandom(case)
    B, T, F = case["B"], case["T"], case["F"]
    return dict(x=_padded(r.normal(B, T, F), case), lengths=_lengths(case))


def _influence_inputs(case):
    r = CaseRandom(case)
    B, T, D, H = case["B"], case["T"], case["D"], case["H"]
    fwd = _direction(r, D, H)
    bwd = _direction(r, D, H) if case.get("bidirectional") else None
    return dict(x=r.normal(B, T, D), fwd=fwd, bwd=bwd, delta=r.normal(D))


# ---------------------------------------------------------------- torch references
def _torch_params(layers, H):
    """The course's [l0, l0_reverse, l1, ...] dicts as torch parameter names -> arrays."""
    params = {}
    for i, p in enumerate(layers):
        l, sfx = divmod(i, 2)
        sfx = "_reverse" if sfx else ""
        params.update({f"weight_ih_l{l}{sfx}": p["W_xh"].T, f"weight_hh_l{l}{sfx}": p["W_hh"].T,
                       f"bias_ih_l{l}{sfx}": p["b_h"], f"bias_hh_l{l}{sfx}": np.zeros(H)})
    return params


def _stacked_torch(x, h0, layers, lengths=None, nonlinearity="tanh"):
    """nn.RNN(num_layers=L, bidirectional=True, batch_first=True), packed when lengths are given."""
    D, H = layers[0]["W_xh"].shape
    rnn = load(nn.RNN(D, H, num_layers=len(layers) // 2, nonlinearity=nonlinearity, bidirectional=True,
                      batch_first=True), _torch_params(layers, H))
    T = x.shape[1]
    h = None if h0 is None else t(h0)
    if lengths is None:
        out, h_n = rnn(t(x), h)
    else:
        packed = pack_padded_sequence(t(x), torch.as_tensor(np.asarray(lengths), dtype=torch.int64),
                                      batch_first=True, enforce_sorted=False)
        out, h_n = rnn(packed, h)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    return n(out), n(h_n)


def _birnn_torch(x, h0, fwd, bwd, lengths=None, nonlinearity="tanh"):
    return _stacked_torch(x, h0, [fwd, bwd], lengths, nonlinearity)


def _reverse_torch(x, lengths):
    """y[b, t] = x[b, lengths[b] - 1 - t] for t < lengths[b], else x[b, t]: torch.gather on time."""
    xt = t(x)
    B, T = xt.shape[:2]
    if np.shape(lengths) != (B,) or np.any(np.asarray(lengths) < 1) or np.any(np.asarray(lengths) > T):
        raise ValueError(f"lengths should be {B} integers in 1..{T}, got {lengths}")   # the contract's ValueError
    steps = torch.arange(T)[None, :]
    L = torch.as_tensor(np.asarray(lengths), dtype=torch.int64)[:, None]
    index = torch.where(steps < L, L - 1 - steps, steps)                  # (B, T)
    index = index.reshape(B, T, *([1] * (xt.dim() - 2))).expand_as(xt)
    return n(torch.gather(xt, 1, index))


def _influence_torch(x, fwd, bwd, delta):
    """M[b, t, s] = ||y(x with delta added at step s)[b, t] - y(x)[b, t]||_2, y = nn.RNN's output."""
    B, T, D = x.shape
    H = fwd["W_hh"].shape[0]
    bi = bwd is not None
    rnn = load(nn.RNN(D, H, bidirectional=bi, batch_first=True),
               _torch_params([fwd, bwd] if bi else [fwd], H))
    xs = t(x)[None].repeat(T + 1, 1, 1, 1)                               # (T+1, B, T, D): copy 0 unchanged
    for s in range(T):
        xs[s + 1, :, s] += t(delta)
    y = rnn(xs.reshape((T + 1) * B, T, D))[0].reshape(T + 1, B, T, -1)
    M = torch.linalg.vector_norm(y[1:] - y[0], dim=-1)                  # (s, B, t)
    return n(M.permute(1, 2, 0))


# ---------------------------------------------------------------- numpy helpers for the mistakes
def _act(nonlinearity):
    return np.tanh if nonlinearity == "tanh" else (lambda z: np.maximum(z, 0.0))


def _run(x, h0, p, nonlinearity):
    """One direction over all T steps (padding included): h_all (B, T, H)."""
    B, T, _ = x.shape
    h = np.zeros((B, p["W_hh"].shape[0])) if h0 is None else h0
    phi, states = _act(nonlinearity), []
    for s in range(T):
        h = phi(x[:, s] @ p["W_xh"] + h @ p["W_hh"] + p["b_h"])
        states.append(h)
    return np.stack(states, axis=1)


def _rev(a, lengths):
    out = a.copy()
    for b, L in enumerate(lengths):
        out[b, :L] = a[b, :L][::-1]
    return out


def _bi(x, h0, fwd, bwd, lengths=None, nonlinearity="tanh", *, full_flip=False, rereverse=True,
        reverse_input=True, shared=False, mask=True, hn="correct", swap=False, ignore_h0=False):
    """A numpy BiRNN; the keyword-only settings switch on one learner mistake each.

    full_flip:     the backward direction reverses the whole padded axis (starts at T-1)
    rereverse:     False = the backward outputs stay in processing order
    reverse_input: False = the backward weights read x from left to right
    shared:        the backward direction uses fwd's weights
    mask:          False = padded steps of out keep whatever was computed there
    hn:            "correct" | "bwd_last_step" (h_n[1] = out[b, L-1, H:]) |
                   "after_padding" (the last states of runs over all T steps)
    swap:          forward and backward exchanged in out and h_n
    """
    B, T, _ = x.shape
    lens = np.full(B, T) if lengths is None else np.asarray(lengths)
    rev_lens = np.full(B, T) if full_flip else lens
    h0f, h0b = (None, None) if (h0 is None or ignore_h0) else (h0[0], h0[1])
    f_all = _run(x, h0f, fwd, nonlinearity)
    p_b = fwd if shared else bwd
    if reverse_input:
        b_proc = _run(_rev(x, rev_lens), h0b, p_b, nonlinearity)          # in processing order
        b_all = _rev(b_proc, rev_lens) if rereverse else b_proc
    else:
        b_proc = b_all = _run(x, h0b, p_b, nonlinearity)
    rows = np.arange(B)
    if full_flip:
        h_b = b_proc[:, -1]                          # ends at original step 0 after reading the padding
    else:
        h_b = b_proc[rows, lens - 1]                 # after reading the lengths[b] real steps
    h_f = f_all[rows, lens - 1]
    valid = (np.arange(T)[None, :] < lens[:, None])[:, :, None]
    if mask:
        f_all, b_all = np.where(valid, f_all, 0.0), np.where(valid, b_all, 0.0)
    if hn == "bwd_last_step":
        h_b = b_all[rows, lens - 1]
    elif hn == "after_padding":
        h_f, h_b = _run(x, h0f, fwd, nonlinearity)[:, -1], b_proc[:, -1]
    if swap:
        f_all, b_all, h_f, h_b = b_all, f_all, h_b, h_f
    return np.concatenate([f_all, b_all], axis=2), np.stack([h_f, h_b])


def _stack_np(x, h0, layers, lengths=None, nonlinearity="tanh", *, forward_only_input=False,
              hn_order="torch", h0_order="torch", out_layer=-1, upper_lengths=True, birnn=_bi):
    L = len(layers) // 2
    if h0 is None:
        starts = [None] * L
    elif h0_order == "torch":
        starts = [h0[2 * l:2 * l + 2] for l in range(L)]
    else:                                            # direction first: [l0, l1, ..., l0_rev, l1_rev, ...]
        starts = [h0[[l, L + l]] for l in range(L)]
    inp, outs, finals = x, [], []
    for l in range(L):
        lens = lengths if (l == 0 or upper_lengths) else None
        out, h_n = birnn(inp, starts[l], layers[2 * l], layers[2 * l + 1], lens, nonlinearity)
        outs.append(out)
        finals.append(h_n)
        H = out.shape[2] // 2
        inp = np.concatenate([out[..., :H], np.zeros_like(out[..., H:])], axis=2) if forward_only_input else out
    if hn_order == "torch":
        h_n = np.concatenate(finals)
    else:
        h_n = np.stack([f[0] for f in finals] + [f[1] for f in finals])
    return outs[out_layer], h_n


def _influence_np(x, fwd, bwd, delta, *, transpose=False, accumulate=False, norm="l2",
                  ignore_bwd=False, first_feature=False):
    B, T, _ = x.shape

    def y(z):
        if bwd is None or ignore_bwd:
            return _run(z, None, fwd, "tanh")
        return _bi(z, None, fwd, bwd)[0]

    base, M = y(x), np.zeros((B, T, T))
    z = x.copy()
    for s in range(T):
        if not accumulate:
            z = x.copy()
        if first_feature:
            z[:, s, 0] += delta[0]
        else:
            z[:, s] += delta
        d = y(z) - base
        M[:, :, s] = {"l2": np.sqrt((d ** 2).sum(-1)), "l1": np.abs(d).sum(-1), "sq": (d ** 2).sum(-1)}[norm]
    return M.transpose(0, 2, 1) if transpose else M


# ---------------------------------------------------------------- reverse_padded
register(Exercise(
    name="reverse_padded", assignment=A,
    args=("x", "lengths"), outputs=("y",), shapes={"y": "(B, T, F)"},
    make_inputs=_reverse_inputs, reference=_reverse_torch,
    mistakes=(
        Mistake("whole time axis flipped", "Reverse only the first lengths[b] steps of sequence b: "
                "np.flip(x, axis=1) moves the padding to the front, and the reversed sequence then starts "
                "at step T - lengths[b] instead of 0.", lambda x, lengths: np.flip(x, axis=1).copy()),
        Mistake("padded steps zeroed", "Steps t >= lengths[b] must be copied unchanged (that makes "
                "reverse_padded its own inverse), not set to 0.",
                lambda x, lengths: np.where((np.arange(x.shape[1])[None, :] < lengths[:, None])[:, :, None],
                                            _rev(x, lengths), 0.0)),
        Mistake("negative-step slice drops step 0", "A negative-step slice stops *before* its end index: "
                "x[b, L-1:0:-1] never reaches step 0. Use x[b, :L][::-1].",
                lambda x, lengths: _off_by_one(x, lengths)),
    ),
))


def _off_by_one(x, lengths):
    y = x.copy()
    for b, L in enumerate(lengths):
        y[b, :L - 1] = x[b, L - 1:0:-1]
    return y


# ---------------------------------------------------------------- birnn_forward
def _variant(**flags):
    return lambda **kw: _bi(**kw, **flags)


register(Exercise(
    name="birnn_forward", assignment=A,
    variant_shapes=("D", "H"),
    args=("x", "h0", "fwd", "bwd", "lengths", "nonlinearity"), outputs=("out", "h_n"),
    shapes={"out": "(B, T, 2H)", "h_n": "(2, B, H)"}, builds_on=("reverse_padded",),
    make_inputs=_birnn_inputs, reference=_birnn_torch,
    mistakes=(
        # the layer itself (full-length batches show these)
        Mistake("backward outputs not re-reversed", "The backward RNN reads the sequence reversed, so its "
                "i-th output belongs to step L-1-i: reverse its outputs back before concatenating, so that "
                "out[:, t] holds the two states of the same step t.", _variant(rereverse=False)),
        Mistake("backward direction reads the input left to right", "The backward RNN must read x[:, T-1], "
                "x[:, T-2], ..., x[:, 0]: reverse x (each sequence within its length) before running it.",
                _variant(reverse_input=False)),
        Mistake("the two directions share weights", "A BiRNN has two independent sets of parameters: the "
                "forward direction uses fwd, the backward direction uses bwd.", _variant(shared=True)),
        Mistake("forward and backward halves swapped", "out[..., :H] is the forward direction and "
                "out[..., H:] the backward one; h_n[0] is forward, h_n[1] backward (torch's order).",
                _variant(swap=True)),
        Mistake("h_n[1] taken at the last step", "The backward direction *ends* at step 0: h_n[1] is its "
                "state there, out[b, 0, H:], not its state at the last step lengths[b]-1 (where it started, "
                "after reading one word).", _variant(hn="bwd_last_step")),
        Mistake("initial state h0 ignored", "h0[0, b] starts the forward direction at step 0 and h0[1, b] "
                "the backward one at step lengths[b]-1; only h0=None means zeros.", _variant(ignore_h0=True)),
        # packed-sequence semantics (only cases with lengths show these)
        Mistake("backward direction started at T-1 on padded sequences", "Sequence b has only lengths[b] "
                "steps: its backward direction starts at step lengths[b]-1, with h0[1], and never reads the "
                "padding. Flipping the whole padded time axis feeds it the padding first.",
                _variant(full_flip=True)),
        Mistake("padded outputs left non-zero", "Steps t >= lengths[b] do not exist: out[b, t] must be 0 "
                "there in both halves (pad_packed_sequence fills them with zeros).", _variant(mask=False)),
        Mistake("final states taken after running over the padding", "h_n[0] is the forward state at step "
                "lengths[b]-1 and h_n[1] the backward state after reading the real steps only; the last "
                "state of a run over all T steps has read the padding.", _variant(hn="after_padding")),
        Mistake("lengths ignored", "With lengths given, only the first lengths[b] steps of sequence b "
                "exist (see the three rules above the exercise).",
                lambda **kw: _bi(**{**kw, "lengths": None})),
        Mistake("nonlinearity argument ignored (always tanh)", "Pass nonlinearity on to both directions.",
                lambda **kw: _birnn_torch(**{**kw, "nonlinearity": "tanh"})),
    ),
))


# ---------------------------------------------------------------- stacked_birnn_forward
def _stack_variant(**flags):
    return lambda **kw: _stack_np(**kw, **flags)


register(Exercise(
    name="stacked_birnn_forward", assignment=A,
    variant_shapes=("D", "H"),
    args=("x", "h0", "layers", "lengths", "nonlinearity"), outputs=("out", "h_n"),
    shapes={"out": "(B, T, 2H)", "h_n": "(2L, B, H)"}, builds_on=("birnn_forward",),
    make_inputs=_stack_inputs, reference=_stacked_torch,
    mistakes=(
        Mistake("layer l+1 fed only the forward outputs", "Layer l+1 reads the whole (B, T, 2H) output of "
                "layer l, both directions concatenated; its W_xh is (2H, H).",
                _stack_variant(forward_only_input=True)),
        Mistake("h_n ordered direction first", "torch's h_n is layer by layer: [l0 forward, l0 backward, "
                "l1 forward, l1 backward, ...], the order of `layers`.", _stack_variant(hn_order="direction")),
        Mistake("h0 and h_n ordered direction first", "h0 and h_n both follow torch's order: index 2l is "
                "layer l forward, 2l+1 layer l backward.",
                _stack_variant(hn_order="direction", h0_order="direction")),
        Mistake("out taken from the first layer", "out is the top layer's output.",
                _stack_variant(out_layer=0)),
        Mistake("lengths not passed to the upper layers", "Every layer sees the same lengths: above the "
                "first layer the padding is still padding.", _stack_variant(upper_lengths=False)),
        Mistake("the two directions share weights", "Each layer has its own forward and backward "
                "parameters: layers[2l] and layers[2l+1].",
                _stack_variant(birnn=lambda *a: _bi(*a, shared=True))),
        Mistake("initial state h0 ignored", "Layer l's directions start from h0[2l] and h0[2l+1] when h0 is "
                "given; only h0=None means zeros.", lambda **kw: _stacked_torch(**{**kw, "h0": None})),
        Mistake("nonlinearity argument ignored (always tanh)", "Pass nonlinearity on to every layer.",
                lambda **kw: _stacked_torch(**{**kw, "nonlinearity": "tanh"})),
        Mistake("lengths ignored", "With lengths given, every layer runs only the first lengths[b] steps of "
                "sequence b and leaves out 0 at the padded steps.",
                lambda **kw: _stacked_torch(**{**kw, "lengths": None})),
    ),
))


# ---------------------------------------------------------------- influence_map
def _influence_variant(**flags):
    return lambda **kw: _influence_np(**kw, **flags)


register(Exercise(
    name="influence_map", assignment=A,
    args=("x", "fwd", "bwd", "delta"), outputs=("M",), shapes={"M": "(B, T, T)"},
    builds_on=("birnn_forward",),
    make_inputs=_influence_inputs, reference=_influence_torch,
    mistakes=(
        Mistake("output and input axes swapped", "M[b, t, s] measures output step t after perturbing input "
                "step s: the *last* axis is the perturbed input.", _influence_variant(transpose=True)),
        Mistake("perturbations accumulated", "Start every probe from an unchanged copy of x: perturb step s "
                "only, not steps 0..s.", _influence_variant(accumulate=True)),
        Mistake("sum of absolute differences", "Use the Euclidean norm over the feature axis: "
                "np.linalg.norm(..., axis=-1).", _influence_variant(norm="l1")),
        Mistake("squared distance", "Take the square root: the Euclidean norm, not its square.",
                _influence_variant(norm="sq")),
        Mistake("backward direction ignored", "When bwd is given the network is the BiRNN: its output is "
                "birnn_forward's out, of size 2H.", _influence_variant(ignore_bwd=True)),
        Mistake("only the first feature perturbed", "Add the whole vector delta (D,) to x[:, s].",
                _influence_variant(first_feature=True)),
    ),
))
