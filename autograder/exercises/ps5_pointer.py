"""ps5_pointer: pointer networks.

The reference for every exercise is ``PointerNet``, a torch module built the contract's way: a
tanh ``nn.RNN`` encoder, an ``nn.GRUCell`` decoder that starts from the encoder's last state and
reads ``start`` and then the input at the position it chose, and an additive pointer
``u_j = v . tanh(enc_j W_enc + s W_dec)`` whose log-softmax over the positions not yet chosen is
the output distribution. ``pointer_net(params)`` loads the course's numpy parameters into it.

The mistakes are computed by ``_Net``, a float64 numpy pointer network whose flags switch on one
known mistake at a time (masking after the softmax, the wrong decoder input, ...), and by
``_beam``, a numpy beam search with flags for the known beam-search mistakes.
"""
from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from .inputs import CaseRandom
from .registry import Exercise, Mistake, register
from .torch_ref import n, t

A = "ps5_pointer"


# ================================================================ the torch reference
class PointerAttention(nn.Module):
    """u_j = v . tanh(enc_j W_enc + s W_dec): the additive score with no softmax and no context."""

    def __init__(self, H: int, A: int):
        super().__init__()
        self.W_enc = nn.Linear(H, A, bias=False)
        self.W_dec = nn.Linear(H, A, bias=False)
        self.v = nn.Linear(A, 1, bias=False)

    def forward(self, enc_out: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.v(torch.tanh(self.W_enc(enc_out) + self.W_dec(s)[:, None]))[..., 0]


def masked_log_softmax(scores: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """log-softmax over the positions not chosen; chosen positions (and rows with none left) -inf."""
    out = torch.log_softmax(scores.masked_fill(chosen, float("-inf")), dim=-1)
    return out.masked_fill(chosen.all(dim=-1, keepdim=True), float("-inf"))


class PointerNet(nn.Module):
    """The contract's pointer network (D inputs, H hidden units, A attention units)."""

    def __init__(self, D: int, H: int, A: int):
        super().__init__()
        self.encoder = nn.RNN(D, H, batch_first=True)          # tanh
        self.decoder = nn.GRUCell(D, H)
        self.pointer = PointerAttention(H, A)
        self.start = nn.Parameter(torch.zeros(D))

    def encode(self, x):
        enc_out, h_n = self.encoder(x)
        return enc_out, h_n[0]

    def step(self, inp, s, enc_out, chosen):
        s = self.decoder(inp, s)
        return s, masked_log_softmax(self.pointer(enc_out, s), chosen)

    def log_likelihood(self, x, perm):
        """Teacher forcing: (B,) sum over steps of log p(perm[:, i] | perm[:, :i], x)."""
        B, N, D = x.shape
        rows = torch.arange(B)
        enc_out, s = self.encode(x)
        inp, chosen = self.start.expand(B, D), torch.zeros(B, N, dtype=torch.bool)
        total = x.new_zeros(B)
        for i in range(N):
            s, logp = self.step(inp, s, enc_out, chosen)
            idx = perm[:, i]
            total = total + logp[rows, idx]
            chosen = chosen.clone()
            chosen[rows, idx] = True
            inp = x[rows, idx]
        return total

    def greedy(self, x):
        """(perm (B,N) int64, log_likelihood (B,)): the most probable position at every step."""
        B, N, D = x.shape
        rows = torch.arange(B)
        enc_out, s = self.encode(x)
        inp, chosen = self.start.expand(B, D), torch.zeros(B, N, dtype=torch.bool)
        total, perm = x.new_zeros(B), torch.zeros(B, N, dtype=torch.int64)
        for i in range(N):
            s, logp = self.step(inp, s, enc_out, chosen)
            idx = torch.argmax(logp, dim=-1)        # documented: the first maximal index
            perm[:, i] = idx
            total = total + logp[rows, idx]
            chosen = chosen.clone()
            chosen[rows, idx] = True
            inp = x[rows, idx]
        return perm, total

    def beam_search(self, x, beam_width: int):
        """(perms (B,K,N) int64, scores (B,K)), K = min(beam_width, N!), best first.

        Every step extends each kept hypothesis by every position it has not chosen, scores the
        extension by its summed log-probability and keeps the best beam_width of all of them
        (ties: the earlier hypothesis, then the lower position; the course's cases have none).
        """
        B, N, D = x.shape
        K = min(beam_width, math.factorial(N))
        enc_all, s_all = self.encode(x)
        perms, scores = torch.zeros(B, K, N, dtype=torch.int64), x.new_zeros(B, K)
        for b in range(B):
            enc = enc_all[b:b + 1]
            s, inp = s_all[b:b + 1], self.start[None]
            chosen = torch.zeros(1, N, dtype=torch.bool)
            score, seqs = x.new_zeros(1), torch.zeros(1, 0, dtype=torch.int64)
            for i in range(N):
                k = s.shape[0]
                s, logp = self.step(inp, s, enc.expand(k, N, -1), chosen)
                cand = (score[:, None] + logp).reshape(-1)
                keep = min(beam_width, k * (N - i))          # the finite candidates come first
                order = torch.sort(cand, descending=True, stable=True).indices[:keep]
                parent, pos = order // N, order % N
                score, s = cand[order], s[parent]
                seqs = torch.cat([seqs[parent], pos[:, None]], dim=1)
                chosen = chosen[parent].clone()
                chosen[torch.arange(keep), pos] = True
                inp = x[b, pos]
            perms[b], scores[b] = seqs, score
        return perms, scores


def _state_dict(params: dict) -> dict:
    enc, dec = params["enc"], params["dec"]
    H = enc["W_hh"].shape[0]
    return {
        "encoder.weight_ih_l0": enc["W_xh"].T, "encoder.weight_hh_l0": enc["W_hh"].T,
        "encoder.bias_ih_l0": enc["b_h"], "encoder.bias_hh_l0": np.zeros(H),
        "decoder.weight_ih": dec["W_x"].T, "decoder.weight_hh": dec["W_h"].T,
        "decoder.bias_ih": dec["b_x"], "decoder.bias_hh": dec["b_h"],
        "pointer.W_enc.weight": params["W_enc"].T, "pointer.W_dec.weight": params["W_dec"].T,
        "pointer.v.weight": params["v"][None], "start": params["start"],
    }


_NETS: OrderedDict = OrderedDict()        # the parameters' bytes -> their net, the last few
_NETS_LOCK = threading.Lock()             # (the grader's stub answerers run in threads)


def pointer_net(params: dict) -> PointerNet:
    """A float64 ``PointerNet`` holding the course's numpy parameters. The last few are kept,
    by the parameters' bytes: a decoder checked step by step asks for the same one at every step
    (follow-through answers), and building one costs milliseconds. The references only read it."""
    key = _params_key(params)
    with _NETS_LOCK:
        if key in _NETS:
            _NETS.move_to_end(key)
            return _NETS[key]
    D, H = params["enc"]["W_xh"].shape
    net = PointerNet(D, H, params["v"].shape[0]).double()
    net.load_state_dict({k: t(np.ascontiguousarray(v)) for k, v in _state_dict(params).items()})
    net.requires_grad_(False)
    with _NETS_LOCK:
        _NETS[key] = net
        while len(_NETS) > 16:
            _NETS.popitem(last=False)
    return net


def _params_key(params: dict) -> bytes:
    digest = hashlib.sha256()
    for path, value in sorted(_leaves(params)):
        a = np.ascontiguousarray(value, dtype=np.float64)
        digest.update(repr((path, a.shape)).encode())
        digest.update(a.tobytes())
    return digest.digest()


def _leaves(tree: dict, prefix: str = ""):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def params_from_net(net: PointerNet) -> dict:
    """The course's numpy parameters of a ``PointerNet`` (the inverse of ``pointer_net``)."""
    p = {k: n(v) for k, v in net.state_dict().items()}
    return {
        "enc": {"W_xh": p["encoder.weight_ih_l0"].T.copy(), "W_hh": p["encoder.weight_hh_l0"].T.copy(),
                "b_h": p["encoder.bias_ih_l0"] + p["encoder.bias_hh_l0"]},
        "dec": {"W_x": p["decoder.weight_ih"].T.copy(), "W_h": p["decoder.weight_hh"].T.copy(),
                "b_x": p["decoder.bias_ih"], "b_h": p["decoder.bias_hh"]},
        "W_enc": p["pointer.W_enc.weight"].T.copy(), "W_dec": p["pointer.W_dec.weight"].T.copy(),
        "v": p["pointer.v.weight"][0].copy(), "start": p["start"],
    }


# ================================================================ case inputs
def _net_params(r: CaseRandom, D: int, H: int, A: int, ties: bool = False, score_scale: float = 1.0) -> dict:
    """Random parameters in the contract's layout; ``ties`` zeroes v so that every score is 0;
    ``score_scale`` multiplies v, so that scores reach ~score_scale (the stability cases use 1e4)."""
    return {
        "enc": {"W_xh": r.weight(H, D, H), "W_hh": r.weight(H, H, H), "b_h": r.weight(H, H)},
        "dec": {"W_x": r.weight(H, D, 3 * H), "W_h": r.weight(H, H, 3 * H),
                "b_x": r.weight(H, 3 * H), "b_h": r.weight(H, 3 * H)},
        "W_enc": r.normal(H, A, scale=1.5 / np.sqrt(H)),
        "W_dec": r.normal(H, A, scale=1.5 / np.sqrt(H)),
        "v": np.zeros(A) if ties else r.normal(A, scale=2.5 * score_scale / np.sqrt(A)),
        "start": r.normal(D),
    }


def _random_chosen(r: CaseRandom, B: int, N: int, kind: str = "random") -> np.ndarray:
    """(B, N) bool, True = already chosen; every row keeps at least one position free."""
    if kind == "none":
        return np.zeros((B, N), dtype=bool)
    chosen = r.rng.random((B, N)) < 0.45
    for b in range(B):
        if chosen[b].all():
            chosen[b, r.rng.integers(N)] = False
    return chosen


def _scores_inputs(case):
    r = CaseRandom(case)
    B, N, H, Aw = case["B"], case["N"], case["H"], case["A"]
    return dict(enc=np.tanh(r.normal(B, N, H)), dec_h=r.normal(B, H, scale=0.7),
                W_enc=r.normal(H, Aw, scale=1 / np.sqrt(H)), W_dec=r.normal(H, Aw, scale=1 / np.sqrt(H)),
                v=r.normal(Aw))


def _log_probs_inputs(case):
    r = CaseRandom(case)
    B, N = case["B"], case["N"]
    return dict(scores=r.normal(B, N, scale=case.get("scale", 1.0)),
                chosen=_random_chosen(r, B, N, case.get("chosen", "random")))


def _step_inputs(case):
    r = CaseRandom(case)
    B, N, D, H, Aw = case["B"], case["N"], case["D"], case["H"], case["A"]
    return dict(inp=r.normal(B, D), s_prev=r.normal(B, H, scale=0.5), enc_out=np.tanh(r.normal(B, N, H)),
                chosen=_random_chosen(r, B, N, case.get("chosen", "random")),
                params=_net_params(r, D, H, Aw, case.get("ties", False), case.get("score_scale", 1.0)))


def _decode_inputs(case):
    r = CaseRandom(case)
    B, N, D, H, Aw = case["B"], case["N"], case["D"], case["H"], case["A"]
    return dict(x=r.normal(B, N, D), params=_net_params(r, D, H, Aw, case.get("ties", False), case.get("score_scale", 1.0)))


def _ll_inputs(case):
    inputs = _decode_inputs(case)
    r = CaseRandom({**case, "seed": case.get("seed", 0) + 10_000})
    B, N = case["B"], case["N"]
    perm = np.stack([r.rng.permutation(N) for _ in range(B)]).astype(np.int64)
    if case.get("perm") == "reverse":              # N-1, ..., 0 in every row
        perm = np.tile(np.arange(N)[::-1], (B, 1)).astype(np.int64)
    if case.get("perm") == "repeat":               # not a permutation: a ValueError case
        perm[-1, -1] = perm[-1, 0]
    return dict(x=inputs["x"], perm=perm, params=inputs["params"])


def _beam_inputs(case):
    return {**_decode_inputs(case), "beam_width": case["beam_width"]}


# ================================================================ references
def _ref_scores(enc, dec_h, W_enc, W_dec, v):
    H, Aw = W_enc.shape
    if enc.shape[-1] != H or dec_h.shape[-1] != W_dec.shape[0] or W_dec.shape[1] != Aw or v.shape != (Aw,):
        raise ValueError("shapes do not fit")
    att = PointerAttention(H, Aw).double()
    att.load_state_dict({"W_enc.weight": t(W_enc.T), "W_dec.weight": t(W_dec.T), "v.weight": t(v[None])})
    return n(att(t(enc), t(dec_h)))


def _ref_log_probs(scores, chosen):
    return n(masked_log_softmax(t(scores), torch.as_tensor(chosen)))


def _ref_step(inp, s_prev, enc_out, chosen, params):
    s, logp = pointer_net(params).step(t(inp), t(s_prev), t(enc_out), torch.as_tensor(chosen))
    return n(s), n(logp)


def _ref_greedy(x, params):
    perm, ll = pointer_net(params).greedy(t(x))
    return n(perm), n(ll)


def _ref_ll(x, perm, params):
    if perm.shape != x.shape[:2] or not (np.sort(perm, axis=1) == np.arange(x.shape[1])).all():
        raise ValueError("every row of perm must be a permutation of 0..N-1")
    return n(pointer_net(params).log_likelihood(t(x), torch.as_tensor(perm)))


def _ref_beam(x, params, beam_width):
    if beam_width < 1:
        raise ValueError("beam_width must be at least 1")
    perms, scores = pointer_net(params).beam_search(t(x), int(beam_width))
    return n(perms), n(scores)


# ================================================================ the numpy network with mistakes
def _log_softmax(z, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def _masked_log_probs(scores, chosen, mask="before"):
    if mask == "none":
        return _log_softmax(scores)
    if mask == "after":
        return np.where(chosen, -np.inf, _log_softmax(scores))
    return _log_softmax(np.where(chosen, -np.inf, scores))


def _np_scores(enc, s, W_enc, W_dec, v):
    return np.tanh(enc @ W_enc + (s @ W_dec)[:, None]) @ v


def _sig(z):
    return 1 / (1 + np.exp(-z))


def _gru(x_t, h, W_x, W_h, b_x, b_h):
    xr, xz, xn = np.split(x_t @ W_x + b_x, 3, axis=1)
    hr, hz, hn = np.split(h @ W_h + b_h, 3, axis=1)
    r, z = _sig(xr + hr), _sig(xz + hz)
    return (1 - z) * np.tanh(xn + r * hn) + z * h


def _rnn(x, W_xh, W_hh, b_h):
    h = np.zeros((x.shape[0], W_hh.shape[0]))
    out = []
    for i in range(x.shape[1]):
        h = np.tanh(x[:, i] @ W_xh + h @ W_hh + b_h)
        out.append(h)
    return np.stack(out, axis=1), h


class _Net:
    """The pointer network in float64 numpy; each flag switches on one catalogued mistake.

    mask:  "before" (right), "after" (log-softmax, then -inf), "none" (repeats allowed)
    feed:  what the decoder reads after step 0: "chosen" (right: x at the chosen position),
           "step" (x in input order), "index" (the chosen index as a number), "enc" (the
           encoder state at the chosen position), "target" (teacher forcing one step early)
    start: False feeds zeros at step 0; init: "zeros" starts the decoder from zeros
    order: "before" scores with the state before the GRU step
    swap:  W_enc and W_dec exchanged
    """

    def __init__(self, params, mask="before", feed="chosen", start=True, init="enc", order="gru", swap=False,
                 naive=False):
        self.p, self.mask, self.feed, self.use_start, self.init, self.order = params, mask, feed, start, init, order
        self.naive = naive          # log-softmax without the maximum subtracted (overflows on large scores)
        self.W_enc, self.W_dec = (params["W_dec"], params["W_enc"]) if swap else (params["W_enc"], params["W_dec"])

    def encode(self, x):
        enc_out, h = _rnn(x, **self.p["enc"])
        return enc_out, (np.zeros_like(h) if self.init == "zeros" else h)

    def first_input(self, B):
        start = self.p["start"] if self.use_start else np.zeros_like(self.p["start"])
        return np.tile(start, (B, 1))

    def step(self, inp, s, enc_out, chosen):
        s_new = _gru(inp, s, **self.p["dec"])
        scored = s if self.order == "before" else s_new
        if self.naive:
            return s_new, _naive_log_softmax(_np_scores(enc_out, scored, self.W_enc, self.W_dec, self.p["v"]), chosen)
        return s_new, _masked_log_probs(_np_scores(enc_out, scored, self.W_enc, self.W_dec, self.p["v"]),
                                        chosen, self.mask)

    def next_input(self, x, idx, enc_out, i):
        rows = np.arange(len(idx))
        if self.feed == "step":
            return x[:, i]
        if self.feed == "index":
            return np.repeat(idx[:, None].astype(np.float64), x.shape[2], axis=1)
        if self.feed == "enc":
            if enc_out.shape[2] != x.shape[2]:
                raise ValueError("this mistake needs D == H")
            return enc_out[rows, idx]
        return x[rows, idx]

    def run(self, x, perm=None, ties="low"):
        """(perm, per-step log-probs (B, N)); teacher-forced when perm is given."""
        B, N, _ = x.shape
        rows = np.arange(B)
        enc_out, s = self.encode(x)
        inp, chosen = self.first_input(B), np.zeros((B, N), dtype=bool)
        out, terms = np.zeros((B, N), dtype=np.int64), np.zeros((B, N))
        for i in range(N):
            if self.feed == "target" and perm is not None:
                inp = x[rows, perm[:, i]]
            s, logp = self.step(inp, s, enc_out, chosen)
            if perm is not None:
                idx = perm[:, i]
            elif ties == "high":
                idx = N - 1 - np.argmax(logp[:, ::-1], axis=1)
            else:
                idx = np.argmax(logp, axis=1)
            out[:, i], terms[:, i] = idx, logp[rows, idx]
            chosen = chosen.copy()
            chosen[rows, idx] = True
            inp = self.next_input(x, idx, enc_out, i)
        return out, terms


def _greedy_np(x, params, ties="low", first=0, **flags):
    perm, terms = _Net(params, **flags).run(x, ties=ties)
    return perm, terms[:, first:].sum(axis=1)


def _ll_np(x, perm, params, first=0, reduce="sum", ranks=False, **flags):
    if ranks:
        perm = np.argsort(perm, axis=1)
    _, terms = _Net(params, **flags).run(x, perm)
    terms = terms[:, first:]
    return terms.mean(axis=1) if reduce == "mean" else terms.sum(axis=1)


def _beam(x, params, beam_width, keep="all", acc="log", worst_first=False, as_probs=False, **flags):
    """Beam search in numpy. keep: "all" (right), "best" (only the best hypothesis survives),
    "own" (after the first step each hypothesis follows only its own best continuation).
    acc: "log" (right: summed log-probs), "prob" (summed probabilities), "last" (last step only)."""
    net = _Net(params, **flags)
    B, N, _ = x.shape
    if keep == "best":
        perm, ll = _greedy_np(x, params, **flags)
        K = min(beam_width, math.factorial(N))
        return np.repeat(perm[:, None], K, axis=1), np.repeat(ll[:, None], K, axis=1)
    enc_all, s_all = net.encode(x)
    all_perms, all_scores = [], []
    for b in range(B):
        xb, enc = x[b:b + 1], enc_all[b:b + 1]
        s, inp = s_all[b:b + 1], net.first_input(1)
        chosen, score, seqs = np.zeros((1, N), dtype=bool), np.zeros(1), np.zeros((1, 0), dtype=np.int64)
        for i in range(N):
            k = s.shape[0]
            s, logp = net.step(inp, s, np.repeat(enc, k, axis=0), chosen)
            gain = {"log": logp, "prob": np.exp(logp), "last": logp}[acc]
            cand = gain if acc == "last" else score[:, None] + gain
            valid = np.ones_like(chosen) if net.mask == "none" else ~chosen
            if keep == "own" and i > 0:
                pos = np.argmax(np.where(valid, cand, -np.inf), axis=1)
                parent = np.arange(k)
            else:
                flat = np.where(valid, cand, -np.inf).reshape(-1)
                order = np.argsort(-flat, kind="stable")[:min(beam_width, int(valid.sum()))]
                parent, pos = order // N, order % N
            score = cand[parent, pos]
            s, seqs = s[parent], np.concatenate([seqs[parent], pos[:, None]], axis=1)
            chosen = chosen[parent].copy()
            chosen[np.arange(len(pos)), pos] = True
            inp = net.next_input(np.repeat(xb, len(pos), axis=0), pos, np.repeat(enc, len(pos), axis=0), i)
        order = np.argsort(-score, kind="stable")
        if worst_first:
            order = order[::-1]
        all_perms.append(seqs[order])
        all_scores.append(np.exp(score[order]) if as_probs else score[order])
    return np.stack(all_perms), np.stack(all_scores)


# ================================================================ exercises
def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


register(Exercise(
    name="pointer_scores", assignment=A,
    variant_shapes=("H", "A"),
    args=("enc", "dec_h", "W_enc", "W_dec", "v"), outputs=("scores",), shapes={"scores": "(B, N)"},
    make_inputs=_scores_inputs, reference=_ref_scores,
    mistakes=(
        Mistake("W_enc and W_dec swapped", "W_enc projects the encoder states enc_j, W_dec the decoder state "
                "dec_h; both are (H, A), so swapping them runs without an error.",
                lambda enc, dec_h, W_enc, W_dec, v: _np_scores(enc, dec_h, W_dec, W_enc, v)),
        Mistake("tanh missing", "u_j = tanh(enc_j W_enc + dec_h W_dec) . v: the tanh comes before the dot with v.",
                lambda enc, dec_h, W_enc, W_dec, v: (enc @ W_enc + (dec_h @ W_dec)[:, None]) @ v),
        Mistake("v applied before the tanh", "Take tanh of the (B, N, A) sum first, then the dot product with v.",
                lambda enc, dec_h, W_enc, W_dec, v: np.tanh((enc @ W_enc + (dec_h @ W_dec)[:, None]) @ v)),
        Mistake("decoder term broadcast over positions instead of the batch",
                "dec_h @ W_dec is (B, A); add it as (B, 1, A) so that every position j of sequence b gets "
                "sequence b's decoder term (without [:, None] numpy aligns it with the N axis when B == N).",
                lambda enc, dec_h, W_enc, W_dec, v: np.tanh(enc @ W_enc + (dec_h @ W_dec)[None]) @ v),
        Mistake("softmax applied to the scores", "pointer_scores returns the raw scores u; the (masked) "
                "normalisation is pointer_log_probs' job.",
                lambda enc, dec_h, W_enc, W_dec, v: _softmax(_np_scores(enc, dec_h, W_enc, W_dec, v))),
        Mistake("decoder state ignored", "Every score depends on the decoder state through dec_h @ W_dec: "
                "that is how the pointer moves from step to step.",
                lambda enc, dec_h, W_enc, W_dec, v: np.tanh(enc @ W_enc) @ v),
    ),
))


def _naive_log_softmax(scores, chosen):
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        e = np.exp(np.where(chosen, -np.inf, scores))
        return np.log(e / e.sum(axis=-1, keepdims=True))


def _log_of_softmax(scores, chosen):
    with np.errstate(divide="ignore"):
        return np.log(_softmax(np.where(chosen, -np.inf, scores)))


register(Exercise(
    name="pointer_log_probs", assignment=A,
    args=("scores", "chosen"), outputs=("log_probs",), shapes={"log_probs": "(B, N)"},
    make_inputs=_log_probs_inputs, reference=_ref_log_probs,
    mistakes=(
        Mistake("chosen positions not masked", "Set the scores of chosen positions to -inf before the "
                "log-softmax; otherwise the decoder can point at the same input twice.",
                lambda scores, chosen: _masked_log_probs(scores, chosen, "none")),
        Mistake("masking after the softmax", "Mask first, then normalise: -inf scores get probability 0 and the "
                "rest sum to 1. Masking afterwards leaves probabilities that sum to less than 1.",
                lambda scores, chosen: _masked_log_probs(scores, chosen, "after")),
        Mistake("mask inverted", "chosen is True where a position was already chosen: those get -inf, the "
                "False ones share the probability.",
                lambda scores, chosen: _masked_log_probs(scores, ~chosen)),
        Mistake("probabilities returned instead of log-probabilities", "Return log p, not p (np.log of a "
                "softmax is not the stable way either: use max-subtraction and log-sum-exp).",
                lambda scores, chosen: _softmax(np.where(chosen, -np.inf, scores))),
        Mistake("a large negative number instead of -inf", "Chosen positions must be exactly -inf (their "
                "probability is exactly 0); -1e9 and the like leave finite log-probabilities.",
                lambda scores, chosen: _masked_log_probs(np.where(chosen, -1e9, scores), np.zeros_like(chosen))),
        Mistake("chosen positions filled with 0", "A log-probability of 0 means probability 1: chosen positions "
                "are exactly -inf (probability 0), after normalising the free ones.",
                lambda scores, chosen: np.where(chosen, 0.0, _masked_log_probs(scores, chosen))),
        Mistake("no maximum subtracted (overflow)", "exp(1000) overflows to inf and inf/inf is NaN: subtract "
                "each row's largest free score before np.exp (log-sum-exp).", _naive_log_softmax),
        Mistake("log of the softmax (underflow)", "A probability below 1e-308 rounds to 0 and log(0) = -inf. "
                "Compute z - max - log(sum(exp(z - max))) instead of np.log(softmax(z)).", _log_of_softmax),
        Mistake("log-softmax over the batch axis", "Normalise each row (axis=-1): one distribution over "
                "the N positions per sequence.",
                lambda scores, chosen: _log_softmax(np.where(chosen, -np.inf, scores), axis=0)),
    ),
))


_OVERFLOW_HINT = ("Scores of size 1e4 overflow np.exp (inf/inf is NaN): the log-softmax must subtract each "
                  "row's largest free score first (pointer_log_probs does).")


def _step_np(inp, s_prev, enc_out, chosen, params, **flags):
    s, logp = _Net(params, **flags).step(inp, s_prev, enc_out, chosen)
    return s, logp


register(Exercise(
    name="pointer_decoder_step", assignment=A,
    args=("inp", "s_prev", "enc_out", "chosen", "params"), outputs=("s", "log_probs"),
    shapes={"s": "(B, H)", "log_probs": "(B, N)"}, builds_on=("pointer_scores", "pointer_log_probs"),
    make_inputs=_step_inputs, reference=_ref_step,
    mistakes=(
        Mistake("scores computed from the state before the GRU step", "First update the state, "
                "s = gru_cell_forward(inp, s_prev, ...), then point with the new s.",
                lambda **kw: _step_np(**kw, order="before")),
        Mistake("chosen positions not masked", "Pass chosen on to pointer_log_probs.",
                lambda **kw: _step_np(**kw, mask="none")),
        Mistake("W_enc and W_dec swapped", "pointer_scores(enc_out, s, params['W_enc'], params['W_dec'], params['v']).",
                lambda **kw: _step_np(**kw, swap=True)),
        Mistake("probabilities returned instead of log-probabilities", "The step returns pointer_log_probs' output.",
                lambda **kw: (lambda s, lp: (s, np.exp(lp)))(*_step_np(**kw))),
        Mistake("no maximum subtracted (overflow)", _OVERFLOW_HINT, lambda **kw: _step_np(**kw, naive=True)),
    ),
))


_FEED_HINT = ("After step 0 the decoder reads the input it just pointed at: x[b, perm[b, i-1]] "
              "(x[np.arange(B), idx]), a (B, D) array.")

_NET_MISTAKES = {
    "chosen positions not masked": ("Mask every position chosen so far; otherwise the decoder repeats positions.",
                                    dict(mask="none")),
    "masking after the softmax": ("Mask before the log-softmax (pointer_log_probs), so that the free positions' "
                                  "probabilities sum to 1.", dict(mask="after")),
    "decoder fed x in input order": (_FEED_HINT + " x[:, i-1] is the input at step i-1's position, not at the "
                                     "chosen one.", dict(feed="step")),
    "decoder fed the chosen index as a number": (_FEED_HINT + " The index says where to look; the decoder "
                                                 "reads what is there.", dict(feed="index")),
    "decoder fed the encoder state at the chosen position": (_FEED_HINT + " Not enc_out[b, idx]: the decoder's "
                                                             "input is the raw input x.", dict(feed="enc")),
    "start vector ignored": ("At step 0 the decoder reads params['start'] (shape (D,)), one copy per sequence.",
                             dict(start=False)),
    "decoder not started from the encoder's last state": ("s starts at h, the second output of rnn_forward "
                                                          "on the encoder, not at zeros.", dict(init="zeros")),
    "scores computed from the state before the GRU step": ("Each step first updates s with the GRU, then "
                                                           "points with the new s.", dict(order="before")),
    "no maximum subtracted (overflow)": (_OVERFLOW_HINT, dict(naive=True)),
}


def _net_mistakes(names, fn):
    return tuple(Mistake(name, _NET_MISTAKES[name][0], (lambda flags: lambda **kw: fn(**kw, **flags))(_NET_MISTAKES[name][1]))
                 for name in names)


register(Exercise(
    name="pointer_log_likelihood", assignment=A,
    args=("x", "perm", "params"), outputs=("log_likelihood",), shapes={"log_likelihood": "(B,)"},
    builds_on=("pointer_decoder_step",),
    make_inputs=_ll_inputs, reference=_ref_ll,
    mistakes=(
        Mistake("log-likelihood drops the first step", "Sum the log-probabilities of all N steps, the first "
                "choice (made after reading the start vector) included.", lambda **kw: _ll_np(**kw, first=1)),
        Mistake("decoder fed the current target (teacher forcing one step early)", "At step i the decoder "
                "reads the previous choice x[b, perm[b, i-1]] (the start vector at step 0), never the answer "
                "it is about to be scored on.", lambda **kw: _ll_np(**kw, feed="target")),
        Mistake("mean over steps instead of the sum", "The log-likelihood of a sequence is the sum of its "
                "steps' log-probabilities (the log of a product).", lambda **kw: _ll_np(**kw, reduce="mean")),
        Mistake("perm read as ranks", "perm[b, i] is the position chosen at step i, not the step at which "
                "position i is chosen.", lambda **kw: _ll_np(**kw, ranks=True)),
        *_net_mistakes(["chosen positions not masked", "masking after the softmax", "decoder fed x in input order",
                        "decoder fed the chosen index as a number", "decoder fed the encoder state at the chosen position",
                        "start vector ignored", "decoder not started from the encoder's last state",
                        "scores computed from the state before the GRU step", "no maximum subtracted (overflow)"], _ll_np),
    ),
    rtol32=5e-4, atol32=5e-5,
))


register(Exercise(
    name="pointer_greedy_decode", assignment=A,
    args=("x", "params"), outputs=("perm", "log_likelihood"),
    shapes={"perm": "(B, N) int64", "log_likelihood": "(B,)"}, builds_on=("pointer_decoder_step",),
    make_inputs=_decode_inputs, reference=_ref_greedy,
    mistakes=(
        Mistake("ties broken to the highest index", "When several free positions are equally probable, pick "
                "the lowest index (np.argmax does).", lambda **kw: _greedy_np(**kw, ties="high")),
        Mistake("log-likelihood drops the first step", "Add the log-probability of every step's choice, "
                "the first one included.", lambda **kw: _greedy_np(**kw, first=1)),
        *_net_mistakes(["chosen positions not masked", "masking after the softmax", "decoder fed x in input order",
                        "decoder fed the chosen index as a number", "decoder fed the encoder state at the chosen position",
                        "start vector ignored", "decoder not started from the encoder's last state",
                        "scores computed from the state before the GRU step", "no maximum subtracted (overflow)"], _greedy_np),
    ),
    rtol32=5e-4, atol32=5e-5,
))


register(Exercise(
    name="pointer_beam_search", assignment=A,
    args=("x", "params", "beam_width"), outputs=("perms", "scores"),
    shapes={"perms": "(B, K, N) int64", "scores": "(B, K)"}, builds_on=("pointer_decoder_step",),
    make_inputs=_beam_inputs, reference=_ref_beam,
    mistakes=(
        Mistake("only the best hypothesis kept", "Keep the beam_width best extensions at every step, not just "
                "the single best one (that is greedy decoding, K times).", lambda **kw: _beam(**kw, keep="best")),
        Mistake("hypotheses never compete after the first step", "At every step pool the extensions of all "
                "hypotheses and keep the best beam_width of the pool; a hypothesis may have several children "
                "kept, or none.", lambda **kw: _beam(**kw, keep="own")),
        Mistake("probabilities summed instead of log-probabilities", "The probability of a sequence is the "
                "product of its steps' probabilities: add log-probabilities.", lambda **kw: _beam(**kw, acc="prob")),
        Mistake("scores not accumulated", "A hypothesis' score is the sum of the log-probabilities of all its "
                "steps: add the new step's log-probability to its parent's score.", lambda **kw: _beam(**kw, acc="last")),
        Mistake("hypotheses returned worst first", "Return them best first: scores[b] decreasing.",
                lambda **kw: _beam(**kw, worst_first=True)),
        Mistake("scores returned as probabilities", "scores are summed log-probabilities (log-likelihoods), "
                "not their exponential.", lambda **kw: _beam(**kw, as_probs=True)),
        *_net_mistakes(["chosen positions not masked", "masking after the softmax", "start vector ignored",
                        "decoder not started from the encoder's last state", "no maximum subtracted (overflow)"], _beam),
    ),
    rtol32=5e-4, atol32=5e-5,
))
