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
# # Problem set 3: bidirectional RNNs
#
# The RNNs of Problem set 1 read a sentence from left to right, so at every word they know only
# what came before it. Many words cannot be understood that way: their meaning is settled by
# what comes *after* them. In this problem set you build, in numpy, the **bidirectional RNN**
# (BiRNN) that PyTorch ships as `nn.RNN(bidirectional=True)`: one RNN reading forward, one
# reading backward, their states side by side. You make it work on batches of sentences of
# different lengths exactly the way PyTorch's packed sequences do (a detail that blog posts and
# even textbooks get wrong), stack it, and then measure what the price of seeing the future is:
# a BiRNN is not causal, so it cannot produce an output before the sequence has ended.
#
# **How this notebook works.**
# * Cells that start with `def ...` and contain `raise NotImplementedError()` are yours: replace
#   that line with your code. Write **numpy only**; PyTorch is used by the checks, not by you.
# * Each of your functions is followed by locked test cells that call `check(...)`. They run your
#   function on a few cases and compare the result with PyTorch holding the same weights. When
#   something differs it tells you which output, at which index, what was expected and what you
#   returned, and, when your output matches a mistake that many learners make, its name.
# * Course conventions: **batch first and row vectors**. `x` is `(B, T, D)`, a hidden state is
#   `(B, H)`, and one RNN step is `h_t = phi(x_t @ W_xh + h_prev @ W_hh + b_h)`. Your functions
#   must not modify their inputs in place, must return new `np.ndarray`s whose dtype follows the
#   inputs (float32 in, float32 out), and must raise `ValueError` for invalid arguments.
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
# case = {"B": 3, "T": 5, "D": 2, "H": 4, "seed": 7, "lengths": [5, 1, 3]}
# inputs = case_inputs("birnn_forward", case)      # a dict: argument name -> value
# check(birnn_forward, "birnn_forward", cases=[case])
# ```
#
# **Run All** stops at the first cell that raises, so one failing check hides every result
# below it: run each test cell on its own, or press **Validate** (or run
# `nbgrader validate <notebook>.ipynb`), which runs them all and reports each one. Studying on
# your own, without a course server? `autograder grade <notebook>.ipynb` grades your notebook with
# the hidden cases, as the course's grader does, and prints the points per test cell.
#
# | part | what you write | points |
# |---|---|---|
# | 1 | (reading: why the future matters, the BiRNN equations) | 0 |
# | 2 | `reverse_padded`, `birnn_forward` (full-length batches, then with `lengths`) | 8 + 16 + 20 |
# | 3 | `stacked_birnn_forward` | 20 |
# | 4 | `influence_map`, a written answer on causality | 16 + 12 |
# | 5 | a written answer on the tagging experiment | 8 |

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import os

import numpy as np
import matplotlib.pyplot as plt

from autograder import check

# Demonstrations (training runs, figures) are skipped while a grader runs the notebook.
GRADING = bool(os.environ.get("NBGRADER_EXECUTION"))
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ### Provided: the unidirectional RNN of Problem set 1
#
# You wrote these in Problem set 1; here they are given (locked, not graded) so that this
# notebook stands on its own. `rnn_forward` runs one direction over all `T` steps and raises
# `ValueError` for an unknown `nonlinearity`. `convert_rnn_state_dict` turns a torch
# `state_dict` into the list of parameter dicts the stacked functions take; the demos use it.

# %% nbgrader={"grade": false, "grade_id": "provided", "locked": true, "schema_version": 3, "solution": false, "task": false}
def rnn_step_forward(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity="tanh"):
    """One step h_t = phi(x_t @ W_xh + h_prev @ W_hh + b_h).

    x_t (B, D), h_prev (B, H), W_xh (D, H), W_hh (H, H), b_h (H,); nonlinearity "tanh" or "relu"
    returns h_t: (B, H)
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    z = x_t @ W_xh + h_prev @ W_hh + b_h
    return np.tanh(z) if nonlinearity == "tanh" else np.maximum(z, 0)


def rnn_forward(x, h0, W_xh, W_hh, b_h, nonlinearity="tanh"):
    """An Elman RNN over all T steps, left to right (nn.RNN(batch_first=True)).

    x (B, T, D), h0 (B, H) or None for zeros, W_xh (D, H), W_hh (H, H), b_h (H,)
    returns (h_all, h_last): (B, T, H) the state after every step, and (B, H) the last one
    """
    B, T, _ = x.shape
    H = W_hh.shape[0]
    h = np.zeros((B, H), dtype=x.dtype) if h0 is None else h0
    h_all = np.empty((B, T, H), dtype=x.dtype)
    for t in range(T):
        h = rnn_step_forward(x[:, t], h, W_xh, W_hh, b_h, nonlinearity)
        h_all[:, t] = h
    return h_all, h.copy()


def convert_rnn_state_dict(state_dict, num_layers, bidirectional):
    """torch nn.RNN parameters (name -> np.ndarray) -> [l0, l0_reverse, l1, l1_reverse, ...],
    each {"W_xh": weight_ih.T, "W_hh": weight_hh.T, "b_h": bias_ih + bias_hh}."""
    layers = []
    for l in range(num_layers):
        for sfx in (["", "_reverse"] if bidirectional else [""]):
            p = lambda kind: np.asarray(state_dict[f"{kind}_l{l}{sfx}"])
            layers.append({"W_xh": p("weight_ih").T.copy(), "W_hh": p("weight_hh").T.copy(),
                           "b_h": p("bias_ih") + p("bias_hh")})
    return layers


# %% [markdown]
# ## Part 1. Meaning that arrives later
#
# Compare two short Chinese sentences:
#
# * **苹果味道不错** ("the apple tastes good"): 苹果 is a fruit;
# * **苹果股票大涨** ("Apple's shares soar"): 苹果 is the company.
#
# Both start with the same word. A tagger that must label each word (fruit, company, other)
# reads 苹果 first, and at that moment nothing in the input tells the two senses apart: the
# deciding word, 味道 (taste) or 股票 (shares), is still to come. A left-to-right RNN emits its
# output for step `t` from `h_t`, and `h_t` is a function of `x_0, ..., x_t` only, so its state
# at 苹果 is *the same number* in both sentences. No amount of training can fix that; the
# information is simply not there yet.
#
# The cell below makes the point with random weights: the forward state after 苹果 is identical
# in the two sentences, while an RNN that reads the sentence from the end has already seen the
# deciding word when it reaches 苹果.

# %% tags=["demo"]
if not GRADING:
    rng = np.random.default_rng(0)
    words = ["苹果", "味道", "不错", "股票", "大涨"]
    emb = {w: rng.normal(size=4) for w in words}
    Wx, Wh, b = rng.normal(size=(4, 5)) / 2, rng.normal(size=(5, 5)) / 2, np.zeros(5)
    for sentence in (["苹果", "味道", "不错"], ["苹果", "股票", "大涨"]):
        x_demo = np.stack([emb[w] for w in sentence])[None]                 # (1, 3, 4)
        forward_states = rnn_forward(x_demo, None, Wx, Wh, b)[0][0]
        backward_states = rnn_forward(x_demo[:, ::-1], None, Wx, Wh, b)[0][0][::-1]
        print("".join(sentence), " forward state at 苹果:", forward_states[0],
              " backward state at 苹果:", backward_states[0])

# %% [markdown]
# ### Before BiRNNs: waiting a few steps
#
# An old remedy is a **time delay**: let the network read on for `M` more steps before it
# answers for word `t`, i.e. read the answer for word `t` off the state at step `t + M`. With
# `M = 1` the tagger sees 味道 or 股票 before labelling 苹果. But `M` is a hyperparameter you
# must pick in advance. Too small, and the deciding word may lie further ahead (苹果**的**味道,
# "the apple's taste", puts it two steps away); too large, and the network must carry every
# answer through many steps of state while it keeps reading, which makes it harder to learn and
# blurs what belongs to which word. And however large `M` is, the context *beyond* `t + M` is
# never seen.
#
# ### The bidirectional RNN
#
# Schuster and Paliwal (1997) removed the window altogether: run **two independent RNNs**, one
# from left to right and one from right to left, and put their states side by side.
#
# $$\overrightarrow{h}_t = \phi\big(x_t W^{f}_{xh} + \overrightarrow{h}_{t-1} W^{f}_{hh} + b^{f}_h\big),
#   \qquad \overrightarrow{h}_{-1} = h_0[0]$$
# $$\overleftarrow{h}_t = \phi\big(x_t W^{b}_{xh} + \overleftarrow{h}_{t+1} W^{b}_{hh} + b^{b}_h\big),
#   \qquad \overleftarrow{h}_{T} = h_0[1]$$
# $$\text{out}_t = \big[\overrightarrow{h}_t \,;\, \overleftarrow{h}_t\big] \in \mathbb{R}^{2H}$$
#
# * The forward state $\overrightarrow{h}_t$ summarises $x_0, \dots, x_t$, the backward state
#   $\overleftarrow{h}_t$ summarises $x_t, \dots, x_{T-1}$; together, `out_t` has seen the whole
#   sentence, with word `t` at the centre. No `M` to choose.
# * The two directions have **separate weights** (`fwd` and `bwd`): reading backwards is a
#   different job. They never exchange states; they meet only in the concatenation.
# * They are nevertheless **trained together, under one loss**: the tag of word `t` is computed
#   from `out_t`, so the gradient of that one loss shapes both directions at once. That is
#   better than training a left-to-right and a right-to-left tagger separately and averaging their
#   predictions: each direction learns to provide what the other one lacks.
# * Concatenation doubles the feature size: a BiRNN with hidden size `H` outputs `2H` numbers per
#   step, and whatever reads it (a linear layer, the next RNN layer) takes `2H` inputs.
#
# ```
#            x_0        x_1        x_2        x_3
# forward:  h0[0] -> [->h_0] -> [->h_1] -> [->h_2] -> [->h_3]  = h_n[0]
# backward: h_n[1] = [<-h_0] <- [<-h_1] <- [<-h_2] <- [<-h_3] <- h0[1]
# out_t:           [->h_0;<-h_0]  ...                [->h_3;<-h_3]
# ```
#
# ### PyTorch's layout
#
# `nn.RNN(D, H, bidirectional=True, batch_first=True)` returns `(out, h_n)` with
#
# | | shape | contents |
# |---|---|---|
# | `out` | `(B, T, 2H)` | `out[:, t, :H]` = $\overrightarrow{h}_t$, `out[:, t, H:]` = $\overleftarrow{h}_t$ |
# | `h_n` | `(2, B, H)` | `h_n[0]` = $\overrightarrow{h}_{T-1}$ (the forward direction's last state), `h_n[1]` = $\overleftarrow{h}_{0}$ (the backward direction's last state, which sits at step **0**) |
#
# Its parameters come in two sets, `weight_ih_l0, ...` and `weight_ih_l0_reverse, ...`; as in
# Problem set 1 the numpy parameters of a direction are the dict
# `{"W_xh": weight_ih.T, "W_hh": weight_hh.T, "b_h": bias_ih + bias_hh}`. The initial state `h0`
# is `(2, B, H)`: `h0[0]` starts the forward direction (at step 0), `h0[1]` the backward one (at
# step `T - 1`); `None` means zeros.
#
# A frequent bug: for a sentence classifier, people concatenate `out[:, -1, :H]` and
# `out[:, -1, H:]`. The first half is right, but `out[:, -1, H:]` is the backward state after
# reading **one** word, the last one. The backward summary of the whole sentence is
# `out[:, 0, H:] = h_n[1]`.

# %% [markdown]
# ## Part 2. Batches of sentences of different lengths
#
# Sentences in a batch have different lengths. We store them in one array `x` of shape
# `(B, T, D)`, `T` the longest, and say how long each one really is with an integer array
# `lengths` of shape `(B,)`, `1 <= lengths[b] <= T`. Steps `t >= lengths[b]` are **padding**:
# they do not exist, whatever numbers they hold.
#
# PyTorch makes an RNN respect the lengths with *packed sequences*:
#
# ```python
# packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
# out, h_n = rnn(packed, h0)
# out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
# ```
#
# The result is exactly what you get by running each sentence alone, cut to its own length, and
# padding the outputs with zeros. For sequence `b` with `L = lengths[b]`:
#
# 1. the **forward** direction reads steps `0, ..., L-1` from `h0[0]`; `h_n[0]` is its state at
#    step **`L-1`** (not `T-1`);
# 2. the **backward** direction starts at step **`L-1`** from `h0[1]` and reads down to step 0;
#    `h_n[1]` is its state at step 0. It never reads the padding;
# 3. `out[b, t]` is **0** for every padded step `t >= L`, in both halves.
#
# Rule 2 is the one that is easy to get wrong. If you flip the whole padded time axis, the
# backward direction of a short sentence starts by reading padding and arrives at the real words
# with a state full of noise. (Forgetting `pack_padded_sequence` in PyTorch does exactly that,
# silently.) Real batches are usually padded with zeros, but the hidden tests fill the padded
# steps with random numbers, so that any use of them shows.
#
# The figure shows the rules for a batch of three sentences padded to `T = 6`.

# %% tags=["demo"]
if not GRADING:
    fig, ax = plt.subplots(figsize=(7, 2.8))
    lens_demo, T_demo = [6, 4, 2], 6
    for b, L in enumerate(lens_demo):
        y = len(lens_demo) - 1 - b
        for s in range(T_demo):
            real = s < L
            ax.add_patch(plt.Rectangle((s, y + 0.1), 0.9, 0.8, color="tab:blue" if real else "0.85",
                                       alpha=0.35 if real else 1))
            ax.text(s + 0.45, y + 0.5, f"x[{b},{s}]" if real else "out = 0", ha="center", va="center", fontsize=7)
        ax.annotate("", xy=(L - 0.1, y + 0.82), xytext=(0.05, y + 0.82),
                    arrowprops=dict(arrowstyle="->", color="tab:green"))
        ax.annotate("", xy=(0.05, y + 0.18), xytext=(L - 0.1, y + 0.18),
                    arrowprops=dict(arrowstyle="->", color="tab:red"))
        ax.text(L - 0.05, y + 0.82, " h_n[0]", color="tab:green", fontsize=8, va="center")
        ax.text(-0.05, y + 0.18, "h_n[1] ", color="tab:red", fontsize=8, va="center", ha="right")
        ax.text(T_demo + 0.9, y + 0.5, f"lengths[{b}] = {L}", va="center", fontsize=8)
    ax.set_xlim(-0.9, T_demo + 2.2); ax.set_ylim(0, len(lens_demo)); ax.axis("off")
    ax.set_title("forward (green) ends at step L-1; backward (red) starts at L-1 and ends at step 0")
    plt.show()

# %% [markdown]
# ### Exercise 2.1: reversing each sequence within its length (8 points)
#
# One clean way to follow rule 2 is to reverse every sentence *within its own length* and leave
# the padding where it is:
#
# ```
# x[b]          = [a, b, c, d, pad, pad]      lengths[b] = 4
# reversed x[b] = [d, c, b, a, pad, pad]
# ```
#
# Then the backward direction is an ordinary left-to-right run over the reversed batch: its real
# steps come first, so its states at the real steps never depend on the padding. Reversing its
# outputs the same way puts each state back at its own step.
#
# Implement `reverse_padded(x, lengths)`: `y[b, t] = x[b, lengths[b] - 1 - t]` for
# `t < lengths[b]`, and `y[b, t] = x[b, t]` (unchanged) for the padded steps. `x` has shape
# `(B, T, ...)` with any number of trailing axes (you will use it on inputs `(B, T, D)` and on
# states `(B, T, H)`). Raise `ValueError` if `lengths` does not have shape `(B,)` or holds a
# value outside `1..T`. A loop over the batch is fine; so is one fancy-indexing expression.

# %% nbgrader={"grade": false, "grade_id": "reverse_padded", "locked": false, "schema_version": 3, "solution": true, "task": false}
def reverse_padded(x, lengths):
    """Reverse the first lengths[b] steps of every sequence; leave the padded steps in place.

    x:       (B, T, ...) a padded batch (any number of trailing axes)
    lengths: (B,) integers in 1..T
    returns y: (B, T, ...) with y[b, t] = x[b, lengths[b]-1-t] for t < lengths[b], else x[b, t]
    """
    ### BEGIN SOLUTION
    lengths = np.asarray(lengths)
    B, T = x.shape[:2]
    if lengths.shape != (B,):
        raise ValueError(f"lengths should have shape ({B},), got {lengths.shape}")
    if np.any(lengths < 1) or np.any(lengths > T):
        raise ValueError(f"lengths must lie in 1..{T}, got {lengths.tolist()}")
    steps = np.arange(T)[None, :]                                           # (1, T)
    L = lengths[:, None]                                                    # (B, 1)
    index = np.where(steps < L, L - 1 - steps, steps)                      # (B, T)
    return x[np.arange(B)[:, None], index]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_reverse_padded_masks", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(reverse_padded, "reverse_padded", cases=[
    {"B": 2, "T": 5, "F": 3, "lengths": [5, 3], "pad": "zeros", "seed": 1},
    {"B": 3, "T": 4, "F": 5, "lengths": [4, 4, 4], "seed": 303},
    {"B": 3, "T": 7, "F": 2, "lengths": [3, 1, 5], "seed": 304, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(reverse_padded, "reverse_padded", cases=[
    {"B": 3, "T": 4, "F": 5, "lengths": [4, 4, 4], "seed": 203},
    {"B": 3, "T": 7, "F": 2, "lengths": [3, 1, 5], "seed": 204, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_reverse_padded_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(reverse_padded, "reverse_padded", cases=[
    {"B": 1, "T": 1, "F": 2, "lengths": [1], "seed": 301},
    {"B": 4, "T": 6, "F": 1, "lengths": [1, 6, 2, 4], "seed": 302},
    {"B": 2, "T": 4, "F": 2, "lengths": [0, 3], "seed": 305, "expect": "ValueError"},
    {"B": 2, "T": 4, "F": 2, "lengths": [2, 5], "seed": 306, "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(reverse_padded, "reverse_padded", cases=[
    {"B": 1, "T": 1, "F": 2, "lengths": [1], "seed": 201},
    {"B": 4, "T": 6, "F": 1, "lengths": [1, 6, 2, 4], "seed": 202},
    {"B": 2, "T": 4, "F": 2, "lengths": [0, 3], "seed": 205, "expect": "ValueError"},
    {"B": 2, "T": 4, "F": 2, "lengths": [2, 5], "seed": 206, "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Exercise 2.2: the bidirectional layer (16 + 20 points)
#
# Implement `birnn_forward(x, h0, fwd, bwd, lengths=None, nonlinearity="tanh")` returning
# `(out, h_n)`:
#
# * `x` `(B, T, D)`; `h0` `(2, B, H)` or `None`; `fwd` and `bwd` dicts `{"W_xh" (D, H),
#   "W_hh" (H, H), "b_h" (H,)}` for the two directions; `nonlinearity` `"tanh"` or `"relu"`;
# * `lengths` `None` (every sequence has `T` steps) or an integer array `(B,)` with values in
#   `1..T`, with the three rules above;
# * `out` `(B, T, 2H)`: forward states in `out[..., :H]`, backward states in `out[..., H:]`,
#   zeros at padded steps;
# * `h_n` `(2, B, H)`: `h_n[0]` the forward state at step `lengths[b]-1`, `h_n[1]` the backward
#   state at step 0.
#
# It equals `nn.RNN(D, H, bidirectional=True, batch_first=True)` with these weights, run on
# `pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)` when lengths are
# given. Build it from `rnn_forward` (provided) and your `reverse_padded`: run the forward
# direction on `x`, the backward direction on the reversed batch, reverse its states back, then
# apply rule 3 and pick the final states. Raise `ValueError` for invalid `lengths`,
# `nonlinearity` or `h0` shape.
#
# Four test cells follow. The first two (`test_birnn_forward_core` and `_edges`, 8 points each)
# use full-length batches only (`lengths=None`); the other two (`test_birnn_forward_lengths_masks`
# and `_edges`, 10 points each) give `lengths`. Get the first two to pass before you worry about
# padding.

# %% nbgrader={"grade": false, "grade_id": "birnn_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def birnn_forward(x, h0, fwd, bwd, lengths=None, nonlinearity="tanh"):
    """A bidirectional RNN layer with packed-sequence semantics for lengths.

    x:       (B, T, D) padded batch
    h0:      (2, B, H) initial states [forward, backward], or None for zeros
    fwd:     dict W_xh (D, H), W_hh (H, H), b_h (H,): the forward direction
    bwd:     dict W_xh (D, H), W_hh (H, H), b_h (H,): the backward direction
    lengths: None (all sequences have T steps) or (B,) integers in 1..T
    nonlinearity: "tanh" or "relu"
    returns (out, h_n):
        out: (B, T, 2H) [forward ; backward] states at every step, 0 at padded steps
        h_n: (2, B, H)  forward state at step lengths[b]-1, backward state at step 0
    """
    ### BEGIN SOLUTION
    B, T, _ = x.shape
    H = fwd["W_hh"].shape[0]
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    if h0 is not None and h0.shape != (2, B, H):
        raise ValueError(f"h0 should have shape (2, {B}, {H}), got {h0.shape}")
    h0_f, h0_b = (None, None) if h0 is None else (h0[0], h0[1])
    out_f, _ = rnn_forward(x, h0_f, fwd["W_xh"], fwd["W_hh"], fwd["b_h"], nonlinearity)
    out_b_reversed, _ = rnn_forward(reverse_padded(x, lengths), h0_b, bwd["W_xh"], bwd["W_hh"], bwd["b_h"],
                                    nonlinearity)
    out_b = reverse_padded(out_b_reversed, lengths)
    real = (np.arange(T)[None, :] < lengths[:, None])[:, :, None]           # (B, T, 1)
    out = np.where(real, np.concatenate([out_f, out_b], axis=2), 0)
    h_n = np.stack([out_f[np.arange(B), lengths - 1], out_b[:, 0]])
    return out, h_n
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_birnn_forward_core", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false}
check(birnn_forward, "birnn_forward", cases=[
    {"B": 2, "T": 4, "D": 3, "H": 5, "seed": 1},
    {"B": 3, "T": 7, "D": 4, "H": 4, "seed": 403, "h0": True},
    {"B": 2, "T": 6, "D": 3, "H": 5, "seed": 404, "nonlinearity": "relu"},
    {"B": 4, "T": 9, "D": 3, "H": 6, "seed": 405, "h0": True, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(birnn_forward, "birnn_forward", cases=[
    {"B": 3, "T": 7, "D": 4, "H": 4, "seed": 303, "h0": True},
    {"B": 2, "T": 6, "D": 3, "H": 5, "seed": 304, "nonlinearity": "relu"},
    {"B": 4, "T": 9, "D": 3, "H": 6, "seed": 305, "h0": True, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_birnn_forward_edges", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false}
check(birnn_forward, "birnn_forward", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "seed": 401},
    {"B": 1, "T": 5, "D": 2, "H": 3, "seed": 402, "h0": True},
    {"B": 2, "T": 3, "D": 3, "H": 4, "seed": 406, "nonlinearity": "gelu", "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(birnn_forward, "birnn_forward", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "seed": 301},
    {"B": 1, "T": 5, "D": 2, "H": 3, "seed": 302, "h0": True},
    {"B": 2, "T": 3, "D": 3, "H": 4, "seed": 306, "nonlinearity": "gelu", "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_birnn_forward_lengths_masks", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
check(birnn_forward, "birnn_forward", cases=[
    {"B": 3, "T": 5, "D": 3, "H": 4, "lengths": [5, 3, 2], "seed": 1},
    {"B": 3, "T": 5, "D": 3, "H": 4, "lengths": [5, 5, 5], "seed": 413, "h0": True},
    {"B": 4, "T": 6, "D": 3, "H": 4, "lengths": [1, 6, 1, 3], "seed": 414, "h0": True},
    {"B": 4, "T": 8, "D": 2, "H": 5, "lengths": [2, 8, 5, 7], "seed": 415, "nonlinearity": "relu"},
    {"B": 5, "T": 7, "D": 4, "H": 3, "lengths": [7, 1, 4, 2, 6], "seed": 416, "h0": True, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(birnn_forward, "birnn_forward", cases=[
    {"B": 3, "T": 5, "D": 3, "H": 4, "lengths": [5, 5, 5], "seed": 313, "h0": True},
    {"B": 4, "T": 6, "D": 3, "H": 4, "lengths": [1, 6, 1, 3], "seed": 314, "h0": True},
    {"B": 4, "T": 8, "D": 2, "H": 5, "lengths": [2, 8, 5, 7], "seed": 315, "nonlinearity": "relu"},
    {"B": 5, "T": 7, "D": 4, "H": 3, "lengths": [7, 1, 4, 2, 6], "seed": 316, "h0": True, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_birnn_forward_lengths_edges", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
check(birnn_forward, "birnn_forward", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "lengths": [1], "seed": 411},
    {"B": 1, "T": 6, "D": 2, "H": 3, "lengths": [4], "seed": 412, "h0": True},
    {"B": 2, "T": 4, "D": 3, "H": 2, "lengths": [0, 4], "seed": 417, "expect": "ValueError"},
    {"B": 2, "T": 4, "D": 3, "H": 2, "lengths": [4, 5], "seed": 418, "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(birnn_forward, "birnn_forward", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "lengths": [1], "seed": 311},
    {"B": 1, "T": 6, "D": 2, "H": 3, "lengths": [4], "seed": 312, "h0": True},
    {"B": 2, "T": 4, "D": 3, "H": 2, "lengths": [0, 4], "seed": 317, "expect": "ValueError"},
    {"B": 2, "T": 4, "D": 3, "H": 2, "lengths": [4, 5], "seed": 318, "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# ## Part 3. Stacking bidirectional layers
#
# Deep BiRNNs stack layers as in Problem set 1, with one twist: layer `l + 1` reads the
# **concatenated** output of layer `l`, both directions, `2H` numbers per step. So its two
# directions each have `W_xh` of shape `(2H, H)`, and every upper-layer state has, through the
# layer below, seen the whole sentence. Each layer has its own two initial states and two final
# states; PyTorch keeps them layer by layer:
#
# ```
# h0, h_n:  index 0 = layer 0 forward, 1 = layer 0 backward, 2 = layer 1 forward, 3 = layer 1 backward, ...
# layers:   [l0, l0_reverse, l1, l1_reverse, ...]      (the order of convert_rnn_state_dict)
# ```
#
# With `lengths`, every layer sees the same lengths: the padded steps of layer 0's output are
# zeros, but they are still padding for layer 1.
#
# ### Exercise 3.1 (20 points)
#
# Implement `stacked_birnn_forward(x, h0, layers, lengths=None, nonlinearity="tanh")` returning
# `(out, h_n)`: `out` `(B, T, 2H)` the top layer's output, `h_n` `(2L, B, H)` in torch's order.
# `layers` is a list of `2L` dicts; `h0` is `(2L, B, H)` or `None`. This equals
# `nn.RNN(D, H, num_layers=L, bidirectional=True, batch_first=True)` (packed when lengths are
# given). Reuse your `birnn_forward`; raise `ValueError` if `layers` has an odd length or `h0`
# the wrong shape.

# %% nbgrader={"grade": false, "grade_id": "stacked_birnn_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def stacked_birnn_forward(x, h0, layers, lengths=None, nonlinearity="tanh"):
    """L stacked bidirectional RNN layers; layer l+1 reads both directions of layer l.

    x:       (B, T, D)
    h0:      (2L, B, H) in torch's order [l0 fwd, l0 bwd, l1 fwd, l1 bwd, ...], or None
    layers:  list of 2L dicts {"W_xh", "W_hh", "b_h"} ordered [l0, l0_reverse, l1, ...];
             W_xh is (D, H) in layer 0 and (2H, H) above
    lengths: None or (B,) integers in 1..T
    nonlinearity: "tanh" or "relu"
    returns (out, h_n): (B, T, 2H) top layer output, (2L, B, H) final states in torch's order
    """
    ### BEGIN SOLUTION
    if len(layers) == 0 or len(layers) % 2:
        raise ValueError(f"layers should hold 2 dicts per layer, got {len(layers)}")
    L = len(layers) // 2
    B, H = x.shape[0], layers[0]["W_hh"].shape[0]
    if h0 is not None and h0.shape != (2 * L, B, H):
        raise ValueError(f"h0 should have shape ({2 * L}, {B}, {H}), got {h0.shape}")
    inp, finals = x, []
    for l in range(L):
        start = None if h0 is None else h0[2 * l:2 * l + 2]
        inp, h_n = birnn_forward(inp, start, layers[2 * l], layers[2 * l + 1], lengths, nonlinearity)
        finals.append(h_n)
    return inp, np.concatenate(finals)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_stacked_birnn_forward_core", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false}
check(stacked_birnn_forward, "stacked_birnn_forward", cases=[
    {"B": 2, "T": 4, "D": 3, "H": 4, "L": 2, "seed": 1},
    {"B": 3, "T": 5, "D": 3, "H": 4, "L": 2, "seed": 503, "h0": True},
])
### BEGIN HIDDEN TESTS
check(stacked_birnn_forward, "stacked_birnn_forward", cases=[
    {"B": 3, "T": 5, "D": 3, "H": 4, "L": 2, "seed": 403, "h0": True},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_stacked_birnn_forward_masks", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(stacked_birnn_forward, "stacked_birnn_forward", cases=[
    {"B": 3, "T": 6, "D": 2, "H": 3, "L": 3, "seed": 504, "h0": True, "lengths": [6, 2, 4]},
    {"B": 4, "T": 5, "D": 3, "H": 4, "L": 2, "seed": 505, "lengths": [1, 5, 3, 1]},
    {"B": 2, "T": 4, "D": 3, "H": 4, "L": 2, "seed": 506, "lengths": [4, 4], "h0": True, "nonlinearity": "relu"},
    {"B": 3, "T": 7, "D": 4, "H": 5, "L": 2, "seed": 507, "h0": True, "lengths": [3, 7, 5], "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(stacked_birnn_forward, "stacked_birnn_forward", cases=[
    {"B": 3, "T": 6, "D": 2, "H": 3, "L": 3, "seed": 404, "h0": True, "lengths": [6, 2, 4]},
    {"B": 4, "T": 5, "D": 3, "H": 4, "L": 2, "seed": 405, "lengths": [1, 5, 3, 1]},
    {"B": 2, "T": 4, "D": 3, "H": 4, "L": 2, "seed": 406, "lengths": [4, 4], "h0": True, "nonlinearity": "relu"},
    {"B": 3, "T": 7, "D": 4, "H": 5, "L": 2, "seed": 407, "h0": True, "lengths": [3, 7, 5], "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_stacked_birnn_forward_edges", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check(stacked_birnn_forward, "stacked_birnn_forward", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "L": 1, "seed": 501},
    {"B": 1, "T": 1, "D": 2, "H": 3, "L": 2, "seed": 502, "lengths": [1], "h0": True},
    {"B": 2, "T": 4, "D": 3, "H": 4, "L": 2, "seed": 508, "lengths": [0, 2], "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(stacked_birnn_forward, "stacked_birnn_forward", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "L": 1, "seed": 401},
    {"B": 1, "T": 1, "D": 2, "H": 3, "L": 2, "seed": 402, "lengths": [1], "h0": True},
    {"B": 2, "T": 4, "D": 3, "H": 4, "L": 2, "seed": 408, "lengths": [0, 2], "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# **Your own functions together (5 of this exercise's points).** The checks above judge
# `stacked_birnn_forward` on its own work: while they run, the functions it calls
# (`birnn_forward` and `reverse_padded`) are the course's reference versions, so a slip in one
# of those costs points only once, in its own checks. This last check runs
# `stacked_birnn_forward` with *your* versions of them, end to end.

# %% nbgrader={"grade": true, "grade_id": "test_stacked_birnn_forward_integration", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(stacked_birnn_forward, "stacked_birnn_forward", cases=[
    {"B": 3, "T": 6, "D": 3, "H": 4, "L": 2, "seed": 511, "h0": True, "lengths": [6, 3, 2]},
], integration=True)
### BEGIN HIDDEN TESTS
check(stacked_birnn_forward, "stacked_birnn_forward", cases=[
    {"B": 3, "T": 6, "D": 3, "H": 4, "L": 2, "seed": 411, "h0": True, "lengths": [6, 3, 2]},
], integration=True)
### END HIDDEN TESTS


# %% [markdown]
# ## Part 4. Who sees what: the price of the future
#
# A left-to-right RNN is **causal**: its output at step `t` depends on the inputs up to `t` and
# on nothing later. A BiRNN is not: through the backward direction, every output depends on
# every input of the sentence. Let us measure it instead of taking it on trust.
#
# The exact tool would be the Jacobian $\partial y_t / \partial x_s$ (Problem set 2 computes such
# things). A **perturbation probe** is simpler and needs only forward passes: add a fixed vector
# `delta` `(D,)` to the input at step `s` only, run the network again, and measure how far each
# output moved:
#
# $$M[b, t, s] = \big\lVert\, y(x + \delta e_s)[b, t] - y(x)[b, t] \,\big\rVert_2 ,$$
#
# where $x + \delta e_s$ is `x` with `delta` added to `x[:, s, :]` and nothing else changed, and
# `y` is the network's output at every step. If output `t` does not depend on input `s`, the
# two runs compute the very same numbers there and `M[b, t, s]` is exactly 0.
#
# ### Exercise 4.1: a perturbation probe (16 points)
#
# Implement `influence_map(x, fwd, bwd, delta)` returning `M` `(B, T, T)`, indexed
# `[batch, output step t, perturbed input step s]`. The network is tanh, starts from zero states
# and has no padding:
#
# * `bwd is None`: the causal RNN, `y = rnn_forward(x, None, **fwd)[0]` `(B, T, H)`;
# * otherwise the BiRNN, `y = birnn_forward(x, None, fwd, bwd)[0]` `(B, T, 2H)`.
#
# Use the Euclidean norm over the feature axis. Do not modify `x`: perturb a copy, a fresh one
# for every `s`.

# %% nbgrader={"grade": false, "grade_id": "influence_map", "locked": false, "schema_version": 3, "solution": true, "task": false}
def influence_map(x, fwd, bwd, delta):
    """How far each output moves when one input step is perturbed.

    x:     (B, T, D) inputs (no padding)
    fwd:   dict W_xh (D, H), W_hh (H, H), b_h (H,)
    bwd:   the same for the backward direction, or None for a causal (left-to-right) RNN
    delta: (D,) the perturbation added to one step
    returns M: (B, T, T), M[b, t, s] = ||y(x with delta added at step s)[b, t] - y(x)[b, t]||_2
    """
    ### BEGIN SOLUTION
    def outputs(z):
        if bwd is None:
            return rnn_forward(z, None, fwd["W_xh"], fwd["W_hh"], fwd["b_h"])[0]
        return birnn_forward(z, None, fwd, bwd)[0]

    B, T, _ = x.shape
    base = outputs(x)
    M = np.zeros((B, T, T), dtype=x.dtype)
    for s in range(T):
        probe = x.copy()
        probe[:, s] += delta
        M[:, :, s] = np.linalg.norm(outputs(probe) - base, axis=2)
    return M
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_influence_map_core", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(influence_map, "influence_map", cases=[
    {"B": 2, "T": 5, "D": 3, "H": 4, "seed": 1},
    {"B": 3, "T": 7, "D": 3, "H": 5, "seed": 603},
])
### BEGIN HIDDEN TESTS
check(influence_map, "influence_map", cases=[
    {"B": 3, "T": 7, "D": 3, "H": 5, "seed": 503},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_influence_map_options", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(influence_map, "influence_map", cases=[
    {"B": 2, "T": 8, "D": 4, "H": 4, "seed": 604, "bidirectional": True, "scale": 2.0},
    {"B": 3, "T": 6, "D": 3, "H": 4, "seed": 605, "bidirectional": True, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(influence_map, "influence_map", cases=[
    {"B": 2, "T": 8, "D": 4, "H": 4, "seed": 504, "bidirectional": True, "scale": 2.0},
    {"B": 3, "T": 6, "D": 3, "H": 4, "seed": 505, "bidirectional": True, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_influence_map_edges", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(influence_map, "influence_map", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "seed": 601, "bidirectional": True},
    {"B": 1, "T": 6, "D": 2, "H": 3, "seed": 602, "bidirectional": True},
])
### BEGIN HIDDEN TESTS
check(influence_map, "influence_map", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "seed": 501, "bidirectional": True},
    {"B": 1, "T": 6, "D": 2, "H": 3, "seed": 502, "bidirectional": True},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Seeing it
#
# The figure runs your probe on one sentence of 14 steps, through a causal RNN and through a
# BiRNN whose forward direction has the same weights. Each panel is `M[0]`: row `t` is an output
# step, column `s` the perturbed input step, colour the log of how far the output moved; white
# means exactly zero.

# %% tags=["demo"]
if not GRADING:
    from matplotlib.colors import LogNorm
    rng = np.random.default_rng(7)
    T_probe, D_probe, H_probe = 14, 3, 8
    direction = lambda: {"W_xh": rng.uniform(-1, 1, (D_probe, H_probe)) / np.sqrt(H_probe),   # torch's init
                         "W_hh": rng.uniform(-1, 1, (H_probe, H_probe)) / np.sqrt(H_probe),
                         "b_h": np.zeros(H_probe)}
    fwd_probe, bwd_probe = direction(), direction()
    x_probe, delta_probe = rng.normal(size=(1, T_probe, D_probe)), rng.normal(size=D_probe)
    maps = {"causal RNN": influence_map(x_probe, fwd_probe, None, delta_probe),
            "BiRNN": influence_map(x_probe, fwd_probe, bwd_probe, delta_probe)}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3))
    for ax, (title, M) in zip(axes, maps.items()):
        shown = np.ma.masked_equal(M[0], 0.0)
        im = ax.imshow(shown, norm=LogNorm(vmin=1e-8, vmax=1), cmap="viridis")
        ax.set_xticks(range(0, T_probe, 2)); ax.set_yticks(range(0, T_probe, 2))
        ax.set_title(f"{title}: zero entries {int((M[0] == 0).sum())} of {T_probe * T_probe}")
        ax.set_xlabel("perturbed input step s"); ax.set_ylabel("output step t")
    fig.colorbar(im, ax=axes, label="||change of output t||")
    plt.show()

# %% [markdown]
# **Streaming and future masking.** The white triangle is the whole story of causality. A causal
# model can emit the output for step `t` as soon as `x_t` arrives: live captions, a keyboard
# suggesting the next word, a trading signal. A BiRNN's backward direction starts at the *last*
# step, so before its first output is known the whole sequence must have arrived, and one new
# input at the end changes every output. Two common compromises: wait a fixed number of steps
# (the time delay of Part 1, or a BiRNN run on short overlapping chunks, whose latency is the
# chunk length), or train with **future masking**: during training, randomly hide the future
# context (for example, zero the backward half of `out` or the inputs after a random position)
# in a fraction of the examples, so the network learns to guess from the past alone and to
# sharpen its guess when the future is there. At a masking rate of 100% the model is causal
# again. BERT's masked-word training rests on a related idea: hide part of the input and make
# the model recover it from the context on both sides.
#
# ### Exercise 4.2: written answer (12 points, graded by hand)
#
# Answer in a few sentences each:
#
# 1. In the causal panel, which entries of `M` are exactly zero, and why exactly zero rather than
#    merely small? In the BiRNN panel, why does the influence still fade away from the diagonal?
# 2. A speech system must show the tag of each word at most 300 ms after the word is spoken, and
#    words arrive every 250 ms. Can it use a BiRNN over the whole utterance? What could it use
#    instead, and what is the largest look-ahead (in words) it can afford?
# 3. What does future masking during training buy a tagger that will sometimes run with, and
#    sometimes without, the future context?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_causality", "locked": false, "points": 12, "schema_version": 3, "solution": true, "task": false}
# *Model answer (the release shows "YOUR ANSWER HERE").*
#
# 1. The upper triangle, `s > t`: output `t` of a left-to-right RNN is computed from
#    `x_0, ..., x_t` only, so perturbing a later input does not enter the computation of `h_t` at
#    all; both runs execute the same floating-point operations and agree to the last bit. In the
#    BiRNN every entry is non-zero, but each step passes the perturbation through `W_hh` and a
#    tanh, which shrink it (here the recurrence is contracting), so the effect decays roughly
#    geometrically with `|t - s|`. *(4 points: the triangle, the reason for exact zeros, the decay.)*
# 2. No: the backward direction cannot start before the last word has arrived, so the first tag
#    would wait for the end of the utterance. A causal RNN works, or a small fixed look-ahead:
#    a time delay of `M` steps, or a BiRNN over chunks of `M + 1` words. The tag of word `t` may
#    then appear only after word `t + M` is heard; with 250 ms per word and a 300 ms budget,
#    `M = 1` would need 250 ms of waiting plus compute, which just fits, `M = 2` (500 ms) does not.
#    *(4 points: no, a causal or delayed alternative, and the look-ahead of one word.)*
# 3. It trains one network that works in both regimes: with the future hidden it must tag from
#    the past alone, so it does not collapse when the future is missing at test time, and with the
#    future present it still uses it. The masking rate trades one regime against the other; at
#    100% the model is causal. *(4 points.)*

# %% [markdown]
# ## Part 5. A tagging task where the next words decide
#
# Here is the 苹果 problem as a toy task. Sentences are made of filler words, two ambiguous
# nouns, 苹果 (apple / Apple) and 小米 (millet / Xiaomi), and six cue words: 味道, 好吃, 新鲜
# (taste, tasty, fresh) mean *food*, 股票, 手机, 发布 (shares, phone, launch) mean *company*.
# Each ambiguous noun is followed, one to three words later, by a cue, with only fillers in
# between, and it takes the sense of that first cue. Cues also appear elsewhere, so "any cue in
# the sentence" is no answer: the model must find the *next* one. Every other word is tagged
# *other*. Sentences have 5 to 12 words.
#
# Three taggers, each an embedding, a 2-layer tanh RNN with 32 units per direction and a linear
# layer, are trained in PyTorch for the same 300 steps of Adam:
#
# * **causal**: a left-to-right RNN, tag of word `t` read at step `t`;
# * **delay M = 1**: the same RNN reads one extra end-of-sentence token and the tag of word `t`
#   is read at step `t + 1`;
# * **BiRNN**: `bidirectional=True`, run on packed sequences (without packing, the backward
#   direction of every short sentence would start in the padding).
#
# Accuracy is measured on held-out sentences, on all words and on the ambiguous nouns alone.
# Finally the trained BiRNN is converted to numpy and run through **your**
# `stacked_birnn_forward` with the sentences' lengths. (About 10 seconds.)

# %% tags=["demo"]
if not GRADING:
    import time
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    FILLERS = ["我", "今天", "买了", "觉得", "的", "很", "那个", "看到", "一些", "真"]
    NOUNS = ["苹果", "小米"]
    FOOD, COMPANY = ["味道", "好吃", "新鲜"], ["股票", "手机", "发布"]
    VOCAB = ["<pad>", "<end>"] + FILLERS + NOUNS + FOOD + COMPANY
    IDX = {w: i for i, w in enumerate(VOCAB)}
    OTHER, FOOD_TAG, COMPANY_TAG = 0, 1, 2

    def make_sentence(rng):
        target = rng.integers(5, 13)
        words, tags = [], []
        while len(words) < target:
            gap = rng.integers(1, 4)                        # the cue comes 1..3 words later
            if rng.random() < 0.35 and len(words) + gap + 1 <= 12:
                sense = rng.integers(2)
                words += [rng.choice(NOUNS)] + list(rng.choice(FILLERS, gap - 1)) + [rng.choice([FOOD, COMPANY][sense])]
                tags += [FOOD_TAG + sense] + [OTHER] * gap
            else:
                words.append(rng.choice(FILLERS + FOOD + COMPANY) if rng.random() < 0.8 else rng.choice(FILLERS))
                tags.append(OTHER)
        return [IDX[w] for w in words], tags

    def make_dataset(n_sent, rng, T_max=12):
        """Word ids (n, T_max) padded with <pad>, tags (n, T_max) with -1 at padded steps, lengths (n,)."""
        tok = np.zeros((n_sent, T_max), dtype=np.int64)
        tag = np.full((n_sent, T_max), -1, dtype=np.int64)
        lens = np.zeros(n_sent, dtype=np.int64)
        for i in range(n_sent):
            w, g = make_sentence(rng)
            tok[i, :len(w)], tag[i, :len(g)], lens[i] = w, g, len(w)
        return tok, tag, lens

    def with_delay(tok, lens, delay):
        """Append `delay` <end> tokens to every sentence (the delayed tagger reads on for M steps)."""
        tok = np.concatenate([tok, np.zeros((len(tok), delay), dtype=np.int64)], axis=1)
        for k in range(delay):
            tok[np.arange(len(tok)), lens + k] = IDX["<end>"]
        return torch.as_tensor(tok), torch.as_tensor(lens + delay)

    torch.set_num_threads(1)           # tiny models: one thread is faster than several
    train_set = make_dataset(6400, np.random.default_rng(0))
    test_set = make_dataset(2000, np.random.default_rng(1000))

    class Tagger(nn.Module):
        def __init__(self, bidirectional, delay=0, E=16, H=32):
            super().__init__()
            self.delay, self.bidirectional = delay, bidirectional
            self.emb = nn.Embedding(len(VOCAB), E)
            self.rnn = nn.RNN(E, H, num_layers=2, bidirectional=bidirectional, batch_first=True)
            self.head = nn.Linear(2 * H if bidirectional else H, 3)

        def forward(self, tok, lens):
            e = self.emb(tok)
            if self.bidirectional:
                packed = pack_padded_sequence(e, lens, batch_first=True, enforce_sorted=False)
                out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=tok.shape[1])
            else:
                out = self.rnn(e)[0]                              # causal: the padding comes after the words
            return self.head(out[:, self.delay:])                  # the tag of word t is read at step t + delay

    def train_and_test(bidirectional, delay, steps=300, seed=0):
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = Tagger(bidirectional, delay)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        tok_all, lens_all = with_delay(train_set[0], train_set[2], delay)
        tag_all = torch.as_tensor(train_set[1])
        for step in range(steps):
            i = torch.as_tensor(rng.integers(0, len(tag_all), 64))
            logits = model(tok_all[i], lens_all[i])
            loss = nn.functional.cross_entropy(logits.reshape(-1, 3), tag_all[i].reshape(-1), ignore_index=-1)
            opt.zero_grad(); loss.backward(); opt.step()
        tok, lens = with_delay(test_set[0], test_set[2], delay)
        tag = torch.as_tensor(test_set[1])
        with torch.no_grad():
            pred = model(tok, lens).argmax(-1)
        words, nouns = tag >= 0, tag > 0
        return model, {"all words": (pred == tag)[words].float().mean().item(),
                       "ambiguous nouns": (pred == tag)[nouns].float().mean().item()}

    start = time.time()
    results, models = {}, {}
    for name, bi, delay in [("causal", False, 0), ("delay M = 1", False, 1), ("BiRNN", True, 0)]:
        models[name], results[name] = train_and_test(bi, delay)
        print(f"{name:12s}  all words {results[name]['all words']:.3f}   "
              f"ambiguous nouns {results[name]['ambiguous nouns']:.3f}")
    print(f"(trained in {time.time() - start:.1f} s)")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = list(results)
    for k, metric in enumerate(["all words", "ambiguous nouns"]):
        vals = [results[m][metric] for m in names]
        bars = ax.bar(np.arange(3) + 0.38 * k, vals, width=0.36, label=metric)
        ax.bar_label(bars, fmt="%.2f")
    ax.axhline(0.5, color="gray", ls=":", lw=1)
    ax.set_xticks(np.arange(3) + 0.19, names); ax.set_ylim(0, 1.3); ax.set_ylabel("test accuracy")
    ax.set_title("tag of a word decided by the next cue (1-3 words ahead)")
    ax.legend(loc="upper center", ncol=2)
    plt.show()

    # The trained BiRNN in numpy, with your stacked_birnn_forward and the sentences' lengths.
    bi_model = models["BiRNN"].double()
    tok, lens = with_delay(test_set[0][:8], test_set[2][:8], 0)
    sd = {k: v.detach().numpy() for k, v in bi_model.rnn.state_dict().items()}
    emb_np = bi_model.emb.weight.detach().numpy()
    out_np, h_n_np = stacked_birnn_forward(emb_np[tok.numpy()], None, convert_rnn_state_dict(sd, 2, True),
                                           lens.numpy())
    packed = pack_padded_sequence(bi_model.emb(tok), lens, batch_first=True, enforce_sorted=False)
    out_t, h_n_t = bi_model.rnn(packed)
    out_t = pad_packed_sequence(out_t, batch_first=True, total_length=tok.shape[1])[0]
    print("your stacked_birnn_forward against the trained torch BiRNN: max |out diff| =",
          f"{np.abs(out_np - out_t.detach().numpy()).max():.2e}, max |h_n diff| =",
          f"{np.abs(h_n_np - h_n_t.detach().numpy()).max():.2e}")

# %% [markdown]
# ### Exercise 5.1: written answer (8 points, graded by hand)
#
# Report the six numbers of your run (each tagger's accuracy on the ambiguous nouns and on all
# words) and explain them in a few sentences: what can the causal tagger know when it tags a
# noun, and what does that predict for its accuracy on the nouns and on all words? How much did
# the delay of `M = 1` change, and why that much? Why does the BiRNN need no choice of `M`, and
# what did it cost? Would a delay of `M = 3` close the gap, and what would it cost?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_tagging", "locked": false, "points": 8, "schema_version": 3, "solution": true, "task": false}
# *Model answer (the release shows "YOUR ANSWER HERE").*
#
# The causal tagger must tag a noun when it reads it, before any cue, and the two senses are
# equally likely, so it can only guess: about 0.5 on the nouns. Most words are fillers and cues
# tagged *other*, which it gets right, so its overall accuracy stays high. The delay `M = 1` lets
# it see one word ahead, which settles the nouns whose cue comes right after them (a third of the
# cases) and leaves the others at chance: roughly 1/3 + 2/3 * 1/2, about 0.67. The BiRNN's backward
# direction has read the whole rest of the sentence when it reaches the noun, so wherever the cue
# is, it is known; there is no window to choose and it tags almost every noun right. It cost twice
# the recurrent parameters and, above all, causality: no tag before the sentence is complete.
# A delay of `M = 3` would also cover every cue in this toy task, but only because we know the
# cue is at most three words away; it delays every output by three steps and makes the network
# carry each pending answer through three extra steps while it keeps reading. *(3 points for the
# causal bars, 2 for the delay, 3 for the BiRNN and the costs.)*
