"""A partly correct ps6 with mistakes learners make (each marked MISTAKE)."""


def tanh_fixed_points(w, b):
    # MISTAKE: fixed-point iteration from both ends (-1 and 1) finds only the stable states
    found = []
    for h in (-1.0, 1.0):
        for _ in range(3000):
            h = np.tanh(w * h + b)
        if not any(abs(h - g) < 1e-8 for g in found):
            found.append(h)
    h_star = np.sort(np.array(found))
    return h_star, np.abs(w * (1 - h_star ** 2)) < 1


def rnn_jacobian(x_t, h_prev, W_xh, W_hh, b_h):
    # correct
    h_t = np.tanh(x_t @ W_xh + h_prev @ W_hh + b_h)
    return (1 - h_t ** 2)[:, :, None] * W_hh.T[None]


def euler_rnn_forward(x, h0, A, U, dt):
    # MISTAKE: dt missing on the input term
    B, T, _ = x.shape
    h = np.zeros((B, A.shape[0]), dtype=x.dtype) if h0 is None else h0
    out = []
    for s in range(T):
        h = h + dt * (h @ A) + x[:, s] @ U
        out.append(h)
    return np.stack(out, axis=1)


def euler_max_stable_dt(A):
    # MISTAKE: the bound from the real part only, 2 / |Re lam| (right for real eigenvalues only)
    lam = np.linalg.eigvals(A)
    lam = lam[np.abs(lam) > 1e-12]
    if lam.size == 0:
        return float("inf")
    if np.any(lam.real > -1e-12):
        return 0.0
    return float(np.min(-2 / lam.real))


def lyapunov_spectrum(x, h0, W_xh, W_hh, b_h, k):
    # MISTAKE: divided by T - 1 instead of T
    H = W_hh.shape[0]
    if not 1 <= k <= H:
        raise ValueError("bad k")
    T = x.shape[0]
    h, Q, total = h0[None], np.eye(H, dtype=W_hh.dtype)[:, :k], np.zeros(k, dtype=W_hh.dtype)
    for s in range(T):
        J = rnn_jacobian(x[s][None], h, W_xh, W_hh, b_h)[0]
        Q, R = np.linalg.qr(J @ Q)
        total = total + np.log(np.abs(np.diag(R)))
        h = np.tanh(x[s][None] @ W_xh + h @ W_hh + b_h)
    return np.sort(total / max(T - 1, 1))[::-1].copy()


def leaky_rnn_forward(x, h0, W_xh, W_hh, b_h, alpha):
    # MISTAKE: the leak on the wrong term (alpha multiplies the previous state)
    if not 0 < alpha <= 1:
        raise ValueError("alpha")
    B, T, _ = x.shape
    h = np.zeros((B, W_hh.shape[0]), dtype=x.dtype) if h0 is None else h0
    out = []
    for s in range(T):
        h = alpha * h + (1 - alpha) * np.tanh(x[:, s] @ W_xh + h @ W_hh + b_h)
        out.append(h)
    out = np.stack(out, axis=1)
    return out, out[:, -1]


def iterative_forecast(context, params, horizon):
    # MISTAKE: the last context input is fed back instead of the model's own prediction
    r = params["rnn"]
    B, T, D = context.shape
    h = np.zeros((B, r["W_hh"].shape[0]), dtype=context.dtype)
    for s in range(T):
        h = np.tanh(context[:, s] @ r["W_xh"] + h @ r["W_hh"] + r["b_h"])
    ys = []
    for _ in range(horizon):
        ys.append(h @ params["W_out"] + params["b_out"])
        h = np.tanh(context[:, -1] @ r["W_xh"] + h @ r["W_hh"] + r["b_h"])
    return np.stack(ys, axis=1)


def direct_forecast(context, params, horizon):
    # correct
    B, T, D = context.shape
    r = params["rnn"]
    if params["W_dir"].shape[1] != horizon * D:
        raise ValueError("W_dir does not fit the horizon")
    h = np.zeros((B, r["W_hh"].shape[0]), dtype=context.dtype)
    for s in range(T):
        h = np.tanh(context[:, s] @ r["W_xh"] + h @ r["W_hh"] + r["b_h"])
    return (h @ params["W_dir"] + params["b_dir"]).reshape(B, horizon, D)


ANSWERS = {
    "written_bifurcation": "1. At w = 2. 2. The bias makes it later. 3. It stores the input.",
    "written_stability": "1. They agree. 2. Chaos starts at g = 1, the gradients explode.",
    "written_forecasting": "1. Iterative is always better. 2. Use iterative for both.",
}
