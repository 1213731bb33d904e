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
# # Problem set 4: attention and a seq2seq decoder
#
# An encoder-decoder network reads one sequence and writes another: a Chinese sentence in, an
# English sentence out. In its first form the encoder squeezes the whole input into one vector and
# the decoder writes everything from that vector alone. This problem set builds the fix that
# changed the field: **attention**, which lets the decoder look back at every input position
# whenever it writes a word. You write, in numpy, the softmax with masks that attention runs on,
# three ways of scoring how well a query matches a key, the weighted sum that reads the values,
# the scaled dot-product attention of Transformers, an entropy that measures how focused an
# attention distribution is, and the decoder step of Bahdanau et al. (2015) with greedy decoding
# on top. At the end you train two small translators of a toy language (it reverses digit
# strings) with and without attention, decode the attentive one with *your* numpy decoder, and
# watch the fixed-size bottleneck break down as the sentences grow.
#
# **How this notebook works.**
# * Cells that start with `def ...` and contain `raise NotImplementedError()` are yours. Replace
#   that line with **numpy** code. PyTorch appears only in the checks and in the demonstrations.
# * After each function come locked cells of `check(...)` calls. They run your function on a few
#   cases and compare it with PyTorch (`torch.softmax`, `F.scaled_dot_product_attention`,
#   `nn.GRUCell`, `nn.Linear`, ...). When they differ, the message names the output, the index,
#   the expected and the returned values and, if your output matches a mistake many learners make,
#   that mistake.
# * The visible cases include rows in which *nothing* may be attended, masked entries far larger
#   than the allowed ones, and scores as large as `1e4`, for every function that computes a
#   softmax inside it.
# * Course conventions: **batch first, row vectors** (`x @ W` with `W` of shape `(in, out)`);
#   never modify an input in place; return new `np.ndarray`s whose dtype follows the inputs
#   (`float32` in, `float32` out); raise `ValueError` when shapes do not fit.
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
# case = {"B": 2, "S": 5, "mask": "full", "empty_rows": 1, "seed": 7}
# inputs = case_inputs("masked_softmax", case)      # a dict: argument name -> value
# check(masked_softmax, "masked_softmax", cases=[case])
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
# | 1 | `masked_softmax` | 12 |
# | 2 | `dot_scores`, `general_scores`, `additive_scores` | 17 |
# | 3 | `attend`, `attention_entropy` | 14 |
# | 4 | `scaled_dot_product_attention`, a written answer | 22 |
# | 5 | `bahdanau_decoder_step`, `greedy_decode` | 25 |
# | 6 | the bottleneck experiment, a written answer | 10 |

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import os

import numpy as np
import matplotlib.pyplot as plt

from autograder import check

# Demonstrations (training runs, figures) are skipped while a grader runs the notebook.
GRADING = bool(os.environ.get("NBGRADER_EXECUTION"))
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## Part 0. One vector for a whole sentence
#
# Translate **我喜欢周杰伦的歌** ("I like Jay Chou's songs"). The source has five tokens,
# `我` (I), `喜欢` (like), `周杰伦` (Jay Chou), `的` (the possessive particle) and `歌` (song);
# the target has five too, but in general the lengths differ and words do not line up one to one.
# A **sequence-to-sequence** (seq2seq) model splits the job in two:
#
# * an **encoder** RNN reads the source and leaves a hidden state after each token,
#   `h_1, ..., h_S`;
# * a **decoder** RNN writes the target one token at a time. At step `t` it reads the token it
#   wrote at step `t - 1` (a start token at `t = 1`), updates its state `s_t` and predicts the
#   next token from it.
#
# In the first seq2seq models the only bridge between the two was a single **context vector**
# `c`, usually the encoder's last state `h_S`, handed to the decoder once (as its initial state)
# or at every step. Think of it as first understanding, then speaking. The weakness is plain
# once you say it aloud: a vector of fixed size, say 64 numbers, must hold *everything* the
# decoder will ever need, whether the source has five tokens or fifty. Reading a friend a phone
# number and asking them to repeat it works for five digits and fails for thirty, however
# clever the friend. The longer the source, the more the decoder's output degrades. This is the
# **information bottleneck** of the fixed-size context, and Part 6 measures it.
#
# ## Attention: looking back at the source
#
# A human translator does not read the sentence once and then recite from memory; while writing
# "songs" their eyes go back to `歌`. **Attention** gives the decoder the same freedom. At every
# output step it
#
# 1. forms a **query** `q`, a vector that says what it is looking for now (in Bahdanau's decoder,
#    its previous state `s_{t-1}`);
# 2. compares the query with a **key** `k_j` for every source position `j` (here, the encoder
#    states `h_j`), giving one **score** `e_j = score(q, k_j)` per position;
# 3. turns the scores into **weights** with a softmax, `a_j = exp(e_j) / sum_i exp(e_i)`:
#    non-negative, summing to 1, large where the match is good;
# 4. reads a **context** `c_t = sum_j a_j v_j`, the weighted average of the **values** `v_j`
#    (here the encoder states again).
#
# ```
#   keys / values:   h_1     h_2     h_3     h_4     h_5          (encoder states, one per source token)
#                     |       |       |       |       |
#   query s_{t-1} -> e_1     e_2     e_3     e_4     e_5          scores  e_j = score(s_{t-1}, h_j)
#                     \_______\_______|_______/_______/
#                               softmax (+ mask)                  weights a_j >= 0, sum_j a_j = 1
#                                     |
#                           c_t = sum_j a_j h_j                   a fresh context for every output step
# ```
#
# The context is no longer one vector for the whole sentence but a new one for each output token,
# and it can point anywhere in the source, however long. The weights themselves are a by-product
# worth looking at: plotted for every output step they show which source tokens the model used
# for which target tokens (the *alignment*).

# %% [markdown]
# ## Part 1. The masked softmax
#
# Every attention variant ends in the same operation: a softmax over source positions. Two
# practical details turn the textbook softmax into the one attention needs.
#
# **Masks.** Sentences in a batch have different lengths, so they are padded to a common length
# `S`. Padded positions are not words: they must get weight exactly 0. And in a decoder that
# attends to its own earlier outputs, position `i` must not look at positions after `i` (the
# future is not written yet). Both are expressed by a boolean **mask**. We follow PyTorch's
# boolean `attn_mask` convention: **`True` means "may attend"**, `False` means "masked out".
# Masked scores are replaced by $-\infty$ before the softmax, so that $e^{-\infty} = 0$:
#
# $$a_j = \frac{\text{mask}_j \, \exp(e_j)}{\sum_i \text{mask}_i \, \exp(e_i)}$$
#
# A row in which *no* entry may be attended (a query with nothing to look at, e.g. an empty
# source) would be $0/0$. `torch.softmax` returns NaN for such a row; in this course
# `masked_softmax` returns **all zeros** there, so that one empty row cannot poison a whole batch.
#
# **Stability.** `np.exp(1000.0)` is `inf` and `np.exp(-1000.0)` is `0.0`. Scores that large
# appear in practice (long vectors, large weights, no scaling), and then a naive softmax returns
# `inf / inf` or `0 / 0`, both NaN. Since $\mathrm{softmax}(e) = \mathrm{softmax}(e - m)$ for any
# constant `m`, subtract each row's **maximum over the allowed entries**: the largest exponent
# is then $e^0 = 1$ and nothing overflows. (Taking the maximum over the masked entries too is a
# classic bug: a huge masked score pushes every allowed one to $e^{-\text{huge}} = 0$.)
#
# ### Exercise 1.1: masked softmax (12 points)
#
# Implement `masked_softmax(scores, mask=None)`: the softmax over the **last axis** of `scores`
# (any number of leading axes), where `mask` is `None` (everything may be attended) or a boolean
# array that broadcasts to `scores.shape` (for example `(S,)` for 2-D scores, or `(B, 1, S)`
# for scores of shape `(B, T, S)`). Rows without a `True` entry are all zeros, and the result
# is finite for `abs(scores)` up to `1e4`. A mask that does not broadcast raises `ValueError`
# (`np.broadcast_to` does that for you). This equals
# `torch.softmax(scores.masked_fill(~mask, -inf), dim=-1)` with NaN rows set to 0.

# %% nbgrader={"grade": false, "grade_id": "masked_softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def masked_softmax(scores, mask=None):
    """Softmax over the last axis, restricted to the entries where mask is True.

    scores: (..., S) float array
    mask:   None, or a bool array broadcastable to scores.shape; True = may attend
    returns weights: same shape as scores; each row sums to 1 over its allowed entries,
            rows with no allowed entry are all 0
    """
    ### BEGIN SOLUTION
    if mask is None:
        allowed = np.ones(scores.shape, dtype=bool)
    else:
        allowed = np.broadcast_to(np.asarray(mask, dtype=bool), scores.shape)
    filled = np.where(allowed, scores, -np.inf)
    row_max = filled.max(axis=-1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0)      # rows with nothing allowed
    e = np.exp(filled - row_max)
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total > 0, total, 1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_masked_softmax_core", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(masked_softmax, "masked_softmax", cases=[
    {"B": 2, "S": 4, "seed": 2},
    {"B": 2, "S": 5, "mask": "full", "seed": 1},
    {"B": 3, "T": 4, "S": 6, "mask": "keys", "seed": 112},
    {"B": 3, "S": 5, "mask": "keys", "seed": 113},
])
### BEGIN HIDDEN TESTS
check(masked_softmax, "masked_softmax", cases=[
    {"B": 3, "T": 4, "S": 6, "mask": "keys", "seed": 12},
    {"B": 3, "S": 5, "mask": "keys", "seed": 13},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_masked_softmax_edges", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(masked_softmax, "masked_softmax", cases=[
    {"B": 3, "S": 6, "mask": "full", "large": "masked", "seed": 141},
    {"B": 2, "T": 3, "S": 5, "mask": "keys", "large": "masked", "seed": 142},
    {"B": 1, "S": 1, "seed": 111},
    {"B": 4, "S": 6, "mask": "full", "empty_rows": 2, "seed": 114},
    {"B": 2, "T": 3, "S": 5, "mask": "full", "empty_rows": 1, "seed": 115, "dtype": "float32"},
    {"B": 4, "S": 6, "large": "rows", "seed": 116},
    {"B": 3, "S": 8, "mask": "full", "large": "entries", "seed": 117},
    {"B": 3, "T": 2, "S": 5, "mask": "keys", "large": "rows", "seed": 118, "dtype": "float32"},
    {"B": 2, "S": 4, "mask": "bad", "seed": 119, "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(masked_softmax, "masked_softmax", cases=[
    {"B": 4, "S": 5, "mask": "full", "large": "masked", "seed": 41},
    {"B": 3, "T": 2, "S": 6, "mask": "keys", "large": "masked", "seed": 42},
    {"B": 1, "S": 1, "seed": 11},
    {"B": 4, "S": 6, "mask": "full", "empty_rows": 2, "seed": 14},
    {"B": 2, "T": 3, "S": 5, "mask": "full", "empty_rows": 1, "seed": 15, "dtype": "float32"},
    {"B": 4, "S": 6, "large": "rows", "seed": 16},
    {"B": 3, "S": 8, "mask": "full", "large": "entries", "seed": 17},
    {"B": 3, "T": 2, "S": 5, "mask": "keys", "large": "rows", "seed": 18, "dtype": "float32"},
    {"B": 2, "S": 4, "mask": "bad", "seed": 19, "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# **An alignment by hand.** Below, made-up scores for translating 我喜欢周杰伦的歌 (five tokens,
# shown in pinyin) padded to seven positions, as it would be in a batch with a longer sentence.
# Each row is one English output word; your `masked_softmax` turns the scores into weights, and
# the padding mask sends the last two columns to exactly zero. The possessive `'s` spreads its
# weight over `Zhou Jielun` and `de`: attention is soft, not a hard one-to-one alignment.

# %% tags=["demo"]
if not GRADING:
    source = ["wo", "xihuan", "Zhou Jielun", "de", "ge", "<pad>", "<pad>"]
    target = ["I", "like", "Jay Chou", "'s", "songs"]
    hand = np.array([[4.0, 0.5, 0.2, 0.0, 0.1, 3.0, 3.0],     # large scores on <pad> on purpose:
                     [0.3, 4.0, 0.5, 0.2, 0.4, 3.0, 3.0],     # the mask must still remove them
                     [0.1, 0.3, 4.5, 0.6, 0.3, 3.0, 3.0],
                     [0.0, 0.1, 2.0, 2.4, 0.2, 3.0, 3.0],
                     [0.2, 0.8, 0.5, 0.4, 4.0, 3.0, 3.0]])
    pad_mask = np.array([True] * 5 + [False] * 2)             # (S,): broadcast over the rows
    weights_hand = masked_softmax(hand, pad_mask)
    print("rows sum to", weights_hand.sum(axis=1))
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.imshow(weights_hand, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(source)), source, rotation=40, ha="right")
    ax.set_yticks(range(len(target)), target)
    for i in range(len(target)):
        for j in range(len(source)):
            ax.text(j, i, f"{weights_hand[i, j]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title("attention weights (rows: output words)")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Part 2. How well does a key match the query?
#
# The score function decides what "relevant" means. Three classic choices, for one query
# `q` and the keys `k_j` of one sequence; your functions handle a batch, with the query `(B, dq)`
# and the keys `(B, S, dk)`, and return scores `(B, S)`:
#
# | name | score $e_j$ | parameters | who |
# |---|---|---|---|
# | dot | $q \cdot k_j$ | none; needs `dq = dk` | Luong et al. 2015 |
# | general (bilinear) | $q \, W \, k_j^\top$ | `W (dq, dk)` | Luong et al. 2015 |
# | additive (MLP) | $v \cdot \tanh(q W_q + k_j W_k)$ | `W_q (dq, A)`, `W_k (dk, A)`, `v (A,)` | Bahdanau et al. 2015 |
#
# The **dot** score measures alignment of two vectors that live in the same space: large when
# they point the same way. The **general** score first maps the query into key space with a
# learned `W`, so query and key may have different sizes and meanings. The **additive** score
# feeds the pair through a one-hidden-layer network with `A` tanh units; it is the most flexible
# and the one Bahdanau's decoder uses.
#
# **Broadcasting, carefully.** `query @ W_q` has shape `(B, A)`, `keys @ W_k` has shape
# `(B, S, A)`. Adding them directly makes numpy align the *trailing* axes, which silently pairs
# batch element `j`'s query with position `j` when `B == S` (and crashes otherwise). Give the
# query a position axis first: `(query @ W_q)[:, None, :]` has shape `(B, 1, A)` and broadcasts
# over the `S` positions of its own batch element. Likewise, if you compute a `(B, S, 1)` result,
# drop the last axis with `[..., 0]` or `squeeze(axis=-1)`: a bare `np.squeeze()` also removes
# the batch axis when `B = 1`.
#
# ### Exercise 2.1: dot scores (4 points)
#
# Implement `dot_scores(query, keys)`: `scores[b, j] = query[b] . keys[b, j]`. Raise
# `ValueError` when the feature sizes differ.

# %% nbgrader={"grade": false, "grade_id": "dot_scores", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dot_scores(query, keys):
    """Dot-product attention scores.

    query: (B, d)
    keys:  (B, S, d)
    returns scores: (B, S), scores[b, j] = query[b] . keys[b, j]
    """
    ### BEGIN SOLUTION
    if query.ndim != 2 or keys.ndim != 3 or keys.shape[0] != query.shape[0] or keys.shape[2] != query.shape[1]:
        raise ValueError(f"query (B, d) and keys (B, S, d) do not fit: {query.shape} and {keys.shape}")
    return np.einsum("bsd,bd->bs", keys, query)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_dot_scores_core", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check(dot_scores, "dot_scores", cases=[
    {"B": 2, "S": 4, "d": 3, "seed": 1},
    {"B": 4, "S": 6, "d": 8, "seed": 123, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(dot_scores, "dot_scores", cases=[
    {"B": 4, "S": 6, "d": 8, "seed": 23, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_dot_scores_edges", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check(dot_scores, "dot_scores", cases=[
    {"B": 1, "S": 5, "d": 4, "seed": 121},
    {"B": 3, "S": 1, "d": 2, "seed": 122},
    {"B": 2, "S": 3, "d": 3, "bad": True, "seed": 124, "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(dot_scores, "dot_scores", cases=[
    {"B": 1, "S": 5, "d": 4, "seed": 21},
    {"B": 3, "S": 1, "d": 2, "seed": 22},
    {"B": 2, "S": 3, "d": 3, "bad": True, "seed": 24, "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Exercise 2.2: general scores (5 points)
#
# Implement `general_scores(query, keys, W)`: `scores[b, j] = query[b] @ W @ keys[b, j]`, with
# `W` of shape `(dq, dk)`. It equals `nn.Bilinear(dq, dk, 1, bias=False)` with `weight = W[None]`
# applied to the query (repeated over positions) and the keys.

# %% nbgrader={"grade": false, "grade_id": "general_scores", "locked": false, "schema_version": 3, "solution": true, "task": false}
def general_scores(query, keys, W):
    """Bilinear ("general") attention scores.

    query: (B, dq)
    keys:  (B, S, dk)
    W:     (dq, dk)
    returns scores: (B, S), scores[b, j] = query[b] @ W @ keys[b, j]
    """
    ### BEGIN SOLUTION
    return np.einsum("bsk,bk->bs", keys, query @ W)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_general_scores_core", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check(general_scores, "general_scores", cases=[
    {"B": 2, "S": 4, "dq": 3, "dk": 5, "seed": 1},
    {"B": 3, "S": 5, "dq": 4, "dk": 4, "seed": 131},
])
### BEGIN HIDDEN TESTS
check(general_scores, "general_scores", cases=[
    {"B": 3, "S": 5, "dq": 4, "dk": 4, "seed": 31},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_general_scores_edges", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check(general_scores, "general_scores", cases=[
    {"B": 1, "S": 3, "dq": 2, "dk": 6, "seed": 132},
    {"B": 4, "S": 1, "dq": 5, "dk": 3, "seed": 133, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(general_scores, "general_scores", cases=[
    {"B": 1, "S": 3, "dq": 2, "dk": 6, "seed": 32},
    {"B": 4, "S": 1, "dq": 5, "dk": 3, "seed": 33, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Exercise 2.3: additive scores (8 points)
#
# Implement `additive_scores(query, keys, W_q, W_k, v)`:
# `scores[b, j] = v . tanh(query[b] @ W_q + keys[b, j] @ W_k)`. In PyTorch this is three
# `nn.Linear` layers without bias (`weight = W_q.T`, `W_k.T` and `v[None]`): two project the
# query and the keys to `A` units, `tanh` acts on their sum, the third reduces it to one number.

# %% nbgrader={"grade": false, "grade_id": "additive_scores", "locked": false, "schema_version": 3, "solution": true, "task": false}
def additive_scores(query, keys, W_q, W_k, v):
    """Additive (Bahdanau) attention scores.

    query: (B, dq)
    keys:  (B, S, dk)
    W_q:   (dq, A)
    W_k:   (dk, A)
    v:     (A,)
    returns scores: (B, S), scores[b, j] = v . tanh(query[b] @ W_q + keys[b, j] @ W_k)
    """
    ### BEGIN SOLUTION
    hidden = np.tanh((query @ W_q)[:, None, :] + keys @ W_k)       # (B, S, A)
    return hidden @ v
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_additive_scores_core", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(additive_scores, "additive_scores", cases=[
    {"B": 2, "S": 4, "dq": 3, "dk": 5, "A": 6, "seed": 1},
    {"B": 4, "S": 4, "dq": 3, "dk": 3, "A": 5, "seed": 141},
])
### BEGIN HIDDEN TESTS
check(additive_scores, "additive_scores", cases=[
    {"B": 4, "S": 4, "dq": 3, "dk": 3, "A": 5, "seed": 41},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_additive_scores_options", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check(additive_scores, "additive_scores", cases=[
    {"B": 3, "S": 7, "dq": 4, "dk": 2, "A": 8, "scale": 3.0, "seed": 144, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(additive_scores, "additive_scores", cases=[
    {"B": 3, "S": 7, "dq": 4, "dk": 2, "A": 8, "scale": 3.0, "seed": 44, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_additive_scores_edges", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check(additive_scores, "additive_scores", cases=[
    {"B": 1, "S": 6, "dq": 2, "dk": 4, "A": 3, "seed": 142},
    {"B": 3, "S": 1, "dq": 4, "dk": 2, "A": 4, "seed": 143},
])
### BEGIN HIDDEN TESTS
check(additive_scores, "additive_scores", cases=[
    {"B": 1, "S": 6, "dq": 2, "dk": 4, "A": 3, "seed": 42},
    {"B": 3, "S": 1, "dq": 4, "dk": 2, "A": 4, "seed": 43},
])
### END HIDDEN TESTS


# %% [markdown]
# ## Part 3. Reading the values, and how focused the reading is
#
# With scores in hand, attention is two lines: the weights are the masked softmax of the scores,
# and the context is the weighted sum of the values over the source positions,
#
# $$c_b = \sum_{j=1}^{S} a_{b,j} \, v_{b,j} \qquad (\text{a } (B, d_v) \text{ array}).$$
#
# Mind which axis you sum over: the positions `j` (axis 1 of `values`), not the features.
#
# ### Exercise 3.1: attend (8 points)
#
# Implement `attend(scores, values, mask=None)` returning `(context, weights)`: `weights` `(B, S)`
# is `masked_softmax(scores, mask)`, `context` `(B, dv)` the weighted sum of `values` `(B, S, dv)`.
# In torch: `w = softmax(scores.masked_fill(~mask, -inf), -1)`, `context = torch.bmm(w[:, None], values)[:, 0]`.
# A row with nothing to attend gets weights 0 and therefore context 0.

# %% nbgrader={"grade": false, "grade_id": "attend", "locked": false, "schema_version": 3, "solution": true, "task": false}
def attend(scores, values, mask=None):
    """Attention weights from scores, and the context they read from the values.

    scores: (B, S)
    values: (B, S, dv)
    mask:   None or bool (B, S) (anything broadcastable to (B, S)); True = may attend
    returns (context, weights): (B, dv) weighted sums of values, (B, S) weights
    """
    ### BEGIN SOLUTION
    weights = masked_softmax(scores, mask)
    context = np.einsum("bs,bsd->bd", weights, values)
    return context, weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_attend_core", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(attend, "attend", cases=[
    {"B": 2, "S": 5, "dv": 3, "seed": 1},
    {"B": 3, "S": 6, "dv": 4, "mask": "pad", "seed": 151},
    {"B": 3, "S": 4, "dv": 2, "mask": "full", "seed": 155, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(attend, "attend", cases=[
    {"B": 3, "S": 6, "dv": 4, "mask": "pad", "seed": 51},
    {"B": 3, "S": 4, "dv": 2, "mask": "full", "seed": 55, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_attend_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(attend, "attend", cases=[
    {"B": 3, "S": 5, "dv": 2, "seed": 151, "score_scale": 10000.0},
    {"B": 3, "S": 6, "dv": 3, "mask": "full", "large": "masked", "seed": 152},
    {"B": 4, "S": 5, "dv": 5, "mask": "full", "empty_rows": 1, "seed": 152},
    {"B": 1, "S": 1, "dv": 2, "seed": 153},
    {"B": 1, "S": 4, "dv": 3, "mask": "pad", "seed": 154},
])
### BEGIN HIDDEN TESTS
check(attend, "attend", cases=[
    {"B": 2, "S": 7, "dv": 3, "seed": 51, "score_scale": 10000.0},
    {"B": 4, "S": 5, "dv": 2, "mask": "full", "large": "masked", "seed": 52},
    {"B": 4, "S": 5, "dv": 5, "mask": "full", "empty_rows": 1, "seed": 52},
    {"B": 1, "S": 1, "dv": 2, "seed": 53},
    {"B": 1, "S": 4, "dv": 3, "mask": "pad", "seed": 54},
])
### END HIDDEN TESTS


# %% [markdown]
# **Focus, measured.** A distribution that puts all its weight on one position is *focused*; one
# that spreads it evenly over the `S` positions is not focused at all. The **entropy**
#
# $$H(a) = -\sum_{j} a_j \log a_j \qquad \text{(in nats, natural log)}$$
#
# puts a number on it. It is 0 for a one-hot row (the decoder looks at exactly one source
# token), and it reaches its maximum $\log S$ for the uniform row $a_j = 1/S$ (the decoder
# averages everything, which is what a model without attention effectively does: it gets the
# same summary whatever it is about to write). Values in between read as "about $e^H$ positions
# in view": $H = \log 3$ spreads like a uniform choice among three. Positions with weight 0 (masked
# ones) contribute $0 \log 0 = 0$, the limit of $p \log p$ as $p \to 0$; but `0 * np.log(0)` is
# `0 * -inf = nan` in numpy, so compute $p \log p$ only where $p > 0$.
#
# ### Exercise 3.2: attention entropy (6 points)
#
# Implement `attention_entropy(weights)`: the entropy in nats of every row of `weights` `(B, S)`,
# an array `(B,)`, with $0 \log 0 = 0$ (a row of zeros, from a fully masked query, has entropy 0).
# It equals `torch.special.entr(weights).sum(-1)`.

# %% nbgrader={"grade": false, "grade_id": "attention_entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def attention_entropy(weights):
    """Entropy (nats) of each row of attention weights, with 0 log 0 = 0.

    weights: (B, S), non-negative rows (summing to 1, or all 0)
    returns entropy: (B,)
    """
    ### BEGIN SOLUTION
    safe = np.where(weights > 0, weights, 1)          # log(1) = 0 where the weight is 0
    return -(weights * np.log(safe)).sum(axis=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_attention_entropy_core", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check(attention_entropy, "attention_entropy", cases=[
    {"B": 3, "S": 5, "seed": 1},
    {"B": 4, "S": 8, "spread": 0.3, "seed": 165, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(attention_entropy, "attention_entropy", cases=[
    {"B": 4, "S": 8, "spread": 0.3, "seed": 65, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_attention_entropy_edges", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check(attention_entropy, "attention_entropy", cases=[
    {"B": 4, "S": 6, "zeros": True, "onehot": 1, "seed": 161},
    {"B": 3, "S": 4, "zeros": True, "empty_rows": 1, "seed": 162},
    {"B": 5, "S": 5, "zeros": True, "seed": 163},
    {"B": 1, "S": 1, "seed": 164},
])
### BEGIN HIDDEN TESTS
check(attention_entropy, "attention_entropy", cases=[
    {"B": 4, "S": 6, "zeros": True, "onehot": 1, "seed": 61},
    {"B": 3, "S": 4, "zeros": True, "empty_rows": 1, "seed": 62},
    {"B": 5, "S": 5, "zeros": True, "seed": 63},
    {"B": 1, "S": 1, "seed": 64},
])
### END HIDDEN TESTS


# %% [markdown]
# Three rows of six weights, from sharp to flat; the uniform row reaches $\log 6 \approx 1.79$.

# %% tags=["demo"]
if not GRADING:
    rows = np.array([[1, 0, 0, 0, 0, 0],
                     [0.7, 0.2, 0.1, 0, 0, 0],
                     [1 / 6] * 6])
    print("entropies:", attention_entropy(rows) + 0.0, " log 6 =", round(np.log(6), 3))   # + 0.0: no "-0." 
    print("'positions in view' exp(H):", np.exp(attention_entropy(rows)))

# %% [markdown]
# ## Part 4. Scaled dot-product attention
#
# Part 3 attends with one query per sequence. A decoder writing `Tq` tokens, or a Transformer
# layer in which every position queries every other, needs `Tq` queries at once. Stack them as
# the rows of `Q` `(B, Tq, d)`, the keys as `K` `(B, S, d)` and the values as `V` `(B, S, dv)`;
# then all dot scores are one batched matrix product and attention is
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d}} + \text{mask}\right) V,$$
#
# with the softmax over the last axis (the keys), weights of shape `(B, Tq, S)` and output
# `(B, Tq, dv)`.
#
# **Why divide by $\sqrt{d}$?** If the entries of `q` and `k` are independent with mean 0 and
# variance 1, their dot product is a sum of `d` such products and has variance `d`: the scores
# grow like $\sqrt{d}$ with the width. Wide queries would then produce scores of size 10 or 20,
# the softmax would be nearly one-hot from the start, and its gradient nearly zero. Dividing by
# $\sqrt{d}$ keeps the scores' spread about 1 whatever `d` is. (In numpy, write the scale as a
# Python float, `d ** 0.5` or `math.sqrt(d)`: `np.sqrt(d)` is a float64 *numpy* scalar and turns a
# float32 array into float64.)
#
# **Masks, again.** Two kinds combine with a logical AND:
# * a **padding mask** `(B, S)` says which keys exist; it is the same for every query, so give it
#   a query axis: `mask[:, None, :]` has shape `(B, 1, S)`. A mask may also come as `(B, Tq, S)`,
#   one row per query.
# * the **causal mask** (`causal=True`) lets query `i` attend keys `j <= i` only: the lower
#   triangle `np.tril(np.ones((Tq, S), dtype=bool))`, diagonal included. (This is torch's
#   `is_causal`; when `Tq != S` the triangle starts at the top-left corner, so query `i` still
#   sees keys `0..i`.) Torch refuses an `attn_mask` together with `is_causal=True`; when both are
#   given, the reference passes their AND as `attn_mask`, and so should you.
#
# A query left with nothing to attend gets weights 0 and output 0 (your `masked_softmax` already
# does that).
#
# ### Exercise 4.1: scaled dot-product attention (14 points)
#
# Implement `scaled_dot_product_attention(Q, K, V, mask=None, causal=False)` returning
# `(out, weights)`. `out` equals `F.scaled_dot_product_attention(Q, K, V, attn_mask=..., is_causal=causal)`
# with the boolean mask (True = attend) given a query axis when it is `(B, S)`; `weights` are the
# `(B, Tq, S)` attention weights. Raise `ValueError` when `K`'s feature size differs from `Q`'s or
# `V` does not have one row per key. Reuse `masked_softmax`.

# %% nbgrader={"grade": false, "grade_id": "scaled_dot_product_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scaled_dot_product_attention(Q, K, V, mask=None, causal=False):
    """softmax(Q K^T / sqrt(d), masked) V for a batch of query sequences.

    Q:    (B, Tq, d) queries
    K:    (B, S, d)  keys
    V:    (B, S, dv) values
    mask: None, (B, S) (which keys exist) or (B, Tq, S) (per query), bool; True = may attend
    causal: if True, query i may also only attend keys j <= i
    returns (out, weights): (B, Tq, dv), (B, Tq, S)
    """
    ### BEGIN SOLUTION
    B, Tq, d = Q.shape
    if K.ndim != 3 or K.shape[0] != B or K.shape[2] != d:
        raise ValueError(f"K should be (B, S, d) = ({B}, S, {d}), got {K.shape}")
    if V.ndim != 3 or V.shape[:2] != K.shape[:2]:
        raise ValueError(f"V should have one row per key, (B, S, dv) with (B, S) = {K.shape[:2]}, got {V.shape}")
    S = K.shape[1]
    scores = Q @ K.transpose(0, 2, 1) / d ** 0.5            # (B, Tq, S)
    allowed = np.ones((B, Tq, S), dtype=bool)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        allowed = allowed & (mask[:, None, :] if mask.ndim == 2 else mask)
    if causal:
        allowed = allowed & np.tril(np.ones((Tq, S), dtype=bool))
    weights = masked_softmax(scores, allowed)
    return weights @ V, weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_scaled_dot_product_attention_core", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(scaled_dot_product_attention, "scaled_dot_product_attention", cases=[
    {"B": 2, "Tq": 3, "S": 4, "d": 4, "dv": 2, "seed": 1},
    {"B": 2, "Tq": 5, "S": 3, "d": 3, "dv": 2, "causal": True, "seed": 174},
])
### BEGIN HIDDEN TESTS
check(scaled_dot_product_attention, "scaled_dot_product_attention", cases=[
    {"B": 2, "Tq": 5, "S": 3, "d": 3, "dv": 2, "causal": True, "seed": 74},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_scaled_dot_product_attention_masks", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(scaled_dot_product_attention, "scaled_dot_product_attention", cases=[
    {"B": 3, "Tq": 5, "S": 6, "d": 4, "dv": 3, "mask": "pad", "seed": 171},
    {"B": 2, "Tq": 4, "S": 4, "d": 2, "dv": 3, "mask": "pad", "causal": True, "seed": 172},
    {"B": 3, "Tq": 4, "S": 5, "d": 6, "dv": 2, "mask": "full", "causal": True, "seed": 177, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(scaled_dot_product_attention, "scaled_dot_product_attention", cases=[
    {"B": 3, "Tq": 5, "S": 6, "d": 4, "dv": 3, "mask": "pad", "seed": 71},
    {"B": 2, "Tq": 4, "S": 4, "d": 2, "dv": 3, "mask": "pad", "causal": True, "seed": 72},
    {"B": 3, "Tq": 4, "S": 5, "d": 6, "dv": 2, "mask": "full", "causal": True, "seed": 77, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_scaled_dot_product_attention_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(scaled_dot_product_attention, "scaled_dot_product_attention", cases=[
    {"B": 1, "Tq": 4, "S": 4, "d": 3, "dv": 2, "causal": True, "seed": 2},
    {"B": 2, "Tq": 3, "S": 5, "d": 4, "dv": 2, "mask": "full", "empty_rows": 2, "seed": 173},
    {"B": 1, "Tq": 2, "S": 1, "d": 3, "dv": 4, "seed": 175},
    {"B": 2, "Tq": 3, "S": 6, "d": 4, "dv": 3, "large": True, "mask": "pad", "seed": 176},
    {"B": 2, "Tq": 3, "S": 4, "d": 4, "dv": 2, "bad": "d", "seed": 178, "expect": "ValueError"},
    {"B": 2, "Tq": 3, "S": 4, "d": 4, "dv": 2, "bad": "S", "seed": 179, "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(scaled_dot_product_attention, "scaled_dot_product_attention", cases=[
    {"B": 2, "Tq": 3, "S": 5, "d": 4, "dv": 2, "mask": "full", "empty_rows": 2, "seed": 73},
    {"B": 1, "Tq": 2, "S": 1, "d": 3, "dv": 4, "seed": 75},
    {"B": 2, "Tq": 3, "S": 6, "d": 4, "dv": 3, "large": True, "mask": "pad", "seed": 76},
    {"B": 2, "Tq": 3, "S": 4, "d": 4, "dv": 2, "bad": "d", "seed": 78, "expect": "ValueError"},
    {"B": 2, "Tq": 3, "S": 4, "d": 4, "dv": 2, "bad": "S", "seed": 79, "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# **Masks in pictures.** One sequence of six positions of which the last two are padding,
# attending to itself (`Q = K = V`). Left: the padding mask alone, every query sees the four real
# keys. Right: padding and causal together; the weights form a lower triangle and the padded
# columns stay empty. (The two padded *queries*, rows 4 and 5, still get an output; a model
# simply ignores the outputs at padded positions, e.g. in its loss.)

# %% tags=["demo"]
if not GRADING:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(1, 6, 8))
    pad = np.array([[True, True, True, True, False, False]])
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    for ax, causal_flag in zip(axes, [False, True]):
        _, w = scaled_dot_product_attention(X, X, X, mask=pad, causal=causal_flag)
        ax.imshow(w[0], cmap="Blues", vmin=0, vmax=1)
        ax.set_xlabel("key position j")
        ax.set_ylabel("query position i")
        ax.set_title(f"padding mask{' + causal' if causal_flag else ''}")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# **The scale, in one figure.** Random queries and keys with unit-variance entries, `S = 16`
# keys, widths `d` from 1 to 1024. We plot the mean entropy of the attention weights with the
# $1/\sqrt{d}$ scale (your function) and without it (the same function fed `Q * sqrt(d)`, which
# cancels the scale). The dashed line is $\log 16$, the entropy of uniform attention.

# %% tags=["demo"]
if not GRADING:
    rng = np.random.default_rng(5)
    widths = 2 ** np.arange(11)
    H_scaled, H_raw = [], []
    for d in widths:
        Qd, Kd = rng.normal(size=(500, 1, d)), rng.normal(size=(500, 16, d))
        Vd = np.zeros((500, 16, 1))
        H_scaled.append(attention_entropy(scaled_dot_product_attention(Qd, Kd, Vd)[1][:, 0]).mean())
        H_raw.append(attention_entropy(scaled_dot_product_attention(Qd * np.sqrt(d), Kd, Vd)[1][:, 0]).mean())
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.semilogx(widths, H_scaled, "o-", base=2, label="scores / sqrt(d)")
    ax.semilogx(widths, H_raw, "s-", base=2, label="unscaled scores")
    ax.axhline(np.log(16), color="gray", ls="--", label="uniform: log 16")
    ax.set_xlabel("width d of queries and keys")
    ax.set_ylabel("mean attention entropy (nats)")
    ax.legend()
    plt.tight_layout()
    plt.show()
    print("entropy with scaling:   ", np.round(H_scaled, 2))
    print("entropy without scaling:", np.round(H_raw, 2))

# %% [markdown]
# ### Exercise 4.2: written answer (8 points, graded by hand)
#
# Using the figure and the variance argument above, answer in a few sentences:
#
# 1. For queries and keys with independent zero-mean, unit-variance entries, what is the standard
#    deviation of the unscaled score $q \cdot k$ when $d = 256$? What does the figure show
#    happens to the attention weights of the unscaled version as `d` grows, and why?
# 2. Why is a softmax that is almost one-hot *at the start of training* a problem for learning?
#    (Think about how the weights change when a score changes a little.)

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_scaling", "locked": false, "points": 8, "schema_version": 3, "solution": true, "task": false}
# *Model answer (the release shows "YOUR ANSWER HERE").*
#
# 1. $q \cdot k = \sum_{i=1}^{d} q_i k_i$ is a sum of `d` independent terms of variance 1, so its
#    variance is `d` and its standard deviation $\sqrt{256} = 16$. Differences of that size between
#    scores make $\exp(e_j)$ differ by factors like $e^{16}$: without scaling the entropy falls towards
#    0 as `d` grows, i.e. each query puts nearly all its weight on one key, chosen by noise. With
#    the scale the scores have standard deviation 1 for every `d` and the entropy stays near the
#    same value. *(4 points: the standard deviation 16, the collapse to one-hot, the reason.)*
# 2. The derivative of the weights with respect to the scores is
#    $\partial a_i / \partial e_j = a_i(\delta_{ij} - a_j)$, which is close to 0 when one $a$ is
#    near 1 and the others near 0. A nearly one-hot softmax therefore passes almost no gradient
#    to the scores (and to the query and key parameters behind them): the model cannot learn to
#    move its attention. *(4 points: the saturated softmax, the vanishing gradient.)*

# %% [markdown]
# ## Part 5. The Bahdanau decoder
#
# Now the pieces become a decoder. Bahdanau et al. (2015) score the source with the decoder's
# **previous** state, read a context, and feed the context both into the recurrent update and
# into the output layer. With the previous output token's embedding `y_prev` `(B, E)`, the
# previous state `s_prev` `(B, H)`, the encoder outputs `enc_out` `(B, S, K)` and their padding
# mask `enc_mask` `(B, S)`, one step is:
#
# $$e_j = v \cdot \tanh(s_{\text{prev}} W_s + h_j W_e) \qquad a = \text{masked softmax}(e) \qquad c = \sum_j a_j h_j$$
# $$s = \mathrm{GRU}\big([\,y_{\text{prev}},\ c\,],\ s_{\text{prev}}\big) \qquad \text{logits} = [\,s,\ c\,] \, W_{\text{out}} + b_{\text{out}}$$
#
# where $[\cdot, \cdot]$ concatenates along the feature axis (`np.concatenate(..., axis=1)`),
# **in that order**, because the weight matrices expect their rows in that order. The parameters
# arrive in a dict:
#
# | key | shape | role | PyTorch |
# |---|---|---|---|
# | `"W_s"` | `(H, A)` | projects the decoder state (the query) | `nn.Linear(H, A, bias=False).weight.T` |
# | `"W_e"` | `(K, A)` | projects the encoder outputs (the keys) | `nn.Linear(K, A, bias=False).weight.T` |
# | `"v"` | `(A,)` | reduces the tanh layer to a score | `nn.Linear(A, 1, bias=False).weight[0]` |
# | `"gru"` | dict `W_x (E+K, 3H)`, `W_h (H, 3H)`, `b_x`, `b_h (3H,)` | the recurrent update | `nn.GRUCell(E + K, H)` as in Problem set 1 |
# | `"W_out"`, `"b_out"` | `(H+K, V)`, `(V,)` | the output layer | `nn.Linear(H + K, V)` |
#
# The GRU cell is the one you wrote in Problem set 1; it is provided below so that this
# notebook stands alone.

# %% nbgrader={"grade": false, "grade_id": "provided_gru_cell_forward", "locked": true, "schema_version": 3, "solution": false, "task": false}
def gru_cell_forward(x_t, h_prev, W_x, W_h, b_x, b_h):
    """Provided (Problem set 1): one nn.GRUCell step, blocks r, z, n.

    x_t (B, D), h_prev (B, H), W_x (D, 3H), W_h (H, 3H), b_x (3H,), b_h (3H,)
    returns h_t: (B, H)
    """
    gx_r, gx_z, gx_n = np.split(x_t @ W_x + b_x, 3, axis=1)
    gh_r, gh_z, gh_n = np.split(h_prev @ W_h + b_h, 3, axis=1)
    r = 1 / (1 + np.exp(-(gx_r + gh_r)))
    z = 1 / (1 + np.exp(-(gx_z + gh_z)))
    n = np.tanh(gx_n + r * gh_n)
    return (1 - z) * n + z * h_prev


# %% [markdown]
# ### Exercise 5.1: one decoder step (15 points)
#
# Implement `bahdanau_decoder_step(y_prev, s_prev, enc_out, enc_mask, params)` returning
# `(s, context, logits, weights)` as in the equations above. Use your `additive_scores` (with
# `W_s` and `W_e`), `attend` and the provided `gru_cell_forward`. `enc_mask` may be `None` (no
# padding). The reference is a torch module of `nn.Linear`s and an `nn.GRUCell` holding the same
# weights.

# %% nbgrader={"grade": false, "grade_id": "bahdanau_decoder_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bahdanau_decoder_step(y_prev, s_prev, enc_out, enc_mask, params):
    """One step of an attentional GRU decoder (Bahdanau et al., 2015).

    y_prev:   (B, E) embedding of the previous output token
    s_prev:   (B, H) previous decoder state (the attention query)
    enc_out:  (B, S, K) encoder outputs (keys and values)
    enc_mask: (B, S) bool, True at real source positions, or None
    params:   dict W_s (H, A), W_e (K, A), v (A,), gru {W_x (E+K, 3H), W_h (H, 3H), b_x (3H,), b_h (3H,)},
              W_out (H+K, V), b_out (V,)
    returns (s, context, logits, weights): (B, H), (B, K), (B, V), (B, S)
    """
    ### BEGIN SOLUTION
    scores = additive_scores(s_prev, enc_out, params["W_s"], params["W_e"], params["v"])
    context, weights = attend(scores, enc_out, enc_mask)
    s = gru_cell_forward(np.concatenate([y_prev, context], axis=1), s_prev, **params["gru"])
    logits = np.concatenate([s, context], axis=1) @ params["W_out"] + params["b_out"]
    return s, context, logits, weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_bahdanau_decoder_step_masks", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false}
check(bahdanau_decoder_step, "bahdanau_decoder_step", cases=[
    {"B": 2, "S": 5, "E": 3, "H": 4, "K": 6, "A": 5, "V": 7, "mask": "none", "seed": 1},
    {"B": 3, "S": 6, "E": 4, "H": 5, "K": 5, "A": 6, "V": 8, "mask": "pad", "seed": 181},
    {"B": 3, "S": 7, "E": 5, "H": 6, "K": 4, "A": 8, "V": 9, "mask": "pad", "seed": 184, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(bahdanau_decoder_step, "bahdanau_decoder_step", cases=[
    {"B": 3, "S": 6, "E": 4, "H": 5, "K": 5, "A": 6, "V": 8, "mask": "pad", "seed": 81},
    {"B": 3, "S": 7, "E": 5, "H": 6, "K": 4, "A": 8, "V": 9, "mask": "pad", "seed": 84, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_bahdanau_decoder_step_edges", "locked": true, "points": 7, "schema_version": 3, "solution": false, "task": false}
check(bahdanau_decoder_step, "bahdanau_decoder_step", cases=[
    {"B": 3, "S": 5, "E": 2, "H": 3, "K": 4, "A": 3, "V": 4, "mask": "pad", "score_scale": 10000.0, "seed": 184},
    {"B": 1, "S": 1, "E": 2, "H": 3, "K": 2, "A": 2, "V": 3, "mask": "pad", "seed": 182},
    {"B": 4, "S": 5, "E": 3, "H": 4, "K": 6, "A": 5, "V": 6, "mask": "pad", "empty_rows": 1, "seed": 183},
])
### BEGIN HIDDEN TESTS
check(bahdanau_decoder_step, "bahdanau_decoder_step", cases=[
    {"B": 2, "S": 6, "E": 3, "H": 4, "K": 3, "A": 4, "V": 5, "mask": "pad", "score_scale": 10000.0, "seed": 84},
    {"B": 1, "S": 1, "E": 2, "H": 3, "K": 2, "A": 2, "V": 3, "mask": "pad", "seed": 82},
    {"B": 4, "S": 5, "E": 3, "H": 4, "K": 6, "A": 5, "V": 6, "mask": "pad", "empty_rows": 1, "seed": 83},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Exercise 5.2: greedy decoding (10 points)
#
# To translate, the decoder runs step after step, feeding each prediction back in. **Greedy**
# decoding takes the most probable token at every step (the `argmax` of the logits; ties go to
# the lowest index, as `np.argmax` does):
#
# ```
# s = s0 (zeros if None);  y = start_token
# for t in 0 .. max_len-1:
#     s, _, logits, w = bahdanau_decoder_step(embedding[y], s, enc_out, enc_mask, params)
#     y = argmax(logits)            # (B,) the token written at step t, and the next input
#     tokens[:, t] = y;  weights[:, t] = w
# ```
#
# Implement `greedy_decode(enc_out, enc_mask, s0, embedding, params, start_token, max_len)`
# returning `tokens` `(B, max_len)` of dtype `int64` and the attention `weights`
# `(B, max_len, S)` of every step. `embedding` `(V_in, E)` holds one row per input token
# (`embedding[y]` looks up a whole batch of tokens at once); `start_token` is an index into it.
# The reference is the torch decoder of Exercise 5.1 with `nn.Embedding` and `argmax`.
# (Greedy is not the best decoder: a token that looks best now can lead to a worse sentence.
# Problem set 5 builds beam search.)

# %% nbgrader={"grade": false, "grade_id": "greedy_decode", "locked": false, "schema_version": 3, "solution": true, "task": false}
def greedy_decode(enc_out, enc_mask, s0, embedding, params, start_token, max_len):
    """Greedy decoding with bahdanau_decoder_step.

    enc_out:     (B, S, K) encoder outputs
    enc_mask:    (B, S) bool or None
    s0:          (B, H) initial decoder state, or None for zeros
    embedding:   (V_in, E) one row per input token
    params:      the decoder's parameters, as in bahdanau_decoder_step
    start_token: int, the first input token
    max_len:     int, the number of steps
    returns (tokens, weights): (B, max_len) int64 argmax tokens, (B, max_len, S) attention weights
    """
    ### BEGIN SOLUTION
    B, S, _ = enc_out.shape
    H = params["W_s"].shape[0]
    s = np.zeros((B, H), dtype=enc_out.dtype) if s0 is None else s0
    y = np.full(B, start_token)
    tokens = np.zeros((B, max_len), dtype=np.int64)
    weights = np.zeros((B, max_len, S), dtype=enc_out.dtype)
    for t in range(max_len):
        s, _, logits, w = bahdanau_decoder_step(embedding[y], s, enc_out, enc_mask, params)
        y = logits.argmax(axis=1)
        tokens[:, t] = y
        weights[:, t] = w
    return tokens, weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_greedy_decode_masks", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(greedy_decode, "greedy_decode", cases=[
    {"B": 2, "S": 5, "E": 3, "H": 4, "K": 6, "A": 5, "V": 7, "max_len": 4, "mask": "none", "seed": 1},
    {"B": 3, "S": 6, "E": 4, "H": 5, "K": 5, "A": 6, "V": 8, "max_len": 6, "mask": "pad", "seed": 191},
    {"B": 2, "S": 4, "E": 3, "H": 5, "K": 3, "A": 4, "V": 5, "max_len": 7, "mask": "pad", "seed": 194, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(greedy_decode, "greedy_decode", cases=[
    {"B": 3, "S": 6, "E": 4, "H": 5, "K": 5, "A": 6, "V": 8, "max_len": 6, "mask": "pad", "seed": 91},
    {"B": 2, "S": 4, "E": 3, "H": 5, "K": 3, "A": 4, "V": 5, "max_len": 7, "mask": "pad", "seed": 94, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_greedy_decode_edges", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
check(greedy_decode, "greedy_decode", cases=[
    {"B": 2, "S": 5, "E": 3, "H": 4, "K": 3, "A": 3, "V": 5, "max_len": 4, "mask": "pad", "score_scale": 10000.0, "seed": 195},
    {"B": 1, "S": 1, "E": 2, "H": 3, "K": 2, "A": 2, "V": 3, "max_len": 1, "s0": False, "seed": 192},
    {"B": 4, "S": 5, "E": 3, "H": 4, "K": 6, "A": 5, "V": 6, "max_len": 5, "mask": "pad", "empty_rows": 1, "s0": False, "seed": 193},
])
### BEGIN HIDDEN TESTS
check(greedy_decode, "greedy_decode", cases=[
    {"B": 3, "S": 4, "E": 2, "H": 3, "K": 4, "A": 4, "V": 4, "max_len": 3, "mask": "pad", "score_scale": 10000.0, "seed": 95},
    {"B": 1, "S": 1, "E": 2, "H": 3, "K": 2, "A": 2, "V": 3, "max_len": 1, "s0": False, "seed": 92},
    {"B": 4, "S": 5, "E": 3, "H": 4, "K": 6, "A": 5, "V": 6, "max_len": 5, "mask": "pad", "empty_rows": 1, "s0": False, "seed": 93},
])
### END HIDDEN TESTS


# %% [markdown]
# **Your own functions together (5 of this exercise's points).** The checks above judge
# `greedy_decode` on its own work: while they run, the functions it calls
# (`bahdanau_decoder_step`, `additive_scores`, `attend` and `masked_softmax`) are the course's
# reference versions, so a slip in one of those costs points only once, in its own checks. This
# last check runs `greedy_decode` with *your* versions of them, end to end.

# %% nbgrader={"grade": true, "grade_id": "test_greedy_decode_integration", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(greedy_decode, "greedy_decode", cases=[
    {"B": 3, "S": 6, "E": 4, "H": 5, "K": 5, "A": 6, "V": 8, "max_len": 6, "mask": "pad", "empty_rows": 1, "seed": 197},
], integration=True)
### BEGIN HIDDEN TESTS
check(greedy_decode, "greedy_decode", cases=[
    {"B": 3, "S": 6, "E": 4, "H": 5, "K": 5, "A": 6, "V": 8, "max_len": 6, "mask": "pad", "empty_rows": 1, "seed": 96},
], integration=True)
### END HIDDEN TESTS


# %% [markdown]
# ## Part 6. The bottleneck, measured
#
# Time to see Part 0's argument happen. The toy language: a source sentence is a string of
# 3 to 20 random digits, and its translation is the same string **reversed**
# (`3 1 4 1 5` becomes `5 1 4 1 3`). Every output token depends on exactly one source token,
# and the last source token is needed first, so nothing can be written before the whole source
# has been read.
#
# Two models, trained the same way (600 steps of Adam on batches of 64 sentences of mixed
# lengths, padded and masked, teacher forcing):
#
# * the **fixed-context** model: a bidirectional GRU encoder (32 units per direction) whose two
#   final states, concatenated into 64 numbers, are the decoder's initial state *and* its context
#   at every step: the decoder never sees the source again;
# * the **attention** model: the same encoder and exactly the decoder of Part 5 (additive scores
#   from `s_prev`, context fed to the GRU and to the output layer), so that its trained weights
#   can be decoded by **your** `greedy_decode`.
#
# Each training cell takes 10 to 30 seconds.

# %% tags=["demo"]
if not GRADING:
    import time

    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(1)
    DIGITS, PAD, START = 10, 10, 10          # tokens 0..9; 10 pads the source and starts the decoder
    E_DEMO, H_DEMO, A_DEMO = 16, 64, 32      # embedding, decoder state = encoder features K, attention units
    L_MIN, L_MAX = 3, 20

    def reverse_batch(n, rng, length=None):
        """n digit strings of random lengths in L_MIN..L_MAX (or all of `length`), padded; targets reversed."""
        L = rng.integers(L_MIN, L_MAX + 1, size=n) if length is None else np.full(n, length)
        src = np.full((n, L.max()), PAD)
        tgt = np.full((n, L.max()), -100)   # -100: ignored by F.cross_entropy
        for b in range(n):
            digits = rng.integers(0, DIGITS, size=L[b])
            src[b, :L[b]], tgt[b, :L[b]] = digits, digits[::-1]
        return torch.tensor(src), torch.tensor(tgt), torch.tensor(L)

    class Seq2Seq(nn.Module):
        """A bidirectional GRU encoder and the Part 5 decoder, with or without attention."""

        def __init__(self, attention):
            super().__init__()
            self.attention = attention
            self.src_emb = nn.Embedding(DIGITS + 1, E_DEMO)
            self.tgt_emb = nn.Embedding(DIGITS + 1, E_DEMO)
            self.encoder = nn.GRU(E_DEMO, H_DEMO // 2, batch_first=True, bidirectional=True)
            self.W_s = nn.Linear(H_DEMO, A_DEMO, bias=False)
            self.W_e = nn.Linear(H_DEMO, A_DEMO, bias=False)
            self.v = nn.Linear(A_DEMO, 1, bias=False)
            self.gru = nn.GRUCell(E_DEMO + H_DEMO, H_DEMO)
            self.out = nn.Linear(2 * H_DEMO, DIGITS)

        def encode(self, src, L):
            packed = nn.utils.rnn.pack_padded_sequence(self.src_emb(src), L, batch_first=True, enforce_sorted=False)
            out, h_n = self.encoder(packed)
            enc_out = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])[0]
            enc_mask = torch.arange(src.shape[1])[None, :] < L[:, None]
            return enc_out, enc_mask, torch.cat([h_n[0], h_n[1]], dim=-1)   # the summary: both final states

        def decode(self, src, L, next_input):
            """Logits of every step; next_input(t, logits) picks the next input tokens."""
            enc_out, enc_mask, summary = self.encode(src, L)
            keys = self.W_e(enc_out)                   # the same at every step: computed once
            s, y, logits = summary, torch.full((src.shape[0],), START), []
            for t in range(src.shape[1]):
                if self.attention:
                    scores = self.v(torch.tanh(self.W_s(s)[:, None, :] + keys))[..., 0]
                    w = torch.softmax(scores.masked_fill(~enc_mask, float("-inf")), dim=-1)
                    context = torch.bmm(w[:, None, :], enc_out)[:, 0]
                else:
                    context = summary                  # the fixed-size context, the same at every step
                s = self.gru(torch.cat([self.tgt_emb(y), context], dim=-1), s)
                logits.append(self.out(torch.cat([s, context], dim=-1)))
                y = next_input(t, logits[-1])
            return torch.stack(logits, dim=1)

    def train_reverse(attention, steps=600, batch=64):
        model = Seq2Seq(attention)
        opt = torch.optim.Adam(model.parameters(), lr=5e-3)
        rng = np.random.default_rng(1)
        start = time.perf_counter()
        for step in range(steps):
            src, tgt, L = reverse_batch(batch, rng)
            logits = model.decode(src, L, lambda t, _: tgt[:, t].clamp(min=0))       # teacher forcing
            loss = F.cross_entropy(logits.reshape(-1, DIGITS), tgt.reshape(-1), ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        print(f"{'attention' if attention else 'fixed context'}: loss {loss.item():.3f} after {steps} steps "
              f"({time.perf_counter() - start:.0f} s)")
        return model

    model_fixed = train_reverse(attention=False)

# %% tags=["demo"]
if not GRADING:
    model_attn = train_reverse(attention=True)

# %% [markdown]
# Now the evaluation, on 200 fresh sentences of every length from 3 to 20. The fixed-context
# model is decoded greedily in torch. The attention model's weights are copied into the
# course's numpy layout (the `params` dict of `bahdanau_decoder_step`) and decoded by **your** `greedy_decode`; the cell also checks that your
# decoder writes the same tokens as the torch model on one batch.

# %% tags=["demo"]
if not GRADING:
    def numpy_params(model):
        """The trained decoder's weights in the layout of bahdanau_decoder_step's params."""
        g = lambda p: p.detach().numpy().astype(np.float64)
        return {"W_s": g(model.W_s.weight).T, "W_e": g(model.W_e.weight).T, "v": g(model.v.weight)[0],
                "gru": {"W_x": g(model.gru.weight_ih).T, "W_h": g(model.gru.weight_hh).T,
                        "b_x": g(model.gru.bias_ih), "b_h": g(model.gru.bias_hh)},
                "W_out": g(model.out.weight).T, "b_out": g(model.out.bias)}

    def decode_numpy(model, src, L):
        """Encode in torch, decode with your greedy_decode: (tokens, weights)."""
        with torch.no_grad():
            enc_out, enc_mask, summary = model.encode(src, L)
        as64 = lambda x: x.numpy().astype(np.float64)
        return greedy_decode(as64(enc_out), enc_mask.numpy(), as64(summary),
                             as64(model.tgt_emb.weight.detach()), numpy_params(model), START, src.shape[1])

    rng = np.random.default_rng(2)
    src, tgt, L = reverse_batch(100, rng)
    with torch.no_grad():
        torch_tokens = model_attn.decode(src, L, lambda t, logits: logits.argmax(-1)).argmax(-1)
    real = tgt.numpy() >= 0
    agree = (decode_numpy(model_attn, src, L)[0] == torch_tokens.numpy())[real].mean()
    print(f"your numpy decoder and the torch model write the same token at {100 * agree:.1f}% of positions")

    lengths = np.arange(L_MIN, L_MAX + 1)
    acc_fixed, acc_attn = [], []
    for length in lengths:
        src, tgt, L = reverse_batch(200, rng, length)
        with torch.no_grad():
            pred = model_fixed.decode(src, L, lambda t, logits: logits.argmax(-1)).argmax(-1)
        acc_fixed.append((pred == tgt).double().mean().item())
        acc_attn.append((decode_numpy(model_attn, src, L)[0] == tgt.numpy()).mean())

    example = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8]])
    tokens_ex, weights_ex = decode_numpy(model_attn, example, torch.tensor([12]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    axes[0].plot(lengths, acc_fixed, "s-", label="fixed-size context")
    axes[0].plot(lengths, acc_attn, "o-", label="attention (your numpy decoder)")
    axes[0].set_xlabel("source length")
    axes[0].set_ylabel("token accuracy")
    axes[0].set_ylim(0, 1.02)
    axes[0].set_title("reversing digit strings")
    axes[0].legend()
    axes[1].imshow(weights_ex[0], cmap="Blues", vmin=0, vmax=1)
    axes[1].set_xticks(range(12), example[0].tolist())
    axes[1].set_yticks(range(12), tokens_ex[0].tolist())
    axes[1].set_xlabel("source token")
    axes[1].set_ylabel("output token (step by step)")
    axes[1].set_title("attention weights of one sentence")
    plt.tight_layout()
    plt.show()
    H_steps = attention_entropy(weights_ex[0])
    print("accuracy, fixed context:", np.round(acc_fixed, 2))
    print("accuracy, attention:    ", np.round(acc_attn, 2))
    print(f"attention entropy per step (nats): {np.round(H_steps, 2)}")
    print(f"mean {H_steps.mean():.2f} nats, against log 12 = {np.log(12):.2f} for uniform attention")

# %% [markdown]
# ### Exercise 6.1: written answer (10 points, graded by hand)
#
# Using the figure and the printed numbers, answer in a few sentences each:
#
# 1. How does the fixed-context model's accuracy change with the length of the source, and why?
#    Why does the attention model not suffer in the same way, although its decoder state has the
#    same size (64 numbers)?
# 2. Describe the heat map. Why does the reverse task produce this shape, and what shape would a
#    model that *copies* its input produce?
# 3. What do the entropies tell you about how the trained model attends, compared with the
#    $\log 12$ of uniform attention?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_bottleneck", "locked": false, "points": 10, "schema_version": 3, "solution": true, "task": false}
# *Model answer (the release shows "YOUR ANSWER HERE").*
#
# 1. The fixed-context model is nearly perfect on strings of 3 to 5 digits, but its accuracy falls
#    steadily with length, to about 0.36 at 20 digits, while the attention model stays above 0.94
#    at every length. All the fixed-context decoder knows about the source is one vector of 64
#    numbers computed before decoding starts; every extra digit (about 3.3 bits) must be squeezed
#    into that same vector, together with its position, and a GRU state is an imperfect, lossy
#    memory, so the longer the string the more is lost. The attention model
#    keeps the whole matrix of encoder states, one per source token, and re-reads it at every
#    step: its decoder state only has to track *where* it is, not *what* every digit was, so the
#    information it needs does not grow with the length. *(4 points: the trend, the fixed-size
#    summary as the cause, and why looking back removes it.)*
# 2. The weights form an anti-diagonal band: output step 0 puts its weight on the last source
#    token, step 1 on the one before, ..., the last step on the first token. Output token `t` of
#    the reversal is source token `L - 1 - t`, and the model learned to look there without being
#    told. A copy model would need source token `t` at step `t`: the main diagonal. *(3 points.)*
# 3. The entropies are about 0.6 to 1.0 nats (mean about 0.9), far below $\log 12 \approx 2.48$:
#    each step spreads its weight over about $e^{0.9} \approx 2.4$ neighbouring positions instead
#    of all 12, a sharp, nearly one-to-one alignment. It need not be exactly one-hot: the
#    bidirectional encoder's states also carry information about their neighbours, so weight on
#    the next position still reads the right digit. A model without attention gets the same
#    summary at every step, like uniform attention over everything. *(3 points.)*
