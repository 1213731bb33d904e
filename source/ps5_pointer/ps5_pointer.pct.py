# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Problem set 5: pointer networks
#
# Some sequence problems have answers made only of pieces of the question. Sort a list of
# numbers: every output is one of the inputs. Find the convex hull of points in the plane: the
# answer is a subset of the points, in order. Plan a delivery route: the answer visits the given
# stops, each once. In all three, the natural way to write the answer is as a list of
# **positions in the input**: sorting `[0.42, 0.07, 0.91, 0.33]` means answering `[1, 3, 0, 2]`.
#
# The seq2seq decoders of Problem set 4 end in a softmax over a **fixed vocabulary**, a list of
# output tokens chosen before any input is seen. That is the wrong tool here. The "tokens" are the
# positions `0 .. N-1`, and their number `N` changes from one input to the next; a vocabulary of
# *values* is worse still, since there is no list of every real number. A **pointer network**
# (Vinyals, Fortunato and Jaitly, 2015) keeps the attention mechanism of Problem set 4 and drops
# everything after it: the attention weights over the `N` input positions are **the output
# distribution itself**. The output layer grows and shrinks with the input, and the network can
# answer with position 25 even if it was trained on lists of 10.
#
# You will build a pointer network in numpy, piece by piece, and check each piece against a
# PyTorch module holding the same weights:
#
# | part | what you write | points |
# |---|---|---|
# | 1 | `pointer_scores`, `pointer_log_probs`: pointing, and masking what was already chosen | 8 + 10 |
# | 2 | `pointer_decoder_step`, `pointer_log_likelihood`: the network, scored with teacher forcing | 10 + 14 |
# | 3 | `pointer_greedy_decode`, `pointer_beam_search`: finding a good permutation | 14 + 24 |
# | 4 | two written answers about the sorting demo (trained in PyTorch, decoded by your code) | 10 + 10 |
#
# **How this notebook works** (as in the earlier problem sets). Cells with
# `raise NotImplementedError()` are yours; write **numpy only**. The locked `check(...)` cells after
# each function compare it with PyTorch on a few cases and names the mistake when your output
# matches a common one. Batch first and row vectors throughout; functions never modify their
# inputs, return new arrays whose float dtype follows the inputs, and raise `ValueError` for
# invalid arguments.
#
# **What the checks cover, and how to check yourself.** Each function has several locked test
# cells (`test_<name>_core`, `test_<name>_edges`, ...), each worth a part of its points, so a slip
# in one behaviour costs that part only. The visible cases of those cells exercise every
# behaviour the function's docstring states: each option, `None` defaults, masks and lengths,
# `float32` inputs, the required `ValueError`s, edge shapes such as a batch of one, and large
# magnitudes wherever a softmax or a sum of exponentials has to stay stable. Grading adds hidden
# cases that are **other inputs of the same behaviours** (other shapes, seeds and dtypes), never a
# new kind of input, so they find nothing that the visible cases could not have shown you.
# To try a case of your own, build its inputs with `case_inputs` and call your function on them,
# or give `check` your own case:
#
# ```python
# from autograder import case_inputs
# case = {"B": 2, "N": 5, "seed": 7, "scale": 10000.0}
# inputs = case_inputs("pointer_log_probs", case)      # a dict: argument name -> value
# check(pointer_log_probs, "pointer_log_probs", cases=[case])
# ```
#
# **Run All** stops at the first cell that raises, so one failing check hides every result
# below it: run each test cell on its own, or press **Validate** (or run
# `nbgrader validate <notebook>.ipynb`), which runs them all and reports each one. Studying on
# your own, without a course server? `autograder grade <notebook>.ipynb` grades your notebook with
# the hidden cases, as the course's grader does, and prints the points per test cell.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math
import os
import time

import numpy as np
import matplotlib.pyplot as plt

from autograder import check

# Demonstrations (training runs, figures) are skipped while a grader runs the notebook.
GRADING = bool(os.environ.get("NBGRADER_EXECUTION"))
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ### Provided: the encoder and the decoder cell from Problem set 1
#
# The pointer network reuses two functions you wrote in Problem set 1. They are given here
# (locked, not graded) so that this notebook stands on its own; they compute exactly what
# `torch.nn.RNN` (tanh) and `torch.nn.GRUCell` compute.

# %% nbgrader={"grade": false, "grade_id": "provided_ps1", "locked": true, "schema_version": 3, "solution": false, "task": false}
def rnn_forward(x, h0, W_xh, W_hh, b_h, nonlinearity="tanh"):
    """Problem set 1's Elman RNN over a batch of sequences (provided).

    x (B, T, D), h0 (B, H) or None for zeros, W_xh (D, H), W_hh (H, H), b_h (H,)
    returns (h_all, h_last): (B, T, H) the state after every step, and (B, H) the last one
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    phi = np.tanh if nonlinearity == "tanh" else (lambda z: np.maximum(z, 0))
    B, T, _ = x.shape
    h = np.zeros((B, W_hh.shape[0]), dtype=x.dtype) if h0 is None else h0
    h_all = np.empty((B, T, W_hh.shape[0]), dtype=x.dtype)
    for t in range(T):
        h = phi(x[:, t] @ W_xh + h @ W_hh + b_h)
        h_all[:, t] = h
    return h_all, h.copy()


def gru_cell_forward(x_t, h_prev, W_x, W_h, b_x, b_h):
    """Problem set 1's GRU step with torch's block order r, z, n (provided).

    x_t (B, D), h_prev (B, H), W_x (D, 3H), W_h (H, 3H), b_x (3H,), b_h (3H,)
    returns h_t: (B, H) = (1 - z) * n + z * h_prev
    """
    gx_r, gx_z, gx_n = np.split(x_t @ W_x + b_x, 3, axis=1)
    gh_r, gh_z, gh_n = np.split(h_prev @ W_h + b_h, 3, axis=1)
    r = 1 / (1 + np.exp(-(gx_r + gh_r)))
    z = 1 / (1 + np.exp(-(gx_z + gh_z)))
    n = np.tanh(gx_n + r * gh_n)
    return (1 - z) * n + z * h_prev


# %% [markdown]
# ## Part 1. Attention as the output
#
# Recall additive attention from Problem set 4. A decoder state `s` (a *query*) is compared with
# every encoder state `enc_j` (the *keys*) by a small network,
#
# $$u_j = v^\top \tanh\left(enc_j W_{enc} + s W_{dec}\right), \qquad j = 0, \dots, N-1,$$
#
# the scores are turned into weights $\alpha = \mathrm{softmax}(u)$, and the weights mix the
# encoder states into a context $c = \sum_j \alpha_j\, enc_j$ that the decoder uses to produce a
# word from its vocabulary. A pointer network stops half-way: $\alpha$ **is** the prediction.
# $\alpha_j$ is the probability that the next output is the input at position `j`. There are
# exactly as many outputs to choose from as there are inputs, whatever `N` is, and the weights
# `W_enc`, `W_dec`, `v` do not depend on `N` at all.
#
# ### Exercise 1.1: pointer scores (8 points)
#
# Implement `pointer_scores(enc, dec_h, W_enc, W_dec, v)` returning the scores `u` of shape
# `(B, N)`, with `enc` `(B, N, H)` the encoder states, `dec_h` `(B, H)` the decoder state, `W_enc`
# and `W_dec` `(H, A)` and `v` `(A,)`. Vectorise over the batch and the positions: `enc @ W_enc`
# is `(B, N, A)`, and the decoder term `dec_h @ W_dec` is `(B, A)`; give it a length-1 axis so that
# it is added to every position of its own sequence.

# %% nbgrader={"grade": false, "grade_id": "pointer_scores", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pointer_scores(enc, dec_h, W_enc, W_dec, v):
    """Additive pointer scores u_j = tanh(enc_j W_enc + dec_h W_dec) . v.

    enc:   (B, N, H) encoder states
    dec_h: (B, H)    decoder state
    W_enc: (H, A), W_dec: (H, A), v: (A,)
    returns scores: (B, N), raw scores (no softmax)
    """
    ### BEGIN SOLUTION
    if enc.ndim != 3 or dec_h.ndim != 2 or enc.shape[0] != dec_h.shape[0]:
        raise ValueError(f"enc must be (B, N, H) and dec_h (B, H), got {enc.shape} and {dec_h.shape}")
    return np.tanh(enc @ W_enc + (dec_h @ W_dec)[:, None, :]) @ v
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_pointer_scores_core", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(pointer_scores, "pointer_scores", cases=[
    {"B": 4, "N": 4, "H": 5, "A": 3, "seed": 112},
])
### BEGIN HIDDEN TESTS
check(pointer_scores, "pointer_scores", cases=[
    {"B": 4, "N": 4, "H": 5, "A": 3, "seed": 12},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_pointer_scores_options", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check(pointer_scores, "pointer_scores", cases=[
    {"B": 3, "N": 7, "H": 4, "A": 6, "seed": 113, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(pointer_scores, "pointer_scores", cases=[
    {"B": 3, "N": 7, "H": 4, "A": 6, "seed": 13, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_pointer_scores_edges", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check(pointer_scores, "pointer_scores", cases=[
    {"B": 1, "N": 4, "H": 3, "A": 5, "seed": 1},
    {"B": 1, "N": 1, "H": 1, "A": 1, "seed": 111},
])
### BEGIN HIDDEN TESTS
check(pointer_scores, "pointer_scores", cases=[
    {"B": 1, "N": 1, "H": 1, "A": 1, "seed": 11},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Masking: every input is used once
#
# An output of a sorting network is a **permutation**: each position appears exactly once. The
# decoder keeps a boolean array `chosen` `(B, N)`, True where a position was already output, and
# gives those positions probability exactly zero *before* normalising:
#
# $$\log p_j = \begin{cases} u_j - \log \sum_{k \text{ free}} e^{u_k} & j \text{ free} \\ -\infty & j \text{ chosen} \end{cases}$$
#
# Setting a chosen score to $-\infty$ and then taking an ordinary log-softmax does exactly this,
# because $e^{-\infty} = 0$. The order matters: normalising first and masking afterwards leaves the
# free positions with the probabilities they had when the chosen ones still competed, and they no
# longer sum to 1 (the figure below shows the difference). With a correct mask the probabilities of
# all `N!` permutations add up to 1: the network defines a distribution over permutations.
#
# We work with log-probabilities because a sequence's probability is a product of `N` factors,
# which underflows quickly; its log is a sum. Compute the log-softmax stably:
# `z - m - log(sum(exp(z - m)))` with `m` the row's largest free score. (`np.log(softmax(z))`
# is not enough: a probability below about `1e-308` rounds to 0 and its log to `-inf`.)
#
# ### Exercise 1.2: masked log-probabilities (10 points)
#
# Implement `pointer_log_probs(scores, chosen)` returning `(B, N)`: the log-softmax of each row over
# its free positions, and exactly `-inf` at chosen positions. Every row has at least one free
# position. It must stay finite and accurate for scores as large as `1e3` in absolute value.

# %% nbgrader={"grade": false, "grade_id": "pointer_log_probs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pointer_log_probs(scores, chosen):
    """Log-softmax over the positions not chosen yet; chosen positions get -inf.

    scores: (B, N) float
    chosen: (B, N) bool, True = already output (every row has at least one False)
    returns log_probs: (B, N)
    """
    ### BEGIN SOLUTION
    if chosen.shape != scores.shape:
        raise ValueError(f"chosen {chosen.shape} must have the shape of scores {scores.shape}")
    masked = np.where(chosen, -np.inf, scores)
    m = masked.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = masked - m - np.log(np.exp(masked - m).sum(axis=-1, keepdims=True))
    return np.where(chosen, -np.inf, out)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_pointer_log_probs_core", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(pointer_log_probs, "pointer_log_probs", cases=[
    {"B": 3, "N": 5, "seed": 1},
    {"B": 2, "N": 4, "seed": 122, "chosen": "none"},
    {"B": 5, "N": 3, "seed": 125, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(pointer_log_probs, "pointer_log_probs", cases=[
    {"B": 2, "N": 4, "seed": 22, "chosen": "none"},
    {"B": 5, "N": 3, "seed": 25, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_pointer_log_probs_edges", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(pointer_log_probs, "pointer_log_probs", cases=[
    {"B": 3, "N": 5, "seed": 136, "scale": 10000.0},
    {"B": 1, "N": 1, "seed": 121},
    {"B": 4, "N": 6, "seed": 123, "scale": 1000.0},
    {"B": 3, "N": 8, "seed": 124, "scale": 1000.0, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(pointer_log_probs, "pointer_log_probs", cases=[
    {"B": 2, "N": 6, "seed": 36, "scale": 10000.0},
    {"B": 1, "N": 1, "seed": 21},
    {"B": 4, "N": 6, "seed": 23, "scale": 1000.0},
    {"B": 3, "N": 8, "seed": 24, "scale": 1000.0, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% [markdown]
# **Masking before or after the softmax.** Six positions, two of them (2 and 5) already chosen.
# Left: the plain softmax. Middle: softmax, then the chosen ones zeroed; what is left sums to less
# than 1. Right: your function, masking first; the four free positions share all the probability,
# in the same ratios as in the middle panel.

# %% tags=["demo"]
if not GRADING:
    u = np.array([[1.2, 0.3, 2.0, -0.5, 0.8, 1.5]])
    taken = np.array([[False, False, True, False, False, True]])
    plain = np.exp(u - u.max()) / np.exp(u - u.max()).sum()
    after = np.where(taken, 0.0, plain)
    before = np.exp(pointer_log_probs(u, taken))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3), sharey=True)
    for ax, p, title in zip(axes, [plain, after, before],
                            ["softmax, no mask", "mask after the softmax", "mask before (pointer_log_probs)"]):
        ax.bar(range(6), p[0], color=["tab:gray" if c else "tab:blue" for c in taken[0]])
        ax.set_title(f"{title}\nsum = {p.sum():.3f}")
        ax.set_xlabel("input position")
    axes[0].set_ylabel("probability")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Part 2. The network
#
# The whole pointer network, for inputs `x` of shape `(B, N, D)` and an output permutation
# `perm` `(B, N)`:
#
# ```
#  encoder (tanh RNN)      x[:,0] -> x[:,1] -> ... -> x[:,N-1]
#                            |         |               |
#                          enc_0     enc_1   ...    enc_{N-1}     h = last state
#
#  decoder (GRU)   s = h
#  step 0:  s = GRU(start, s)                    -> log p(perm[:,0])   over the N positions
#  step 1:  s = GRU(x[b, perm[b,0]], s)          -> log p(perm[:,1])   chosen: perm[:,0] masked
#  step i:  s = GRU(x[b, perm[b,i-1]], s)        -> log p(perm[:,i])   chosen: perm[:,:i] masked
# ```
#
# In symbols, with `params` holding every weight:
#
# * `enc_out, h = rnn_forward(x, None, **params["enc"])` (tanh), and the decoder state starts at
#   `s = h`: the decoder begins with a summary of the whole input.
# * At step 0 the decoder reads `params["start"]`, a learned vector of shape `(D,)` (the same for
#   every sequence); at step `i > 0` it reads **the input it pointed at in the previous step**,
#   `x[b, perm[b, i-1]]`. This is how it knows what it has output so far: it is fed a value, not an
#   index, so that it can compare ("the next number must be larger than this one").
# * Each step runs `s = gru_cell_forward(input, s, **params["dec"])`, then
#   `pointer_scores(enc_out, s, params["W_enc"], params["W_dec"], params["v"])`, then
#   `pointer_log_probs` with the positions chosen in the earlier steps.
#
# | key of `params` | shape | PyTorch module |
# |---|---|---|
# | `"enc"`: `{"W_xh", "W_hh", "b_h"}` | `(D, H)`, `(H, H)`, `(H,)` | `nn.RNN(D, H, batch_first=True)` |
# | `"dec"`: `{"W_x", "W_h", "b_x", "b_h"}` | `(D, 3H)`, `(H, 3H)`, `(3H,)`, `(3H,)` | `nn.GRUCell(D, H)` |
# | `"W_enc"`, `"W_dec"` | `(H, A)` each | `nn.Linear(H, A, bias=False)`, transposed |
# | `"v"` | `(A,)` | `nn.Linear(A, 1, bias=False)` |
# | `"start"` | `(D,)` | an `nn.Parameter` |
#
# ### Exercise 2.1: one decoder step (10 points)
#
# Implement `pointer_decoder_step(inp, s_prev, enc_out, chosen, params)` returning `(s, log_probs)`:
# the new decoder state `(B, H)` after reading `inp` `(B, D)`, and the masked log-probabilities
# `(B, N)` of pointing at each position. Use the GRU first, then point with the **new** state.

# %% nbgrader={"grade": false, "grade_id": "pointer_decoder_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pointer_decoder_step(inp, s_prev, enc_out, chosen, params):
    """One step of the pointer network's decoder.

    inp:     (B, D) what the decoder reads (the start vector, or the input chosen last)
    s_prev:  (B, H) decoder state before this step
    enc_out: (B, N, H) encoder states
    chosen:  (B, N) bool, positions output in earlier steps
    params:  dict with "dec" (gru_cell_forward's W_x, W_h, b_x, b_h), "W_enc", "W_dec", "v"
    returns (s, log_probs): (B, H) the new state, (B, N) masked log-probabilities
    """
    ### BEGIN SOLUTION
    s = gru_cell_forward(inp, s_prev, **params["dec"])
    scores = pointer_scores(enc_out, s, params["W_enc"], params["W_dec"], params["v"])
    return s, pointer_log_probs(scores, chosen)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_pointer_decoder_step_core", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(pointer_decoder_step, "pointer_decoder_step", cases=[
    {"B": 4, "N": 5, "D": 3, "H": 3, "A": 3, "seed": 132},
])
### BEGIN HIDDEN TESTS
check(pointer_decoder_step, "pointer_decoder_step", cases=[
    {"B": 4, "N": 5, "D": 3, "H": 3, "A": 3, "seed": 32},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_pointer_decoder_step_options", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check(pointer_decoder_step, "pointer_decoder_step", cases=[
    {"B": 2, "N": 4, "D": 3, "H": 5, "A": 4, "seed": 1, "chosen": "none"},
    {"B": 3, "N": 6, "D": 2, "H": 4, "A": 5, "seed": 133, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(pointer_decoder_step, "pointer_decoder_step", cases=[
    {"B": 3, "N": 6, "D": 2, "H": 4, "A": 5, "seed": 33, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_pointer_decoder_step_edges", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check(pointer_decoder_step, "pointer_decoder_step", cases=[
    {"B": 3, "N": 5, "D": 2, "H": 4, "A": 3, "score_scale": 10000.0, "seed": 301},
    {"B": 1, "N": 1, "D": 1, "H": 2, "A": 1, "seed": 131},
])
### BEGIN HIDDEN TESTS
check(pointer_decoder_step, "pointer_decoder_step", cases=[
    {"B": 2, "N": 4, "D": 3, "H": 3, "A": 4, "score_scale": 10000.0, "seed": 201},
    {"B": 1, "N": 1, "D": 1, "H": 2, "A": 1, "seed": 31},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Teacher forcing: the probability of a given answer
#
# By the chain rule, the probability of a whole permutation is the product of the step
# probabilities, each conditioned on the steps before it:
#
# $$\log p(\pi \mid x) = \sum_{i=0}^{N-1} \log p\left(\pi_i \mid \pi_0, \dots, \pi_{i-1}, x\right).$$
#
# To score a **given** permutation (the right answer during training, or a candidate during
# decoding) we run the decoder on it: at step `i` it reads the input at `perm[:, i-1]`, whatever it
# would have chosen itself. This is **teacher forcing**. Training maximises this log-likelihood of
# the correct permutations; Part 4 does exactly that in PyTorch.
#
# ### Exercise 2.2: log-likelihood of a permutation (14 points)
#
# Implement `pointer_log_likelihood(x, perm, params)` returning `(B,)`: for each sequence the sum of
# the `N` log-probabilities of `perm[b, 0], perm[b, 1], ...`, every step included. `perm` is an
# integer array `(B, N)` whose rows must be permutations of `0 .. N-1`; raise `ValueError`
# otherwise. Reuse `pointer_decoder_step`; `x[np.arange(B), idx]` picks one input row per sequence.

# %% nbgrader={"grade": false, "grade_id": "pointer_log_likelihood", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pointer_log_likelihood(x, perm, params):
    """Teacher-forced log p(perm | x) of the pointer network.

    x:      (B, N, D) inputs
    perm:   (B, N) int, each row a permutation of 0..N-1 (perm[b, i] = position output at step i)
    params: dict "enc", "dec", "W_enc", "W_dec", "v", "start" (see the table above)
    returns log_likelihood: (B,)
    """
    ### BEGIN SOLUTION
    B, N, D = x.shape
    perm = np.asarray(perm)
    if perm.shape != (B, N) or not (np.sort(perm, axis=1) == np.arange(N)).all():
        raise ValueError(f"every row of perm must be a permutation of 0..{N - 1}")
    rows = np.arange(B)
    enc_out, s = rnn_forward(x, None, **params["enc"])
    inp = np.broadcast_to(params["start"], (B, D))
    chosen = np.zeros((B, N), dtype=bool)
    total = np.zeros(B, dtype=x.dtype)
    for i in range(N):
        s, log_probs = pointer_decoder_step(inp, s, enc_out, chosen, params)
        idx = perm[:, i]
        total = total + log_probs[rows, idx]
        chosen[rows, idx] = True
        inp = x[rows, idx]
    return total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_pointer_log_likelihood_core", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(pointer_log_likelihood, "pointer_log_likelihood", cases=[
    {"B": 3, "N": 6, "D": 4, "H": 4, "A": 5, "seed": 142},
])
### BEGIN HIDDEN TESTS
check(pointer_log_likelihood, "pointer_log_likelihood", cases=[
    {"B": 3, "N": 6, "D": 4, "H": 4, "A": 5, "seed": 42},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_pointer_log_likelihood_options", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(pointer_log_likelihood, "pointer_log_likelihood", cases=[
    {"B": 2, "N": 5, "D": 2, "H": 4, "A": 3, "seed": 1, "perm": "reverse"},
    {"B": 4, "N": 7, "D": 2, "H": 6, "A": 4, "seed": 143, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(pointer_log_likelihood, "pointer_log_likelihood", cases=[
    {"B": 4, "N": 7, "D": 2, "H": 6, "A": 4, "seed": 43, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_pointer_log_likelihood_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(pointer_log_likelihood, "pointer_log_likelihood", cases=[
    {"B": 3, "N": 5, "D": 2, "H": 4, "A": 3, "score_scale": 10000.0, "seed": 301},
    {"B": 1, "N": 1, "D": 1, "H": 1, "A": 1, "seed": 141},
    {"B": 2, "N": 4, "D": 3, "H": 5, "A": 3, "seed": 144, "perm": "repeat", "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(pointer_log_likelihood, "pointer_log_likelihood", cases=[
    {"B": 2, "N": 4, "D": 3, "H": 3, "A": 4, "score_scale": 10000.0, "seed": 201},
    {"B": 1, "N": 1, "D": 1, "H": 1, "A": 1, "seed": 41},
    {"B": 2, "N": 4, "D": 3, "H": 5, "A": 3, "seed": 44, "perm": "repeat", "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# **A distribution over permutations.** With the mask in place, the probabilities of all `N!`
# orders of the same input add up to 1. The cell below checks it for a random (untrained)
# network and `N = 4` by scoring all 24 permutations with your function, and lists the most
# probable ones.

# %% tags=["demo"]
if not GRADING:
    import itertools

    def random_params(D, H, A, rng, sharpness=3.0):
        """Random weights in the layout of the table above (an untrained network)."""
        w = lambda *shape: rng.uniform(-1, 1, size=shape) / np.sqrt(H)
        return {"enc": {"W_xh": w(D, H), "W_hh": w(H, H), "b_h": w(H)},
                "dec": {"W_x": w(D, 3 * H), "W_h": w(H, 3 * H), "b_x": w(3 * H), "b_h": w(3 * H)},
                "W_enc": rng.normal(size=(H, A)) * 1.5 / np.sqrt(H), "W_dec": rng.normal(size=(H, A)) * 1.5 / np.sqrt(H),
                "v": rng.normal(size=A) * sharpness / np.sqrt(A), "start": rng.normal(size=D)}

    rng = np.random.default_rng(0)
    demo_params = random_params(2, 8, 8, rng, sharpness=5.0)
    x4 = rng.normal(size=(1, 4, 2))
    all_perms = np.array(list(itertools.permutations(range(4))))
    lls = pointer_log_likelihood(np.repeat(x4, len(all_perms), axis=0), all_perms, demo_params)
    print(f"sum over all {len(all_perms)} permutations of p(perm | x) = {np.exp(lls).sum():.12f}")
    for k in np.argsort(-lls)[:5]:
        print(f"  perm {all_perms[k]}  p = {np.exp(lls[k]):.4f}")

# %% [markdown]
# ## Part 3. Decoding: which permutation?
#
# At test time there is no teacher. We want the permutation with the highest probability, but
# there are `N!` of them (3.6 million for `N = 10`), too many to score one by one.
#
# **Greedy decoding** takes the most probable free position at every step and feeds it back:
# `N` steps, one decoder state per sequence. It is fast but short-sighted: the best first step
# can lead into a continuation where every choice is unlikely.
#
# ### Exercise 3.1: greedy decoding (14 points)
#
# Implement `pointer_greedy_decode(x, params)` returning `(perm, log_likelihood)`: `perm` `(B, N)`
# `int64`, at each step the most probable position not chosen yet (when several are equally
# probable, the **lowest** index), and `log_likelihood` `(B,)`, the sum of the log-probabilities of
# the choices made, so that it equals `pointer_log_likelihood(x, perm, params)`.

# %% nbgrader={"grade": false, "grade_id": "pointer_greedy_decode", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pointer_greedy_decode(x, params):
    """Greedy decoding of the pointer network.

    x:      (B, N, D) inputs
    params: dict "enc", "dec", "W_enc", "W_dec", "v", "start"
    returns (perm, log_likelihood): (B, N) int64 positions in output order, (B,) their log-probability
    """
    ### BEGIN SOLUTION
    B, N, D = x.shape
    rows = np.arange(B)
    enc_out, s = rnn_forward(x, None, **params["enc"])
    inp = np.broadcast_to(params["start"], (B, D))
    chosen = np.zeros((B, N), dtype=bool)
    perm = np.zeros((B, N), dtype=np.int64)
    total = np.zeros(B, dtype=x.dtype)
    for i in range(N):
        s, log_probs = pointer_decoder_step(inp, s, enc_out, chosen, params)
        idx = np.argmax(log_probs, axis=1)          # the first of equal maxima: the lowest index
        perm[:, i] = idx
        total = total + log_probs[rows, idx]
        chosen[rows, idx] = True
        inp = x[rows, idx]
    return perm, total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_pointer_greedy_decode_core", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(pointer_greedy_decode, "pointer_greedy_decode", cases=[
    {"B": 3, "N": 5, "D": 2, "H": 4, "A": 3, "seed": 1},
    {"B": 3, "N": 6, "D": 4, "H": 4, "A": 5, "seed": 153},
])
### BEGIN HIDDEN TESTS
check(pointer_greedy_decode, "pointer_greedy_decode", cases=[
    {"B": 3, "N": 6, "D": 4, "H": 4, "A": 5, "seed": 53},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_pointer_greedy_decode_options", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check(pointer_greedy_decode, "pointer_greedy_decode", cases=[
    {"B": 4, "N": 9, "D": 2, "H": 6, "A": 4, "seed": 154, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(pointer_greedy_decode, "pointer_greedy_decode", cases=[
    {"B": 4, "N": 9, "D": 2, "H": 6, "A": 4, "seed": 54, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_pointer_greedy_decode_edges", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check(pointer_greedy_decode, "pointer_greedy_decode", cases=[
    {"B": 3, "N": 5, "D": 2, "H": 4, "A": 3, "score_scale": 10000.0, "seed": 301},
    {"B": 1, "N": 1, "D": 1, "H": 1, "A": 1, "seed": 151},
    {"B": 2, "N": 5, "D": 3, "H": 4, "A": 2, "seed": 152, "ties": True},
])
### BEGIN HIDDEN TESTS
check(pointer_greedy_decode, "pointer_greedy_decode", cases=[
    {"B": 2, "N": 4, "D": 3, "H": 3, "A": 4, "score_scale": 10000.0, "seed": 201},
    {"B": 1, "N": 1, "D": 1, "H": 1, "A": 1, "seed": 51},
    {"B": 2, "N": 5, "D": 3, "H": 4, "A": 2, "seed": 52, "ties": True},
])
### END HIDDEN TESTS


# %% [markdown]
# **Your own functions together (5 of this exercise's points).** The checks above judge
# `pointer_greedy_decode` on its own work: while they run, the functions it calls
# (`pointer_decoder_step`, `pointer_scores` and `pointer_log_probs`) are the course's reference
# versions, so a slip in one of those costs points only once, in its own checks. This last check
# runs `pointer_greedy_decode` with *your* versions of them, end to end.

# %% nbgrader={"grade": true, "grade_id": "test_pointer_greedy_decode_integration", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(pointer_greedy_decode, "pointer_greedy_decode", cases=[
    {"B": 3, "N": 6, "D": 4, "H": 4, "A": 5, "seed": 155},
], integration=True)
### BEGIN HIDDEN TESTS
check(pointer_greedy_decode, "pointer_greedy_decode", cases=[
    {"B": 3, "N": 6, "D": 4, "H": 4, "A": 5, "seed": 55},
], integration=True)
### END HIDDEN TESTS


# %% [markdown]
# **Beam search** keeps the `beam_width` best *partial* permutations (hypotheses) instead of one.
# At every step each hypothesis is extended by each position it has not used, each extension is
# scored by its **summed log-probability** so far, and the best `beam_width` extensions of the
# whole pool survive (a good hypothesis may keep several children, a poor one none). A toy case
# where that pays off, with `N = 3`:
#
# ```
# step 0:  p(A) = 0.50, p(B) = 0.45, p(C) = 0.05
# step 1:  after A: p(B) = 0.55, p(C) = 0.45          after B: p(A) = 0.95, p(C) = 0.05
# (step 2 has one free position left: probability 1)
#
# greedy:           A, B, C   p = 0.50 * 0.55 = 0.275
# beam, width 2:    keeps {A, B}; extends to AB 0.275, AC 0.225, BA 0.4275, BC 0.0225
#                   keeps {BA, AB}; best: B, A, C   p = 0.4275
# ```
#
# With `beam_width = 1` beam search is greedy decoding. With `beam_width >= N!` nothing is ever
# dropped (after `i` choices there are `N! / (N - i)!` partial permutations, never more than
# `N!`), so it returns **all** permutations ranked by probability: the exact answer, at a cost that
# grows like `N!`. In between, the cost is about `beam_width` times that of greedy decoding.
#
# ### Exercise 3.2: beam search (24 points)
#
# Implement `pointer_beam_search(x, params, beam_width)` returning `(perms, scores)`: `perms`
# `(B, K, N)` `int64` and `scores` `(B, K)`, the log-likelihoods of those permutations, best first,
# with `K = min(beam_width, N!)` (`math.factorial`). Raise `ValueError` when `beam_width < 1`.
#
# Hints: loop over the sequences of the batch; keep, for one sequence, arrays with one row per
# hypothesis (decoder states `(k, H)`, `chosen` `(k, N)`, scores `(k,)`, the positions so far
# `(k, i)`); score all `k * N` extensions at once as `scores[:, None] + log_probs`, flatten, and
# keep the best with `np.argsort(-candidates, kind="stable")` (chosen positions are `-inf`, so they
# sort last: there are `k * (N - i)` real candidates). `flat // N` is the parent, `flat % N` the
# new position.

# %% nbgrader={"grade": false, "grade_id": "pointer_beam_search", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pointer_beam_search(x, params, beam_width):
    """Beam search over permutations with the pointer network.

    x:          (B, N, D) inputs
    params:     dict "enc", "dec", "W_enc", "W_dec", "v", "start"
    beam_width: int >= 1, the number of hypotheses kept after every step
    returns (perms, scores): (B, K, N) int64 and (B, K) log-likelihoods, best first, K = min(beam_width, N!)
    """
    ### BEGIN SOLUTION
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    B, N, D = x.shape
    K = min(beam_width, math.factorial(N))
    enc_all, h_all = rnn_forward(x, None, **params["enc"])
    perms = np.zeros((B, K, N), dtype=np.int64)
    scores = np.zeros((B, K), dtype=x.dtype)
    for b in range(B):
        enc = enc_all[b:b + 1]
        s, inp = h_all[b:b + 1], params["start"][None]
        chosen = np.zeros((1, N), dtype=bool)
        score = np.zeros(1, dtype=x.dtype)
        seqs = np.zeros((1, 0), dtype=np.int64)
        for i in range(N):
            k = len(score)
            s, log_probs = pointer_decoder_step(inp, s, np.repeat(enc, k, axis=0), chosen, params)
            candidates = (score[:, None] + log_probs).ravel()
            keep = min(beam_width, k * (N - i))
            best = np.argsort(-candidates, kind="stable")[:keep]
            parent, pos = best // N, best % N
            score, s = candidates[best], s[parent]
            seqs = np.concatenate([seqs[parent], pos[:, None]], axis=1)
            chosen = chosen[parent]
            chosen[np.arange(keep), pos] = True
            inp = x[b, pos]
        perms[b], scores[b] = seqs, score
    return perms, scores
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_pointer_beam_search_core", "locked": true, "points": 12, "schema_version": 3, "solution": false, "task": false}
check(pointer_beam_search, "pointer_beam_search", cases=[
    {"B": 2, "N": 4, "D": 2, "H": 4, "A": 3, "seed": 1, "beam_width": 3},
    {"B": 2, "N": 3, "D": 2, "H": 3, "A": 2, "seed": 162, "beam_width": 6},
    {"B": 2, "N": 4, "D": 3, "H": 4, "A": 3, "seed": 163, "beam_width": 30},
    {"B": 3, "N": 6, "D": 2, "H": 4, "A": 4, "seed": 165, "beam_width": 1},
    {"B": 3, "N": 7, "D": 3, "H": 5, "A": 4, "seed": 366, "beam_width": 5},
])
### BEGIN HIDDEN TESTS
check(pointer_beam_search, "pointer_beam_search", cases=[
    {"B": 2, "N": 3, "D": 2, "H": 3, "A": 2, "seed": 62, "beam_width": 6},
    {"B": 2, "N": 4, "D": 3, "H": 4, "A": 3, "seed": 63, "beam_width": 30},
    {"B": 3, "N": 6, "D": 2, "H": 4, "A": 4, "seed": 65, "beam_width": 1},
    {"B": 3, "N": 7, "D": 3, "H": 5, "A": 4, "seed": 66, "beam_width": 5},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_pointer_beam_search_options", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(pointer_beam_search, "pointer_beam_search", cases=[
    {"B": 2, "N": 6, "D": 2, "H": 6, "A": 3, "seed": 167, "beam_width": 4, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(pointer_beam_search, "pointer_beam_search", cases=[
    {"B": 2, "N": 6, "D": 2, "H": 6, "A": 3, "seed": 67, "beam_width": 4, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_pointer_beam_search_edges", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(pointer_beam_search, "pointer_beam_search", cases=[
    {"B": 2, "N": 4, "D": 2, "H": 4, "A": 3, "beam_width": 3, "score_scale": 10000.0, "seed": 301},
    {"B": 1, "N": 1, "D": 1, "H": 2, "A": 1, "seed": 161, "beam_width": 3},
    {"B": 1, "N": 5, "D": 2, "H": 5, "A": 4, "seed": 624, "beam_width": 120},
    {"B": 2, "N": 3, "D": 2, "H": 3, "A": 2, "seed": 168, "beam_width": 0, "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(pointer_beam_search, "pointer_beam_search", cases=[
    {"B": 2, "N": 4, "D": 3, "H": 3, "A": 4, "beam_width": 3, "score_scale": 10000.0, "seed": 201},
    {"B": 1, "N": 1, "D": 1, "H": 2, "A": 1, "seed": 61, "beam_width": 3},
    {"B": 1, "N": 5, "D": 2, "H": 5, "A": 4, "seed": 124, "beam_width": 120},
    {"B": 2, "N": 3, "D": 2, "H": 3, "A": 2, "seed": 68, "beam_width": 0, "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# **How often is greedy decoding optimal?** For 200 random inputs of length 6 and a random
# (untrained) network, the cell below finds the best permutation exactly (`beam_width = 720 = 6!`)
# and counts how often greedy decoding and narrower beams reach it. An untrained network is
# unsure of itself, which is where greedy decoding fails most; a trained one (Part 4) is much
# more confident.

# %% tags=["demo"]
if not GRADING:
    rng = np.random.default_rng(1)
    demo_params = random_params(2, 8, 8, rng, sharpness=2.0)
    xs = rng.normal(size=(200, 6, 2))
    _, exact = pointer_beam_search(xs, demo_params, 720)
    widths = [1, 2, 3, 5, 10, 20]
    found, gaps = [], []
    for w in widths:
        _, sc = pointer_beam_search(xs, demo_params, w)
        found.append(np.mean(np.isclose(sc[:, 0], exact[:, 0])))
        gaps.append(np.mean(exact[:, 0] - sc[:, 0]))
    _, greedy_ll = pointer_greedy_decode(xs, demo_params)
    print(f"greedy finds the most probable permutation for {np.mean(np.isclose(greedy_ll, exact[:, 0])):.0%} of inputs")
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(widths, found, "o-")
    ax.set_xscale("log")
    ax.set_xlabel("beam width (1 = greedy)")
    ax.set_ylabel("fraction finding the best")
    ax.set_title("beam search against the exact best of 720")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Part 4. Learning to sort
#
# Now a trained network. The cells below train the network of Part 2 **in PyTorch** to sort lists
# of numbers drawn uniformly from `[0, 1)` (`D = 1`), of lengths 5 to 10, by maximising the
# teacher-forced log-likelihood of the sorting permutation (`argsort`), about 800 Adam steps. Then
# they copy the trained weights into the numpy `params` layout and decode with **your**
# `pointer_greedy_decode` and `pointer_beam_search`.
#
# For comparison we train a **fixed-vocabulary decoder** on the same data, the most charitable
# one we can build: the same encoder, the same GRU decoder fed the same inputs, the same masking,
# even the same attention; but, as in Problem set 4, the attention only builds a context vector
# `c`, and the output comes from a linear layer on `[s, c]` over a fixed dictionary of 10 slots,
# "output position 0", ..., "output position 9". The only difference between the two models is
# the pointer network's idea: use the attention weights as the output instead of as a mixing recipe.
#
# We report **whole-sequence accuracy** (the entire list sorted correctly) next to per-position
# accuracy; a list of 20 is only right if all 20 choices are.

# %% tags=["demo"]
if not GRADING:
    import torch
    from torch import nn

    class SortNet(nn.Module):
        """The network of Part 2 in torch. slots=None: a pointer network. slots=M: the fixed-vocabulary
        decoder, whose attention makes a context and whose output is a linear layer over M slots."""

        def __init__(self, D, H, A, slots=None):
            super().__init__()
            self.encoder, self.decoder = nn.RNN(D, H, batch_first=True), nn.GRUCell(D, H)
            self.W_enc, self.W_dec = nn.Linear(H, A, bias=False), nn.Linear(H, A, bias=False)
            self.v, self.start, self.slots = nn.Linear(A, 1, bias=False), nn.Parameter(torch.zeros(D)), slots
            self.out = nn.Linear(2 * H, slots) if slots else None

        def run(self, x, perm=None):
            """Teacher-forced when perm is given, else greedy; returns (perm, log-likelihood)."""
            B, N, D = x.shape
            width = self.slots or N
            if N > width:
                raise ValueError(f"a vocabulary of {width} slots has no word for position {N - 1}")
            rows = torch.arange(B)
            enc_out, h = self.encoder(x)
            s, inp = h[0], self.start.expand(B, D)
            chosen = torch.zeros(B, width, dtype=torch.bool)
            chosen[:, N:] = True                       # slots beyond this list do not exist
            total, out = x.new_zeros(B), []
            for i in range(N):
                s = self.decoder(inp, s)
                u = self.v(torch.tanh(self.W_enc(enc_out) + self.W_dec(s)[:, None]))[..., 0]
                if self.slots:                         # attention -> context -> fixed vocabulary
                    c = (torch.softmax(u, dim=-1)[..., None] * enc_out).sum(dim=1)
                    u = self.out(torch.cat([s, c], dim=-1))
                logp = torch.log_softmax(u.masked_fill(chosen, float("-inf")), dim=-1)
                idx = perm[:, i] if perm is not None else logp.argmax(dim=-1)
                total, chosen = total + logp[rows, idx], chosen.clone()
                chosen[rows, idx] = True
                out.append(idx)
                inp = x[rows, idx]
            return torch.stack(out, dim=1), total

    def train_sorter(model, steps=800, lr=1e-2, batch=128, lengths=(5, 10), seed=0):
        gen = torch.Generator().manual_seed(seed)      # the same lists for both models
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
        losses = []
        for step in range(steps):
            N = int(torch.randint(lengths[0], lengths[1] + 1, (1,), generator=gen))
            x = torch.rand(batch, N, 1, generator=gen)
            _, ll = model.run(x, x[..., 0].argsort(dim=1))
            loss = -ll.mean() / N                      # mean log-loss per step
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        return losses

    torch.set_num_threads(1)                           # small matrices: threads only add overhead
    t0 = time.time()
    torch.manual_seed(0)                               # the initial weights
    pointer_net = SortNet(1, 32, 32)
    pointer_losses = train_sorter(pointer_net)
    pointer_seconds = time.time() - t0
    print(f"pointer network: {pointer_seconds:.1f} s, final loss per step {np.mean(pointer_losses[-50:]):.4f}")

# %% tags=["demo"]
if not GRADING:
    t0 = time.time()
    torch.manual_seed(0)
    fixed_net = SortNet(1, 32, 32, slots=10)
    fixed_losses = train_sorter(fixed_net)
    fixed_seconds = time.time() - t0
    print(f"fixed-vocabulary decoder: {fixed_seconds:.1f} s, final loss per step {np.mean(fixed_losses[-50:]):.4f}")
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.semilogy(np.convolve(pointer_losses, np.ones(20) / 20, "valid"), label="pointer network")
    ax.semilogy(np.convolve(fixed_losses, np.ones(20) / 20, "valid"), label="fixed vocabulary (10 slots)")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("log-loss per step")
    ax.legend()
    plt.tight_layout()
    plt.show()

# %% [markdown]
# **Your decoder, the trained weights.** `to_numpy_params` copies the PyTorch parameters into the
# `params` layout of Part 2 (transposes, and the two RNN biases added). Your greedy decoder and
# PyTorch's should then choose the same permutations. The table evaluates 1000 new lists for each
# length (beam search: the first 200 of them); the network never saw a list longer than 10.

# %% tags=["demo"]
if not GRADING:
    def to_numpy_params(model):
        sd = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
        return {"enc": {"W_xh": sd["encoder.weight_ih_l0"].T, "W_hh": sd["encoder.weight_hh_l0"].T,
                        "b_h": sd["encoder.bias_ih_l0"] + sd["encoder.bias_hh_l0"]},
                "dec": {"W_x": sd["decoder.weight_ih"].T, "W_h": sd["decoder.weight_hh"].T,
                        "b_x": sd["decoder.bias_ih"], "b_h": sd["decoder.bias_hh"]},
                "W_enc": sd["W_enc.weight"].T, "W_dec": sd["W_dec.weight"].T, "v": sd["v.weight"][0],
                "start": sd["start"]}

    def accuracy(perm, x):
        right = perm == np.argsort(x[..., 0], axis=1)
        return right.all(axis=1).mean(), right.mean()

    sort_params = to_numpy_params(pointer_net)
    rng = np.random.default_rng(2024)
    t0 = time.time()
    lengths = [5, 10, 15, 20, 30]
    results = {}
    print(" N | pointer greedy (whole / per position) | pointer beam 3 (whole) | fixed vocabulary (whole / per position)")
    for N in lengths:
        x_test = rng.random((1000, N, 1))
        perm_np, _ = pointer_greedy_decode(x_test, sort_params)
        with torch.no_grad():
            perm_torch, _ = pointer_net.double().run(torch.from_numpy(x_test))
            pointer_net.float()
        agree = (perm_np == perm_torch.numpy()).all(axis=1).mean()
        beam_perms, _ = pointer_beam_search(x_test[:200], sort_params, 3)
        beam_whole = accuracy(beam_perms[:, 0], x_test[:200])[0]
        greedy_200 = accuracy(perm_np[:200], x_test[:200])[0]
        if N <= 10:
            with torch.no_grad():
                perm_fixed, _ = fixed_net.run(torch.from_numpy(x_test).float())
            fixed = accuracy(perm_fixed.numpy(), x_test)
        else:
            fixed = (float("nan"), float("nan"))       # 10 slots cannot name position 10 or later
        results[N] = (accuracy(perm_np, x_test), greedy_200, beam_whole, fixed)
        g = results[N][0]
        print(f"{N:2d} | {g[0]:6.1%} / {g[1]:6.1%}  (numpy = torch on {agree:.0%})"
              f" | {beam_whole:6.1%} (greedy on the same 200: {greedy_200:6.1%})"
              f" | {'cannot answer' if N > 10 else f'{fixed[0]:6.1%} / {fixed[1]:6.1%}'}")
    print(f"evaluation with your numpy decoders: {time.time() - t0:.1f} s")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(lengths, [results[N][0][0] for N in lengths], "o-", label="pointer, greedy (your decoder)")
    ax.plot(lengths, [results[N][2] for N in lengths], "s--", label="pointer, beam 3 (your decoder)")
    ax.plot(lengths, [results[N][3][0] for N in lengths], "x-", label="fixed vocabulary (10 slots)")
    ax.axvspan(5, 10, color="tab:green", alpha=0.1, label="lengths seen in training")
    ax.set_xlabel("list length N")
    ax.set_ylabel("whole-sequence accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    plt.tight_layout()
    plt.show()

# %% [markdown]
# **Where the pointer points.** For one list of 12 numbers (longer than any in training), the rows
# below are the decoder steps and the columns the input positions, labelled with their values;
# each row is `exp(log_probs)` from your `pointer_decoder_step`. A perfect sorter draws one
# bright cell per row, the smallest remaining number, and the rows never repeat a column. Where
# two numbers are nearly equal the pointer hesitates between them: on long lists, where numbers
# crowd together, that is where whole-sequence accuracy is lost.

# %% tags=["demo"]
if not GRADING:
    x_one = np.random.default_rng(7).random((1, 12, 1))
    perm_one, _ = pointer_greedy_decode(x_one, sort_params)
    enc_out, s = rnn_forward(x_one, None, **sort_params["enc"])
    inp, chosen, rows = sort_params["start"][None], np.zeros((1, 12), dtype=bool), []
    for i in range(12):
        s, log_probs = pointer_decoder_step(inp, s, enc_out, chosen, sort_params)
        rows.append(np.exp(log_probs[0]))
        chosen[0, perm_one[0, i]] = True
        inp = x_one[:, perm_one[0, i]]
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.imshow(np.array(rows), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(12), [f"{v:.2f}" for v in x_one[0, :, 0]], rotation=60)
    ax.set_yticks(range(12), [f"step {i}: {x_one[0, perm_one[0, i], 0]:.2f}" for i in range(12)])
    ax.set_xlabel("input position (value)")
    ax.set_title("pointer distributions while sorting 12 numbers")
    plt.tight_layout()
    plt.show()
    print("sorted correctly:", bool((perm_one[0] == np.argsort(x_one[0, :, 0])).all()))

# %% [markdown]
# ### Exercise 4.1: written answer, vocabularies (10 points, graded by hand)
#
# Using the table and the figure above, answer in a few sentences:
#
# 1. The fixed-vocabulary decoder "cannot answer" lists of 15 or more. Why not, and what would it
#    take to let it? How many output scores does the pointer network compute for a list of length
#    `N`, and which of its weights depend on `N`?
# 2. Even on lengths it was trained on, the fixed-vocabulary decoder sorts far fewer lists
#    correctly. What must its output layer learn that the pointer network gets for free?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_vocabulary", "locked": false, "points": 10, "schema_version": 3, "solution": true, "task": false}
# *Model answer (the release shows "YOUR ANSWER HERE").*
#
# 1. Its output layer is a linear map onto 10 slots, one per position that existed in training;
#    there is no output unit for position 10 or beyond, so no probability can be put there. It
#    would need a larger output layer, retrained on longer lists, and it would still have a largest
#    length. The pointer network computes one score per input position, `N` scores for a list of
#    length `N`; none of its weights (`W_enc`, `W_dec`, `v`, the RNN and GRU weights) has a
#    dimension that depends on `N`. *(5 points: no unit for the position; pointer: N scores, no
#    weight depends on N.)*
# 2. Output slot `j` of the fixed decoder must learn to fire when "the input at position `j`" is
#    the next smallest, but the linear layer sees only `[s, c]`, not the input at `j`: it has to
#    recover from a mixed summary which position holds the wanted value, i.e. learn position
#    bookkeeping that the data never states directly. The pointer network scores each position
#    from that position's own encoder state, so "point at the content that fits" is built in and
#    the same rule is shared by all positions. *(5 points: content to position mapping through a
#    bottleneck, against a score per position computed from that position.)*

# %% [markdown]
# ### Exercise 4.2: written answer, decoding (10 points, graded by hand)
#
# 1. Why does beam search add log-probabilities, rather than add probabilities, to score a
#    hypothesis? Give a small example (two hypotheses of two steps each) where adding
#    probabilities ranks them in the wrong order.
# 2. Report, from your own run, how often greedy decoding missed the most probable permutation on
#    the random network of Part 3, and how beam search of width 3 compared with greedy decoding
#    in the sorting table, length by length. Explain both observations. (What does beam search
#    maximise?)
# 3. Whole-sequence accuracy falls much faster with `N` than per-position accuracy. If each choice
#    were right with probability 0.99, independently, what whole-sequence accuracy would you expect
#    for `N = 10` and `N = 30`? Name one reason why the per-position accuracy itself drops on lists
#    longer than those seen in training.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_decoding", "locked": false, "points": 10, "schema_version": 3, "solution": true, "task": false}
# *Model answer (the release shows "YOUR ANSWER HERE").*
#
# 1. The probability of a sequence is the product of its step probabilities, so its log is the
#    sum of the step log-probabilities; adding probabilities computes nothing meaningful. Example:
#    hypothesis 1 has steps 0.9 then 0.1 (product 0.09, sum 1.0), hypothesis 2 has 0.6 then 0.35
#    (product 0.21, sum 0.95): adding probabilities prefers hypothesis 1, which is less than half
#    as likely. *(4 points: product of probabilities, and a correct counterexample.)*
# 2. Greedy fails when the best first step leads to a poor continuation, which needs several
#    hypotheses of similar probability: the random network spreads its probability, so that
#    happens often. The trained sorter is confident: at each step nearly all probability sits on
#    one position, so the greedy path is already the most probable permutation and a beam has
#    little to correct. Beam search maximises the *model's* probability, not accuracy: where the
#    model is wrong (long lists), the permutation it finds may be more probable under the model
#    and still not sorted, so a wider beam can even lose accuracy. Beam search repairs search
#    errors, not model errors. *(3 points: confidence, and probability is not accuracy.)*
# 3. With independent errors the whole list is right with probability 0.99^N: about 0.90 for
#    N = 10 and 0.74 for N = 30. Per-position accuracy drops on longer lists because the
#    encoder's tanh RNN produces states it never produced in training after more steps (its
#    summary drifts), and because uniform numbers crowd closer together (the gap between
#    neighbours shrinks like 1/N), so the small errors in the scores swap neighbours more often.
#    *(3 points: the computation, and one valid reason.)*
