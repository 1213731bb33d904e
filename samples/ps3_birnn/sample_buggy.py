"""A partly correct ps3 with mistakes learners make (see the comments)."""


def reverse_padded(x, lengths):
    # correct
    lengths = np.asarray(lengths)
    if lengths.shape != (x.shape[0],) or np.any(lengths < 1) or np.any(lengths > x.shape[1]):
        raise ValueError("bad lengths")
    y = x.copy()
    for b, L in enumerate(lengths):
        y[b, :L] = x[b, :L][::-1]
    return y


def birnn_forward(x, h0, fwd, bwd, lengths=None, nonlinearity="tanh"):
    B, T, _ = x.shape
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    if np.any(lengths < 1) or np.any(lengths > T):
        raise ValueError("bad lengths")
    h0_f, h0_b = (None, None) if h0 is None else (h0[0], h0[1])
    out_f, _ = rnn_forward(x, h0_f, fwd["W_xh"], fwd["W_hh"], fwd["b_h"], nonlinearity)
    # MISTAKE: the whole padded time axis is flipped, so the backward direction of a short
    # sequence starts at T-1 and reads the padding first
    out_b = rnn_forward(x[:, ::-1], h0_b, bwd["W_xh"], bwd["W_hh"], bwd["b_h"], nonlinearity)[0][:, ::-1]
    real = (np.arange(T)[None, :] < lengths[:, None])[:, :, None]
    out = np.where(real, np.concatenate([out_f, out_b], axis=2), 0)
    h_n = np.stack([out_f[np.arange(B), lengths - 1], out_b[:, 0]])
    return out, h_n


def stacked_birnn_forward(x, h0, layers, lengths=None, nonlinearity="tanh"):
    L = len(layers) // 2
    inp, fwd_finals, bwd_finals = x, [], []
    for l in range(L):
        start = None if h0 is None else h0[2 * l:2 * l + 2]
        inp, h_n = birnn_forward(inp, start, layers[2 * l], layers[2 * l + 1], lengths, nonlinearity)
        fwd_finals.append(h_n[0])
        bwd_finals.append(h_n[1])
    # MISTAKE: h_n ordered direction first ([l0 fwd, l1 fwd, ..., l0 bwd, l1 bwd, ...])
    return inp, np.stack(fwd_finals + bwd_finals)


def influence_map(x, fwd, bwd, delta):
    def outputs(z):
        if bwd is None:
            return rnn_forward(z, None, fwd["W_xh"], fwd["W_hh"], fwd["b_h"])[0]
        return birnn_forward(z, None, fwd, bwd)[0]

    B, T, _ = x.shape
    base = outputs(x)
    M = np.zeros((B, T, T), dtype=x.dtype)
    for s in range(T):
        probe = x.copy()
        probe[:, s] += delta
        # MISTAKE: indexed [b, s, t] instead of [b, t, s]
        M[:, s, :] = np.linalg.norm(outputs(probe) - base, axis=2)
    return M


ANSWERS = {
    "written_causality": "The causal RNN cannot see the future. A BiRNN is slower. Masking helps.",
    "written_tagging": "The BiRNN is best because it has more parameters.",
}
