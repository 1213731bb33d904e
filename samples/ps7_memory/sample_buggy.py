"""A partly correct ps7 with mistakes learners make (each marked MISTAKE)."""


def lstm_cell_backward(dh_t, dc_t, x_t, h_prev, c_prev, W_x, W_h, b):
    # MISTAKE: dc_t=None not handled (dh * ... + None raises TypeError); right whenever dc_t is given
    a_i, a_f, a_g, a_o = np.split(x_t @ W_x + h_prev @ W_h + b, 4, axis=1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c_t = f * c_prev + i * g
    dc = dh_t * o * (1 - np.tanh(c_t) ** 2) + dc_t
    da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                         dh_t * np.tanh(c_t) * o * (1 - o)], axis=1)
    return {"dx_t": da @ W_x.T, "dh_prev": da @ W_h.T, "dc_prev": dc * f,
            "dW_x": x_t.T @ da, "dW_h": h_prev.T @ da, "db": da.sum(axis=0)}


def lstm_backward(dh_all, x, h0, c0, W_x, W_h, b):
    # MISTAKE: h0 and c0 ignored in the forward pass (the states are recomputed from zeros)
    B, T, _ = x.shape
    H = W_h.shape[0]
    if dh_all.shape != (B, T, H):
        raise ValueError("dh_all must be (B, T, H)")
    zeros = np.zeros((B, H), dtype=x.dtype)
    h_all, c_all = lstm_forward(x, zeros, zeros, W_x, W_h, b)
    out = {"dx": np.zeros_like(x), "dW_x": np.zeros_like(W_x), "dW_h": np.zeros_like(W_h), "db": np.zeros_like(b)}
    dh, dc = zeros, zeros
    for t in reversed(range(T)):
        hp, cp = (h_all[:, t - 1], c_all[:, t - 1]) if t else (zeros, zeros)
        g = lstm_cell_backward(dh_all[:, t] + dh, dc, x[:, t], hp, cp, W_x, W_h, b)
        out["dx"][:, t] = g["dx_t"]
        for k in ("dW_x", "dW_h", "db"):
            out[k] = out[k] + g[k]
        dh, dc = g["dh_prev"], g["dc_prev"]
    out["dh0"], out["dc0"] = dh, dc
    return out


def gru_cell_backward(dh_t, x_t, h_prev, W_x, W_h, b_x, b_h):
    # MISTAKE: reset gate applied before the matrix product (Cho et al.'s GRU, not torch's)
    H = h_prev.shape[1]
    ax, ah = x_t @ W_x + b_x, h_prev @ W_h + b_h
    r = sigmoid(ax[:, :H] + ah[:, :H])
    z = sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
    Wn = W_h[:, 2 * H:]
    n = np.tanh(ax[:, 2 * H:] + (r * h_prev) @ Wn + b_h[2 * H:])
    dn = dh_t * (1 - z) * (1 - n ** 2)
    dz = dh_t * (h_prev - n) * z * (1 - z)
    back = dn @ Wn.T
    dr = back * h_prev * r * (1 - r)
    dax = np.concatenate([dr, dz, dn], axis=1)
    dW_h = np.concatenate([h_prev.T @ dr, h_prev.T @ dz, (r * h_prev).T @ dn], axis=1)
    dh_prev = dh_t * z + dr @ W_h[:, :H].T + dz @ W_h[:, H:2 * H].T + r * back
    return {"dx_t": dax @ W_x.T, "dh_prev": dh_prev, "dW_x": x_t.T @ dax, "dW_h": dW_h,
            "db_x": dax.sum(axis=0), "db_h": dax.sum(axis=0)}


def stack_rnn_step(x_t, h_prev, s_prev, params):
    # MISTAKE: softmax without subtracting the largest logit (inf / inf = NaN on large logits)
    p = params
    h = np.tanh(x_t @ p["W_xh"] + h_prev @ p["W_hh"] + s_prev[:, 0] @ p["W_sh"] + p["b_h"])
    e = np.exp(h @ p["W_a"] + p["b_a"])
    a = e / e.sum(axis=1, keepdims=True)
    v = sigmoid(h @ p["W_v"] + p["b_v"])
    pushed = np.concatenate([v[:, None], s_prev[:, :-1]], axis=1)
    popped = np.concatenate([s_prev[:, 1:], np.zeros_like(s_prev[:, :1])], axis=1)
    s = a[:, 0, None, None] * pushed + a[:, 1, None, None] * popped + a[:, 2, None, None] * s_prev
    return h, s, a


def stack_rnn_forward(x, params, K):
    # correct
    B, T, _ = x.shape
    h = np.zeros((B, params["W_hh"].shape[0]), dtype=x.dtype)
    s = np.zeros((B, K, params["W_sh"].shape[0]), dtype=x.dtype)
    hs, ss, acts = [], [], []
    for t in range(T):
        h, s, a = stack_rnn_step(x[:, t], h, s, params)
        hs.append(h), ss.append(s), acts.append(a)
    return np.stack(hs, 1), np.stack(ss, 1), np.stack(acts, 1)


ANSWERS = {"written_automata": "An RNN is a finite automaton, so it cannot count arbitrarily deep."}
