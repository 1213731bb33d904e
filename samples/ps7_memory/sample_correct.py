"""A correct ps7 written differently from the solution: explicit per-gate weight slices, loops over
the batch and over stack rows, and a sequence backward that keeps its own list of states."""


def lstm_cell_backward(dh_t, dc_t, x_t, h_prev, c_prev, W_x, W_h, b):
    _sig = lambda z: 0.5 * (1 + np.tanh(0.5 * z))          # the logistic function, written through tanh
    H = h_prev.shape[1]
    blk = lambda k: slice(k * H, (k + 1) * H)
    pre = [x_t @ W_x[:, blk(k)] + h_prev @ W_h[:, blk(k)] + b[blk(k)] for k in range(4)]
    i, f, g, o = _sig(pre[0]), _sig(pre[1]), np.tanh(pre[2]), _sig(pre[3])
    c = f * c_prev + i * g
    dc = (np.zeros_like(c) if dc_t is None else dc_t) + dh_t * o * (1 - np.tanh(c) ** 2)
    parts = [dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g), dh_t * np.tanh(c) * o * (1 - o)]
    dW_x, dW_h, db = np.zeros_like(W_x), np.zeros_like(W_h), np.zeros_like(b)
    dx, dhp = np.zeros_like(x_t), np.zeros_like(h_prev)
    for k, d in enumerate(parts):
        dW_x[:, blk(k)] = x_t.T @ d
        dW_h[:, blk(k)] = h_prev.T @ d
        db[blk(k)] = d.sum(axis=0)
        dx += d @ W_x[:, blk(k)].T
        dhp += d @ W_h[:, blk(k)].T
    return {"dx_t": dx, "dh_prev": dhp, "dc_prev": f * dc, "dW_x": dW_x, "dW_h": dW_h, "db": db}


def lstm_backward(dh_all, x, h0, c0, W_x, W_h, b):
    B, T, D = x.shape
    H = W_h.shape[0]
    if dh_all.ndim != 3 or dh_all.shape != (B, T, H):
        raise ValueError("dh_all must have shape (B, T, H)")
    hs = [np.zeros((B, H), x.dtype) if h0 is None else h0]
    cs = [np.zeros((B, H), x.dtype) if c0 is None else c0]
    for t in range(T):
        h, c = lstm_cell_forward(x[:, t], hs[-1], cs[-1], W_x, W_h, b)
        hs.append(h)
        cs.append(c)
    out = {"dx": np.zeros_like(x), "dW_x": 0 * W_x, "dW_h": 0 * W_h, "db": 0 * b}
    dh, dc = 0 * hs[0], None
    for t in range(T - 1, -1, -1):
        g = lstm_cell_backward(dh + dh_all[:, t], dc, x[:, t], hs[t], cs[t], W_x, W_h, b)
        out["dx"][:, t] = g["dx_t"]
        out["dW_x"] = out["dW_x"] + g["dW_x"]
        out["dW_h"] = out["dW_h"] + g["dW_h"]
        out["db"] = out["db"] + g["db"]
        dh, dc = g["dh_prev"], g["dc_prev"]
    out["dh0"], out["dc0"] = dh, dc
    return out


def gru_cell_backward(dh_t, x_t, h_prev, W_x, W_h, b_x, b_h):
    _sig = lambda z: 0.5 * (1 + np.tanh(0.5 * z))
    H = h_prev.shape[1]
    Wxr, Wxz, Wxn = W_x[:, :H], W_x[:, H:2 * H], W_x[:, 2 * H:]
    Whr, Whz, Whn = W_h[:, :H], W_h[:, H:2 * H], W_h[:, 2 * H:]
    r = _sig(x_t @ Wxr + b_x[:H] + h_prev @ Whr + b_h[:H])
    z = _sig(x_t @ Wxz + b_x[H:2 * H] + h_prev @ Whz + b_h[H:2 * H])
    q = h_prev @ Whn + b_h[2 * H:]
    n = np.tanh(x_t @ Wxn + b_x[2 * H:] + r * q)
    g_n = dh_t * (1 - z) * (1 - n * n)
    g_q = g_n * r
    g_r = g_n * q * r * (1 - r)
    g_z = dh_t * (h_prev - n) * z * (1 - z)
    dx = g_r @ Wxr.T + g_z @ Wxz.T + g_n @ Wxn.T
    dh = z * dh_t + g_r @ Whr.T + g_z @ Whz.T + g_q @ Whn.T
    return {"dx_t": dx, "dh_prev": dh,
            "dW_x": np.hstack([x_t.T @ g_r, x_t.T @ g_z, x_t.T @ g_n]),
            "dW_h": np.hstack([h_prev.T @ g_r, h_prev.T @ g_z, h_prev.T @ g_q]),
            "db_x": np.concatenate([g_r.sum(0), g_z.sum(0), g_n.sum(0)]),
            "db_h": np.concatenate([g_r.sum(0), g_z.sum(0), g_q.sum(0)])}


def stack_rnn_step(x_t, h_prev, s_prev, params):
    B, K, M = s_prev.shape
    h = np.tanh(x_t @ params["W_xh"] + h_prev @ params["W_hh"] + s_prev[:, 0, :] @ params["W_sh"] + params["b_h"])
    z = h @ params["W_a"] + params["b_a"]
    z = z - z.max(axis=-1, keepdims=True)
    a = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    v = 0.5 * (1 + np.tanh(0.5 * (h @ params["W_v"] + params["b_v"])))
    s = np.empty_like(s_prev)
    for row in range(K):
        above = v if row == 0 else s_prev[:, row - 1]
        below = s_prev[:, row + 1] if row + 1 < K else np.zeros_like(v)
        s[:, row] = a[:, 0:1] * above + a[:, 1:2] * below + a[:, 2:3] * s_prev[:, row]
    return h, s, a


def stack_rnn_forward(x, params, K):
    B, T, D = x.shape
    H, M = params["W_hh"].shape[0], params["W_sh"].shape[0]
    h_all = np.zeros((B, T, H), x.dtype)
    s_all = np.zeros((B, T, K, M), x.dtype)
    a_all = np.zeros((B, T, 3), x.dtype)
    h, s = np.zeros((B, H), x.dtype), np.zeros((B, K, M), x.dtype)
    for t in range(T):
        h, s, a = stack_rnn_step(x[:, t], h, s, params)
        h_all[:, t], s_all[:, t], a_all[:, t] = h, s, a
    return h_all, s_all, a_all


ANSWERS = {
    "written_highway": (
        "1. At distance 10 the tanh RNN's gradient was already much smaller than the LSTMs', and at 60 it had "
        "vanished by many orders of magnitude; the LSTM with forget bias 3 lost only a few percent per step. The "
        "factor is dc_prev = dc * f: the forget gate, no weight matrix, no tanh slope.\n"
        "2. Both learned at T = 30; at T = 60 only the LSTM did, the tanh RNN stayed at chance because no "
        "gradient from the last step reaches step 0."),
    "written_automata": (
        "1. Finitely many float values per unit, so finitely many states: a finite automaton. n open brackets of "
        "two kinds need 2^n states, so some depth is too deep. A pushdown automaton has an unbounded stack.\n"
        "2. All near 1 up to depth 5, then the RNN and LSTM fall; the soft stack falls more slowly."),
    "written_inductive_bias": (
        "The stack RNN has far fewer parameters but a memory that grows with the stack. More units only move "
        "the depth where a fixed-size model bends. Soft actions and training difficulty are the limit."),
}
