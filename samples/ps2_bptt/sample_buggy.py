"""A partly correct ps2 with mistakes learners make (each marked MISTAKE)."""


def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):
    # correct
    dz = dh_t * (1 - h_t ** 2)
    return {"dx_t": dz @ W_xh.T, "dh_prev": dz @ W_hh.T, "dW_xh": x_t.T @ dz,
            "dW_hh": h_prev.T @ dz, "db_h": dz.sum(axis=0)}


def rnn_backward(dh_all, x, h0, h_all, W_xh, W_hh, dh_last=None):
    # MISTAKE: dh_last ignored (the backward loop starts from zeros)
    B, T, H = h_all.shape
    h0 = np.zeros((B, H)) if h0 is None else h0
    out = {"dx": np.zeros_like(x), "dW_xh": np.zeros_like(W_xh), "dW_hh": np.zeros_like(W_hh), "db_h": np.zeros(H)}
    dh_next = np.zeros((B, H))
    for t in reversed(range(T)):
        g = rnn_step_backward(dh_all[:, t] + dh_next, x[:, t], h_all[:, t - 1] if t else h0, h_all[:, t], W_xh, W_hh)
        out["dx"][:, t] = g["dx_t"]
        for name in ("dW_xh", "dW_hh", "db_h"):
            out[name] = out[name] + g[name]
        dh_next = g["dh_prev"]
    out["dh0"] = dh_next
    return out


def rnn_numeric_gradient(x, h0, W_xh, W_hh, b_h, dh_all, wrt, dh_last=None, eps=1e-5):
    # MISTAKE: one-sided difference (L(p + eps) - L(p)) / eps
    p = {"x": x.copy(), "h0": np.zeros((x.shape[0], W_hh.shape[0])) if h0 is None else h0.copy(),
         "W_xh": W_xh.copy(), "W_hh": W_hh.copy(), "b_h": b_h.copy()}

    def L():
        h_all, h_last = rnn_forward(p["x"], p["h0"], p["W_xh"], p["W_hh"], p["b_h"])
        return np.sum(h_all * dh_all) + (0 if dh_last is None else np.sum(h_last * dh_last))

    base = L()
    g = np.zeros_like(p[wrt])
    for i in np.ndindex(g.shape):
        p[wrt][i] += eps
        g[i] = (L() - base) / eps
        p[wrt][i] -= eps
    return g


def temporal_softmax_loss(logits, targets, mask=None):
    # MISTAKE: loss averaged over the batch (divided by B) instead of over the selected tokens
    B, T, V = logits.shape
    m = np.ones((B, T)) if mask is None else mask.astype(float)
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    y = np.where(m > 0, targets, 0)
    picked = np.take_along_axis(p, y[..., None], axis=-1)[..., 0]
    loss = -(np.log(picked) * m).sum() / B
    d = p.copy()
    np.put_along_axis(d, y[..., None], picked[..., None] - 1, axis=-1)
    return float(loss), d * m[..., None] / B


def clip_grad_norm(grads, max_norm):
    # MISTAKE: clipping without the epsilon
    total = np.sqrt(sum((g ** 2).sum() for g in grads.values()))
    scale = min(1.0, max_norm / total) if total > 0 else 1.0
    return {k: g * scale for k, g in grads.items()}, float(total)


def truncated_bptt_grads(x, h0, W_xh, W_hh, b_h, dh_all, k):
    # MISTAKE: the carried state is not cut: the gradient flows into earlier chunks (full BPTT)
    h_all, _ = rnn_forward(x, h0, W_xh, W_hh, b_h)
    g = rnn_backward(dh_all, x, h0, h_all, W_xh, W_hh)
    return {"dW_xh": g["dW_xh"], "dW_hh": g["dW_hh"], "db_h": g["db_h"]}


def hidden_jacobian_norms(x, h0, W_xh, W_hh, b_h):
    # correct
    T, H = x.shape[0], W_hh.shape[0]
    hs = [h0]
    for t in range(T):
        hs.append(np.tanh(x[t] @ W_xh + hs[-1] @ W_hh + b_h))
    P, out = np.eye(H, dtype=x.dtype), np.empty(T, dtype=x.dtype)
    for k in reversed(range(T)):
        P = P @ ((1 - hs[k + 1] ** 2)[:, None] * W_hh.T)
        out[k] = np.linalg.norm(P, 2)
    return out


ANSWERS = {
    "written_vanishing": "1. The weights are too big. 2. Yes, every step gets gradient so it learns everything.",
    "written_remedies": "1. Yes, clipping fixes gradient problems. 2. k = 5. 3. Leaky units remember more.",
}
