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
# # Problem set 6: recurrent networks as dynamical systems
#
# An RNN applies one fixed map over and over: $h_t = F(h_{t-1}, x_t)$. Take away the input and
# what is left is a **discrete-time dynamical system**, the object physicists have studied since
# Poincaré. This problem set borrows their vocabulary, because it explains in one language the
# things the earlier sets met one by one:
#
# * **memory** is a state the map keeps: a *fixed point* it returns to, or one of several
#   (a switch that stores a bit);
# * **vanishing and exploding gradients** are the map *contracting* or *stretching* small
#   differences, step after step: its *Jacobians*, and their long-run growth rate, the
#   *Lyapunov exponents*;
# * a residual update $h_t = h_{t-1} + \Delta t\, f(h_{t-1})$ is a *numerical ODE solver*, and
#   its stability has a textbook limit;
# * feeding a model's predictions back as its inputs makes it a dynamical system too, and its
#   errors grow as fast as that system stretches them.
#
# Each part follows the same rhythm: the intuition, the equation, your numpy code, and a figure
# that shows the equation at work.
#
# | part | what you write | points |
# |---|---|---|
# | 1 | `tanh_fixed_points`: the single neuron, its bifurcation and a 1-bit memory | 12 |
# | 2 | `rnn_jacobian`: the local linearisation of one step | 10 |
# | 3 | `euler_rnn_forward`, `euler_max_stable_dt`: an RNN as forward Euler | 8 + 10 |
# | 4 | `lyapunov_spectrum`: order, the edge of chaos, chaos | 14 |
# | 5 | `leaky_rnn_forward`: leaky integrators and their memory time | 10 |
# | 6 | `iterative_forecast`, `direct_forecast`: error accumulation | 12 + 9 |
# | | three written answers, graded by hand, about your own figures | 5 + 5 + 5 |
# | | total | 100 |
#
# **How this notebook works** (as in the earlier problem sets).
# * Cells with `raise NotImplementedError()` are yours. Write **numpy only**; PyTorch is used by
#   the checks and by the demonstrations, never by you.
# * After each function, locked test cells call `check(...)`. A function's points are split over
#   several test cells by behaviour (core cases, options, edge cases, required errors), so a slip
#   in one edge case costs only that cell's points. Each check compares your output with a
#   PyTorch computation in float64 and, when it differs, says which output, where, by how much
#   and, if your output matches a mistake learners often make, which one.
# * **What the visible checks cover**: every behaviour the docstring states (each option,
#   `None` defaults, `float32` inputs, the required `ValueError`s, edge sizes such as a batch of
#   one or a single step). The hidden checks, run by the graders, test **the same behaviours on
#   other inputs** (other shapes, seeds and parameters): if every visible check passes and your
#   code does not special-case their inputs, the hidden ones should pass too.
# * **Your own cases**: `from autograder import case_inputs` and, e.g.,
#   `inputs = case_inputs("rnn_jacobian", {"B": 2, "D": 3, "H": 4, "seed": 7})` gives the
#   arguments of a case as a dict; `check(rnn_jacobian, "rnn_jacobian", cases=[{...}])` checks
#   any case you write in the same form. A failing check's message ends with the line that
#   rebuilds its inputs.
# * **Run All stops at the first failing cell.** To see every result, run the test cells one by
#   one, or press **Validate** in the toolbar. Learners working on their own can grade the whole
#   notebook as the course does with `.venv/bin/autograder grade notebook.ipynb`.
# * Conventions: **batch first, row vectors**; one tanh step is
#   `h_t = tanh(x_t @ W_xh + h_prev @ W_hh + b_h)`, `W_xh` `(D, H)`, `W_hh` `(H, H)`, `b_h` `(H,)`.
#   Functions never modify their inputs, return new arrays whose float dtype follows the inputs
#   (float32 in, float32 out), and raise `ValueError` for invalid arguments.
# * Cells tagged as demonstrations (training runs, figures) skip themselves while a grader runs
#   the notebook; each takes well under a minute on a laptop CPU.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import os
import time

import numpy as np
import matplotlib.pyplot as plt

from autograder import check

# Demonstrations (training runs, figures) are skipped while a grader runs the notebook.
GRADING = bool(os.environ.get("NBGRADER_EXECUTION"))
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ### Provided: the tanh RNN from Problem set 1
#
# Given here, locked and not graded, so that the notebook stands on its own. It computes what
# `torch.nn.RNN` (tanh, `batch_first=True`) computes.

# %% nbgrader={"grade": false, "grade_id": "provided_rnn", "locked": true, "schema_version": 3, "solution": false, "task": false}
def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
    """One tanh step: x_t (B, D), h_prev (B, H) -> h_t (B, H)."""
    return np.tanh(x_t @ W_xh + h_prev @ W_hh + b_h)


def rnn_forward(x, h0, W_xh, W_hh, b_h):
    """Provided (Problem set 1): x (B, T, D), h0 (B, H) or None -> (h_all (B, T, H), h_last (B, H))."""
    B, T, _ = x.shape
    h = np.zeros((B, W_hh.shape[0]), dtype=x.dtype) if h0 is None else h0
    h_all = np.empty((B, T, W_hh.shape[0]), dtype=x.dtype)
    for s in range(T):
        h = rnn_step(x[:, s], h, W_xh, W_hh, b_h)
        h_all[:, s] = h
    return h_all, h.copy()


# %% [markdown]
# ## Part 1. One neuron, two memories
#
# Start with the smallest recurrent network there is: one tanh unit that feeds its own output
# back, with a constant input folded into the bias,
#
# $$h_t = \tanh(w\,h_{t-1} + b).$$
#
# Run it from any start and it settles. Where? At a **fixed point** $h^*$, a state the step maps
# to itself: $h^* = \tanh(w h^* + b)$. Graphically, the fixed points are where the curve
# $y = \tanh(wh + b)$ crosses the diagonal $y = h$.
#
# * For a small weight ($|w| < 1$) the curve is flat enough to cross the diagonal **once**: a
#   single resting state. Whatever happened before, the neuron forgets it.
# * As $w$ grows past 1 the curve becomes steeper than the diagonal near the middle, and two new
#   crossings appear: **three** fixed points. The outer two attract, the middle one repels. The
#   neuron is now a **bistable switch**: it stays near $+1$ or near $-1$ forever, whichever side it
#   was pushed to. That is one bit of memory, held by recurrence alone. The birth of the two new
#   states as $w$ passes a critical value is a **bifurcation** (here a pitchfork when $b = 0$).
#
# **Stability from the slope.** Near a fixed point, a small offset $\delta$ is multiplied at each
# step by the slope of the map there,
# $\frac{d}{dh}\tanh(wh + b)\big|_{h^*} = w\,(1 - \tanh^2(w h^* + b)) = w\,(1 - {h^*}^2)$
# (using $\tanh(wh^* + b) = h^*$). The offset shrinks, and the fixed point attracts, exactly when
# $|w (1 - {h^*}^2)| < 1$. A slope below $-1$ is unstable too: the offset flips sign and grows,
# and the neuron oscillates (this happens for strongly negative $w$).
#
# ### Exercise 1: every fixed point (12 points)
#
# Implement `tanh_fixed_points(w, b)` for Python floats `w`, `b`. Return `(h_star, stable)`:
# `h_star` `(K,)` float64, **every** real solution of $h = \tanh(wh + b)$, ascending, each within
# $10^{-10}$; `stable` `(K,)` bool, `stable[i]` is `abs(w * (1 - h_star[i]**2)) < 1`.
#
# Hints. Every solution lies in $(-1, 1)$ (tanh never reaches $\pm 1$). Look for sign changes of
# $f(h) = \tanh(wh + b) - h$ on a fine grid of $[-1, 1]$, then narrow each bracketing interval by
# bisection. Iterating the map only finds stable points, and only one per start. The checks stay
# away from the tangent curve, where two roots merge.

# %% nbgrader={"grade": false, "grade_id": "tanh_fixed_points", "locked": false, "schema_version": 3, "solution": true, "task": false}
def tanh_fixed_points(w, b):
    """Every fixed point of h -> tanh(w h + b) and its stability.

    w, b: Python floats
    returns (h_star, stable): h_star (K,) float64 ascending, every root of h = tanh(w h + b) within 1e-10;
            stable (K,) bool, abs(w * (1 - h_star**2)) < 1
    """
    ### BEGIN SOLUTION
    f = lambda h: np.tanh(w * h + b) - h
    grid = np.linspace(-1.0, 1.0, 20001)
    v = f(grid)
    roots = list(grid[v == 0.0])
    for i in np.flatnonzero(v[:-1] * v[1:] < 0):
        lo, hi, f_lo = grid[i], grid[i + 1], v[i]
        while hi - lo > 1e-13:
            mid = 0.5 * (lo + hi)
            f_mid = f(mid)
            if f_mid == 0.0:
                lo = hi = mid
            elif np.sign(f_mid) == np.sign(f_lo):
                lo, f_lo = mid, f_mid
            else:
                hi = mid
        roots.append(0.5 * (lo + hi))
    h_star = np.sort(np.array(roots, dtype=np.float64))
    return h_star, np.abs(w * (1 - h_star ** 2)) < 1
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_tanh_fixed_points_roots", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false}
check(tanh_fixed_points, "tanh_fixed_points", cases=[
    {"regime": "monostable", "seed": 1}, {"regime": "bistable", "seed": 1},
    {"regime": "biased", "seed": 1}, {"regime": "zero_bias", "seed": 1}])
### BEGIN HIDDEN TESTS
check(tanh_fixed_points, "tanh_fixed_points", cases=[
    {"regime": "monostable", "seed": 11}, {"regime": "bistable", "seed": 11},
    {"regime": "biased", "seed": 11}, {"regime": "zero_bias", "seed": 11},
    {"regime": "monostable", "seed": 12}, {"regime": "bistable", "seed": 12},
    {"regime": "biased", "seed": 12}, {"regime": "zero_bias", "seed": 12}])
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_tanh_fixed_points_stability", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(tanh_fixed_points, "tanh_fixed_points", cases=[
    {"regime": "oscillating", "seed": 1}, {"regime": "bistable", "seed": 2}])
### BEGIN HIDDEN TESTS
check(tanh_fixed_points, "tanh_fixed_points", cases=[
    {"regime": "oscillating", "seed": 11}, {"regime": "oscillating", "seed": 12}, {"regime": "bistable", "seed": 13}])
### END HIDDEN TESTS

# %% [markdown]
# **The bifurcation diagram.** Your function, for a sweep of weights $w$ and two biases. Each dot
# is a fixed point; blue ones attract, red ones repel. Read off where one stable state becomes
# two, and how a bias moves that point (you will need these numbers in the written answer).

# %% tags=["demo"]
if not GRADING:
    ws = np.linspace(-3, 4, 701)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    bistable_from = {}
    for ax, b_demo in zip(axes, [0.0, 0.3]):
        for w_demo in ws:
            h_star, stable = tanh_fixed_points(float(w_demo), b_demo)
            ax.scatter(np.full(stable.sum(), w_demo), h_star[stable], s=2, color="tab:blue")
            ax.scatter(np.full((~stable).sum(), w_demo), h_star[~stable], s=2, color="tab:red")
            if stable.sum() == 2 and b_demo not in bistable_from:
                bistable_from[b_demo] = w_demo
        ax.set_xlabel("w"); ax.set_title(f"fixed points of h = tanh(w h + {b_demo})")
        ax.axvline(1, color="gray", lw=0.5)
    axes[0].set_ylabel("h*")
    plt.show()
    for b_demo, w_demo in bistable_from.items():
        print(f"b = {b_demo}: two stable states from w = {w_demo:.2f} on")

# %% [markdown]
# **A 1-bit memory.** With $w = 2$ the neuron holds whatever it was last told. Short input pulses
# ($\pm 2$ added to the bias for three steps) flip it; in between, with no input at all, it keeps
# its state. The same neuron with $w = 0.5$ forgets each pulse within a few steps.

# %% tags=["demo"]
if not GRADING:
    pulses = np.zeros(80)
    pulses[10:13], pulses[40:43], pulses[60:63] = 2.0, -2.0, -2.0
    fig, ax = plt.subplots(figsize=(9, 3))
    for w_demo in [2.0, 0.5]:
        h, trace = 0.0, []
        for u in pulses:
            h = np.tanh(w_demo * h + u)
            trace.append(h)
        ax.plot(trace, label=f"w = {w_demo}")
    ax.plot(pulses / 2, color="gray", lw=0.8, label="input pulse / 2")
    ax.set_xlabel("step"); ax.set_ylabel("h"); ax.legend()
    plt.show()

# %% [markdown]
# ### Written answer 1 (5 points, graded by hand)
#
# Use **your** bifurcation diagram and the printed numbers.
#
# 1. For $b = 0$, at which $w$ (to two decimals, from your sweep) does one stable state become
#    two? Why exactly that value? (Hint: the slope at $h^* = 0$.)
# 2. For $b = 0.3$, at which $w$ does your diagram first show two stable states? Why is it later
#    than for $b = 0$, and why is the new pair of fixed points born away from the old branch?
# 3. What does the bistable neuron store, and what must an input do to overwrite it?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_bifurcation", "locked": false, "points": 5, "schema_version": 3, "solution": true, "task": false}
# *Model answer (the release shows "YOUR ANSWER HERE"); the numbers are those of the reference
# run.*
#
# 1. At $w = 1.01$ on this grid (step 0.01): the slope at the fixed point $h^* = 0$ is
#    $w(1 - 0^2) = w$, so $h^* = 0$ stops attracting as $w$ passes 1 and two stable states split off
#    it (a pitchfork). *(2 points: the number read off, and the slope argument.)*
# 2. At $w \approx 1.66$. The bias tilts the curve: one state near $+1$ exists for every $w$, and the
#    other pair (a stable state near $-1$ and the unstable one between) appears only when the
#    curve becomes steep enough to touch the diagonal a second time, a tangent (saddle-node)
#    bifurcation at $|b| = w h_c - \operatorname{atanh}(h_c)$, $h_c = \sqrt{1 - 1/w}$. *(2 points.)*
# 3. One bit: which side ($h^* \approx +1$ or $\approx -1$) it was last pushed to. An input must be
#    strong and long enough to carry the state across the unstable middle fixed point; smaller
#    inputs are forgotten as the state relaxes back. *(1 point.)*

# %% [markdown]
# ## Part 2. Stability of trajectories: the Jacobian
#
# For $H$ units the slope becomes a matrix. Linearise one step around the state it starts from:
# a small change $\delta$ of $h_{t-1}$ changes $h_t$ by $J_t\,\delta$ (as a column vector), with
#
# $$J_t = \frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(1 - h_t^2)\, W_{hh}^\top,
# \qquad J_t[i, j] = \frac{\partial h_t[i]}{\partial h_{t-1}[j]}.$$
#
# Two things decide it: the recurrent weights, and how saturated each unit is. A unit near
# $\pm 1$ has slope $1 - h_t^2 \approx 0$ and passes nothing on. The transpose comes from the
# row-vector convention: $h_t[i]$ reads $h_{t-1}[j]$ through $W_{hh}[j, i]$. This is the layout of
# `torch.autograd.functional.jacobian` (output index first), and the checks use it.
#
# Near a fixed point the eigenvalues of $J$ play the role of the single neuron's slope; along a
# moving trajectory the Jacobians change at every step, and it is their **product** that says
# whether nearby trajectories converge or part (Part 4), and how gradients flow back (Problem
# set 2's Jacobian norms).
#
# ### Exercise 2: the step Jacobian (10 points)
#
# Implement `rnn_jacobian(x_t, h_prev, W_xh, W_hh, b_h)`: `x_t` `(B, D)`, `h_prev` `(B, H)`;
# return `J` `(B, H, H)` where `J[b]` is the Jacobian of one tanh step with respect to
# `h_prev[b]`. No loop over the batch is needed.

# %% nbgrader={"grade": false, "grade_id": "rnn_jacobian", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_jacobian(x_t, h_prev, W_xh, W_hh, b_h):
    """Jacobian of h_t = tanh(x_t @ W_xh + h_prev @ W_hh + b_h) with respect to h_prev, per batch row.

    x_t (B, D), h_prev (B, H), W_xh (D, H), W_hh (H, H), b_h (H,)
    returns J (B, H, H): J[b, i, j] = d h_t[b, i] / d h_prev[b, j]
    """
    ### BEGIN SOLUTION
    h_t = np.tanh(x_t @ W_xh + h_prev @ W_hh + b_h)
    return (1 - h_t ** 2)[:, :, None] * W_hh.T[None, :, :]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rnn_jacobian_core", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(rnn_jacobian, "rnn_jacobian", cases=[
    {"B": 3, "D": 2, "H": 4, "seed": 1}, {"B": 2, "D": 2, "H": 5, "seed": 4, "scale": 3.0}])
### BEGIN HIDDEN TESTS
check(rnn_jacobian, "rnn_jacobian", cases=[
    {"B": 4, "D": 3, "H": 5, "seed": 11}, {"B": 3, "D": 4, "H": 6, "seed": 14, "scale": 3.0}])
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_rnn_jacobian_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(rnn_jacobian, "rnn_jacobian", cases=[
    {"B": 1, "D": 1, "H": 1, "seed": 2}, {"B": 2, "D": 3, "H": 3, "seed": 3, "dtype": "float32"}])
### BEGIN HIDDEN TESTS
check(rnn_jacobian, "rnn_jacobian", cases=[
    {"B": 1, "D": 1, "H": 1, "seed": 12}, {"B": 3, "D": 2, "H": 4, "seed": 13, "dtype": "float32"}])
### END HIDDEN TESTS

# %% [markdown]
# **The slope again.** For one unit ($H = 1$, no input) the Jacobian at a fixed point is the
# slope $w(1 - {h^*}^2)$ of Part 1: your two functions agree.

# %% tags=["demo"]
if not GRADING:
    w_demo = 2.5
    h_star, stable = tanh_fixed_points(w_demo, 0.0)
    J = rnn_jacobian(np.zeros((len(h_star), 1)), h_star[:, None], np.zeros((1, 1)), np.array([[w_demo]]),
                     np.zeros(1))
    for h, s, j in zip(h_star, stable, J[:, 0, 0]):
        print(f"h* = {h:+.4f}  stable = {s!s:5}  Jacobian = {j:.4f}  slope w(1 - h*^2) = {w_demo * (1 - h ** 2):.4f}")

# %% [markdown]
# ## Part 3. An RNN is a numerical ODE solver
#
# Many physical systems are written as a differential equation in continuous time. In our
# row-vector convention, a linear one driven by an input $x(t)$ is
#
# $$\frac{dh}{dt} = h A + x U .$$
#
# The simplest way to simulate it is **forward Euler**: take a small time step $\Delta t$ and
# follow the current slope, $h_t = h_{t-1} + \Delta t\,(h_{t-1} A + x_t U)$. Regroup:
#
# $$h_t = h_{t-1}\,(I + \Delta t A) + x_t\,(\Delta t\,U),$$
#
# a **linear RNN** with $W_{hh} = I + \Delta t A$ and $W_{xh} = \Delta t\,U$. The "$I +$" is a
# residual connection: the same identity that ResNets, LSTMs' cell state and GRUs' $(1 - z)$ term
# keep around. Read backwards, every RNN with $W_{hh}$ close to $I$ is a discretised ODE.
#
# ### Exercise 3.1: forward Euler as an RNN (8 points)
#
# Implement `euler_rnn_forward(x, h0, A, U, dt)`: `x` `(B, T, D)`, `h0` `(B, H)` or `None`
# (zeros), `A` `(H, H)`, `U` `(D, H)`, `dt` a float. Return `h_all` `(B, T, H)`, the state after
# every step, $h_t = h_{t-1} + \Delta t\,(h_{t-1} A + x_t U)$ (no bias, no nonlinearity).

# %% nbgrader={"grade": false, "grade_id": "euler_rnn_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def euler_rnn_forward(x, h0, A, U, dt):
    """Forward Euler for dh/dt = h A + x U, written as a linear RNN.

    x (B, T, D), h0 (B, H) or None for zeros, A (H, H), U (D, H), dt float
    returns h_all (B, T, H): h_t = h_{t-1} + dt * (h_{t-1} @ A + x_t @ U)
    """
    ### BEGIN SOLUTION
    B, T, _ = x.shape
    H = A.shape[0]
    W_hh = np.eye(H, dtype=A.dtype) + dt * A
    inputs = dt * (x @ U)                       # (B, T, H): every step's input term at once
    h = np.zeros((B, H), dtype=x.dtype) if h0 is None else h0
    h_all = np.empty((B, T, H), dtype=x.dtype)
    for s in range(T):
        h = h @ W_hh + inputs[:, s]
        h_all[:, s] = h
    return h_all
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_euler_rnn_forward_core", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(euler_rnn_forward, "euler_rnn_forward", cases=[
    {"B": 2, "T": 5, "D": 2, "H": 3, "seed": 1, "dt": 0.1, "h0": True},
    {"B": 2, "T": 6, "D": 3, "H": 4, "seed": 3, "dt": 0.5, "dtype": "float32"}])
### BEGIN HIDDEN TESTS
check(euler_rnn_forward, "euler_rnn_forward", cases=[
    {"B": 3, "T": 8, "D": 3, "H": 5, "seed": 11, "dt": 0.1, "h0": True},
    {"B": 2, "T": 9, "D": 2, "H": 3, "seed": 13, "dt": 0.5, "dtype": "float32"}])
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_euler_rnn_forward_edges", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check(euler_rnn_forward, "euler_rnn_forward", cases=[
    {"B": 1, "T": 1, "D": 1, "H": 1, "seed": 2, "dt": 0.5}, {"B": 1, "T": 1, "D": 1, "H": 1, "seed": 4, "dt": 0.1, "h0": True}])
### BEGIN HIDDEN TESTS
check(euler_rnn_forward, "euler_rnn_forward", cases=[
    {"B": 1, "T": 1, "D": 1, "H": 1, "seed": 12, "dt": 0.5, "h0": True}, {"B": 1, "T": 1, "D": 2, "H": 1, "seed": 14, "dt": 0.1}])
### END HIDDEN TESTS

# %% [markdown]
# ### Euler's conditional stability
#
# Suppose the continuous system is stable: every eigenvalue $\lambda$ of $A$ has
# $\operatorname{Re}\lambda < 0$, so without input every solution decays. Is the RNN stable too?
# Without input $h_t = h_0 (I + \Delta t A)^t$, which decays exactly when the spectral radius of
# $I + \Delta t A$ is at most 1, i.e. $|1 + \Delta t \lambda| \le 1$ for every eigenvalue.
# Expand $|1 + \Delta t\lambda|^2 = 1 + 2\Delta t \operatorname{Re}\lambda + \Delta t^2|\lambda|^2$:
#
# $$|1 + \Delta t\lambda| \le 1 \iff \Delta t \le \frac{-2 \operatorname{Re}\lambda}{|\lambda|^2}.$$
#
# Forward Euler is only **conditionally stable**: too large a step turns a decaying system into
# an exploding one. Fast modes (large $|\lambda|$) and oscillating ones (large imaginary part,
# small real part) set the tightest limits. A zero eigenvalue ($1 + \Delta t \cdot 0 = 1$) sets
# no limit; an eigenvalue with $\operatorname{Re}\lambda > 0$, or on the imaginary axis
# ($\operatorname{Re}\lambda = 0$, $\lambda \ne 0$: $|1 + i\Delta t b| > 1$), allows no
# $\Delta t > 0$ at all. And because the RNN's Jacobian is the same $I + \Delta t A$ at every
# step, the gradient of $h_T$ with respect to $h_0$ is its $T$-th power: the step size that makes
# the forward pass blow up makes **the gradients explode** too.
#
# ### Exercise 3.2: the largest stable step (10 points)
#
# Implement `euler_max_stable_dt(A)`: return, as a Python float, the largest $\Delta t$ with
# spectral radius of $I + \Delta t A$ at most 1, i.e. the minimum of $-2\operatorname{Re}\lambda
# / |\lambda|^2$ over the **nonzero** eigenvalues of $A$. Treat $|\lambda| \le 10^{-12}$ as zero
# (it sets no limit). Return `0.0` when some eigenvalue has $\operatorname{Re}\lambda > 0$, or
# $\operatorname{Re}\lambda = 0$ with $\lambda \ne 0$ (both within $10^{-12}$); return
# `float("inf")` when every eigenvalue is 0. `np.linalg.eigvals` gives the eigenvalues.

# %% nbgrader={"grade": false, "grade_id": "euler_max_stable_dt", "locked": false, "schema_version": 3, "solution": true, "task": false}
def euler_max_stable_dt(A):
    """The largest forward-Euler step dt with spectral_radius(I + dt*A) <= 1.

    A (H, H)
    returns float: min over the nonzero eigenvalues lam of -2 Re(lam) / |lam|**2;
            0.0 if some nonzero lam has Re(lam) >= 0 (within 1e-12); inf if every lam is 0
    """
    ### BEGIN SOLUTION
    lam = np.linalg.eigvals(np.asarray(A, dtype=np.float64))
    lam = lam[np.abs(lam) > 1e-12]
    if lam.size == 0:
        return float("inf")
    if np.any(lam.real > -1e-12):
        return 0.0
    return float(np.min(-2 * lam.real / np.abs(lam) ** 2))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_euler_max_stable_dt_core", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(euler_max_stable_dt, "euler_max_stable_dt", cases=[
    {"H": 5, "kind": "stable", "seed": 1}, {"H": 3, "kind": "real", "seed": 2}, {"H": 1, "kind": "real", "seed": 7},
    {"H": 4, "kind": "stable", "seed": 8, "dtype": "float32"}])
### BEGIN HIDDEN TESTS
check(euler_max_stable_dt, "euler_max_stable_dt", cases=[
    {"H": 6, "kind": "stable", "seed": 11}, {"H": 4, "kind": "real", "seed": 12}, {"H": 1, "kind": "real", "seed": 17},
    {"H": 5, "kind": "stable", "seed": 18, "dtype": "float32"}])
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_euler_max_stable_dt_edges", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(euler_max_stable_dt, "euler_max_stable_dt", cases=[
    {"H": 4, "kind": "unstable", "seed": 3}, {"H": 3, "kind": "imaginary", "seed": 4},
    {"H": 4, "kind": "zero_eig", "seed": 5}, {"H": 3, "kind": "zero", "seed": 6}, {"H": 1, "kind": "zero", "seed": 9}])
### BEGIN HIDDEN TESTS
check(euler_max_stable_dt, "euler_max_stable_dt", cases=[
    {"H": 3, "kind": "unstable", "seed": 13}, {"H": 5, "kind": "imaginary", "seed": 14},
    {"H": 5, "kind": "zero_eig", "seed": 15}, {"H": 1, "kind": "zero", "seed": 16}, {"H": 2, "kind": "zero", "seed": 19}])
### END HIDDEN TESTS

# %% [markdown]
# **A stable system, an exploding simulation.** A damped oscillator, $A$ with eigenvalues
# $-0.2 \pm 2i$: in continuous time every trajectory spirals into 0. Your Euler RNN simulates it
# for 400 steps at a range of step sizes; the figure shows the final distance from 0 against
# $\Delta t$ (left) and two trajectories (right), one on each side of your bound.

# %% tags=["demo"]
if not GRADING:
    A_osc = np.array([[-0.2, 2.0], [-2.0, -0.2]])
    bound = euler_max_stable_dt(A_osc)
    dts = np.round(np.arange(0.002, 0.2001, 0.002), 6)
    h0_osc = np.array([[1.0, 0.0]])
    no_input, U_osc = np.zeros((1, 400, 1)), np.zeros((1, 2))
    final = np.array([np.linalg.norm(euler_rnn_forward(no_input, h0_osc, A_osc, U_osc, dt)[0, -1]) for dt in dts])
    blow_up = dts[np.argmax(final > 1.0)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].semilogy(dts, final); axes[0].axvline(bound, color="tab:red", ls="--", label=f"bound {bound:.4f}")
    axes[0].axhline(1.0, color="gray", lw=0.5)
    axes[0].set_xlabel("dt"); axes[0].set_ylabel("||h_400|| (from ||h_0|| = 1)"); axes[0].legend()
    for dt in [0.6 * bound, 1.3 * bound]:
        traj = euler_rnn_forward(no_input, h0_osc, A_osc, U_osc, dt)[0]
        axes[1].plot(traj[:, 0], traj[:, 1], lw=0.8, label=f"dt = {dt:.3f}")
    axes[1].set_xlim(-3, 3); axes[1].set_ylim(-3, 3); axes[1].set_aspect("equal"); axes[1].legend()
    plt.show()
    print(f"Euler bound: dt <= {bound:.4f}; first dt on the grid whose trajectory grows: {blow_up:.3f}")
    radius = np.abs(np.linalg.eigvals(np.eye(2) + 1.3 * bound * A_osc)).max()
    print(f"at dt = 1.3 x bound, |eig(I + dt A)| = {radius:.4f}: the gradient d h_T / d h_0 = (I + dt A)^T "
          f"grows like {radius:.4f}^T ({radius ** 400:.3g} after 400 steps)")

# %% [markdown]
# ## Part 4. Lyapunov exponents: order, the edge of chaos, chaos
#
# Start two trajectories of the same RNN, with the same inputs, from states $\delta$ apart. After
# $t$ steps they are $J_t J_{t-1} \cdots J_1\, \delta$ apart. The long-run **rate** at which such a
# product stretches vectors is the largest **Lyapunov exponent**,
#
# $$\lambda_1 = \lim_{T \to \infty} \frac{1}{T} \log \| J_T \cdots J_1\, \delta \|$$
#
# (for almost every $\delta$). If $\lambda_1 < 0$ nearby trajectories merge: the network is
# **ordered**, it forgets its initial state, and gradients (the same products, transposed)
# **vanish** like $e^{\lambda_1 T}$. If $\lambda_1 > 0$ they separate exponentially: the network is
# **chaotic**, tiny differences are amplified, and gradients **explode**. In between,
# $\lambda_1 \approx 0$, is the **edge of chaos**, where information neither dies nor explodes and
# long-range training works best.
#
# The next exponents $\lambda_2 \ge \lambda_3 \ge \dots$ measure the growth of areas, volumes, ...
# spanned by several offsets. Computing the product directly fails: every column turns towards the
# fastest direction and the numbers under- or overflow. The standard cure (Benettin et al., 1980)
# re-orthonormalises after every step with a QR decomposition and keeps the stretch factors:
#
# $$Q_0 = I[:, :k]; \qquad Q_t R_t = J_t\, Q_{t-1} \ \ (t = 1..T); \qquad
# \lambda_i \approx \frac{1}{T}\sum_{t=1}^T \log |R_t[i, i]|.$$
#
# ### Exercise 4: the Lyapunov spectrum (14 points)
#
# Implement `lyapunov_spectrum(x, h0, W_xh, W_hh, b_h, k)` for **one** driven sequence: `x`
# `(T, D)`, `h0` `(H,)`. Run the tanh RNN from `h0`; $J_t$ is the Jacobian of step $t$ (input
# `x[t-1]`, from state $h_{t-1}$; use your `rnn_jacobian` with a batch of one). Use
# `np.linalg.qr(..., mode="reduced")` (the default). Return the `k` exponents `(k,)`, sorted
# **descending**. Raise `ValueError` unless `k` is an integer with `1 <= k <= H`.

# %% nbgrader={"grade": false, "grade_id": "lyapunov_spectrum", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lyapunov_spectrum(x, h0, W_xh, W_hh, b_h, k):
    """The k largest Lyapunov exponents of a driven tanh RNN, by QR re-orthonormalisation.

    x (T, D) one input sequence, h0 (H,) the initial state, W_xh (D, H), W_hh (H, H), b_h (H,)
    k: how many exponents, 1 <= k <= H (ValueError otherwise)
    returns (k,) descending: (1/T) * sum_t log|diag(R_t)| with Q_t, R_t = qr(J_t @ Q_{t-1}), Q_0 = I[:, :k]
    """
    ### BEGIN SOLUTION
    H = W_hh.shape[0]
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= H):
        raise ValueError(f"k must be an integer in 1..{H}, got {k!r}")
    h = h0[None, :]
    Q = np.eye(H, dtype=W_hh.dtype)[:, :k]
    total = np.zeros(k, dtype=W_hh.dtype)
    for s in range(x.shape[0]):
        J = rnn_jacobian(x[s][None, :], h, W_xh, W_hh, b_h)[0]
        Q, R = np.linalg.qr(J @ Q)
        total += np.log(np.abs(np.diag(R)))
        h = rnn_step(x[s][None, :], h, W_xh, W_hh, b_h)
    return np.sort(total / x.shape[0])[::-1].copy()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_lyapunov_spectrum_core", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check(lyapunov_spectrum, "lyapunov_spectrum", cases=[
    {"T": 40, "D": 2, "H": 4, "k": 4, "seed": 1, "gain": 1.5, "h0": True},
    {"T": 3, "D": 2, "H": 4, "k": 4, "seed": 1, "h0": True}])
### BEGIN HIDDEN TESTS
check(lyapunov_spectrum, "lyapunov_spectrum", cases=[
    {"T": 30, "D": 3, "H": 5, "k": 3, "seed": 11, "gain": 1.5, "h0": True},
    {"T": 4, "D": 3, "H": 5, "k": 5, "seed": 13, "h0": True}])
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_lyapunov_spectrum_long", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check(lyapunov_spectrum, "lyapunov_spectrum", cases=[{"T": 150, "D": 2, "H": 4, "k": 2, "seed": 2, "gain": 0.5}])
### BEGIN HIDDEN TESTS
check(lyapunov_spectrum, "lyapunov_spectrum", cases=[{"T": 120, "D": 1, "H": 3, "k": 3, "seed": 12, "gain": 0.5}])
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_lyapunov_spectrum_edges", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check(lyapunov_spectrum, "lyapunov_spectrum", cases=[
    {"T": 1, "D": 1, "H": 1, "k": 1, "seed": 4},
    {"T": 20, "D": 2, "H": 3, "k": 2, "seed": 5, "gain": 0.5, "dtype": "float32", "h0": True},
    {"T": 5, "D": 2, "H": 3, "k": 0, "seed": 6, "expect": "ValueError"},
    {"T": 5, "D": 2, "H": 3, "k": 4, "seed": 7, "expect": "ValueError"}])
### BEGIN HIDDEN TESTS
check(lyapunov_spectrum, "lyapunov_spectrum", cases=[
    {"T": 1, "D": 1, "H": 1, "k": 1, "seed": 14},
    {"T": 15, "D": 3, "H": 4, "k": 1, "seed": 15, "gain": 0.5, "dtype": "float32", "h0": True},
    {"T": 5, "D": 2, "H": 2, "k": 0, "seed": 16, "expect": "ValueError"},
    {"T": 5, "D": 2, "H": 2, "k": 3, "seed": 17, "expect": "ValueError"}])
### END HIDDEN TESTS

# %% [markdown]
# **Your own functions together (5 of this exercise's points).** The checks above judge
# `lyapunov_spectrum` on its own work: while they run, the `rnn_jacobian` it calls is the course's
# reference version, so a slip in your Jacobian costs points only once, in its own checks. This
# last check runs `lyapunov_spectrum` with *your* `rnn_jacobian`, end to end.

# %% nbgrader={"grade": true, "grade_id": "test_lyapunov_spectrum_integration", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check(lyapunov_spectrum, "lyapunov_spectrum", cases=[
    {"T": 40, "D": 2, "H": 4, "k": 4, "seed": 101, "gain": 1.5, "h0": True},
], integration=True)
### BEGIN HIDDEN TESTS
check(lyapunov_spectrum, "lyapunov_spectrum", cases=[
    {"T": 30, "D": 3, "H": 5, "k": 3, "seed": 111, "gain": 1.5, "h0": True},
], integration=True)
### END HIDDEN TESTS

# %% [markdown]
# **Order, the edge of chaos, chaos.** Random networks of $H = 128$ units with
# $W_{hh} \sim \mathcal N(0, g^2/H)$, driven by a random input of two strengths, for a sweep of
# gains $g$. Left: your largest exponent against $g$ (after 100 steps of warm-up, over 300 steps).
# A stronger input pushes the units towards saturation, which lowers every slope $1 - h_t^2$ and
# moves the edge of chaos to larger gains.
# Right: for three gains, the BPTT view of the same products, $\|\partial h_T / \partial h_k\|$
# (Problem set 2's Jacobian norms, built from your `rnn_jacobian`) against the distance $T - k$:
# it shrinks, stays level, or grows at the rate $\lambda_1$.

# %% tags=["demo"]
if not GRADING:
    rng = np.random.default_rng(0)
    H_l, T_l, warm = 128, 300, 100
    noise = rng.normal(size=(warm + T_l, 1))
    W_xh_l, b_l, G = rng.normal(size=(1, H_l)), np.zeros(H_l), rng.normal(size=(H_l, H_l)) / np.sqrt(H_l)

    def largest_exponent(W_hh, x):
        _, h_w = rnn_forward(x[None, :warm], 0.5 * np.ones((1, H_l)), W_xh_l, W_hh, b_l)
        return lyapunov_spectrum(x[warm:], h_w[0], W_xh_l, W_hh, b_l, 1)[0]

    gains = np.round(np.arange(0.5, 3.01, 0.25), 2)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    sweeps = {}
    for strength in [0.1, 0.5]:
        lam1 = np.array([largest_exponent(g * G, strength * noise) for g in gains])
        first = np.argmax(lam1 > 0)                      # interpolate between the last <= 0 and the first > 0
        crossing = float(np.interp(0.0, lam1[first - 1:first + 1], gains[first - 1:first + 1]))
        sweeps[strength] = (lam1, crossing)
        axes[0].plot(gains, lam1, "o-", label=f"input std {strength}")
    axes[0].axhline(0, color="gray", lw=0.5); axes[0].legend()
    axes[0].set_xlabel("gain g"); axes[0].set_ylabel("largest Lyapunov exponent"); axes[0].set_title("order | chaos")
    x_l = 0.5 * noise
    T_b = 60
    for g in [0.5, crossing, 2.5]:
        h_all_b, _ = rnn_forward(x_l[None, :T_b], 0.5 * np.ones((1, H_l)), W_xh_l, g * G, b_l)
        prev = np.concatenate([0.5 * np.ones((1, H_l)), h_all_b[0, :-1]])
        P, norms = np.eye(H_l), []
        for s in reversed(range(T_b)):                 # d h_T / d h_s = J_T ... J_{s+1}
            P = P @ rnn_jacobian(x_l[s][None], prev[s][None], W_xh_l, g * G, b_l)[0]
            norms.append(np.linalg.norm(P, 2))
        axes[1].semilogy(np.arange(1, T_b + 1), norms, label=f"g = {g:.2f}")
    axes[1].set_xlabel("T - k"); axes[1].set_ylabel("||d h_T / d h_k||"); axes[1].legend()
    plt.show()
    for strength, (lam1, crossing) in sweeps.items():
        print(f"input std {strength}: " + ", ".join(f"g={g:.2f}: {l:+.3f}" for g, l in zip(gains, lam1)))
        print(f"input std {strength}: lambda_1 crosses 0 at g = {crossing:.2f}")
    Q_orth, _ = np.linalg.qr(rng.normal(size=(H_l, H_l)))
    W_sn = 3.0 * G / np.linalg.norm(3.0 * G, 2)
    for strength in [0.1, 0.5]:
        print(f"input std {strength}: orthogonal W_hh lambda_1 = {largest_exponent(Q_orth, strength * noise):+.3f}, "
              f"spectrally normalised 3 G / ||3 G||_2 lambda_1 = {largest_exponent(W_sn, strength * noise):+.3f}")

# %% [markdown]
# **Orthogonal and spectrally normalised recurrences.** An orthogonal $W_{hh}$ has every singular
# value equal to 1: $\|J_t\| \le 1$, only the tanh slopes contract, and $\lambda_1$ sits just below
# 0 (at the edge of chaos) as long as the input leaves the units unsaturated; a strong input pulls
# it lower. Dividing $W_{hh}$ by its spectral norm also guarantees $\|J_t\| \le 1$ (no explosion, ever), but a random matrix normalised this way has
# most singular values well below 1, so the network is firmly ordered and forgets quickly. Both are
# used to start or keep training stable; only the first keeps long memories.
#
# ## Part 5. Leaky integrators and their memory time
#
# A **leaky** unit moves only part of the way towards its new value at each step:
#
# $$h_t = (1 - \alpha)\, h_{t-1} + \alpha \tanh(x_t W_{xh} + h_{t-1} W_{hh} + b_h),
# \qquad 0 < \alpha \le 1.$$
#
# This is forward Euler again, for $\tau\, \dot h = -h + \tanh(\cdots)$ with step $\Delta t / \tau =
# \alpha$. With weak recurrent weights, an input's trace fades by a factor of about $(1 - \alpha)$
# per step, so it survives about $\tau \approx 1/\alpha$ steps: a small $\alpha$ is a long memory
# (and a long path for gradients), $\alpha = 1$ is the plain RNN.
#
# ### Exercise 5: a leaky RNN (10 points)
#
# Implement `leaky_rnn_forward(x, h0, W_xh, W_hh, b_h, alpha)`: `x` `(B, T, D)`, `h0` `(B, H)` or
# `None` (zeros). Return `(h_all (B, T, H), h_last (B, H))`. Raise `ValueError` unless
# `0 < alpha <= 1`.

# %% nbgrader={"grade": false, "grade_id": "leaky_rnn_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def leaky_rnn_forward(x, h0, W_xh, W_hh, b_h, alpha):
    """A leaky tanh RNN: h_t = (1 - alpha) * h_{t-1} + alpha * tanh(x_t W_xh + h_{t-1} W_hh + b_h).

    x (B, T, D), h0 (B, H) or None for zeros, W_xh (D, H), W_hh (H, H), b_h (H,)
    alpha: float in (0, 1] (ValueError otherwise); alpha = 1 is the plain RNN
    returns (h_all (B, T, H), h_last (B, H))
    """
    ### BEGIN SOLUTION
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    B, T, _ = x.shape
    H = W_hh.shape[0]
    h = np.zeros((B, H), dtype=x.dtype) if h0 is None else h0
    h_all = np.empty((B, T, H), dtype=x.dtype)
    for s in range(T):
        h = (1 - alpha) * h + alpha * rnn_step(x[:, s], h, W_xh, W_hh, b_h)
        h_all[:, s] = h
    return h_all, h.copy()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_leaky_rnn_forward_core", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(leaky_rnn_forward, "leaky_rnn_forward", cases=[
    {"B": 2, "T": 6, "D": 2, "H": 3, "seed": 1, "alpha": 0.3, "h0": True},
    {"B": 2, "T": 5, "D": 2, "H": 3, "seed": 4, "alpha": 0.05, "dtype": "float32", "h0": True}])
### BEGIN HIDDEN TESTS
check(leaky_rnn_forward, "leaky_rnn_forward", cases=[
    {"B": 3, "T": 9, "D": 3, "H": 4, "seed": 11, "alpha": 0.3, "h0": True},
    {"B": 3, "T": 7, "D": 2, "H": 4, "seed": 14, "alpha": 0.05, "dtype": "float32"}])
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_leaky_rnn_forward_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(leaky_rnn_forward, "leaky_rnn_forward", cases=[
    {"B": 2, "T": 4, "D": 3, "H": 4, "seed": 2, "alpha": 1.0}, {"B": 1, "T": 1, "D": 1, "H": 1, "seed": 3, "alpha": 0.3},
    {"B": 2, "T": 3, "D": 2, "H": 3, "seed": 5, "alpha": 0.0, "expect": "ValueError"},
    {"B": 2, "T": 3, "D": 2, "H": 3, "seed": 6, "alpha": 1.5, "expect": "ValueError"}])
### BEGIN HIDDEN TESTS
check(leaky_rnn_forward, "leaky_rnn_forward", cases=[
    {"B": 1, "T": 5, "D": 2, "H": 5, "seed": 12, "alpha": 1.0, "h0": True}, {"B": 1, "T": 1, "D": 1, "H": 1, "seed": 13, "alpha": 0.05},
    {"B": 1, "T": 3, "D": 2, "H": 2, "seed": 15, "alpha": 0.0, "expect": "ValueError"},
    {"B": 1, "T": 3, "D": 2, "H": 2, "seed": 16, "alpha": 1.5, "expect": "ValueError"}])
### END HIDDEN TESTS

# %% [markdown]
# **The influence of an input $k$ steps back.** Two runs of the same leaky network differ only in
# one input pulse at step 0; the distance between their states after $k$ more steps, for several
# $\alpha$. On a log scale each curve is close to a line of slope $-1/\tau$; the printout compares
# the measured $\tau$ with $1/\alpha$.

# %% tags=["demo"]
if not GRADING:
    rng = np.random.default_rng(1)
    H_k, T_k = 16, 150
    W_xh_k, W_hh_k = rng.normal(size=(1, H_k)), 0.3 * rng.normal(size=(H_k, H_k)) / np.sqrt(H_k)
    quiet = np.zeros((1, T_k, 1))
    pulse = quiet.copy(); pulse[0, 0, 0] = 1.0
    fig, ax = plt.subplots(figsize=(7, 4))
    for alpha in [1.0, 0.3, 0.1, 0.03]:
        a_run, _ = leaky_rnn_forward(pulse, None, W_xh_k, W_hh_k, np.zeros(H_k), alpha)
        b_run, _ = leaky_rnn_forward(quiet, None, W_xh_k, W_hh_k, np.zeros(H_k), alpha)
        gap = np.linalg.norm(a_run[0] - b_run[0], axis=1)
        ax.semilogy(gap, label=f"alpha = {alpha}")
        ks = np.arange(5, min(T_k, int(8 / alpha)))
        tau = -1 / np.polyfit(ks, np.log(gap[ks]), 1)[0]
        print(f"alpha = {alpha:4}: measured memory time tau = {tau:6.1f} steps, 1/alpha = {1 / alpha:6.1f}")
    ax.set_xlabel("steps k after the pulse"); ax.set_ylabel("||h_k(pulse) - h_k(no pulse)||"); ax.legend()
    ax.set_ylim(1e-8, 10)
    plt.show()

# %% [markdown]
# ## Part 6. Error accumulation in multi-step forecasting
#
# A model that predicts the next value of a series can forecast further in two ways:
#
# * **Iterative** (autoregressive): predict one step, feed the prediction back as the next
#   input, repeat. One small model serves every horizon, but the model now runs on its own
#   outputs: an error made at step 1 is an input at step 2.
# * **Direct**: one head predicts the whole horizon at once from the encoder's last state,
#   $\hat y_{1..K} = h_T W + b$, reshaped to $(K, D)$. Nothing is fed back; each step has its own
#   output weights.
#
# Why the iterative errors grow: if the true dynamics $y_{t+1} = f(y_t)$ have Lipschitz constant
# $L$ ($|f(a) - f(b)| \le L |a - b|$) and the model errs by $\varepsilon$ at each step, the error
# after $k$ steps can be as large as $\varepsilon(1 + L + \dots + L^{k-1}) = \varepsilon\,
# \frac{L^k - 1}{L - 1}$. With $L < 1$ (a contracting system) this stays below
# $\varepsilon/(1 - L)$; with $L > 1$ (an expanding or chaotic one) it grows **geometrically**,
# like the Lyapunov exponent of Part 4 says. The direct method does not compound its errors, but
# has to learn a harder map for far steps.
#
# ### Exercise 6.1: iterative forecast (12 points)
#
# Implement `iterative_forecast(context, params, horizon)`. `context` `(B, T, D)`; `params` holds
# `params["rnn"]` (a dict `W_xh (D, H)`, `W_hh (H, H)`, `b_h (H,)`), `params["W_out"]` `(H, D)` and
# `params["b_out"]` `(D,)`. Encode the context with the tanh RNN from a zero state; then for
# `i = 0 .. horizon-1`: predict `y_i = h @ W_out + b_out` from the current state, and step the RNN
# with `y_i` as its input. Return the predictions `(B, horizon, D)`.

# %% nbgrader={"grade": false, "grade_id": "iterative_forecast", "locked": false, "schema_version": 3, "solution": true, "task": false}
def iterative_forecast(context, params, horizon):
    """Autoregressive forecast: each prediction is fed back as the next input.

    context (B, T, D); params: "rnn" {W_xh (D, H), W_hh (H, H), b_h (H,)}, "W_out" (H, D), "b_out" (D,)
    horizon: int >= 1
    returns (B, horizon, D): y_i = h @ W_out + b_out, then h = tanh(y_i W_xh + h W_hh + b_h)
    """
    ### BEGIN SOLUTION
    rnn = params["rnn"]
    _, h = rnn_forward(context, None, rnn["W_xh"], rnn["W_hh"], rnn["b_h"])
    B, _, D = context.shape
    out = np.empty((B, horizon, D), dtype=context.dtype)
    for i in range(horizon):
        y = h @ params["W_out"] + params["b_out"]
        out[:, i] = y
        h = rnn_step(y, h, rnn["W_xh"], rnn["W_hh"], rnn["b_h"])
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_iterative_forecast_core", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false}
check(iterative_forecast, "iterative_forecast", cases=[
    {"B": 2, "T": 5, "D": 2, "H": 4, "horizon": 4, "seed": 1},
    {"B": 2, "T": 3, "D": 1, "H": 3, "horizon": 6, "seed": 3, "dtype": "float32"}])
### BEGIN HIDDEN TESTS
check(iterative_forecast, "iterative_forecast", cases=[
    {"B": 3, "T": 7, "D": 3, "H": 5, "horizon": 5, "seed": 11},
    {"B": 2, "T": 4, "D": 2, "H": 3, "horizon": 3, "seed": 13, "dtype": "float32"}])
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_iterative_forecast_edges", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check(iterative_forecast, "iterative_forecast", cases=[
    {"B": 1, "T": 1, "D": 1, "H": 1, "horizon": 1, "seed": 2}, {"B": 1, "T": 2, "D": 2, "H": 3, "horizon": 1, "seed": 4}])
### BEGIN HIDDEN TESTS
check(iterative_forecast, "iterative_forecast", cases=[
    {"B": 1, "T": 1, "D": 1, "H": 1, "horizon": 1, "seed": 12}, {"B": 2, "T": 1, "D": 1, "H": 2, "horizon": 2, "seed": 14}])
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 6.2: direct forecast (9 points)
#
# Implement `direct_forecast(context, params, horizon)` with the same encoder (`params["rnn"]`,
# zero initial state) and one head: `h_last @ params["W_dir"] + params["b_dir"]`, `W_dir`
# `(H, horizon * D)`, `b_dir` `(horizon * D,)`, reshaped to `(B, horizon, D)` **step-major**
# (entries `i*D .. i*D + D - 1` are step `i`). Raise `ValueError` when `W_dir` is not
# `(H, horizon * D)`.

# %% nbgrader={"grade": false, "grade_id": "direct_forecast", "locked": false, "schema_version": 3, "solution": true, "task": false}
def direct_forecast(context, params, horizon):
    """Direct multi-step forecast: one linear head predicts the whole horizon from the last state.

    context (B, T, D); params: "rnn" {W_xh (D, H), W_hh (H, H), b_h (H,)}, "W_dir" (H, horizon*D),
    "b_dir" (horizon*D,); horizon: int >= 1
    returns (B, horizon, D): (h_last @ W_dir + b_dir) reshaped step-major (ValueError if W_dir does not fit)
    """
    ### BEGIN SOLUTION
    B, _, D = context.shape
    rnn = params["rnn"]
    if params["W_dir"].shape != (rnn["W_hh"].shape[0], horizon * D):
        raise ValueError(f"W_dir should be (H, horizon * D) = (H, {horizon * D}), got {params['W_dir'].shape}")
    _, h = rnn_forward(context, None, rnn["W_xh"], rnn["W_hh"], rnn["b_h"])
    return (h @ params["W_dir"] + params["b_dir"]).reshape(B, horizon, D)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_direct_forecast_core", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check(direct_forecast, "direct_forecast", cases=[
    {"B": 2, "T": 5, "D": 2, "H": 4, "horizon": 3, "seed": 1},
    {"B": 2, "T": 4, "D": 3, "H": 3, "horizon": 2, "seed": 3, "dtype": "float32"}])
### BEGIN HIDDEN TESTS
check(direct_forecast, "direct_forecast", cases=[
    {"B": 3, "T": 6, "D": 3, "H": 5, "horizon": 4, "seed": 11},
    {"B": 2, "T": 3, "D": 2, "H": 4, "horizon": 3, "seed": 13, "dtype": "float32"}])
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_direct_forecast_edges", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check(direct_forecast, "direct_forecast", cases=[
    {"B": 1, "T": 1, "D": 1, "H": 1, "horizon": 1, "seed": 2},
    {"B": 2, "T": 3, "D": 2, "H": 3, "horizon": 2, "seed": 4, "bad_head": True, "expect": "ValueError"}])
### BEGIN HIDDEN TESTS
check(direct_forecast, "direct_forecast", cases=[
    {"B": 1, "T": 1, "D": 1, "H": 1, "horizon": 1, "seed": 12},
    {"B": 1, "T": 2, "D": 1, "H": 2, "horizon": 3, "seed": 14, "bad_head": True, "expect": "ValueError"}])
### END HIDDEN TESTS

# %% [markdown]
# **Both methods, trained.** Two systems, one contracting and one expanding:
#
# * a damped rotation in the plane, $y_{t+1} = 0.95\,R(0.4)\, y_t$ (Lipschitz constant 0.95);
# * the logistic map $y_{t+1} = 3.9\, y_t (1 - y_t)$, chaotic on $(0, 1)$ (its slope reaches 3.9;
#   nearby orbits separate at about $e^{0.5}$ per step).
#
# For each, PyTorch trains an iterative model (`nn.RNN` + `nn.Linear`, one-step-ahead targets with
# teacher forcing) and a direct model (`nn.RNN` + `nn.Linear(H, K * D)`) on contexts of 20 steps
# and a horizon of $K = 10$. Both are then run by **your** `iterative_forecast` and
# `direct_forecast` on fresh test series, and the figure shows the mean squared error at each
# step of the horizon.

# %% tags=["demo"]
if not GRADING:
    import torch
    from torch import nn
    torch.set_num_threads(1)
    T_c, K_f, H_f = 20, 10, 32

    def rotation_series(n, rng):
        c, s = 0.95 * np.cos(0.4), 0.95 * np.sin(0.4)
        M = np.array([[c, s], [-s, c]])
        y = [rng.uniform(-1, 1, size=(n, 2))]
        for _ in range(T_c + K_f - 1):
            y.append(y[-1] @ M)
        return np.stack(y, axis=1)

    def logistic_series(n, rng):
        y = [rng.uniform(0.05, 0.95, size=(n, 1))]
        for _ in range(T_c + K_f - 1):
            y.append(3.9 * y[-1] * (1 - y[-1]))
        return np.stack(y, axis=1)

    def numpy_rnn(rnn):
        return {"W_xh": rnn.weight_ih_l0.detach().double().numpy().T, "W_hh": rnn.weight_hh_l0.detach().double().numpy().T,
                "b_h": (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().double().numpy()}

    def train_both(series, steps=600, seed=0):
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        D = series(1, rng).shape[2]
        it_rnn, it_head = nn.RNN(D, H_f, batch_first=True), nn.Linear(H_f, D)
        di_rnn, di_head = nn.RNN(D, H_f, batch_first=True), nn.Linear(H_f, K_f * D)
        opt = torch.optim.Adam([*it_rnn.parameters(), *it_head.parameters(), *di_rnn.parameters(),
                                *di_head.parameters()], lr=3e-3)
        for _ in range(steps):
            y = torch.tensor(series(128, rng), dtype=torch.float32)
            out, _ = it_rnn(y[:, :-1])                        # teacher forcing: predict y[t+1] from y[..t]
            loss_it = ((it_head(out) - y[:, 1:]) ** 2).mean()
            _, h = di_rnn(y[:, :T_c])
            loss_di = ((di_head(h[0]).reshape(-1, K_f, D) - y[:, T_c:]) ** 2).mean()
            opt.zero_grad(); (loss_it + loss_di).backward(); opt.step()
        it = {"rnn": numpy_rnn(it_rnn), "W_out": it_head.weight.detach().double().numpy().T,
              "b_out": it_head.bias.detach().double().numpy()}
        di = {"rnn": numpy_rnn(di_rnn), "W_dir": di_head.weight.detach().double().numpy().T,
              "b_dir": di_head.bias.detach().double().numpy()}
        return it, di

    forecast_errors = {}
    start = time.time()
    for name, series in [("contracting rotation", rotation_series), ("logistic map", logistic_series)]:
        it, di = train_both(series)
        test = series(1000, np.random.default_rng(123))
        context, future = test[:, :T_c], test[:, T_c:]
        forecast_errors[name] = {
            "iterative": ((iterative_forecast(context, it, K_f) - future) ** 2).mean(axis=(0, 2)),
            "direct": ((direct_forecast(context, di, K_f) - future) ** 2).mean(axis=(0, 2))}
    print(f"trained 4 models in {time.time() - start:.0f} s")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (name, errs) in zip(axes, forecast_errors.items()):
        for method, e in errs.items():
            ax.semilogy(np.arange(1, K_f + 1), e, "o-", label=method)
        ax.set_title(name); ax.set_xlabel("forecast step"); ax.set_ylabel("test MSE"); ax.legend()
    plt.show()
    for name, errs in forecast_errors.items():
        for method, e in errs.items():
            print(f"{name:21s} {method:9s} MSE at steps 1, 2, 5, 10: "
                  + ", ".join(f"{e[i]:.2e}" for i in [0, 1, 4, 9]))

# %% [markdown]
# ### Written answer 2 (5 points, graded by hand)
#
# Use **your** figures and printouts from Parts 3 and 4.
#
# 1. Give your Euler bound for the damped oscillator and the smallest step on the grid at which
#    the simulated trajectory grew. Do they agree? What would happen to the gradient of a loss on
#    $h_{400}$ with respect to $h_0$ at $\Delta t = 1.3\times$ the bound?
# 2. From your Lyapunov sweep: the largest exponent at $g = 0.5$ and at $g = 2.5$, and the gain at
#    which it crosses 0. What does the sign of $\lambda_1$ predict for the gradient-norm curves on
#    the right, and do they show it?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_stability", "locked": false, "points": 5, "schema_version": 3, "solution": true, "task": false}
# *Model answer; the numbers are those of the reference run.*
#
# 1. The bound is $-2(-0.2)/(0.2^2 + 2^2) = 0.0990$; the first grid step whose trajectory grew is
#    0.100, the first grid point above the bound. They agree because $A$ is normal here, so
#    $\|h_t\| = \rho(I + \Delta t A)^t \|h_0\|$ exactly. At $1.3\times$ the bound the spectral radius
#    is 1.0077, and $\partial h_{400} / \partial h_0 = (I + \Delta t A)^{400}$ has norm about 21: the
#    gradient explodes as the trajectory does (and without limit as $T$ grows). *(2 points.)*
# 2. With input std 0.5: $\lambda_1 \approx -0.82$ at $g = 0.5$, $\approx +0.21$ at $g = 2.5$, crossing
#    0 near $g = 1.55$ (1.37 with the weaker input: an input saturates the units, lowers the slopes
#    and pushes the edge of chaos above the autonomous network's $g = 1$). Negative $\lambda_1$: the
#    norms fall like $e^{\lambda_1 (T-k)}$ (vanishing gradients); near 0 they stay roughly level;
#    positive: they grow (exploding gradients). The curves show that, with slopes close to
#    $\lambda_1$. *(3 points: the numbers, the link.)*

# %% [markdown]
# ### Written answer 3 (5 points, graded by hand)
#
# Use **your** forecasting figure and printout.
#
# 1. For each system, give the MSE of both methods at steps 1 and 10, and say how the iterative
#    error grows with the step.
# 2. Explain the difference between the two systems with the Lipschitz constant, and say which
#    method you would choose for each (and why one small iterative model is still attractive for
#    the contracting system).

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_forecasting", "locked": false, "points": 5, "schema_version": 3, "solution": true, "task": false}
# *Model answer; the numbers are those of the reference run.*
#
# 1. Contracting rotation: iterative $1.2 \cdot 10^{-6}$ at step 1 and $7 \cdot 10^{-5}$ at step 10,
#    direct $2 \cdot 10^{-5}$ and $8 \cdot 10^{-6}$: both tiny next to the series' scale (about 0.3),
#    the iterative error growing slowly and staying bounded. Logistic map: iterative
#    $5 \cdot 10^{-3}$ at step 1, then roughly doubling per step ($10^{-2}$ at step 2, 0.12 at step
#    5) to 0.16 at step 10, worse than predicting the mean; direct $5 \cdot 10^{-2}$ at step 1,
#    saturating at 0.09, about the variance of the series. *(2 points: numbers read off, the
#    geometric growth.)*
# 2. With $L < 1$ an error made at one step is shrunk by the dynamics at the next, so iterated
#    errors stay bounded by $\varepsilon/(1 - L)$; one small iterative model serves every horizon
#    and is the natural choice. With $L > 1$ each step stretches the previous errors, so they grow
#    like $L^k$ (the positive Lyapunov exponent, about 0.5 per step here), and the direct model,
#    which does not feed its errors back, is the safer choice beyond the first steps; beyond a few
#    Lyapunov times no method can forecast a chaotic series from a finite-precision context.
#    *(3 points.)*

# %% [markdown]
# ## Part 7. Takens: a hidden state that reconstructs an attractor
#
# The Lorenz system is a three-dimensional chaotic ODE. Suppose we only ever see its first
# coordinate $x(t)$. Takens' theorem says that a vector of enough delayed copies,
# $(x(t), x(t - \tau), x(t - 2\tau), \dots)$, already traces a faithful (smoothly deformed) copy of
# the whole attractor: the history of one coordinate determines the state. An RNN trained to
# predict the next $x$ has to build such a state in its hidden units, and it is free to find any
# smooth embedding. Below, PyTorch trains `nn.RNN(1, 32)` to predict $x$ one step ahead; the hidden
# states on a test stretch are projected onto their first three principal components (computed
# with numpy's SVD) and drawn beside the true attractor. A number measures the outcome: how well a
# **linear** read-out of the hidden state recovers the unseen coordinates $y$ and $z$ ($R^2$ on
# held-out steps).

# %% tags=["demo"]
if not GRADING:
    import torch
    from torch import nn
    torch.set_num_threads(1)

    def lorenz(n, dt=0.01, every=2, s=10.0, r=28.0, beta=8 / 3):
        f = lambda v: np.array([s * (v[1] - v[0]), v[0] * (r - v[2]) - v[1], v[0] * v[1] - beta * v[2]])
        v, out = np.array([1.0, 1.0, 20.0]), []
        for i in range(n * every + 1000):
            k1 = f(v); k2 = f(v + dt / 2 * k1); k3 = f(v + dt / 2 * k2); k4 = f(v + dt * k3)
            v = v + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            if i >= 1000 and i % every == 0:
                out.append(v)
        return np.array(out)

    start = time.time()
    traj = lorenz(6000)
    mu, sd = traj.mean(axis=0), traj.std(axis=0)
    xs = ((traj[:, 0] - mu[0]) / sd[0]).astype(np.float32)
    train_x, test_x = xs[:4500], xs[4500:]
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model, head = nn.RNN(1, 32, batch_first=True), nn.Linear(32, 1)
    opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=3e-3)
    for _ in range(400):
        starts = rng.integers(0, len(train_x) - 81, size=64)
        seq = torch.tensor(np.stack([train_x[s:s + 81] for s in starts]))[:, :, None]
        out, _ = model(seq[:, :-1])
        loss = ((head(out) - seq[:, 1:]) ** 2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
    rnn_np = {"W_xh": model.weight_ih_l0.detach().double().numpy().T,
              "W_hh": model.weight_hh_l0.detach().double().numpy().T,
              "b_h": (model.bias_ih_l0 + model.bias_hh_l0).detach().double().numpy()}
    states, _ = rnn_forward(test_x[None, :, None].astype(np.float64), None, **rnn_np)
    states, truth = states[0, 100:], traj[4600:]                     # drop the first 100 steps (warm-up)
    centred = states - states.mean(axis=0)
    pcs = centred @ np.linalg.svd(centred, full_matrices=False)[2][:3].T
    half = len(states) // 2
    design = np.hstack([states, np.ones((len(states), 1))])
    coef, *_ = np.linalg.lstsq(design[:half], truth[:half], rcond=None)
    resid = truth[half:] - design[half:] @ coef
    r2 = 1 - resid.var(axis=0) / truth[half:].var(axis=0)
    print(f"trained in {time.time() - start:.0f} s; one-step training MSE {loss.item():.2e} (x standardised)")
    print("linear read-out of the hidden state, held-out R^2 for x, y, z: " + ", ".join(f"{v:.3f}" for v in r2))
    fig = plt.figure(figsize=(11, 4.5))
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    ax.plot(*truth.T, lw=0.4); ax.set_title("true Lorenz attractor (x, y, z)")
    ax = fig.add_subplot(1, 2, 2, projection="3d")
    ax.plot(*pcs.T, lw=0.4, color="tab:green"); ax.set_title("RNN hidden states, first 3 principal components")
    plt.show()

# %% [markdown]
# The two pictures are not the same shape, and need not be: an embedding is only defined up to a
# smooth change of coordinates. What matters is that the two lobes, the switching between them
# and the spiralling within each are all there, recovered from one coordinate, and that the
# unseen $y$ and $z$ can be read back from the hidden state.
