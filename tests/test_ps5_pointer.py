"""ps5's references equal a pointer network written here from the contract's text with torch modules
built the contract's way (default initialisation, both RNN biases non-zero); beam search equals the
brute-force ranking of all permutations when beam_width >= N!; the declared cases leave clear
margins, so that float32 learners make the same discrete choices as the float64 reference."""
from __future__ import annotations

import itertools
import math

import nbformat
import numpy as np
import pytest
import torch
from torch import nn

from autograder.exercises import registry
from autograder.authoring.catalogue import declarations
from autograder.checks.cells import load_functions
from autograder.checks.api import case_inputs, expected_output
from autograder.course import ROOT
from autograder.exercises import ps5_pointer as P
from autograder.authoring.samples import fill, read_sample

A = "ps5_pointer"
ref = lambda name: registry.get(name).reference
NP = lambda p: p.detach().numpy().astype(np.float64)


class Contract:
    """The network exactly as COURSE_SPEC.md words it, with nn.RNN and nn.GRUCell."""

    def __init__(self, D, H, A_, seed):
        torch.manual_seed(seed)
        self.rnn, self.cell = nn.RNN(D, H, batch_first=True).double(), nn.GRUCell(D, H).double()
        g = lambda *shape, scale=1.0: torch.randn(*shape, dtype=torch.float64) * scale
        self.W_enc, self.W_dec = g(H, A_, scale=2 / H ** 0.5), g(H, A_, scale=2 / H ** 0.5)
        self.v, self.start = g(A_, scale=3 / A_ ** 0.5), g(D)
        r, c = self.rnn, self.cell
        self.params = {
            "enc": {"W_xh": NP(r.weight_ih_l0).T, "W_hh": NP(r.weight_hh_l0).T, "b_h": NP(r.bias_ih_l0 + r.bias_hh_l0)},
            "dec": {"W_x": NP(c.weight_ih).T, "W_h": NP(c.weight_hh).T, "b_x": NP(c.bias_ih), "b_h": NP(c.bias_hh)},
            "W_enc": NP(self.W_enc), "W_dec": NP(self.W_dec), "v": NP(self.v), "start": NP(self.start),
        }

    def scores(self, enc, s):
        return torch.tanh(enc @ self.W_enc + (s @ self.W_dec)[:, None]) @ self.v

    @torch.no_grad()
    def run(self, x, perm=None):
        """(perm, log-likelihood): teacher-forced on perm, else greedy (ties: lowest index)."""
        x = torch.as_tensor(x)
        B, N, D = x.shape
        rows = torch.arange(B)
        enc_out, h = self.rnn(x)
        s, inp = h[0], self.start.expand(B, D)
        chosen = torch.zeros(B, N, dtype=torch.bool)
        total, out = torch.zeros(B, dtype=torch.float64), []
        for i in range(N):
            s = self.cell(inp, s)
            logp = torch.log_softmax(self.scores(enc_out, s).masked_fill(chosen, float("-inf")), dim=-1)
            idx = torch.as_tensor(perm)[:, i] if perm is not None else torch.argmax(logp, dim=-1)
            total = total + logp[rows, idx]
            chosen = chosen.clone()
            chosen[rows, idx] = True
            out.append(idx)
            inp = x[rows, idx]
        return torch.stack(out, 1).numpy(), total.numpy()


def _implementations():
    src = ROOT / "source" / A / f"{A}.ipynb"
    release = nbformat.read(ROOT / "release" / A / f"{A}.ipynb", as_version=4)
    sample = fill(release, read_sample(ROOT / "samples" / A / "sample_correct.py"))
    return {"solution": load_functions(src), "sample_correct": load_functions(sample)}


@pytest.fixture(scope="module")
def impls():
    return _implementations()


@pytest.mark.parametrize("seed", [0, 1])
def test_references_equal_the_contract_network(seed):
    net = Contract(3, 5, 4, seed)
    x = np.random.default_rng(seed).normal(size=(4, 6, 3))
    perm, ll = net.run(x)
    got_perm, got_ll = ref("pointer_greedy_decode")(x, net.params)
    np.testing.assert_array_equal(got_perm, perm)
    np.testing.assert_allclose(got_ll, ll, rtol=1e-12, atol=1e-12)
    other = np.stack([np.random.default_rng(seed + 9).permutation(6) for _ in range(4)])
    np.testing.assert_allclose(ref("pointer_log_likelihood")(x, other, net.params), net.run(x, other)[1],
                               rtol=1e-12, atol=1e-12)
    enc, s = torch.randn(4, 6, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    np.testing.assert_allclose(ref("pointer_scores")(enc.numpy(), s.numpy(), net.params["W_enc"],
                                                     net.params["W_dec"], net.params["v"]),
                               NP(net.scores(enc, s)), rtol=1e-12, atol=1e-12)
    chosen = np.random.default_rng(seed).random((4, 6)) < 0.5
    chosen[:, 0] = False
    inp = torch.randn(4, 3, dtype=torch.float64)
    s_new, logp = ref("pointer_decoder_step")(inp.numpy(), s.numpy(), enc.numpy(), chosen, net.params)
    want_s = net.cell(inp, s)
    want = torch.log_softmax(net.scores(enc, want_s).masked_fill(torch.as_tensor(chosen), float("-inf")), dim=-1)
    np.testing.assert_allclose(s_new, NP(want_s), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(logp, NP(want), rtol=1e-12, atol=1e-12)
    assert np.isneginf(logp[chosen]).all()


def test_log_probs_reference_is_stable_and_exactly_minus_inf_where_chosen():
    scores = np.array([[1000.0, -1000.0, 999.0, 3.0]])
    chosen = np.array([[False, False, True, False]])
    got = ref("pointer_log_probs")(scores, chosen)
    assert np.isfinite(got[~chosen]).all() and np.isneginf(got[chosen]).all()
    np.testing.assert_allclose(np.exp(got).sum(), 1.0)
    np.testing.assert_allclose(got[0, 1], -2000.0)


@pytest.mark.parametrize("N", [1, 2, 3, 4, 5])
def test_beam_search_with_width_at_least_n_factorial_ranks_all_permutations(N, impls):
    net = Contract(2, 4, 3, 10 + N)
    x = np.random.default_rng(N).normal(size=(2, N, 2))
    every = np.array(list(itertools.permutations(range(N))), dtype=np.int64)
    for width in [math.factorial(N), math.factorial(N) + 7]:
        perms, scores = ref("pointer_beam_search")(x, net.params, width)
        assert perms.shape == (2, math.factorial(N), N)
        for b in range(2):
            _, lls = net.run(np.repeat(x[b:b + 1], len(every), axis=0), every)
            order = np.argsort(-lls, kind="stable")
            np.testing.assert_array_equal(perms[b], every[order])
            np.testing.assert_allclose(scores[b], lls[order], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(np.exp(lls).sum(), 1.0, rtol=1e-12)   # a distribution over permutations
        for origin, ns in impls.items():
            got_perms, got_scores = ns["pointer_beam_search"](x, net.params, width)
            np.testing.assert_array_equal(got_perms, perms, err_msg=origin)
            np.testing.assert_allclose(got_scores, scores, rtol=1e-10, atol=1e-12, err_msg=origin)


@pytest.mark.parametrize("seed", [3, 4])
def test_beam_search_on_larger_n_matches_the_reference(seed, impls):
    net = Contract(2, 6, 5, seed)
    x = np.random.default_rng(seed).normal(size=(3, 8, 2))
    perms, scores = ref("pointer_beam_search")(x, net.params, 6)
    assert perms.shape == (3, 6, 8) and (np.diff(scores, axis=1) <= 0).all()
    for b in range(3):                                   # every kept hypothesis is a permutation, scored right
        assert (np.sort(perms[b], axis=1) == np.arange(8)).all()
        np.testing.assert_allclose(net.run(np.repeat(x[b:b + 1], 6, axis=0), perms[b])[1], scores[b], rtol=1e-12)
    greedy_perm, greedy_ll = net.run(x)
    assert (scores[:, 0] >= greedy_ll - 1e-12).all()
    one_perms, one_scores = ref("pointer_beam_search")(x, net.params, 1)
    np.testing.assert_array_equal(one_perms[:, 0], greedy_perm)
    np.testing.assert_allclose(one_scores[:, 0], greedy_ll, rtol=1e-12)
    for origin, ns in impls.items():
        got_perms, got_scores = ns["pointer_beam_search"](x, net.params, 6)
        np.testing.assert_array_equal(got_perms, perms, err_msg=origin)
        np.testing.assert_allclose(got_scores, scores, rtol=1e-10, err_msg=origin)


def test_the_mistake_network_without_mistakes_is_the_reference():
    case = {"B": 3, "N": 6, "D": 2, "H": 4, "A": 3, "seed": 5, "beam_width": 4}
    inputs = case_inputs("pointer_beam_search", case)
    for got, want in [(P._beam(**inputs), expected_output("pointer_beam_search", case)),
                      (P._greedy_np(inputs["x"], inputs["params"]), ref("pointer_greedy_decode")(inputs["x"], inputs["params"]))]:
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12)


def test_params_round_trip_through_the_torch_module():
    params = case_inputs("pointer_greedy_decode", {"B": 1, "N": 2, "D": 3, "H": 4, "A": 5, "seed": 1})["params"]
    back = P.params_from_net(P.pointer_net(params))
    for key in ["W_enc", "W_dec", "v", "start"]:
        np.testing.assert_array_equal(back[key], params[key])
    for part in ["enc", "dec"]:
        for key in params[part]:
            np.testing.assert_array_equal(back[part][key], params[part][key])


# ---------------------------------------------------------------- the declared cases are well posed
def _greedy_margins(inputs):
    """The smallest gap between the best and the second-best free log-probability over all steps."""
    net = P.pointer_net(inputs["params"])
    x = torch.as_tensor(inputs["x"])
    B, N, D = x.shape
    rows = torch.arange(B)
    with torch.no_grad():
        enc_out, s = net.encode(x)
        inp, chosen, gaps = net.start.expand(B, D), torch.zeros(B, N, dtype=torch.bool), [np.inf]
        for i in range(N - 1):
            s, logp = net.step(inp, s, enc_out, chosen)
            top = torch.topk(logp, 2, dim=-1).values
            gaps.append(float((top[:, 0] - top[:, 1]).min()))
            idx = logp.argmax(dim=-1)
            chosen = chosen.clone()
            chosen[rows, idx] = True
            inp = x[rows, idx]
    return min(gaps)


def _beam_margins(inputs):
    """The smallest gap at any beam cut (last kept against first dropped) and between final scores."""
    net = P.pointer_net(inputs["params"])
    x, width = torch.as_tensor(inputs["x"]), inputs["beam_width"]
    B, N, D = x.shape
    gaps = [np.inf]
    with torch.no_grad():
        enc_all, s_all = net.encode(x)
        for b in range(B):
            s, inp, chosen, score = s_all[b:b + 1], net.start[None], torch.zeros(1, N, dtype=torch.bool), x.new_zeros(1)
            for i in range(N):
                k = s.shape[0]
                s, logp = net.step(inp, s, enc_all[b:b + 1].expand(k, N, -1), chosen)
                cand = (score[:, None] + logp).reshape(-1)
                valid = k * (N - i)
                ordered = torch.sort(cand, descending=True, stable=True)
                keep = min(width, valid)
                if keep < valid:
                    gaps.append(float(ordered.values[keep - 1] - ordered.values[keep]))
                order = ordered.indices[:keep]
                parent, pos = order // N, order % N
                score, s = cand[order], s[parent]
                chosen = chosen[parent].clone()
                chosen[torch.arange(keep), pos] = True
                inp = x[b, pos]
            if len(score) > 1:
                gaps.append(float((score[:-1] - score[1:]).min()))
    return min(gaps)


def _declared(name):
    return [c for d in declarations(A)[name] for c in d.cases if "expect" not in c]


@pytest.mark.parametrize("name,margins", [("pointer_greedy_decode", _greedy_margins),
                                          ("pointer_beam_search", _beam_margins)])
def test_declared_cases_leave_clear_margins(name, margins):
    """float32 rounding moves a log-likelihood of size ~10 by ~1e-6; the choices (argmax, beam cuts, the
    order of the returned hypotheses) must not hinge on it, so every gap must exceed 5e-4."""
    for case in _declared(name):
        inputs = case_inputs(name, {**case, "dtype": "float64"})
        if case.get("ties"):
            perm, _ = ref(name)(**inputs)
            np.testing.assert_array_equal(perm, np.tile(np.arange(case["N"]), (case["B"], 1)))
            continue
        assert margins(inputs) > 5e-4, case


def test_ties_case_makes_every_score_exactly_equal():
    case = {"B": 2, "N": 5, "D": 3, "H": 4, "A": 2, "seed": 52, "ties": True}
    for dtype in ["float64", "float32"]:
        inputs = case_inputs("pointer_greedy_decode", {**case, "dtype": dtype})
        perm, ll = ref("pointer_greedy_decode")(**inputs)
        np.testing.assert_array_equal(perm, np.tile(np.arange(5), (2, 1)))
        np.testing.assert_allclose(ll, -np.log(math.factorial(5)) * np.ones(2), rtol=1e-12)
