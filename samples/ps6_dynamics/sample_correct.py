"""A correct ps6 written differently from the solution: Newton's method from many starts for the
fixed points, loops over the batch, Gram-Schmidt instead of np.linalg.qr, per-eigenvalue loops."""


def tanh_fixed_points(w, b):
    # Newton's method from 2001 starts spread over (-1, 1), then merge the starts that agree.
    h = np.linspace(-0.9995, 0.9995, 2001)
    with np.errstate(all="ignore"):
        for _ in range(60):
            th = np.tanh(w * h + b)
            slope = w * (1 - th ** 2) - 1
            h = np.clip(h - (th - h) / slope, -1.0, 1.0)
        ok = np.isfinite(h) & (np.abs(np.tanh(w * h + b) - h) < 1e-13) & (np.abs(h) < 1)
    found = np.sort(h[ok])
    roots = []
    for r in found:
        if not roots or r - roots[-1] > 1e-7:
            roots.append(r)
    h_star = np.array(roots, dtype=np.float64)
    stable = np.array([abs(w * (1 - r * r)) < 1 for r in roots], dtype=bool)
    return h_star, stable


def rnn_jacobian(x_t, h_prev, W_xh, W_hh, b_h):
    B, H = h_prev.shape
    J = np.zeros((B, H, H), dtype=h_prev.dtype)
    for b in range(B):
        h_t = np.tanh(x_t[b] @ W_xh + h_prev[b] @ W_hh + b_h)
        J[b] = np.diag(1 - h_t * h_t) @ W_hh.T
    return J


def euler_rnn_forward(x, h0, A, U, dt):
    B, T, D = x.shape
    H = A.shape[0]
    h = np.zeros((B, H), dtype=x.dtype) if h0 is None else h0.copy()
    states = []
    for s in range(T):
        h = h + dt * (h @ A + x[:, s, :] @ U)
        states.append(h)
    return np.stack(states, axis=1)


def euler_max_stable_dt(A):
    best = float("inf")
    for lam in np.linalg.eigvals(A.astype(np.float64)):
        if abs(lam) <= 1e-12:
            continue                       # a zero mode never limits the step
        if lam.real > -1e-12:
            return 0.0
        best = min(best, -2.0 * lam.real / (lam.real ** 2 + lam.imag ** 2))
    return float(best)


def lyapunov_spectrum(x, h0, W_xh, W_hh, b_h, k):
    H = W_hh.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 or k > H:
        raise ValueError(f"k must be between 1 and {H}, got {k}")
    T = len(x)
    Q = np.eye(H, k, dtype=W_hh.dtype)
    logs = np.zeros((T, k), dtype=W_hh.dtype)
    h = h0.copy()
    for s in range(T):
        h = np.tanh(x[s] @ W_xh + h @ W_hh + b_h)
        V = ((1 - h ** 2)[:, None] * W_hh.T) @ Q
        Q = np.zeros_like(V)
        for i in range(k):                 # modified Gram-Schmidt: R[i, i] = norm of what is left
            v = V[:, i].copy()
            for j in range(i):
                v = v - (Q[:, j] @ v) * Q[:, j]
            r = np.linalg.norm(v)
            logs[s, i] = np.log(r)
            Q[:, i] = v / r
    return -np.sort(-logs.mean(axis=0))


def leaky_rnn_forward(x, h0, W_xh, W_hh, b_h, alpha):
    if alpha <= 0 or alpha > 1:
        raise ValueError("alpha must satisfy 0 < alpha <= 1")
    B, T, _ = x.shape
    h = np.zeros((B, W_hh.shape[0]), dtype=x.dtype) if h0 is None else h0.copy()
    h_all = np.zeros((B, T, W_hh.shape[0]), dtype=x.dtype)
    for s in range(T):
        target = np.tanh(x[:, s] @ W_xh + h @ W_hh + b_h)
        h = h + alpha * (target - h)
        h_all[:, s] = h
    return h_all, h_all[:, -1].copy()


def iterative_forecast(context, params, horizon):
    p = params["rnn"]
    B, T, D = context.shape
    h = np.zeros((B, p["W_hh"].shape[0]), dtype=context.dtype)
    for s in range(T):
        h = np.tanh(context[:, s] @ p["W_xh"] + h @ p["W_hh"] + p["b_h"])
    preds = []
    for _ in range(horizon):
        preds.append(h @ params["W_out"] + params["b_out"])
        h = np.tanh(preds[-1] @ p["W_xh"] + h @ p["W_hh"] + p["b_h"])
    return np.stack(preds, axis=1)


def direct_forecast(context, params, horizon):
    p = params["rnn"]
    B, T, D = context.shape
    W, c = params["W_dir"], params["b_dir"]
    if W.ndim != 2 or W.shape[1] != horizon * D or c.shape != (horizon * D,):
        raise ValueError("the direct head must map H to horizon * D outputs")
    h = np.zeros((B, p["W_hh"].shape[0]), dtype=context.dtype)
    for s in range(T):
        h = np.tanh(context[:, s] @ p["W_xh"] + h @ p["W_hh"] + p["b_h"])
    flat = np.einsum("bh,hk->bk", h, W) + c
    return np.stack([flat[:, i * D:(i + 1) * D] for i in range(horizon)], axis=1)


ANSWERS = {
    "written_bifurcation": (
        "1. My sweep shows two stable states from w = 1.01 on (grid step 0.01), so the bifurcation is at "
        "w = 1: the slope at h* = 0 is w(1 - 0) = w, and once it exceeds 1 the middle state repels and "
        "two attracting states split off it.\n"
        "2. With b = 0.3 the second stable state first appears at w = 1.66. The bias tilts the curve, so "
        "the branch near +1 always exists and the new pair (stable near -1, unstable in between) only "
        "appears when the curve becomes steep enough to touch the diagonal: a tangent bifurcation.\n"
        "3. One bit (which side it was last pushed to); an input must push the state past the unstable "
        "middle fixed point to overwrite it."),
    "written_stability": (
        "1. Bound 0.0990; the first grid dt whose trajectory grew was 0.100, so they agree (A is normal, "
        "the norm follows the spectral radius exactly). At 1.3x the bound the radius is 1.0077 and "
        "d h_400 / d h_0 = (I + dt A)^400 grows about 21-fold: exploding gradients.\n"
        "2. With input std 0.5: lambda_1 = -0.82 at g = 0.5, +0.21 at g = 2.5, crossing 0 near g = 1.55. "
        "Negative exponents make the gradient norms decay exponentially with the distance, near zero they "
        "stay flat, positive ones grow; the curves do this."),
    "written_forecasting": (
        "1. Rotation: iterative 1.2e-6 at step 1 and 7e-5 at step 10, direct 2e-5 and 8e-6; both tiny. "
        "Logistic: iterative 5e-3 at step 1 growing by about 2x per step to 0.16 at step 10; direct "
        "5e-2 at step 1 and 9e-2 at step 10.\n"
        "2. L < 1 shrinks earlier errors, so iterating is safe and one small model does all horizons; "
        "L = 3.9 stretches them every step (geometric growth), so for the logistic map I would use the "
        "direct model beyond a couple of steps, the iterative one only for the first step or two."),
}
