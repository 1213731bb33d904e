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
# # Problem set 1: the forward pass of recurrent networks
#
# In this problem set you build, in numpy, the forward computations of the recurrent networks
# that PyTorch ships: one step of an Elman RNN, a whole sequence, a stack of layers, the LSTM
# and GRU cells, and a many-to-one classifier. Every function you write is compared with the
# real `torch.nn` module holding the same weights, so when your cell passes you know your numpy
# code computes exactly what PyTorch computes. The last part looks at an RNN as a dynamical
# system: when does its memory settle, and when does it explode?
#
# **How this notebook works.**
# * Cells that start with `def ...` and contain `raise NotImplementedError()` are yours: replace
#   that line with your code. Write **numpy only**; PyTorch is used by the checks, not by you.
# * Each of your functions is followed by locked test cells that call `check(...)`. They run your
#   function on a few cases and compare the result with PyTorch. When something differs it tells
#   you which output, at which index, what was expected and what you returned, and, when your
#   output matches a mistake that many learners make, the name of that mistake.
# * Conventions for the whole course: **batch first and row vectors**. A batch of sequences is
#   `x` of shape `(B, T, D)` (batch, time, features), a hidden state is `(B, H)`, and a weight
#   matrix multiplies from the right: `x_t @ W_xh` with `W_xh` of shape `(D, H)`.
# * Your functions must not modify their inputs in place, must return new `np.ndarray`s whose
#   dtype follows the inputs (float32 in, float32 out), and must raise `ValueError` for invalid
#   arguments.
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
# case = {"B": 1, "T": 3, "D": 2, "H": 4, "seed": 7, "h0": True}
# inputs = case_inputs("rnn_forward", case)      # a dict: argument name -> value
# check(rnn_forward, "rnn_forward", cases=[case])
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
# | 1 | `rnn_step_forward`, `rnn_forward` | 22 |
# | 2 | `convert_rnn_state_dict`, `stacked_rnn_forward` | 18 |
# | 3 | `lstm_cell_forward`, `gru_cell_forward` | 24 |
# | 4 | `many_to_one_classify` | 8 |
# | 5 | `linear_rnn_closed_form`, `spectral_radius`, `linear_fixed_point`, a written answer | 28 |

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import os

import numpy as np
import matplotlib.pyplot as plt

from autograder import check

# Demonstrations (training runs, figures) are skipped while a grader runs the notebook.
GRADING = bool(os.environ.get("NBGRADER_EXECUTION"))
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## Part 1. Memory as a running summary
#
# Take a voice assistant that must sort commands into intents. The command
# **播放周杰伦的《稻香》** ("play Jay Chou's *Rice Field*") splits into four tokens,
# `播放` (play), `周杰伦` (Jay Chou), `的` (the possessive particle) and `《稻香》` (the song), and
# the assistant should answer *music playback*. After an embedding layer each token is a vector,
# so the sentence is a matrix of shape `(T, D) = (4, D)`. How do we turn a variable number of
# vectors into one vector that a classifier can read?
#
# * **Add or average them** (a bag of words). Word order is lost: "the dog bit the man" and
#   "the man bit the dog" get the same vector, and the particle `的` weighs as much as the verb.
# * **Apply one dense layer to each token, then add.** The layer must share its weights over
#   positions (sentences have different lengths), but each token is still transformed alone:
#   the vector for `《稻香》` knows nothing of the `播放` before it.
# * **Slide a convolution over the tokens.** Neighbours now interact, but only within a fixed
#   window; no single window size suits every sentence.
#
# A recurrent network keeps a **running summary** instead. It reads one token per *time step*
# and carries a hidden state `h` from step to step. At step `t` it mixes the new input `x_t` with
# the summary so far `h_{t-1}`:
#
# $$h_t = \phi\left(x_t W_{xh} + h_{t-1} W_{hh} + b_h\right), \qquad h_0 = 0 \text{ (unless given)}$$
#
# with $\phi = \tanh$ (or ReLU). After `播放` the state holds "a play command"; after `周杰伦`,
# "play something by Jay Chou"; after the last token it summarises the whole command, and that
# final state $h_T$ is what a classifier reads.
#
# Two facts make this work for any length. First, **the same weights are used at every step**
# (`W_xh`, `W_hh`, `b_h` do not depend on `t`): the network learns one update rule and applies it
# as often as the sentence needs. Second, the state turns a *type* into a *token*: the embedding
# of `周杰伦` is the same wherever the word appears (the type), but the hidden state after reading
# it depends on what came before (this token, in this sentence).
#
# ### Shapes in this course
#
# PyTorch stores `nn.RNN`'s weights for column vectors: `weight_ih_l0` has shape `(H, D)` and
# computes `W x`. We use row vectors with the batch first, so our matrices are the transposes:
#
# | numpy (this course) | shape | PyTorch |
# |---|---|---|
# | `x_t` | `(B, D)` | one time step of the `batch_first` input |
# | `h_prev`, `h_t` | `(B, H)` | hidden state |
# | `W_xh` | `(D, H)` | `weight_ih_l0.T` |
# | `W_hh` | `(H, H)` | `weight_hh_l0.T` |
# | `b_h` | `(H,)` | `bias_ih_l0 + bias_hh_l0` (torch keeps two biases; only their sum matters) |
#
# ### Exercise 1.1: one step (10 points)
#
# Implement `rnn_step_forward(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity="tanh")`, returning
# `h_t` of shape `(B, H)`. `nonlinearity` is `"tanh"` or `"relu"`; anything else raises
# `ValueError`. This equals one step of `torch.nn.RNN` with the same weights.

# %% nbgrader={"grade": false, "grade_id": "rnn_step_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_step_forward(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity="tanh"):
    """One step of an Elman RNN.

    x_t:    (B, D) inputs at this step
    h_prev: (B, H) previous hidden state
    W_xh:   (D, H) input-to-hidden weights
    W_hh:   (H, H) hidden-to-hidden weights
    b_h:    (H,)   bias
    nonlinearity: "tanh" or "relu"
    returns h_t: (B, H)
    """
    ### BEGIN SOLUTION
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    z = x_t @ W_xh + h_prev @ W_hh + b_h
    return np.tanh(z) if nonlinearity == "tanh" else np.maximum(z, 0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rnn_step_forward_core", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(rnn_step_forward, "rnn_step_forward", cases=[
    {"B": 2, "D": 3, "H": 4, "seed": 1},
    {"B": 5, "D": 6, "H": 3, "seed": 112, "nonlinearity": "relu"},
    {"B": 4, "D": 3, "H": 5, "seed": 113, "dtype": "float32"},
    {"B": 3, "D": 2, "H": 4, "seed": 115, "scale": 4.0},
])
### BEGIN HIDDEN TESTS
check(rnn_step_forward, "rnn_step_forward", cases=[
    {"B": 5, "D": 6, "H": 3, "seed": 12, "nonlinearity": "relu"},
    {"B": 4, "D": 3, "H": 5, "seed": 13, "dtype": "float32"},
    {"B": 3, "D": 2, "H": 4, "seed": 15, "scale": 4.0},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_rnn_step_forward_edges", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(rnn_step_forward, "rnn_step_forward", cases=[
    {"B": 1, "D": 1, "H": 1, "seed": 111},
    {"B": 2, "D": 3, "H": 4, "seed": 114, "nonlinearity": "sigmoid", "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(rnn_step_forward, "rnn_step_forward", cases=[
    {"B": 1, "D": 1, "H": 1, "seed": 11},
    {"B": 2, "D": 3, "H": 4, "seed": 14, "nonlinearity": "sigmoid", "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Exercise 1.2: a whole sequence (12 points)
#
# Unrolling the recurrence over time gives a chain of identical steps, each feeding the next:
#
# ```
#   x[:,0]      x[:,1]            x[:,T-1]
#     |           |                  |
# h0 -> [step] -> [step] -> ... -> [step] -> h_last
#         |           |                  |
#     h_all[:,0]  h_all[:,1]      h_all[:,T-1]
# ```
#
# Implement `rnn_forward(x, h0, W_xh, W_hh, b_h, nonlinearity="tanh")` returning the tuple
# `(h_all, h_last)`: `h_all` of shape `(B, T, H)` holds the state **after** each step, and
# `h_last = h_all[:, -1]` of shape `(B, H)`. `h0` is `(B, H)`, or `None` for zeros. This equals
# `out, h_n = nn.RNN(D, H, batch_first=True)(x, h0[None])` with `h_all = out`, `h_last = h_n[0]`.
# Reuse your `rnn_step_forward`.

# %% nbgrader={"grade": false, "grade_id": "rnn_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_forward(x, h0, W_xh, W_hh, b_h, nonlinearity="tanh"):
    """Run an Elman RNN over a batch of sequences.

    x:  (B, T, D) inputs
    h0: (B, H) initial state, or None for zeros
    W_xh (D, H), W_hh (H, H), b_h (H,): as in rnn_step_forward
    returns (h_all, h_last): (B, T, H) states after every step, and (B, H) the last one
    """
    ### BEGIN SOLUTION
    B, T, _ = x.shape
    H = W_hh.shape[0]
    h = np.zeros((B, H), dtype=x.dtype) if h0 is None else h0
    h_all = np.empty((B, T, H), dtype=x.dtype)
    for t in range(T):
        h = rnn_step_forward(x[:, t], h, W_xh, W_hh, b_h, nonlinearity)
        h_all[:, t] = h
    return h_all, h.copy()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rnn_forward_core", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(rnn_forward, "rnn_forward", cases=[
    {"B": 2, "T": 4, "D": 3, "H": 5, "seed": 1},
    {"B": 3, "T": 9, "D": 4, "H": 6, "seed": 122, "h0": True},
    {"B": 2, "T": 7, "D": 5, "H": 4, "seed": 123, "nonlinearity": "relu", "h0": True},
    {"B": 4, "T": 12, "D": 3, "H": 8, "seed": 124, "h0": True, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(rnn_forward, "rnn_forward", cases=[
    {"B": 3, "T": 9, "D": 4, "H": 6, "seed": 22, "h0": True},
    {"B": 2, "T": 7, "D": 5, "H": 4, "seed": 23, "nonlinearity": "relu", "h0": True},
    {"B": 4, "T": 12, "D": 3, "H": 8, "seed": 24, "h0": True, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_rnn_forward_edges", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(rnn_forward, "rnn_forward", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "seed": 121},
    {"B": 2, "T": 3, "D": 3, "H": 4, "seed": 125, "nonlinearity": "gelu", "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(rnn_forward, "rnn_forward", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "seed": 21},
    {"B": 2, "T": 3, "D": 3, "H": 4, "seed": 25, "nonlinearity": "gelu", "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# **Type against token, in pictures.** Below, four made-up embeddings stand for the tokens of
# 播放周杰伦的《稻香》. We feed two sentences that both contain `周杰伦` through the same random
# RNN: the input vector of `周杰伦` is identical in both (one type), but the hidden state after
# reading it is not (two tokens). The figure shows the two sentences side by side, one column per
# hidden state: compare the column of `周杰伦` in the left panel with the one in the right panel.
# (Without a Chinese font on your machine the tokens are labelled in pinyin with a translation.)

# %% tags=["demo"]
if not GRADING:
    rng = np.random.default_rng(0)
    vocab = ["播放", "周杰伦", "的", "《稻香》", "我", "喜欢"]
    emb = {w: rng.normal(size=8) for w in vocab}
    W_xh_demo, W_hh_demo, b_demo = rng.normal(size=(8, 6)) / 3, rng.normal(size=(6, 6)) / 3, np.zeros(6)
    def states(words):
        x = np.stack([emb[w] for w in words])[None]          # (1, T, 8)
        return rnn_forward(x, None, W_xh_demo, W_hh_demo, b_demo)[0][0]
    play = states(["播放", "周杰伦", "的", "《稻香》"])
    like = states(["我", "喜欢", "周杰伦"])
    print("same input vector for 周杰伦 in both sentences; hidden states after it:")
    print("  播放 周杰伦 ->", play[1])
    print("  我 喜欢 周杰伦 ->", like[2])
    from matplotlib import font_manager
    cjk = [f.name for f in font_manager.fontManager.ttflist
           if any(k in f.name for k in ("CJK", "WenQuanYi", "Hei", "Han Sans", "PingFang", "YaHei", "Ming"))]
    pinyin = {"播放": "bofang\n(play)", "周杰伦": "Zhou Jielun\n(Jay Chou)", "的": "de\n('s)",
              "《稻香》": "Daoxiang\n(Rice Field)", "我": "wo\n(I)", "喜欢": "xihuan\n(like)"}
    if cjk:                                  # label in Chinese only when a font can draw it
        plt.rcParams["font.sans-serif"] = [cjk[0], "DejaVu Sans"]
    label = (lambda w: w) if cjk else pinyin.get
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    for ax, words, h, title in [(axes[0], ["播放", "周杰伦", "的", "《稻香》"], play, "the command"),
                                (axes[1], ["我", "喜欢", "周杰伦"], like, "the other sentence")]:
        ax.imshow(h.T, cmap="coolwarm", vmin=-1, vmax=1)
        ax.set_xticks(range(len(words)), [label(w) for w in words], fontsize=8)
        ax.set_title(f"h_t while reading {title}")
    axes[0].set_ylabel("hidden unit")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Part 2. PyTorch's parameters and stacked layers
#
# `nn.RNN(D, H, num_layers=L, bidirectional=...)` keeps its parameters in a `state_dict` whose
# names encode the layer and the direction: `weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`,
# `bias_hh_l0`, then `weight_ih_l0_reverse`, ... for the backward direction of a bidirectional
# layer, then `..._l1`, and so on. Layer 0 reads `x` (`weight_ih_l0` is `(H, D)`); layer `l > 0`
# reads the outputs of layer `l - 1`, of size `H` (or `2H` when bidirectional).
#
# ### Exercise 2.1: converting a state dict (8 points)
#
# Implement `convert_rnn_state_dict(state_dict, num_layers, bidirectional)`. `state_dict` maps
# torch's parameter names to numpy arrays (`{k: v.detach().numpy() for k, v in rnn.state_dict().items()}`).
# Return a list of dicts `{"W_xh", "W_hh", "b_h"}` in the order
# `[l0, l0_reverse, l1, l1_reverse, ...]` (no `_reverse` entries when unidirectional), with
# `W_xh = weight_ih.T`, `W_hh = weight_hh.T` and `b_h = bias_ih + bias_hh`. Return new arrays.

# %% nbgrader={"grade": false, "grade_id": "convert_rnn_state_dict", "locked": false, "schema_version": 3, "solution": true, "task": false}
def convert_rnn_state_dict(state_dict, num_layers, bidirectional):
    """torch nn.RNN parameters -> this course's row-vector parameters.

    state_dict: dict name -> np.ndarray, torch's names (weight_ih_l0, ..., bias_hh_l1_reverse)
    num_layers: L
    bidirectional: bool
    returns a list of dicts {"W_xh": (D_l, H), "W_hh": (H, H), "b_h": (H,)},
            ordered [l0, l0_reverse, l1, l1_reverse, ...]
    """
    ### BEGIN SOLUTION
    suffixes = ["", "_reverse"] if bidirectional else [""]
    layers = []
    for l in range(num_layers):
        for sfx in suffixes:
            p = lambda kind: np.asarray(state_dict[f"{kind}_l{l}{sfx}"])
            layers.append({"W_xh": p("weight_ih").T.copy(), "W_hh": p("weight_hh").T.copy(),
                           "b_h": p("bias_ih") + p("bias_hh")})
    return layers
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_convert_rnn_state_dict_options", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(convert_rnn_state_dict, "convert_rnn_state_dict", cases=[
    {"D": 5, "H": 3, "L": 2, "bidirectional": True, "seed": 131},
    {"D": 4, "H": 4, "L": 3, "bidirectional": False, "seed": 132},
])
### BEGIN HIDDEN TESTS
check(convert_rnn_state_dict, "convert_rnn_state_dict", cases=[
    {"D": 5, "H": 3, "L": 2, "bidirectional": True, "seed": 31},
    {"D": 4, "H": 4, "L": 3, "bidirectional": False, "seed": 32},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_convert_rnn_state_dict_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(convert_rnn_state_dict, "convert_rnn_state_dict", cases=[
    {"D": 3, "H": 4, "L": 1, "bidirectional": False, "seed": 1},
    {"D": 2, "H": 3, "L": 1, "bidirectional": True, "seed": 133, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(convert_rnn_state_dict, "convert_rnn_state_dict", cases=[
    {"D": 2, "H": 3, "L": 1, "bidirectional": True, "seed": 33, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Exercise 2.2: a stack of RNN layers (10 points)
#
# Stacking puts RNNs on top of each other: layer 0 reads `x`, layer `l + 1` reads the whole
# sequence of states `h_all` of layer `l`. Each layer has its own initial state and its own last
# state.
#
# Implement `stacked_rnn_forward(x, h0, layers, nonlinearity="tanh")` returning `(out, h_n)`:
# `out` `(B, T, H)` is the top layer's `h_all`, `h_n` `(L, B, H)` stacks every layer's last
# state, bottom layer first. `h0` is `(L, B, H)` or `None`; `layers` is a list of `L` dicts as
# returned by `convert_rnn_state_dict(..., bidirectional=False)`. This equals
# `nn.RNN(D, H, num_layers=L, batch_first=True)`.

# %% nbgrader={"grade": false, "grade_id": "stacked_rnn_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def stacked_rnn_forward(x, h0, layers, nonlinearity="tanh"):
    """A stack of L unidirectional RNN layers.

    x:      (B, T, D)
    h0:     (L, B, H) or None
    layers: list of L dicts {"W_xh", "W_hh", "b_h"}
    returns (out, h_n): (B, T, H) top layer outputs, (L, B, H) last state of every layer
    """
    ### BEGIN SOLUTION
    inp, lasts = x, []
    for l, p in enumerate(layers):
        inp, last = rnn_forward(inp, None if h0 is None else h0[l], p["W_xh"], p["W_hh"], p["b_h"], nonlinearity)
        lasts.append(last)
    return inp, np.stack(lasts)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_stacked_rnn_forward_core", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(stacked_rnn_forward, "stacked_rnn_forward", cases=[
    {"B": 2, "T": 4, "D": 3, "H": 5, "L": 2, "seed": 1},
    {"B": 3, "T": 6, "D": 4, "H": 4, "L": 3, "seed": 142, "h0": True},
    {"B": 2, "T": 5, "D": 3, "H": 4, "L": 2, "seed": 143, "h0": True, "nonlinearity": "relu", "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(stacked_rnn_forward, "stacked_rnn_forward", cases=[
    {"B": 3, "T": 6, "D": 4, "H": 4, "L": 3, "seed": 42, "h0": True},
    {"B": 2, "T": 5, "D": 3, "H": 4, "L": 2, "seed": 43, "h0": True, "nonlinearity": "relu", "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_stacked_rnn_forward_edges", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
check(stacked_rnn_forward, "stacked_rnn_forward", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "L": 1, "seed": 141},
    {"B": 2, "T": 3, "D": 3, "H": 4, "L": 2, "seed": 144, "nonlinearity": "sigmoid", "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(stacked_rnn_forward, "stacked_rnn_forward", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "L": 1, "seed": 41},
    {"B": 2, "T": 3, "D": 3, "H": 4, "L": 2, "seed": 44, "nonlinearity": "sigmoid", "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# **Your own functions together (5 of this exercise's points).** The checks above judge
# `stacked_rnn_forward` on its own work: while they run, the functions it calls (`rnn_forward`
# and `rnn_step_forward`) are the course's reference versions, so a slip in one of those costs
# points only once, in its own checks. This last check runs `stacked_rnn_forward` with *your*
# versions of them, end to end.

# %% nbgrader={"grade": true, "grade_id": "test_stacked_rnn_forward_integration", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(stacked_rnn_forward, "stacked_rnn_forward", cases=[
    {"B": 2, "T": 5, "D": 3, "H": 4, "L": 2, "seed": 161, "h0": True, "nonlinearity": "relu"},
], integration=True)
### BEGIN HIDDEN TESTS
check(stacked_rnn_forward, "stacked_rnn_forward", cases=[
    {"B": 2, "T": 5, "D": 3, "H": 4, "L": 2, "seed": 61, "h0": True, "nonlinearity": "relu"},
], integration=True)
### END HIDDEN TESTS


# %% [markdown]
# **Your numpy stack against a trained PyTorch model.** The cell below trains a two-layer
# `nn.RNN` for a few seconds on a toy task (is the running sum of the sequence positive at the
# end?), converts its `state_dict` with your function and runs your `stacked_rnn_forward`.
# The two outputs should agree to about 1e-15.

# %% tags=["demo"]
if not GRADING:
    import torch
    torch.manual_seed(0)
    model = torch.nn.RNN(1, 16, num_layers=2, batch_first=True).double()
    head = torch.nn.Linear(16, 1).double()
    opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=0.01)
    for step in range(300):
        xb = torch.randn(64, 12, 1, dtype=torch.float64)
        yb = (xb.sum(dim=(1, 2)) > 0).double()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(model(xb)[1][-1])[:, 0], yb)
        opt.zero_grad(); loss.backward(); opt.step()
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    xt = torch.randn(5, 12, 1, dtype=torch.float64)
    out_np, hn_np = stacked_rnn_forward(xt.numpy(), None, convert_rnn_state_dict(sd, 2, False))
    out_t, hn_t = model(xt)
    print(f"final training loss {loss.item():.3f}")
    print("max |numpy - torch| over outputs:", np.abs(out_np - out_t.detach().numpy()).max())

# %% [markdown]
# ## Part 3. Gated cells: LSTM and GRU
#
# A plain RNN rewrites its whole state at every step, so information from far back fades (or
# explodes: Part 5 and the next problem set). Gated cells add multiplicative *gates*, numbers in
# `(0, 1)` computed from the input and the state, that decide what to keep, what to write and what
# to show.
#
# **LSTM.** Besides `h` it carries a *cell state* `c`, updated additively. One matrix product
# gives four blocks of width `H`, which PyTorch packs **in the order i, f, g, o**:
#
# $$[a_i, a_f, a_g, a_o] = x_t W_x + h_{t-1} W_h + b$$
# $$i = \sigma(a_i),\quad f = \sigma(a_f),\quad g = \tanh(a_g),\quad o = \sigma(a_o)$$
# $$c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t)$$
#
# Here `W_x = weight_ih.T` is `(D, 4H)`, `W_h = weight_hh.T` is `(H, 4H)` and
# `b = bias_ih + bias_hh` is `(4H,)`. Other libraries use other block orders; getting torch's wrong
# is the most common LSTM bug.
#
# ### Exercise 3.1: LSTM cell (12 points)
#
# Implement `lstm_cell_forward(x_t, h_prev, c_prev, W_x, W_h, b)` returning `(h_t, c_t)`, both
# `(B, H)`; it equals `nn.LSTMCell`.

# %% nbgrader={"grade": false, "grade_id": "lstm_cell_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lstm_cell_forward(x_t, h_prev, c_prev, W_x, W_h, b):
    """One LSTM step with torch's gate order i, f, g, o.

    x_t (B, D), h_prev (B, H), c_prev (B, H), W_x (D, 4H), W_h (H, 4H), b (4H,)
    returns (h_t, c_t): both (B, H)
    """
    ### BEGIN SOLUTION
    a = x_t @ W_x + h_prev @ W_h + b
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    sig = lambda z: 1 / (1 + np.exp(-z))
    c_t = sig(a_f) * c_prev + sig(a_i) * np.tanh(a_g)
    h_t = sig(a_o) * np.tanh(c_t)
    return h_t, c_t
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_lstm_cell_forward_core", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(lstm_cell_forward, "lstm_cell_forward", cases=[
    {"B": 2, "D": 3, "H": 4, "seed": 1},
    {"B": 4, "D": 5, "H": 3, "seed": 152},
])
### BEGIN HIDDEN TESTS
check(lstm_cell_forward, "lstm_cell_forward", cases=[
    {"B": 4, "D": 5, "H": 3, "seed": 52},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_lstm_cell_forward_options", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(lstm_cell_forward, "lstm_cell_forward", cases=[
    {"B": 3, "D": 2, "H": 6, "seed": 153, "dtype": "float32", "scale": 3.0},
])
### BEGIN HIDDEN TESTS
check(lstm_cell_forward, "lstm_cell_forward", cases=[
    {"B": 3, "D": 2, "H": 6, "seed": 53, "dtype": "float32", "scale": 3.0},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_lstm_cell_forward_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(lstm_cell_forward, "lstm_cell_forward", cases=[
    {"B": 1, "D": 1, "H": 1, "seed": 151},
])
### BEGIN HIDDEN TESTS
check(lstm_cell_forward, "lstm_cell_forward", cases=[
    {"B": 1, "D": 1, "H": 1, "seed": 51},
])
### END HIDDEN TESTS


# %% [markdown]
# **GRU.** Two gates and no separate cell: a *reset* gate `r` decides how much of the old state
# feeds the candidate `n`, an *update* gate `z` interpolates between the old state and the
# candidate. PyTorch packs the blocks **r, z, n** and keeps the input and hidden biases apart,
# because the reset gate multiplies the hidden part *including its bias*:
#
# $$r = \sigma(x_t W_{xr} + b_{xr} + h_{t-1} W_{hr} + b_{hr}), \qquad z = \sigma(x_t W_{xz} + b_{xz} + h_{t-1} W_{hz} + b_{hz})$$
# $$n = \tanh\left(x_t W_{xn} + b_{xn} + r \odot (h_{t-1} W_{hn} + b_{hn})\right), \qquad h_t = (1 - z) \odot n + z \odot h_{t-1}$$
#
# (Cho et al.'s original GRU applied `r` to `h` *before* the matrix product; torch does not.)
#
# ### Exercise 3.2: GRU cell (12 points)
#
# Implement `gru_cell_forward(x_t, h_prev, W_x, W_h, b_x, b_h)` returning `h_t` `(B, H)`, with
# `W_x = weight_ih.T` `(D, 3H)`, `W_h = weight_hh.T` `(H, 3H)`, `b_x = bias_ih`, `b_h = bias_hh`
# (both `(3H,)`); it equals `nn.GRUCell`.

# %% nbgrader={"grade": false, "grade_id": "gru_cell_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gru_cell_forward(x_t, h_prev, W_x, W_h, b_x, b_h):
    """One GRU step with torch's block order r, z, n.

    x_t (B, D), h_prev (B, H), W_x (D, 3H), W_h (H, 3H), b_x (3H,), b_h (3H,)
    returns h_t: (B, H)
    """
    ### BEGIN SOLUTION
    gx_r, gx_z, gx_n = np.split(x_t @ W_x + b_x, 3, axis=1)
    gh_r, gh_z, gh_n = np.split(h_prev @ W_h + b_h, 3, axis=1)
    sig = lambda v: 1 / (1 + np.exp(-v))
    r, z = sig(gx_r + gh_r), sig(gx_z + gh_z)
    n = np.tanh(gx_n + r * gh_n)
    return (1 - z) * n + z * h_prev
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_gru_cell_forward_core", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(gru_cell_forward, "gru_cell_forward", cases=[
    {"B": 2, "D": 3, "H": 4, "seed": 1},
    {"B": 4, "D": 5, "H": 3, "seed": 162},
])
### BEGIN HIDDEN TESTS
check(gru_cell_forward, "gru_cell_forward", cases=[
    {"B": 4, "D": 5, "H": 3, "seed": 62},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_gru_cell_forward_options", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(gru_cell_forward, "gru_cell_forward", cases=[
    {"B": 3, "D": 2, "H": 6, "seed": 163, "dtype": "float32", "scale": 3.0},
])
### BEGIN HIDDEN TESTS
check(gru_cell_forward, "gru_cell_forward", cases=[
    {"B": 3, "D": 2, "H": 6, "seed": 63, "dtype": "float32", "scale": 3.0},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_gru_cell_forward_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(gru_cell_forward, "gru_cell_forward", cases=[
    {"B": 1, "D": 1, "H": 1, "seed": 161},
])
### BEGIN HIDDEN TESTS
check(gru_cell_forward, "gru_cell_forward", cases=[
    {"B": 1, "D": 1, "H": 1, "seed": 61},
])
### END HIDDEN TESTS


# %% [markdown]
# ## Part 4. Many-to-one: classifying the command
#
# Back to the assistant. A **many-to-one** model reads the whole sequence and makes one decision
# from the last state: logits `h_last @ W_hy + b_y` of shape `(B, C)`, one per intent, and a
# softmax turns them into probabilities. (Many-to-many models, next problem sets, read every
# `h_t`.)
#
# A numerically safe softmax subtracts each row's maximum before `np.exp`: the result is
# mathematically the same, but `exp` can no longer overflow.
#
# ### Exercise 4.1 (8 points)
#
# Implement `many_to_one_classify(x, h0, W_xh, W_hh, b_h, W_hy, b_y)` returning class
# probabilities `(B, C)` (rows sum to 1): a tanh RNN, then `nn.Linear` with weight `W_hy.T`
# `(C, H)` and bias `b_y` `(C,)`, then a softmax over classes.

# %% nbgrader={"grade": false, "grade_id": "many_to_one_classify", "locked": false, "schema_version": 3, "solution": true, "task": false}
def many_to_one_classify(x, h0, W_xh, W_hh, b_h, W_hy, b_y):
    """Class probabilities from the last hidden state of a tanh RNN.

    x (B, T, D), h0 (B, H) or None, W_xh (D, H), W_hh (H, H), b_h (H,), W_hy (H, C), b_y (C,)
    returns probs: (B, C), each row sums to 1
    """
    ### BEGIN SOLUTION
    _, h_last = rnn_forward(x, h0, W_xh, W_hh, b_h)
    logits = h_last @ W_hy + b_y
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_many_to_one_classify_core", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(many_to_one_classify, "many_to_one_classify", cases=[
    {"B": 2, "T": 4, "D": 3, "H": 5, "C": 3, "seed": 1},
    {"B": 4, "T": 6, "D": 3, "H": 5, "C": 4, "seed": 172, "h0": True},
    {"B": 2, "T": 4, "D": 3, "H": 4, "C": 3, "seed": 174, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(many_to_one_classify, "many_to_one_classify", cases=[
    {"B": 4, "T": 6, "D": 3, "H": 5, "C": 4, "seed": 72, "h0": True},
    {"B": 2, "T": 4, "D": 3, "H": 4, "C": 3, "seed": 74, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_many_to_one_classify_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(many_to_one_classify, "many_to_one_classify", cases=[
    {"B": 3, "T": 4, "D": 3, "H": 5, "C": 4, "seed": 131, "logit_scale": 10000.0},
    {"B": 1, "T": 1, "D": 2, "H": 2, "C": 2, "seed": 171},
    {"B": 3, "T": 5, "D": 3, "H": 4, "C": 5, "seed": 173, "logit_scale": 500.0},
])
### BEGIN HIDDEN TESTS
check(many_to_one_classify, "many_to_one_classify", cases=[
    {"B": 4, "T": 3, "D": 2, "H": 6, "C": 3, "seed": 31, "logit_scale": 10000.0},
    {"B": 1, "T": 1, "D": 2, "H": 2, "C": 2, "seed": 71},
    {"B": 3, "T": 5, "D": 3, "H": 4, "C": 5, "seed": 73, "logit_scale": 500.0},
])
### END HIDDEN TESTS


# %% [markdown]
# ## Part 5. An RNN as a dynamical system
#
# Drop the nonlinearity and the bias for a moment. A **linear RNN** updates
# `h_t = h_{t-1} W + x_t U` (with `W` `(H, H)`, `U` `(D, H)`). Unrolling it by hand:
#
# $$h_1 = h_0 W + x_1 U,\quad h_2 = h_0 W^2 + x_1 U W + x_2 U,\quad \dots,\quad
# h_T = h_0 W^T + \sum_{t=1}^{T} x_t U W^{T-t}.$$
#
# Every input reaches the final state through a **power of the same matrix** `W`, and the older
# the input, the higher the power. Powers of a matrix are governed by its eigenvalues: if every
# eigenvalue has modulus below 1, `W^k` shrinks to zero and old inputs are forgotten; if one has
# modulus above 1, `W^k` grows without bound. The largest modulus,
# $\rho(W) = \max_i |\lambda_i|$, is the **spectral radius**.
#
# ### Exercise 5.1: the closed form (8 points)
#
# Implement `linear_rnn_closed_form(x, h0, W, U)` returning `h_T` `(B, H)` from the formula above
# (use `np.linalg.matrix_power`; in code `x[:, t]` is $x_{t+1}$). It must equal running the
# recurrence step by step.

# %% nbgrader={"grade": false, "grade_id": "linear_rnn_closed_form", "locked": false, "schema_version": 3, "solution": true, "task": false}
def linear_rnn_closed_form(x, h0, W, U):
    """Final state of the linear RNN h_t = h_{t-1} W + x_t U, without running the recurrence.

    x (B, T, D), h0 (B, H), W (H, H), U (D, H)
    returns h_T: (B, H) = h0 W^T + sum_{t=1..T} x_t U W^(T-t)
    """
    ### BEGIN SOLUTION
    T = x.shape[1]
    powers = [np.linalg.matrix_power(W, k) for k in range(T + 1)]
    h = h0 @ powers[T]
    for t in range(T):
        h = h + x[:, t] @ U @ powers[T - 1 - t]
    return h
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_linear_rnn_closed_form_core", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(linear_rnn_closed_form, "linear_rnn_closed_form", cases=[
    {"B": 2, "T": 5, "D": 3, "H": 4, "seed": 1},
    {"B": 3, "T": 12, "D": 2, "H": 5, "seed": 182, "scale": 1.2},
    {"B": 2, "T": 6, "D": 3, "H": 3, "seed": 183, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(linear_rnn_closed_form, "linear_rnn_closed_form", cases=[
    {"B": 3, "T": 12, "D": 2, "H": 5, "seed": 82, "scale": 1.2},
    {"B": 2, "T": 6, "D": 3, "H": 3, "seed": 83, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_linear_rnn_closed_form_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(linear_rnn_closed_form, "linear_rnn_closed_form", cases=[
    {"B": 1, "T": 1, "D": 1, "H": 2, "seed": 181},
])
### BEGIN HIDDEN TESTS
check(linear_rnn_closed_form, "linear_rnn_closed_form", cases=[
    {"B": 1, "T": 1, "D": 1, "H": 2, "seed": 81},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Exercise 5.2: spectral radius (4 points)
#
# Implement `spectral_radius(W)` for a square `W` `(H, H)`, returning a Python `float`. Remember
# that a real matrix can have complex eigenvalues.

# %% nbgrader={"grade": false, "grade_id": "spectral_radius", "locked": false, "schema_version": 3, "solution": true, "task": false}
def spectral_radius(W):
    """rho(W) = max |eigenvalue| of a square matrix W (H, H), as a float."""
    ### BEGIN SOLUTION
    return float(np.abs(np.linalg.eigvals(W)).max())
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_spectral_radius_core", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check(spectral_radius, "spectral_radius", cases=[
    {"H": 3, "seed": 1},
    {"H": 6, "seed": 192, "kind": "rotation", "scale": 1.1},
    {"H": 8, "seed": 193, "scale": 2.0},
    {"H": 5, "seed": 194, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(spectral_radius, "spectral_radius", cases=[
    {"H": 6, "seed": 92, "kind": "rotation", "scale": 1.1},
    {"H": 8, "seed": 93, "scale": 2.0},
    {"H": 5, "seed": 94, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_spectral_radius_edges", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check(spectral_radius, "spectral_radius", cases=[
    {"H": 1, "seed": 191},
])
### BEGIN HIDDEN TESTS
check(spectral_radius, "spectral_radius", cases=[
    {"H": 1, "seed": 91},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Exercise 5.3: the fixed point of a constant input (6 points)
#
# Feed the same input `x` forever to `h_t = h_{t-1} W + x U + b`. If the state stops changing,
# it sits at a **fixed point** $h^*$ with $h^* = h^* W + x U + b$, that is
# $h^* (I - W) = x U + b$. When $\rho(W) < 1$ every trajectory converges to it, whatever `h_0`;
# when $\rho(W) > 1$ the fixed point still exists (if $I - W$ is invertible) but trajectories run
# away from it.
#
# Implement `linear_fixed_point(x, W, U, b)` returning $h^*$ `(B, H)` for a batch of constant
# inputs `x` `(B, D)`. Solve the linear system (`np.linalg.solve`) rather than inverting; mind
# which side `I - W` sits on.

# %% nbgrader={"grade": false, "grade_id": "linear_fixed_point", "locked": false, "schema_version": 3, "solution": true, "task": false}
def linear_fixed_point(x, W, U, b):
    """Fixed point h* of h = h W + x U + b for a constant input.

    x (B, D), W (H, H), U (D, H), b (H,)
    returns h_star: (B, H), solving h* (I - W) = x U + b
    """
    ### BEGIN SOLUTION
    A = np.eye(W.shape[0], dtype=W.dtype) - W
    return np.linalg.solve(A.T, (x @ U + b).T).T
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_linear_fixed_point_core", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check(linear_fixed_point, "linear_fixed_point", cases=[
    {"B": 2, "D": 3, "H": 4, "seed": 1},
    {"B": 3, "D": 2, "H": 6, "seed": 202},
])
### BEGIN HIDDEN TESTS
check(linear_fixed_point, "linear_fixed_point", cases=[
    {"B": 3, "D": 2, "H": 6, "seed": 102},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_linear_fixed_point_options", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check(linear_fixed_point, "linear_fixed_point", cases=[
    {"B": 2, "D": 4, "H": 5, "seed": 203, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(linear_fixed_point, "linear_fixed_point", cases=[
    {"B": 2, "D": 4, "H": 5, "seed": 103, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_linear_fixed_point_edges", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check(linear_fixed_point, "linear_fixed_point", cases=[
    {"B": 1, "D": 1, "H": 1, "seed": 201},
])
### BEGIN HIDDEN TESTS
check(linear_fixed_point, "linear_fixed_point", cases=[
    {"B": 1, "D": 1, "H": 1, "seed": 101},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Seeing it: trajectories and eigenvalues
#
# The figure uses your three functions. We scale one random `W` to spectral radius 0.9, 1.0 and
# 1.1 and feed a constant input from several random starting states.
#
# * **Left**: the eigenvalues of the three matrices against the unit circle. Radius 0.9 puts all
#   of them inside; radius 1.1 pushes the largest outside.
# * **Middle**: the distance of the linear RNN's state from its fixed point, on a log scale.
#   Inside the circle it falls geometrically, like $\rho^t$; outside, it grows like $\rho^t$.
# * **Right**: the same three matrices in a **tanh** RNN with no input, `h_t = tanh(h_{t-1} W)`.
#   Below radius 1 the state still dies out geometrically; at 1 it fades slowly; above 1 it does
#   neither dies out nor blows up: the squashing keeps it inside $(-1, 1)^H$, here on a bounded,
#   non-zero oscillation (the linear RNN's complex eigenvalues rotate the state).

# %% tags=["demo"]
if not GRADING:
    rng = np.random.default_rng(3)
    H, D, T = 6, 2, 60
    W0 = rng.normal(size=(H, H))
    U0, b0, x_const = rng.normal(size=(D, H)), rng.normal(size=H) * 0.1, rng.normal(size=(1, D))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
    axes[0].plot(circle.real, circle.imag, "k-", lw=1)
    for rho, color in [(0.9, "tab:blue"), (1.0, "tab:gray"), (1.1, "tab:red")]:
        W = W0 * rho / spectral_radius(W0)
        ev = np.linalg.eigvals(W)
        axes[0].scatter(ev.real, ev.imag, color=color, label=f"rho = {rho}")
        h_star = linear_fixed_point(x_const, W, U0, b0)
        for trial in range(5):
            h = rng.normal(size=(1, H)) * 2
            dist, norm_tanh = [], []
            ht = h.copy()
            for t in range(T):
                h = h @ W + x_const @ U0 + b0
                dist.append(np.linalg.norm(h - h_star))
                ht = rnn_step_forward(np.zeros((1, D)), ht, U0, W, np.zeros(H))   # tanh RNN, no input
                norm_tanh.append(np.linalg.norm(ht))
            axes[1].semilogy(dist, color=color, alpha=0.6)
            axes[2].semilogy(norm_tanh, color=color, alpha=0.6)
    # the closed form and the loop agree:
    xs = rng.normal(size=(1, 10, D))
    h_loop = np.zeros((1, H))
    for t in range(10):
        h_loop = h_loop @ (W0 / spectral_radius(W0)) + xs[:, t] @ U0
    print("closed form - loop:", np.abs(linear_rnn_closed_form(xs, np.zeros((1, H)), W0 / spectral_radius(W0), U0) - h_loop).max())
    axes[0].set_aspect("equal"); axes[0].legend(); axes[0].set_title("eigenvalues and the unit circle")
    axes[1].set_title("linear RNN: ||h_t - h*|| (log scale)"); axes[1].set_xlabel("t")
    axes[2].set_title("tanh RNN without input: ||h_t|| (log scale)"); axes[2].set_xlabel("t")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ### Exercise 5.4: written answer (10 points, graded by hand)
#
# Using the closed form and the figure, answer in a few sentences:
#
# 1. In a linear RNN with $\rho(W) = 0.9$, by roughly what factor is the influence of an input 50
#    steps in the past on $h_T$ scaled, compared with the last input? What does this say about
#    what the network can remember?
# 2. With $\rho(W) = 1.1$ the linear state explodes but the tanh state stays bounded. Why?
#    Does bounded mean the tanh network *remembers* its distant inputs well? (Think about the
#    slope of tanh where the state saturates; Problem set 2 makes this precise.)

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_dynamics", "locked": false, "points": 10, "schema_version": 3, "solution": true, "task": false}
# *Model answer (the release shows "YOUR ANSWER HERE").*
#
# 1. The input from 50 steps back reaches $h_T$ through $W^{50}$, whose size along the leading
#    eigenvector is about $0.9^{50} \approx 0.005$ (other directions shrink faster). Distant inputs are
#    scaled down by more than two orders of magnitude, so the network effectively remembers a
#    window of a few tens of steps. *(4 points: the factor, and the conclusion about memory.)*
# 2. tanh maps every pre-activation into $(-1, 1)$, so the state cannot grow without bound. But
#    where a unit saturates its slope $\tanh'$ is close to 0: changing a distant input barely
#    changes the state, so information (and, in Problem set 2, the gradient) from far back is
#    squashed away rather than kept. Bounded is not the same as remembering. *(6 points: the
#    bound, the saturated slope, and why it does not help memory.)*
