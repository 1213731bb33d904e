"""A partly correct ps1 with the mistakes learners make most (see the comments)."""


def rnn_step_forward(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity="tanh"):
    # correct
    z = x_t @ W_xh + h_prev @ W_hh + b_h
    if nonlinearity == "tanh":
        return np.tanh(z)
    if nonlinearity == "relu":
        return np.maximum(z, 0)
    raise ValueError(nonlinearity)


def rnn_forward(x, h0, W_xh, W_hh, b_h, nonlinearity="tanh"):
    # MISTAKE: h0 ignored, always starts from zeros
    h = np.zeros((x.shape[0], W_hh.shape[0]), dtype=x.dtype)
    outs = []
    for t in range(x.shape[1]):
        h = rnn_step_forward(x[:, t], h, W_xh, W_hh, b_h, nonlinearity)
        outs.append(h)
    return np.stack(outs, axis=1), h


def convert_rnn_state_dict(state_dict, num_layers, bidirectional):
    # MISTAKE: only bias_ih is used
    layers = []
    for l in range(num_layers):
        for sfx in (["", "_reverse"] if bidirectional else [""]):
            layers.append({"W_xh": state_dict[f"weight_ih_l{l}{sfx}"].T.copy(),
                           "W_hh": state_dict[f"weight_hh_l{l}{sfx}"].T.copy(),
                           "b_h": state_dict[f"bias_ih_l{l}{sfx}"].copy()})
    return layers


def stacked_rnn_forward(x, h0, layers, nonlinearity="tanh"):
    # correct (but relies on the buggy rnn_forward above, so it fails when h0 is given)
    inp, lasts = x, []
    for l, p in enumerate(layers):
        inp, last = rnn_forward(inp, None if h0 is None else h0[l], p["W_xh"], p["W_hh"], p["b_h"], nonlinearity)
        lasts.append(last)
    return inp, np.stack(lasts)


def lstm_cell_forward(x_t, h_prev, c_prev, W_x, W_h, b):
    # MISTAKE: gate blocks read in the order i, f, o, g
    a = x_t @ W_x + h_prev @ W_h + b
    i, f, o, g = np.split(a, 4, axis=1)
    sig = lambda v: 1 / (1 + np.exp(-v))
    c = sig(f) * c_prev + sig(i) * np.tanh(g)
    return sig(o) * np.tanh(c), c


def gru_cell_forward(x_t, h_prev, W_x, W_h, b_x, b_h):
    # MISTAKE: Cho et al.'s reset-before-matmul variant
    H = h_prev.shape[1]
    sig = lambda v: 1 / (1 + np.exp(-v))
    xr, xz, xn = np.split(x_t @ W_x + b_x, 3, axis=1)
    r = sig(xr + h_prev @ W_h[:, :H] + b_h[:H])
    z = sig(xz + h_prev @ W_h[:, H:2 * H] + b_h[H:2 * H])
    n = np.tanh(xn + (r * h_prev) @ W_h[:, 2 * H:] + b_h[2 * H:])
    return (1 - z) * n + z * h_prev


def many_to_one_classify(x, h0, W_xh, W_hh, b_h, W_hy, b_y):
    # MISTAKE: softmax over the batch axis
    _, h = rnn_forward(x, h0, W_xh, W_hh, b_h)
    logits = h @ W_hy + b_y
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def linear_rnn_closed_form(x, h0, W, U):
    # correct
    T = x.shape[1]
    h = h0 @ np.linalg.matrix_power(W, T)
    for t in range(T):
        h = h + x[:, t] @ U @ np.linalg.matrix_power(W, T - 1 - t)
    return h


def spectral_radius(W):
    # MISTAKE: the largest singular value
    return float(np.linalg.norm(W, 2))


def linear_fixed_point(x, W, U, b):
    # correct
    return np.linalg.solve((np.eye(W.shape[0], dtype=W.dtype) - W).T, (x @ U + b).T).T


ANSWERS = {"written_dynamics": "Small eigenvalues make the state small. tanh is bounded."}
