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
# # Problem set 2: backpropagation through time
#
# Problem set 1 ran recurrent networks forward. This one trains them. You will compute, in numpy,
# the gradients that `loss.backward()` computes for an `nn.RNN`, and then look closely at the two
# ways this goes wrong: a gradient that has to travel many steps back in time either fades to
# nothing (it **vanishes**) or grows out of control (it **explodes**). You will measure both,
# tame the second with gradient clipping, make training cheaper with truncated backpropagation,
# and see which designs keep gradients alive over long distances.
#
# **How this notebook works** (as in Problem set 1).
# * Cells that start with `def ...` and contain `raise NotImplementedError()` are yours. Write
#   **numpy only**; PyTorch is used by the checks, not by you.
# * After each of your functions locked cells call `check(...)`: they run your function on a few
#   cases and compare every output with a float64 reference: PyTorch autograd for the gradients,
#   a central finite difference computed by the checks for the numeric-gradient exercise, and
#   PyTorch's own functions for the loss, the clipping and the Jacobians. When something differs it
#   says which output, where, by how much and, if your output matches a mistake that learners
#   often make, which one.
# * Conventions: **batch first, row vectors**. `x` is `(B, T, D)`, a hidden state `(B, H)`, and one
#   step is `h_t = tanh(x_t @ W_xh + h_prev @ W_hh + b_h)` with `W_xh` `(D, H)`, `W_hh` `(H, H)`,
#   `b_h` `(H,)`. In formulas $x_t$ is the input of step $t$ (`x[:, t-1]` in code when steps count
#   from 1) and $h_0$ is the initial state.
# * Do not modify inputs in place; return new arrays whose dtype follows the inputs (float32 in,
#   float32 out); raise `ValueError` for invalid arguments.
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
# case = {"B": 1, "T": 3, "D": 2, "H": 4, "seed": 7, "dh_last": True}
# inputs = case_inputs("rnn_backward", case)      # a dict: argument name -> value
# check(rnn_backward, "rnn_backward", cases=[case])
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
# | 1 | `rnn_step_backward`, `rnn_backward`, `rnn_numeric_gradient` | 38 |
# | 2 | `temporal_softmax_loss` | 12 |
# | 3 | `hidden_jacobian_norms`, a written answer | 20 |
# | 4 | `clip_grad_norm` | 8 |
# | 5 | `truncated_bptt_grads` | 12 |
# | 6 | a written answer | 10 |

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import os

import numpy as np
import matplotlib.pyplot as plt

from autograder import check

# Demonstrations (training runs, figures) are skipped while a grader runs the notebook.
GRADING = bool(os.environ.get("NBGRADER_EXECUTION"))
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# The forward pass comes from Problem set 1. It is given here, locked, so that this notebook
# stands on its own; use it wherever you need states.

# %% nbgrader={"grade": false, "grade_id": "provided_rnn_forward", "locked": true, "schema_version": 3, "solution": false, "task": false}
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    """Provided (Problem set 1): a tanh RNN over a batch of sequences.

    x (B, T, D), h0 (B, H) or None for zeros, W_xh (D, H), W_hh (H, H), b_h (H,)
    returns (h_all, h_last): (B, T, H) the state after every step, and (B, H) the last one
    """
    B, T, _ = x.shape
    h = np.zeros((B, W_hh.shape[0]), dtype=x.dtype) if h0 is None else h0
    h_all = np.empty((B, T, W_hh.shape[0]), dtype=x.dtype)
    for s in range(T):
        h = np.tanh(x[:, s] @ W_xh + h @ W_hh + b_h)
        h_all[:, s] = h
    return h_all, h.copy()


# %% [markdown]
# ## Part 1. Backpropagation on the unrolled graph
#
# Unroll an RNN over $T$ steps and it becomes an ordinary feed-forward network, $T$ layers deep,
# in which **every layer uses the same weights**:
#
# ```
#          x_1          x_2                  x_T
#           |            |                    |
#  h_0 --> [step] --> [step] --> ... --> [step] --> h_T  ---> L_last (many-to-one)
#           |            |                    |
#          h_1          h_2                  h_T
#           |            |                    |
#          L_1          L_2                  L_T          (many-to-many)
# ```
#
# Nothing new is needed to differentiate it: **backpropagation through time (BPTT) is plain
# backpropagation on this graph.** Two facts about the graph decide what the code looks like.
#
# 1. **Shared weights add up.** `W_hh` is used once per step. Pretend each step had its own
#    copy $W^{(t)}$; the gradient of the real, shared matrix is the sum of the copies' gradients,
#    $\partial L / \partial W_{hh} = \sum_t \partial L / \partial W^{(t)}$. The same holds for
#    `W_xh` and `b_h`.
# 2. **A state has two consumers.** $h_t$ feeds the loss at step $t$ (if there is one) *and* the
#    next step. Its gradient is the sum of what comes back along both paths.
#
# **What the backward pass receives.** Whatever sits on top of the RNN (an output layer and a
# loss at every step, or a classifier on the last state) has already been differentiated. It hands
# the RNN two arrays:
#
# * `dh_all` `(B, T, H)`: `dh_all[:, t]` is the gradient of the loss with respect to $h_t$ **through
#   the output of step $t$ only** (the per-step losses of a many-to-many model);
# * `dh_last` `(B, H)` or `None`: the gradient with respect to the final state $h_T$ from a loss
#   that reads it (a many-to-one model).
#
# Equivalently, the RNN backpropagates the loss
# $L = \sum_{b,t,j} h_{b,t,j}\,\mathrm{dh\_all}_{b,t,j} + \sum_{b,j} h_{b,T,j}\,\mathrm{dh\_last}_{b,j}$,
# whose gradients with respect to the states are exactly those arrays. The checks compare with
# `torch.autograd.grad` of that loss through `nn.RNN`.
#
# ### One step, backwards
#
# Forward: $z_t = x_t W_{xh} + h_{t-1} W_{hh} + b_h$ and $h_t = \tanh(z_t)$. Three facts are all
# you need:
#
# * $\tanh'(z) = 1 - \tanh(z)^2$, so the slope at step $t$ is $1 - h_t^2$ (elementwise): you can
#   get it from the **output** of the step, without $z_t$ and without knowing `b_h`.
# * For a product `z = a @ W` with `a` `(B, n)` and `W` `(n, m)`: `da = dz @ W.T` and
#   `dW = a.T @ dz` (the matrix product sums over the batch rows; that is fact 1 again, the rows
#   share `W`).
# * Every gradient has the shape of the thing it is the gradient of. When a shape does not fit,
#   a transpose is missing; when it fits by accident (`W_hh` is square!), only the values can tell.
#
# ### Exercise 1.1: one step (12 points)
#
# Implement `rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh)`. `dh_t` `(B, H)` is the
# total gradient arriving at `h_t`. Return a dict with the gradients with respect to the step's
# inputs and parameters: `dx_t` `(B, D)`, `dh_prev` `(B, H)`, `dW_xh` `(D, H)`, `dW_hh` `(H, H)`,
# `db_h` `(H,)`. This equals autograd through one step of `nn.RNN`.

# %% nbgrader={"grade": false, "grade_id": "rnn_step_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    """Backward pass of one tanh RNN step h_t = tanh(x_t @ W_xh + h_prev @ W_hh + b_h).

    dh_t:   (B, H) gradient of the loss with respect to h_t
    x_t:    (B, D) the step's input
    h_prev: (B, H) the state that entered the step
    h_t:    (B, H) the state the step produced
    W_xh:   (D, H), W_hh: (H, H) the weights
    returns dict: dx_t (B, D), dh_prev (B, H), dW_xh (D, H), dW_hh (H, H), db_h (H,)
    """
    ### BEGIN SOLUTION
    dz = dh_t * (1 - h_t ** 2)
    return {"dx_t": dz @ W_xh.T, "dh_prev": dz @ W_hh.T, "dW_xh": x_t.T @ dz,
            "dW_hh": h_prev.T @ dz, "db_h": dz.sum(axis=0)}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rnn_step_backward_core", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(rnn_step_backward, "rnn_step_backward", cases=[
    {"B": 4, "D": 3, "H": 5, "seed": 111},
])
### BEGIN HIDDEN TESTS
check(rnn_step_backward, "rnn_step_backward", cases=[
    {"B": 4, "D": 3, "H": 5, "seed": 11},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_rnn_step_backward_options", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(rnn_step_backward, "rnn_step_backward", cases=[
    {"B": 3, "D": 4, "H": 4, "seed": 112, "scale": 3.0},
    {"B": 2, "D": 2, "H": 3, "seed": 113, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(rnn_step_backward, "rnn_step_backward", cases=[
    {"B": 3, "D": 4, "H": 4, "seed": 12, "scale": 3.0},
    {"B": 2, "D": 2, "H": 3, "seed": 13, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_rnn_step_backward_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(rnn_step_backward, "rnn_step_backward", cases=[
    {"B": 1, "D": 3, "H": 4, "seed": 1},
    {"B": 1, "D": 1, "H": 1, "seed": 114},
])
### BEGIN HIDDEN TESTS
check(rnn_step_backward, "rnn_step_backward", cases=[
    {"B": 1, "D": 1, "H": 1, "seed": 14},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Exercise 1.2: the whole sequence (18 points)
#
# Walk the sequence backwards, from the last step to the first. At step $t$ the gradient
# arriving at $h_t$ has up to three parts:
#
# $$\frac{\partial L}{\partial h_t} \;=\; \underbrace{\texttt{dh\_all[:, t]}}_{\text{its own output}}
# \;+\; \underbrace{\texttt{dh\_prev}\ \text{sent back by step } t+1}_{\text{the recurrent term}}
# \;+\; \underbrace{\texttt{dh\_last}}_{\text{only at the last step}}$$
#
# Feed that total into `rnn_step_backward`, store `dx_t`, add the parameter gradients to running
# sums, and pass `dh_prev` on to the step before. What the first step sends back is the gradient
# with respect to the initial state, `dh0`.
#
# Implement `rnn_backward(dh_all, x, h0, h_all, W_xh, W_hh, dh_last=None)` returning a dict with
# `dx` `(B, T, D)`, `dh0` `(B, H)`, `dW_xh` `(D, H)`, `dW_hh` `(H, H)`, `db_h` `(H,)`. `h_all` holds
# the states from the forward pass; `h0=None` means the zero initial state (return `dh0` anyway:
# the gradient at the zero state). `dh_last=None` means no loss on the last state. Raise
# `ValueError` when `dh_all` does not have the shape of `h_all`.

# %% nbgrader={"grade": false, "grade_id": "rnn_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_backward(dh_all, x, h0, h_all, W_xh, W_hh, dh_last=None):
    """Backpropagation through time for a tanh RNN.

    dh_all:  (B, T, H) gradient of the loss with respect to each h_t through that step's output
    x:       (B, T, D) inputs
    h0:      (B, H) initial state, or None for zeros
    h_all:   (B, T, H) states from the forward pass
    W_xh:    (D, H), W_hh: (H, H) weights
    dh_last: (B, H) extra gradient on the final state, or None
    returns dict: dx (B, T, D), dh0 (B, H), dW_xh (D, H), dW_hh (H, H), db_h (H,)
    """
    ### BEGIN SOLUTION
    if dh_all.shape != h_all.shape:
        raise ValueError(f"dh_all should have the shape of h_all {h_all.shape}, got {dh_all.shape}")
    B, T, H = h_all.shape
    if h0 is None:
        h0 = np.zeros((B, H), dtype=h_all.dtype)
    grads = {"dx": np.zeros_like(x), "dW_xh": np.zeros_like(W_xh), "dW_hh": np.zeros_like(W_hh),
             "db_h": np.zeros(H, dtype=h_all.dtype)}
    carried = np.zeros((B, H), dtype=h_all.dtype) if dh_last is None else dh_last.copy()
    for t in reversed(range(T)):
        h_prev = h_all[:, t - 1] if t > 0 else h0
        step = rnn_step_backward(dh_all[:, t] + carried, x[:, t], h_prev, h_all[:, t], W_xh, W_hh)
        grads["dx"][:, t] = step["dx_t"]
        grads["dW_xh"] += step["dW_xh"]
        grads["dW_hh"] += step["dW_hh"]
        grads["db_h"] += step["db_h"]
        carried = step["dh_prev"]
    grads["dh0"] = carried
    return grads
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rnn_backward_options", "locked": true, "points": 9, "schema_version": 3, "solution": false, "task": false}
check(rnn_backward, "rnn_backward", cases=[
    {"B": 2, "T": 4, "D": 3, "H": 5, "seed": 1, "h0": True},
    {"B": 3, "T": 9, "D": 4, "H": 6, "seed": 122, "h0": True, "dh_last": True},
    {"B": 2, "T": 12, "D": 3, "H": 4, "seed": 123, "loss": "last"},
    {"B": 2, "T": 30, "D": 3, "H": 8, "seed": 124, "h0": True, "dh_last": True, "dtype": "float32"},
    {"B": 2, "T": 20, "D": 3, "H": 6, "seed": 125, "rho": 1.3, "h0": True, "dh_last": True},
])
### BEGIN HIDDEN TESTS
check(rnn_backward, "rnn_backward", cases=[
    {"B": 3, "T": 9, "D": 4, "H": 6, "seed": 22, "h0": True, "dh_last": True},
    {"B": 2, "T": 12, "D": 3, "H": 4, "seed": 23, "loss": "last"},
    {"B": 2, "T": 30, "D": 3, "H": 8, "seed": 24, "h0": True, "dh_last": True, "dtype": "float32"},
    {"B": 2, "T": 20, "D": 3, "H": 6, "seed": 25, "rho": 1.3, "h0": True, "dh_last": True},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_rnn_backward_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(rnn_backward, "rnn_backward", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "seed": 121},
    {"B": 2, "T": 3, "D": 3, "H": 4, "seed": 126, "bad_dh": True, "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(rnn_backward, "rnn_backward", cases=[
    {"B": 1, "T": 1, "D": 2, "H": 3, "seed": 21},
    {"B": 2, "T": 3, "D": 3, "H": 4, "seed": 26, "bad_dh": True, "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# **Your own functions together (5 of this exercise's points).** The checks above judge
# `rnn_backward` on its own work: while they run, the functions it calls (`rnn_step_backward`)
# are the course's reference versions, so a slip in one of those costs points only once, in its
# own checks. This last check runs `rnn_backward` with *your* versions of them, end to end.

# %% nbgrader={"grade": true, "grade_id": "test_rnn_backward_integration", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(rnn_backward, "rnn_backward", cases=[
    {"B": 2, "T": 6, "D": 3, "H": 4, "seed": 131, "h0": True, "dh_last": True},
], integration=True)
### BEGIN HIDDEN TESTS
check(rnn_backward, "rnn_backward", cases=[
    {"B": 2, "T": 6, "D": 3, "H": 4, "seed": 31, "h0": True, "dh_last": True},
], integration=True)
### END HIDDEN TESTS


# %% [markdown]
# ### Exercise 1.3: a numeric gradient check (8 points)
#
# Here PyTorch tells you whether your gradients are right. In your own projects nothing will,
# so every backward pass you write yourself deserves a **gradient check**: compare it with
# finite differences of the loss. Nudge one entry $p_i$ of a parameter by $\pm\varepsilon$:
#
# $$\frac{\partial L}{\partial p_i} \approx \frac{L(p + \varepsilon e_i) - L(p - \varepsilon e_i)}{2\varepsilon}.$$
#
# This **centred** difference is off by a term proportional to $\varepsilon^2$; the one-sided
# $(L(p + \varepsilon e_i) - L(p)) / \varepsilon$ is off by a term proportional to $\varepsilon$,
# far worse. But $\varepsilon$ cannot be made tiny either: the two losses agree in most of their
# digits, and their difference keeps only the rest. The rounding error of the quotient is about
# $u\,|L| / \varepsilon$, where $u$ is the unit roundoff: $10^{-16}$ in float64, so about
# $10^{-11}$ for $\varepsilon = 10^{-5}$, but $6 \cdot 10^{-8}$ in float32, so about $10^{-2}$:
# useless. **Always difference in float64.** The figure after the check shows both effects.
#
# Implement `rnn_numeric_gradient(x, h0, W_xh, W_hh, b_h, dh_all, wrt, dh_last=None, eps=1e-5)`.
# It returns the centred-difference gradient of
# $L = \sum h_{\text{all}} \cdot \mathrm{dh\_all} + \sum h_{\text{last}} \cdot \mathrm{dh\_last}$
# (the second sum only when `dh_last` is given), computed with the provided `rnn_forward`, with
# respect to the argument named by `wrt`: one of `"x"`, `"h0"`, `"W_xh"`, `"W_hh"`, `"b_h"` (any
# other name raises `ValueError`). Perturb one entry at a time, each by `+eps` and `-eps`, on
# **float64 copies** of the arguments (never on the arguments themselves), and return the result
# in the dtype of the argument you differentiated (of `x` when `wrt="h0"` and `h0` is `None`,
# which stands for a zero initial state).

# %% nbgrader={"grade": false, "grade_id": "rnn_numeric_gradient", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_numeric_gradient(x, h0, W_xh, W_hh, b_h, dh_all, wrt, dh_last=None, eps=1e-5):
    """Centred finite differences of L = sum(h_all * dh_all) [+ sum(h_last * dh_last)].

    x (B, T, D), h0 (B, H) or None, W_xh (D, H), W_hh (H, H), b_h (H,): the RNN's arguments
    dh_all:  (B, T, H) weights of the states in the loss
    wrt:     "x", "h0", "W_xh", "W_hh" or "b_h": the argument to differentiate
    dh_last: (B, H) or None
    eps:     the step
    returns grad: the shape of the argument named by wrt ((B, H) for "h0"), in its dtype
    """
    ### BEGIN SOLUTION
    names = ("x", "h0", "W_xh", "W_hh", "b_h")
    if wrt not in names:
        raise ValueError(f"wrt must be one of {names}, got {wrt!r}")
    B, H = x.shape[0], W_hh.shape[0]
    params = {"x": x, "h0": np.zeros((B, H), dtype=x.dtype) if h0 is None else h0,
              "W_xh": W_xh, "W_hh": W_hh, "b_h": b_h}
    out_dtype = params[wrt].dtype
    params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    dh_all = np.asarray(dh_all, dtype=np.float64)
    dh_last = None if dh_last is None else np.asarray(dh_last, dtype=np.float64)

    def loss():
        h_all, h_last = rnn_forward(params["x"], params["h0"], params["W_xh"], params["W_hh"], params["b_h"])
        value = np.sum(h_all * dh_all)
        return value + np.sum(h_last * dh_last) if dh_last is not None else value

    p = params[wrt]
    grad = np.zeros_like(p)
    for i in np.ndindex(p.shape):
        old = p[i]
        p[i] = old + eps
        plus = loss()
        p[i] = old - eps
        minus = loss()
        p[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad.astype(out_dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rnn_numeric_gradient_options", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(rnn_numeric_gradient, "rnn_numeric_gradient", cases=[
    {"B": 2, "T": 3, "D": 2, "H": 3, "seed": 1, "wrt": "W_hh"},
    {"B": 2, "T": 4, "D": 3, "H": 3, "seed": 131, "wrt": "x", "h0": True, "dh_last": True, "eps": 0.001},
    {"B": 3, "T": 3, "D": 2, "H": 3, "seed": 133, "wrt": "b_h", "h0": True, "dtype": "float32"},
    {"B": 2, "T": 3, "D": 4, "H": 2, "seed": 134, "wrt": "W_xh", "eps": 0.001},
])
### BEGIN HIDDEN TESTS
check(rnn_numeric_gradient, "rnn_numeric_gradient", cases=[
    {"B": 2, "T": 4, "D": 3, "H": 3, "seed": 31, "wrt": "x", "h0": True, "dh_last": True, "eps": 0.001},
    {"B": 3, "T": 3, "D": 2, "H": 3, "seed": 33, "wrt": "b_h", "h0": True, "dtype": "float32"},
    {"B": 2, "T": 3, "D": 4, "H": 2, "seed": 34, "wrt": "W_xh", "eps": 0.001},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_rnn_numeric_gradient_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(rnn_numeric_gradient, "rnn_numeric_gradient", cases=[
    {"B": 1, "T": 5, "D": 2, "H": 4, "seed": 132, "wrt": "h0"},
    {"B": 2, "T": 3, "D": 2, "H": 3, "seed": 135, "wrt": "U", "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(rnn_numeric_gradient, "rnn_numeric_gradient", cases=[
    {"B": 1, "T": 5, "D": 2, "H": 4, "seed": 32, "wrt": "h0"},
    {"B": 2, "T": 3, "D": 2, "H": 3, "seed": 35, "wrt": "U", "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# **The two errors of a finite difference.** The derivative of `tanh` at 0.5, estimated with
# steps from $10^{-1}$ down to $10^{-12}$. Going left, truncation error falls (as $\varepsilon$
# for one-sided, $\varepsilon^2$ for centred differences) until rounding error, growing like
# $u / \varepsilon$, takes over. In float64 the centred difference reaches about $10^{-11}$ near
# $\varepsilon = 10^{-5}$. In float32 the same step gives errors around $10^{-3}$ to $10^{-2}$,
# and below $\varepsilon \approx 10^{-8}$ the nudge vanishes entirely in rounding (`z + eps == z`).

# %% tags=["demo"]
if not GRADING:
    exact = 1 - np.tanh(0.5) ** 2
    steps = np.logspace(-1, -12, 45)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for dtype, style in [(np.float64, "-"), (np.float32, ":")]:
        z, e = dtype(0.5), steps.astype(dtype)
        centred = (np.tanh(z + e) - np.tanh(z - e)) / (2 * e)
        one_sided = (np.tanh(z + e) - np.tanh(z)) / e
        ax.loglog(steps, np.abs(centred - exact) + 1e-18, style, color="tab:blue", label=f"centred, {dtype.__name__}")
        ax.loglog(steps, np.abs(one_sided - exact) + 1e-18, style, color="tab:orange", label=f"one-sided, {dtype.__name__}")
    ax.set_xlabel("eps"); ax.set_ylabel("|error|"); ax.set_ylim(1e-13, 10); ax.legend(fontsize=8)
    ax.set_title("finite differences of tanh at 0.5")
    plt.show()

# %% [markdown]
# **Checking your backward pass.** The cell below compares your `rnn_backward` with your
# `rnn_numeric_gradient` on a small random problem, for every gradient. A common summary is the
# relative error $\max|a - n| / (\max|a| + \max|n|)$: around $10^{-10}$ or below means the
# backward pass is right; $10^{-3}$ or more means a bug (often in only one of the five arrays,
# which tells you where to look).

# %% tags=["demo"]
if not GRADING:
    rng = np.random.default_rng(0)
    B, T, D, H = 2, 5, 3, 4
    x_gc, h0_gc = rng.normal(size=(B, T, D)), rng.normal(size=(B, H)) * 0.5
    W_xh_gc, W_hh_gc, b_gc = rng.normal(size=(D, H)) * 0.5, rng.normal(size=(H, H)) * 0.5, rng.normal(size=H) * 0.1
    dh_all_gc, dh_last_gc = rng.normal(size=(B, T, H)), rng.normal(size=(B, H))
    h_all_gc, _ = rnn_forward(x_gc, h0_gc, W_xh_gc, W_hh_gc, b_gc)
    analytic = rnn_backward(dh_all_gc, x_gc, h0_gc, h_all_gc, W_xh_gc, W_hh_gc, dh_last_gc)
    for name in ["x", "h0", "W_xh", "W_hh", "b_h"]:
        numeric = rnn_numeric_gradient(x_gc, h0_gc, W_xh_gc, W_hh_gc, b_gc, dh_all_gc, name, dh_last_gc)
        a = analytic["d" + name]
        rel = np.abs(a - numeric).max() / (np.abs(a).max() + np.abs(numeric).max())
        print(f"d{name:5s} relative error {rel:.1e}")

# %% [markdown]
# ## Part 2. A loss at every step
#
# A **many-to-many** model makes a prediction at every step: a language model predicts the next
# token, a tagger labels every word. On top of the RNN sits an output layer,
# `logits = h_all @ W_hy + b_y` of shape `(B, T, V)` for a vocabulary of `V` classes, and the loss
# is a cross-entropy at every position.
#
# Real batches hold sequences of different lengths, padded to a common `T`. A boolean **mask**
# `(B, T)` marks the positions that count (True) and the padding (False). Padding must not
# change anything: it adds nothing to the loss, gets zero gradient, and its target, often a
# placeholder such as `-1`, must never be read as a class. Following PyTorch's
# `F.cross_entropy(reduction="mean")`, the loss is the **mean over the selected tokens**:
#
# $$L = -\frac{1}{N}\sum_{(b,t)\,:\,\text{mask}_{b,t}} \log p_{b,t}[y_{b,t}], \qquad
# p_{b,t} = \operatorname{softmax}(\text{logits}_{b,t}), \qquad N = \#\{(b,t) : \text{mask}_{b,t}\}.$$
#
# (Dividing by the batch size `B` instead is another convention you will meet; it makes long
# sequences weigh more and changes the gradient's scale with the amount of padding. This course
# follows PyTorch's convention.) Its gradient has a famous form: at a selected position,
# $\partial L / \partial \text{logits}_{b,t} = (p_{b,t} - \text{onehot}(y_{b,t})) / N$, and 0
# elsewhere. When nothing is selected ($N = 0$) return a loss of `0.0` and a zero gradient, never
# `nan`. Compute the softmax stably: subtract each row's maximum before `np.exp` (or use
# $\log p = s - \log \sum e^{s}$ with the shifted logits $s$).
#
# ### Exercise 2.1 (12 points)
#
# Implement `temporal_softmax_loss(logits, targets, mask=None)` returning `(loss, dlogits)`:
# a Python float and an array `(B, T, V)`. `targets` is an integer array `(B, T)`; `mask` is a
# boolean `(B, T)` array or `None` (every position counts). Raise `ValueError` when `targets` is
# not `(B, T)`.

# %% nbgrader={"grade": false, "grade_id": "temporal_softmax_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def temporal_softmax_loss(logits, targets, mask=None):
    """Mean cross-entropy over the selected positions of a batch of sequences.

    logits:  (B, T, V) scores
    targets: (B, T) integer classes in 0..V-1 (any value where mask is False)
    mask:    (B, T) bool, True where a position counts, or None for all positions
    returns (loss, dlogits): a float, and (B, T, V) the gradient of loss with respect to logits
    """
    ### BEGIN SOLUTION
    B, T, V = logits.shape
    if targets.shape != (B, T):
        raise ValueError(f"targets should have shape {(B, T)}, got {targets.shape}")
    selected = np.ones((B, T), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    count = int(selected.sum())
    if count == 0:
        return 0.0, np.zeros_like(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    safe = np.where(selected, targets, 0)[..., None]               # padding targets never index
    loss = -np.take_along_axis(log_p, safe, axis=-1)[..., 0][selected].sum() / count
    dlogits = np.exp(log_p)
    np.put_along_axis(dlogits, safe, np.take_along_axis(dlogits, safe, axis=-1) - 1, axis=-1)
    dlogits = dlogits * selected[..., None] / count
    return float(loss), dlogits.astype(logits.dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_temporal_softmax_loss_core", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(temporal_softmax_loss, "temporal_softmax_loss", cases=[
    {"B": 2, "T": 4, "V": 5, "seed": 1},
    {"B": 3, "T": 6, "V": 4, "seed": 141, "mask": "lengths", "pad": True},
    {"B": 4, "T": 5, "V": 3, "seed": 142, "mask": "random"},
    {"B": 3, "T": 5, "V": 4, "seed": 146, "mask": "random", "pad": True, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(temporal_softmax_loss, "temporal_softmax_loss", cases=[
    {"B": 3, "T": 6, "V": 4, "seed": 41, "mask": "lengths", "pad": True},
    {"B": 4, "T": 5, "V": 3, "seed": 42, "mask": "random"},
    {"B": 3, "T": 5, "V": 4, "seed": 46, "mask": "random", "pad": True, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_temporal_softmax_loss_edges", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(temporal_softmax_loss, "temporal_softmax_loss", cases=[
    {"B": 2, "T": 3, "V": 5, "seed": 171, "logit_scale": 10000.0, "mask": "random"},
    {"B": 2, "T": 3, "V": 4, "seed": 143, "mask": "empty"},
    {"B": 2, "T": 4, "V": 6, "seed": 144, "logit_scale": 1000.0},
    {"B": 1, "T": 1, "V": 2, "seed": 145},
    {"B": 2, "T": 3, "V": 4, "seed": 147, "bad_targets": True, "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(temporal_softmax_loss, "temporal_softmax_loss", cases=[
    {"B": 3, "T": 4, "V": 6, "seed": 71, "logit_scale": 10000.0, "mask": "random"},
    {"B": 2, "T": 3, "V": 4, "seed": 43, "mask": "empty"},
    {"B": 2, "T": 4, "V": 6, "seed": 44, "logit_scale": 1000.0},
    {"B": 1, "T": 1, "V": 2, "seed": 45},
    {"B": 2, "T": 3, "V": 4, "seed": 47, "bad_targets": True, "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# ## Part 3. Vanishing and exploding gradients
#
# ### A thought experiment
#
# Strip an RNN to the bone: one unit, no input, no nonlinearity, $h_t = a\,h_{t-1}$. Then
# $h_T = a^{T-k} h_k$, so
#
# $$\frac{\partial h_T}{\partial h_k} = a^{T-k}, \qquad\text{in particular}\qquad \frac{\partial h_T}{\partial h_1} = a^{T-1}.$$
#
# Suppose the only loss sits at the end (many-to-one). Its gradient reaches step 1 multiplied by
# $a^{T-1}$. With $T = 50$:
#
# | $a$ | 0.5 | 0.9 | 1.0 | 1.1 | 1.5 |
# |---|---|---|---|---|---|
# | $a^{49}$ | $2 \cdot 10^{-15}$ | $0.006$ | 1 | 107 | $4 \cdot 10^{8}$ |
#
# With $|a| < 1$ the signal from the end **vanishes** on its way back: the early steps receive
# almost no gradient, so whatever the loss needs from them is not learned. With $|a| > 1$ it
# **explodes**: a tiny change early on moves the loss enormously, the gradient is huge, and one
# gradient step can throw the weights anywhere. Only $|a| = 1$ is safe, and it is a knife's edge.
#
# ### The product of Jacobians
#
# A real RNN has a matrix where the thought experiment has $a$. By the chain rule,
#
# $$\frac{\partial h_T}{\partial h_k} = J_T\,J_{T-1} \cdots J_{k+1}, \qquad
# J_t = \frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(1 - h_t^2)\, W_{hh}^{\top},$$
#
# an $H \times H$ matrix whose entry $(i, j)$ says how $h_t[i]$ moves with $h_{t-1}[j]$ (the
# transpose appears because of row vectors: $h_t = \tanh(h_{t-1} W_{hh} + \dots)$). In your
# `rnn_backward` the line `dh_prev = (dh * (1 - h_t**2)) @ W_hh.T` multiplies the gradient by
# exactly one $J_t$ per step. Two things set the size of the product:
#
# * **The weights.** Near $h = 0$, where $\tanh' \approx 1$, the product behaves like a power of
#   $W_{hh}^\top$, and powers of a matrix grow or shrink like $\rho^{T-k}$, with $\rho$ the spectral
#   radius from Problem set 1. That is the thought experiment with $a = \rho$. And since
#   $\|J_t\|_2 \le \|W_{hh}\|_2$, a largest singular value below 1 makes vanishing certain.
# * **The saturation.** Where a unit saturates, $1 - h_t^2 \approx 0$ and the Jacobian crushes
#   that direction. Large inputs or large weights push the state into saturation, so a tanh RNN
#   that "should" explode by its spectral radius often vanishes instead.
#
# **The dynamical-systems view.** The average growth per step of the product,
# $\lambda = \frac{1}{d}\log \|\partial h_T / \partial h_{T-d}\|$ for large $d$, is the largest
# *Lyapunov exponent* of the trajectory. It also measures how two nearby trajectories move apart.
# $\lambda < 0$: the network is stable, forgets its distant past, and its gradients vanish.
# $\lambda > 0$: it is chaotic, tiny differences grow, and its gradients explode. Remembering far
# back while learning stably asks for $\lambda \approx 0$, the "edge of chaos", and no fixed
# $W_{hh}$ keeps a plain RNN there for every input.
#
# ### Exercise 3.1: measuring the decay (12 points)
#
# Implement `hidden_jacobian_norms(x, h0, W_xh, W_hh, b_h)` for **one** sequence (no batch axis):
# `x` `(T, D)`, `h0` `(H,)`. Return an array `(T,)` whose entry `k` is the spectral norm
# (largest singular value, `np.linalg.norm(M, 2)`) of $\partial h_T / \partial h_k$, for
# $k = 0, \dots, T-1$, where $h_0$ is `h0` and $h_t$ is the state after reading `x[t-1]`. So
# entry 0 is about the initial state ($T$ Jacobians) and entry `T-1` is about the state one step
# before the end (one Jacobian). Run the sequence forward keeping every state, then build the
# products from the end: $\partial h_T/\partial h_k = (\partial h_T/\partial h_{k+1})\,J_{k+1}$.
# It equals `torch.autograd.functional.jacobian` followed by `torch.linalg.matrix_norm(ord=2)`.

# %% nbgrader={"grade": false, "grade_id": "hidden_jacobian_norms", "locked": false, "schema_version": 3, "solution": true, "task": false}
def hidden_jacobian_norms(x, h0, W_xh, W_hh, b_h):
    """Spectral norms of d h_T / d h_k for one sequence of a tanh RNN.

    x:  (T, D) inputs of one sequence
    h0: (H,) initial state
    W_xh (D, H), W_hh (H, H), b_h (H,): the weights
    returns norms: (T,), norms[k] = ||d h_T / d h_k||_2 for k = 0..T-1
    """
    ### BEGIN SOLUTION
    T, H = x.shape[0], W_hh.shape[0]
    states = [h0]
    for t in range(T):
        states.append(np.tanh(x[t] @ W_xh + states[-1] @ W_hh + b_h))
    norms = np.empty(T, dtype=x.dtype)
    product = np.eye(H, dtype=x.dtype)                          # d h_T / d h_T
    for k in reversed(range(T)):
        jacobian = (1 - states[k + 1] ** 2)[:, None] * W_hh.T    # J_{k+1} = d h_{k+1} / d h_k
        product = product @ jacobian
        norms[k] = np.linalg.norm(product, 2)
    return norms
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_hidden_jacobian_norms_core", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(hidden_jacobian_norms, "hidden_jacobian_norms", cases=[
    {"T": 6, "D": 3, "H": 4, "seed": 1},
    {"T": 12, "D": 3, "H": 5, "seed": 172, "h0": True},
    {"T": 30, "D": 4, "H": 8, "seed": 173, "rho": 1.3, "x_scale": 0.1},
    {"T": 20, "D": 3, "H": 6, "seed": 174, "rho": 0.7, "h0": True, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(hidden_jacobian_norms, "hidden_jacobian_norms", cases=[
    {"T": 12, "D": 3, "H": 5, "seed": 72, "h0": True},
    {"T": 30, "D": 4, "H": 8, "seed": 73, "rho": 1.3, "x_scale": 0.1},
    {"T": 20, "D": 3, "H": 6, "seed": 74, "rho": 0.7, "h0": True, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_hidden_jacobian_norms_edges", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(hidden_jacobian_norms, "hidden_jacobian_norms", cases=[
    {"T": 1, "D": 2, "H": 3, "seed": 171, "h0": True},
])
### BEGIN HIDDEN TESTS
check(hidden_jacobian_norms, "hidden_jacobian_norms", cases=[
    {"T": 1, "D": 2, "H": 3, "seed": 71, "h0": True},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Seeing the decay
#
# One random $W_{hh}$, scaled to spectral radius 0.8, 1.0 and 1.2, reads the same random
# sequence of 60 steps. The plots show $\|\partial h_T / \partial h_k\|$ from your function
# against the distance $T - k$, on a log scale, with $\rho^{T-k}$ dashed.
#
# * **Left, small inputs** (`x` times 0.1). For $\rho = 0.8$ the state stays near 0, tanh is nearly
#   linear and the thought experiment holds: the norms follow $0.8^{T-k}$. For $\rho = 1.2$ the
#   zero state is unstable, the state grows by itself until saturation holds it back, and the
#   norms grow by only about 2% per step (to about 20 over 60 steps) instead of following
#   $1.2^{T-k}$ (about $5 \cdot 10^4$): growth and saturation nearly balance, the "edge of chaos"
#   of the paragraph above in miniature.
# * **Right, inputs of size 1.** The same matrices, but now the state saturates, $1 - h_t^2$ is
#   small, and **all three vanish**, even $\rho = 1.2$. The printed rates are the average factor
#   per step, $e^{\lambda}$.

# %% tags=["demo"]
if not GRADING:
    rng = np.random.default_rng(0)
    H, D, T = 32, 4, 60
    W_unit = rng.normal(size=(H, H))
    W_unit /= np.abs(np.linalg.eigvals(W_unit)).max()               # spectral radius 1
    W_xh_demo, x_demo = rng.normal(size=(D, H)) / np.sqrt(D), rng.normal(size=(T, D))
    distance = T - np.arange(T)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), sharey=True)
    for ax, scale in zip(axes, [0.1, 1.0]):
        for rho, color in [(0.8, "tab:blue"), (1.0, "tab:gray"), (1.2, "tab:red")]:
            norms = hidden_jacobian_norms(scale * x_demo, np.zeros(H), W_xh_demo, rho * W_unit, np.zeros(H))
            rate = np.exp(np.polyfit(distance, np.log(norms), 1)[0])
            ax.semilogy(distance, norms, color=color, label=f"rho = {rho}: x{rate:.2f} per step")
            ax.semilogy(distance, rho ** distance, "--", color=color, alpha=0.5)
        ax.set_xlabel("distance T - k"); ax.set_title(f"inputs of size {scale}"); ax.legend()
    axes[0].set_ylabel("||d h_T / d h_k||  (dashed: rho^(T-k))")
    axes[0].set_ylim(1e-18, 1e6)
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ### One loss at the end, or one at every step
#
# Where the loss sits matters as much as the weights. With one loss on the last state
# (many-to-one), every input's gradient has to come all the way from step $T$ and shrinks with
# the distance. With a loss at every step (many-to-many), step $t$ also receives a **fresh**
# gradient from its own output, $\texttt{dh\_all[:, t]}$, that has travelled no distance at all.
# The figure uses your `rnn_backward` on a network with $\rho = 0.9$ and shows the average size of
# $\partial L / \partial x_t$ for both losses.

# %% tags=["demo"]
if not GRADING:
    rng = np.random.default_rng(1)
    B, T, D, H = 16, 50, 4, 32
    W_hh_m = rng.normal(size=(H, H))
    W_hh_m *= 0.9 / np.abs(np.linalg.eigvals(W_hh_m)).max()
    W_xh_m, x_m = rng.normal(size=(D, H)) / np.sqrt(D), rng.normal(size=(B, T, D))
    h_all_m, _ = rnn_forward(x_m, None, W_xh_m, W_hh_m, np.zeros(H))
    one = rnn_backward(np.zeros_like(h_all_m), x_m, None, h_all_m, W_xh_m, W_hh_m, rng.normal(size=(B, H)))
    many = rnn_backward(rng.normal(size=(B, T, H)), x_m, None, h_all_m, W_xh_m, W_hh_m)
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = np.arange(1, T + 1)
    ax.semilogy(steps, np.linalg.norm(one["dx"], axis=2).mean(axis=0), label="many-to-one: loss on h_T only")
    ax.semilogy(steps, np.linalg.norm(many["dx"], axis=2).mean(axis=0), label="many-to-many: a loss at every step")
    ax.set_xlabel("step t"); ax.set_ylabel("mean ||dL/dx_t||"); ax.legend()
    plt.show()

# %% [markdown]
# ### Exercise 3.2: written answer (8 points, graded by hand)
#
# Answer in a few sentences each.
#
# 1. In the right-hand plot, $\rho = 1.2$ gives vanishing gradients although $1.2^{59}$ is about
#    $5 \cdot 10^4$. Explain why, using $J_t = \operatorname{diag}(1 - h_t^2)\,W_{hh}^\top$.
# 2. In the many-to-many curve the early steps receive about as much gradient as the late ones.
#    Does that mean the many-to-many network can learn that its output at step 50 should depend on
#    its input at step 1? Explain what the fresh gradient at every step does and does not provide.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_vanishing", "locked": false, "points": 8, "schema_version": 3, "solution": true, "task": false}
# *Model answer (the release shows "YOUR ANSWER HERE").*
#
# 1. $\rho^{T-k}$ describes the product only where $\tanh' \approx 1$. With inputs of size 1 the
#    pre-activations are large, most units sit near $\pm 1$, and the factors $1 - h_t^2$ in each
#    $J_t$ are small. Each Jacobian then shrinks vectors on average, by more than $W_{hh}$ stretches
#    them, so the product decays (a negative Lyapunov exponent) despite $\rho > 1$. *(4 points: the
#    saturated slope, and that it multiplies every step's Jacobian.)*
# 2. No. The gradient reaching $x_1$ is large because the loss *at step 1* (and the next few steps)
#    sends it back over a short distance. The part of the gradient that links the output at step
#    50 to $x_1$ still travels 49 steps through the same product of Jacobians and is as tiny as in
#    the many-to-one case; it is just hidden under the short-range terms. Per-step losses give
#    every step something to learn from (short and medium dependencies), not a path for long ones.
#    *(4 points: fresh short-range gradient; the long-range term still vanishes.)*

# %% [markdown]
# ## Part 4. Exploding gradients: clipping
#
# The loss surface of an RNN has **cliffs**: regions where a small change of the weights changes
# the trajectory, and so the loss, abruptly. On a cliff the gradient is enormous, and a plain
# gradient step $\theta \leftarrow \theta - \eta g$ jumps far away, often into a saturated region
# where training stalls. **Clipping by the global norm** keeps the direction of the step and caps
# its length:
#
# $$g \leftarrow g \cdot \min\!\left(1,\ \frac{c}{\|g\| + \epsilon}\right), \qquad
# \|g\| = \sqrt{\textstyle\sum_{\text{arrays}} \sum_{\text{entries}} g^2},$$
#
# with one norm over **all** parameters together. This is `torch.nn.utils.clip_grad_norm_`
# with $\epsilon = 10^{-6}$; it returns the norm before clipping, handy for logging.
#
# ### Exercise 4.1 (8 points)
#
# Implement `clip_grad_norm(grads, max_norm)`: `grads` maps names to arrays. Return
# `(clipped, total_norm)`: a new dict with the same keys and new arrays, and the norm before
# clipping as a float. Use the formula above exactly (same $\epsilon$); never scale up.

# %% nbgrader={"grade": false, "grade_id": "clip_grad_norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def clip_grad_norm(grads, max_norm):
    """Rescale a dict of gradients so that their global L2 norm is at most max_norm.

    grads:    dict name -> array (any shapes)
    max_norm: float
    returns (clipped, total_norm): dict name -> array of the same shape, and a float
    """
    ### BEGIN SOLUTION
    total = float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads.values())))
    scale = min(1.0, max_norm / (total + 1e-6))
    return {name: g * g.dtype.type(scale) for name, g in grads.items()}, total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_clip_grad_norm_options", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(clip_grad_norm, "clip_grad_norm", cases=[
    {"D": 3, "H": 4, "seed": 1, "norm": 5.0, "max_norm": 1.0},
    {"D": 2, "H": 3, "seed": 151, "norm": 0.3, "max_norm": 1.0},
    {"D": 3, "H": 4, "seed": 152, "norm": 1e-06, "max_norm": 5e-07},
    {"D": 4, "H": 5, "seed": 153, "norm": 50.0, "max_norm": 5.0, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(clip_grad_norm, "clip_grad_norm", cases=[
    {"D": 2, "H": 3, "seed": 51, "norm": 0.3, "max_norm": 1.0},
    {"D": 3, "H": 4, "seed": 52, "norm": 1e-06, "max_norm": 5e-07},
    {"D": 4, "H": 5, "seed": 53, "norm": 50.0, "max_norm": 5.0, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_clip_grad_norm_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(clip_grad_norm, "clip_grad_norm", cases=[
    {"D": 1, "H": 1, "seed": 154, "norm": 2.0, "max_norm": 1.0},
    {"D": 2, "H": 2, "seed": 155, "zero": True, "max_norm": 1.0},
])
### BEGIN HIDDEN TESTS
check(clip_grad_norm, "clip_grad_norm", cases=[
    {"D": 1, "H": 1, "seed": 54, "norm": 2.0, "max_norm": 1.0},
    {"D": 2, "H": 2, "seed": 55, "zero": True, "max_norm": 1.0},
])
### END HIDDEN TESTS


# %% [markdown]
# **Clipping in a training run.** A tanh RNN learns to repeat, at every step, the symbol it read
# 5 steps earlier (4 symbols, sequences of 25; the first 5 positions have no target and are
# masked). Everything is your code: `rnn_backward`, `temporal_softmax_loss` with a mask and
# `clip_grad_norm`, plus plain gradient descent with a deliberately large learning rate (2.0).
# The two runs start from the same weights and see the same batches; one clips at norm 1.
#
# What the run shows (the printout gives the numbers): the unclipped run does not need a huge
# gradient to fail. Its gradient norms grow only to between 2 and 9 around steps 8 to 13, but
# with a learning rate of 2.0 each of those steps moves the weights by 4 to 18, and the loss
# jumps from about 1.4 to above 10 at step 11 and above 20 at step 12; it never comes back. Only later, at step 36, does
# the already diverged run meet a real cliff, a gradient norm of about 4150. The clipped run sees
# the same batches, but no step can be longer than learning rate times `max_norm` = 2: its
# gradient norms stay below 2.5 and its loss falls to about 0.06. Clipping protects against every step
# that is too long, not only against the spectacular spikes.

# %% tags=["demo"]
if not GRADING:
    def train_delay_task(clip, steps=300, lr=2.0, max_norm=1.0, V=4, H=32, T=25, delay=5, B=32):
        rng = np.random.default_rng(0)
        W = rng.normal(size=(H, H))
        p = {"W_xh": rng.normal(size=(V, H)) / np.sqrt(V), "W_hh": W / np.abs(np.linalg.eigvals(W)).max(),
             "b_h": np.zeros(H), "W_hy": rng.normal(size=(H, V)) / np.sqrt(H), "b_y": np.zeros(V)}
        data = np.random.default_rng(100)
        mask = np.broadcast_to(np.arange(T) >= delay, (B, T))
        losses, norms = [], []
        for _ in range(steps):
            symbols = data.integers(0, V, size=(B, T))
            x = np.eye(V)[symbols]
            targets = np.where(mask, np.roll(symbols, delay, axis=1), -1)
            h_all, _ = rnn_forward(x, None, p["W_xh"], p["W_hh"], p["b_h"])
            loss, dlogits = temporal_softmax_loss(h_all @ p["W_hy"] + p["b_y"], targets, mask)
            g = rnn_backward(dlogits @ p["W_hy"].T, x, None, h_all, p["W_xh"], p["W_hh"])
            grads = {"W_xh": g["dW_xh"], "W_hh": g["dW_hh"], "b_h": g["db_h"],
                     "W_hy": np.einsum("bth,btv->hv", h_all, dlogits), "b_y": dlogits.sum(axis=(0, 1))}
            clipped, total = clip_grad_norm(grads, max_norm)
            p = {k: p[k] - lr * (clipped if clip else grads)[k] for k in p}
            losses.append(loss)
            norms.append(total)
        return np.array(losses), np.array(norms)

    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    for clip, color in [(False, "tab:red"), (True, "tab:blue")]:
        losses, norms = train_delay_task(clip)
        label = "clipped at 1" if clip else "not clipped"
        axes[0].semilogy(norms, color=color, label=label)
        axes[1].plot(losses, color=color, label=label)
        above = np.flatnonzero(losses > 10)
        print(f"{label:12s}: largest gradient norm {norms.max():8.1f} at step {norms.argmax()}, "
              f"first loss above 10 at step {above[0] if above.size else 'never'}, "
              f"mean loss over the last 50 steps {losses[-50:].mean():.3f}")
    axes[0].set_title("gradient norm before clipping"); axes[0].set_xlabel("step")
    axes[1].set_title("training loss"); axes[1].set_xlabel("step"); axes[1].set_yscale("log")
    axes[0].legend(); axes[1].legend()
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Part 5. Truncated BPTT
#
# Full BPTT on a long stream (a book, an hour of audio) keeps every state in memory and runs the
# backward pass over the whole stream for a single update. **Truncated BPTT** cuts the sequence
# into consecutive chunks of `k` steps. The forward pass runs on without a break: each chunk starts
# from the last state of the chunk before, so the network still sees the whole past. The backward
# pass stops at every chunk boundary: the state carried into a chunk is treated as a constant
# (in PyTorch, `h = h.detach()` between chunks). The gradient is the sum over chunks of each
# chunk's own BPTT gradient.
#
# ```
# forward:   h0 -> [chunk 1: k steps] -> h_k -> [chunk 2: k steps] -> h_2k -> [last chunk: T mod k steps]
# backward:        <-----------------|        <-----------------|         <---------------------|
#                  stops at h0               stops at h_k (a constant)   stops at h_2k
# ```
#
# ### Exercise 5.1 (12 points)
#
# Implement `truncated_bptt_grads(x, h0, W_xh, W_hh, b_h, dh_all, k)` returning a dict with
# `dW_xh` `(D, H)`, `dW_hh` `(H, H)`, `db_h` `(H,)`: the parameter gradients of the loss
# $\sum h_{\text{all}} \cdot \mathrm{dh\_all}$ with the backward pass truncated as above. Use the
# provided `rnn_forward` and your `rnn_backward`. The last chunk is shorter when `k` does not divide
# `T`; `k >= T` gives full BPTT. `k` must be a positive integer: raise `ValueError` otherwise.

# %% nbgrader={"grade": false, "grade_id": "truncated_bptt_grads", "locked": false, "schema_version": 3, "solution": true, "task": false}
def truncated_bptt_grads(x, h0, W_xh, W_hh, b_h, dh_all, k):
    """Parameter gradients of sum(h_all * dh_all) with BPTT truncated into chunks of k steps.

    x:      (B, T, D) inputs
    h0:     (B, H) initial state, or None for zeros
    W_xh (D, H), W_hh (H, H), b_h (H,): the weights
    dh_all: (B, T, H) gradient of the loss with respect to every state
    k:      int >= 1, the chunk length
    returns dict: dW_xh (D, H), dW_hh (H, H), db_h (H,)
    """
    ### BEGIN SOLUTION
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    T = x.shape[1]
    grads = {"dW_xh": np.zeros_like(W_xh), "dW_hh": np.zeros_like(W_hh), "db_h": np.zeros_like(b_h)}
    h = h0
    for start in range(0, T, k):
        chunk = slice(start, start + k)
        h_all, h_last = rnn_forward(x[:, chunk], h, W_xh, W_hh, b_h)
        g = rnn_backward(dh_all[:, chunk], x[:, chunk], h, h_all, W_xh, W_hh)
        for name in grads:
            grads[name] += g[name]
        h = h_last                      # carried forward; its gradient g["dh0"] is dropped
    return grads
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_truncated_bptt_grads_core", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(truncated_bptt_grads, "truncated_bptt_grads", cases=[
    {"B": 2, "T": 6, "D": 3, "H": 4, "seed": 1, "k": 3},
    {"B": 3, "T": 10, "D": 2, "H": 5, "seed": 162, "k": 1},
])
### BEGIN HIDDEN TESTS
check(truncated_bptt_grads, "truncated_bptt_grads", cases=[
    {"B": 3, "T": 10, "D": 2, "H": 5, "seed": 62, "k": 1},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_truncated_bptt_grads_options", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(truncated_bptt_grads, "truncated_bptt_grads", cases=[
    {"B": 2, "T": 7, "D": 3, "H": 4, "seed": 161, "k": 3, "h0": True},
    {"B": 2, "T": 24, "D": 3, "H": 6, "seed": 164, "k": 5, "h0": True, "dtype": "float32"},
])
### BEGIN HIDDEN TESTS
check(truncated_bptt_grads, "truncated_bptt_grads", cases=[
    {"B": 2, "T": 7, "D": 3, "H": 4, "seed": 61, "k": 3, "h0": True},
    {"B": 2, "T": 24, "D": 3, "H": 6, "seed": 64, "k": 5, "h0": True, "dtype": "float32"},
])
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "test_truncated_bptt_grads_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(truncated_bptt_grads, "truncated_bptt_grads", cases=[
    {"B": 1, "T": 5, "D": 3, "H": 3, "seed": 163, "k": 8, "h0": True},
    {"B": 2, "T": 4, "D": 2, "H": 3, "seed": 165, "k": 0, "expect": "ValueError"},
])
### BEGIN HIDDEN TESTS
check(truncated_bptt_grads, "truncated_bptt_grads", cases=[
    {"B": 1, "T": 5, "D": 3, "H": 3, "seed": 63, "k": 8, "h0": True},
    {"B": 2, "T": 4, "D": 2, "H": 3, "seed": 65, "k": 0, "expect": "ValueError"},
])
### END HIDDEN TESTS


# %% [markdown]
# ### Choosing the window
#
# How long must `k` be? The answer comes from how fast the dependence on the past decays. If
# $\|\partial h_T / \partial h_{T-d}\| \approx e^{-d/\tau}$, then $\tau$ is the network's **memory
# time** in steps, and you can read it off the slope of your Jacobian norms: $\tau = -1/\text{slope}$
# of $\log\|\cdot\|$ against the distance.
#
# In a chunk, the loss at the chunk's $j$-th step ($j = 0, \dots, k-1$) is backpropagated
# through only $j$ earlier steps, so it loses the part of its gradient that comes from further
# back, a fraction of about $e^{-(j+1)/\tau}$. Averaged over the chunk, truncation drops roughly
#
# $$\frac{1}{k}\sum_{j=0}^{k-1} e^{-(j+1)/\tau} \;\approx\; \frac{\tau}{k} \quad (k \gg \tau)$$
#
# of the gradient. Note the $1/k$: the first steps of every chunk are always short-changed, so the
# error falls only slowly with `k`. To keep it near 10% choose $k \approx 10\,\tau$.
#
# The figure checks this rule on two networks ($\rho = 0.8$ and $1.2$, inputs of size 1, 32
# sequences of 48 steps): it measures $\tau$ with your `hidden_jacobian_norms`, then compares your
# `truncated_bptt_grads` with the full gradient from your `rnn_backward` for many `k`. The dashed
# lines are $\tau / k$. The rule is rough for `k` close to $\tau$ (where most of the gradient is
# lost anyway); once `k` is a few times $\tau$ it is right within a factor of about 1.5, a little
# optimistic, so round `k` up.

# %% tags=["demo"]
if not GRADING:
    rng = np.random.default_rng(1)
    B, T, D, H = 32, 48, 4, 32
    ks = [1, 2, 3, 4, 6, 8, 12, 16, 24]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    for rho, color in [(0.8, "tab:blue"), (1.2, "tab:red")]:
        W_hh_t = rng.normal(size=(H, H))
        W_hh_t *= rho / np.abs(np.linalg.eigvals(W_hh_t)).max()
        W_xh_t, b_t = rng.normal(size=(D, H)) / np.sqrt(D), np.zeros(H)
        x_t, dh_t = rng.normal(size=(B, T, D)), rng.normal(size=(B, T, H))
        log_norms = np.mean([np.log(hidden_jacobian_norms(x_t[b], np.zeros(H), W_xh_t, W_hh_t, b_t)) for b in range(B)], axis=0)
        distance = T - np.arange(T)
        near = distance <= 30
        tau = -1 / np.polyfit(distance[near], log_norms[near], 1)[0]
        axes[0].plot(distance, log_norms / np.log(10), color=color, label=f"rho = {rho}: tau = {tau:.1f} steps")
        h_all_t, _ = rnn_forward(x_t, None, W_xh_t, W_hh_t, b_t)
        full = rnn_backward(dh_t, x_t, None, h_all_t, W_xh_t, W_hh_t)["dW_hh"]
        errors = [np.linalg.norm(truncated_bptt_grads(x_t, None, W_xh_t, W_hh_t, b_t, dh_t, k)["dW_hh"] - full)
                  / np.linalg.norm(full) for k in ks]
        axes[1].loglog(ks, errors, "o-", color=color, label=f"rho = {rho}")
        axes[1].loglog(ks, np.minimum(1, tau / np.array(ks)), "--", color=color, alpha=0.6)
        measured = ", ".join(f"k = {k}: {e:.0%}" for k, e in zip(ks, errors) if k >= 8)
        print(f"rho = {rho}: memory time tau = {tau:.1f} steps; the rule tau / k = 10% says k = "
              f"{int(np.ceil(10 * tau))}; measured error {measured}")
    axes[0].set_xlabel("distance T - k"); axes[0].set_ylabel("log10 ||d h_T / d h_k|| (mean over 32 sequences)")
    axes[0].legend()
    axes[1].set_xlabel("chunk length k"); axes[1].set_ylabel("relative error of dW_hh (dashed: tau / k)")
    axes[1].legend()
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Part 6. Keeping gradients alive
#
# Clipping fixes the explosions; nothing so simple fixes the vanishing. The remedies change the
# product of Jacobians itself.
#
# * **Orthogonal or norm-bounded `W_hh`.** An orthogonal matrix has every singular value equal to
#   1: it rotates but neither stretches nor shrinks. Initialising `W_hh` orthogonal removes the
#   weights' contribution to both growth and decay. Keeping its spectral norm at most 1 removes
#   only the growth (a contracting `W_hh` still shrinks the gradient at every step), so explosions
#   cannot come from `W_hh`. The $\tanh'$ factors still shrink the product wherever units saturate.
# * **Leaky integration.** Let each state keep part of the old one:
#   $h_t = (1 - \alpha)\,h_{t-1} + \alpha \tanh(x_t W_{xh} + h_{t-1} W_{hh} + b_h)$. Its Jacobian
#   is $J_t = (1 - \alpha) I + \alpha \operatorname{diag}(1 - u_t^2)\, W_{hh}^\top$ (with $u_t$ the
#   tanh term): close to the identity when $\alpha$ is small. The state changes slowly, with a time
#   constant of about $1/\alpha$ steps, and gradients survive for about as long.
# * **Gates.** The LSTM and the GRU from Problem set 1 make that $\alpha$ learned and different at
#   every step and for every unit. The LSTM's cell state $c_t = f_t \odot c_{t-1} + i_t \odot g_t$
#   has $\partial c_t / \partial c_{t-1} = \operatorname{diag}(f_t)$: when the forget gate is near
#   1, the gradient passes back unchanged, for as long as the network chooses to remember.
#
# The figure compares $\|\partial h_T / \partial h_k\|$ for a random `W_hh` with spectral radius 1,
# an orthogonal `W_hh`, and leaky integration ($\alpha = 0.1$) with the random matrix, all reading
# the same inputs of size 1.

# %% tags=["demo"]
if not GRADING:
    def leaky_jacobian_norms(x, h0, W_xh, W_hh, b_h, alpha):
        """Like hidden_jacobian_norms, for h_t = (1 - alpha) h_{t-1} + alpha tanh(...)."""
        T, H = x.shape[0], W_hh.shape[0]
        h, jacobians = h0, []
        for t in range(T):
            u = np.tanh(x[t] @ W_xh + h @ W_hh + b_h)
            jacobians.append((1 - alpha) * np.eye(H) + alpha * (1 - u ** 2)[:, None] * W_hh.T)
            h = (1 - alpha) * h + alpha * u
        product, norms = np.eye(H), np.empty(T)
        for k in reversed(range(T)):
            product = product @ jacobians[k]
            norms[k] = np.linalg.norm(product, 2)
        return norms

    rng = np.random.default_rng(2)
    H, D, T = 32, 4, 60
    x_r, W_xh_r = rng.normal(size=(T, D)), rng.normal(size=(D, H)) / np.sqrt(D)
    W_random = rng.normal(size=(H, H))
    W_random /= np.abs(np.linalg.eigvals(W_random)).max()
    W_orthogonal = np.linalg.qr(rng.normal(size=(H, H)))[0]
    zeros = np.zeros(H)
    curves = {"random W_hh, rho = 1": hidden_jacobian_norms(x_r, zeros, W_xh_r, W_random, zeros),
              "orthogonal W_hh": hidden_jacobian_norms(x_r, zeros, W_xh_r, W_orthogonal, zeros),
              "leaky, alpha = 0.1, random W_hh": leaky_jacobian_norms(x_r, zeros, W_xh_r, W_random, zeros, 0.1)}
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, norms in curves.items():
        ax.semilogy(T - np.arange(T), norms, label=label)
        print(f"{label:32s} ||d h_T / d h_0|| = {norms[0]:.1e}")
    ax.set_xlabel("distance T - k"); ax.set_ylabel("||d h_T / d h_k||"); ax.legend()
    plt.show()

# %% [markdown]
# ### Exercise 6.1: written answer (10 points, graded by hand)
#
# 1. A colleague's RNN never learns a dependency that spans 40 steps, and the logged gradient
#    norms are tiny. They add `clip_grad_norm` with `max_norm=1`. Will it help? Why or why not?
# 2. You train the $\rho = 0.8$ network of Part 5 with truncated BPTT. Which chunk length would
#    you choose to lose about 5% of the gradient, and why? What can a network trained with this
#    `k` not learn, however long you train it?
# 3. Explain with the Jacobian $J_t$ why leaky integration with $\alpha = 0.1$ keeps gradients
#    alive for tens of steps, and name one thing the network gives up in exchange.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_remedies", "locked": false, "points": 10, "schema_version": 3, "solution": true, "task": false}
# *Model answer (the release shows "YOUR ANSWER HERE").*
#
# 1. No. Clipping only ever shrinks a gradient whose norm exceeds `max_norm`; tiny gradients pass
#    unchanged. It caps the step when gradients explode, but the problem here is vanishing: the
#    long-range part of the gradient is lost in the product of Jacobians, and no rescaling of the
#    total brings it back (scaling everything up would amplify the short-range terms just as much).
#    *(3 points.)*
# 2. The figure gives a memory time $\tau$ of about 1.6 steps for $\rho = 0.8$; the lost fraction
#    is roughly $\tau / k$, so the rule says $k \approx \tau / 0.05 = 20\tau$, about 33 steps. The
#    measured errors lie about 1.5 times above the dashed line (about 10% at $k = 24$, where the
#    rule says 7%), so round up: about 50 steps (any answer that derives $k$ from the measured
#    $\tau$, the $\tau/k$ rule and the figure's factor earns the points).
#    Whatever the training time, gradients never cross a chunk boundary, so a dependency longer
#    than `k` steps gets no gradient at all: the network cannot learn to use inputs more than `k`
#    steps back (it may use them only by accident of its forward dynamics). *(3 points.)*
# 3. $J_t = 0.9\,I + 0.1\,\operatorname{diag}(1 - u_t^2) W_{hh}^\top$ is dominated by the identity,
#    whatever the saturation of the tanh part, so each step keeps most of every direction of the
#    gradient (its eigenvalues are $0.9 + 0.1\,\mu$ with $\mu$ those of the tanh part, all close to
#    0.9 to 1); the product shrinks slowly, over tens of steps, as the figure shows. The price: the
#    state can only move by a fraction $\alpha$ per step, so the network reacts slowly to new
#    inputs and cannot represent fast changes (and a fixed $\alpha$ fixes one time scale for
#    all units, which gates remove). *(4 points: the identity term, and a cost.)*
