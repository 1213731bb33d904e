"""A correct ps3 written differently from the solutions: masked step-by-step loops instead of
reversing each sequence, a batched probe instead of a loop over perturbed steps."""


def reverse_padded(x, lengths):
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or len(lengths) != x.shape[0]:
        raise ValueError("lengths must hold one length per sequence")
    y = np.array(x, copy=True)
    for b in range(x.shape[0]):
        L = int(lengths[b])
        if not 1 <= L <= x.shape[1]:
            raise ValueError(f"length {L} of sequence {b} is outside 1..{x.shape[1]}")
        for t in range(L):
            y[b, t] = x[b, L - 1 - t]
    return y


def birnn_forward(x, h0, fwd, bwd, lengths=None, nonlinearity="tanh"):
    if nonlinearity == "tanh":
        phi = np.tanh
    elif nonlinearity == "relu":
        phi = lambda a: np.maximum(a, 0)
    else:
        raise ValueError("unknown nonlinearity " + repr(nonlinearity))
    B, T, _ = x.shape
    H = fwd["W_hh"].shape[0]
    lens = np.full(B, T) if lengths is None else np.asarray(lengths)
    if lens.shape != (B,) or lens.min() < 1 or lens.max() > T:
        raise ValueError("lengths must be (B,) integers in 1..T")
    if h0 is not None and np.shape(h0) != (2, B, H):
        raise ValueError("h0 must be (2, B, H)")
    out = np.zeros((B, T, 2 * H), dtype=x.dtype)
    finals = []
    for d, (p, steps, half) in enumerate([(fwd, range(T), slice(0, H)), (bwd, range(T - 1, -1, -1), slice(H, 2 * H))]):
        h = np.zeros((B, H), dtype=x.dtype) if h0 is None else h0[d]
        for t in steps:
            real = (t < lens)[:, None]                # the backward state waits at h0[1] until t = L-1
            new = phi(x[:, t] @ p["W_xh"] + h @ p["W_hh"] + p["b_h"])
            h = np.where(real, new, h)
            out[:, t, half] = np.where(real, new, 0)
        finals.append(h)
    return out, np.stack(finals)


def stacked_birnn_forward(x, h0, layers, lengths=None, nonlinearity="tanh"):
    if len(layers) < 2 or len(layers) % 2 == 1:
        raise ValueError("layers must hold a forward and a backward dict per layer")
    n_layers = len(layers) // 2
    if h0 is not None and np.shape(h0)[0] != 2 * n_layers:
        raise ValueError("h0 must be (2L, B, H)")
    seq, h_n = x, []
    for k in range(0, len(layers), 2):
        seq, last = birnn_forward(seq, None if h0 is None else h0[k:k + 2], layers[k], layers[k + 1],
                                  lengths, nonlinearity)
        h_n.extend([last[0], last[1]])
    return seq, np.array(h_n)


def influence_map(x, fwd, bwd, delta):
    B, T, D = x.shape
    # copy 0 is x itself, copy s+1 has delta added at step s: one batch of (T+1)*B sequences
    copies = np.repeat(x[None], T + 1, axis=0)
    copies[1 + np.arange(T), :, np.arange(T), :] += delta
    flat = copies.reshape((T + 1) * B, T, D)
    if bwd is None:
        y, _ = rnn_forward(flat, None, fwd["W_xh"], fwd["W_hh"], fwd["b_h"])
    else:
        y, _ = birnn_forward(flat, None, fwd, bwd)
    y = y.reshape(T + 1, B, T, -1)
    change = np.sqrt(np.sum((y[1:] - y[0]) ** 2, axis=-1))      # (s, B, t)
    return np.ascontiguousarray(change.transpose(1, 2, 0))


ANSWERS = {
    "written_causality": (
        "1. Everything above the diagonal (s > t) is exactly zero for the causal RNN: h_t is computed "
        "from x_0..x_t only, so changing a later input does not touch the computation at all and both "
        "runs give bit-identical numbers. In the BiRNN the backward direction carries every input to every "
        "step, but each step multiplies the perturbation by W_hh and a tanh slope, so it fades with |t - s|.\n\n"
        "2. No, the backward direction needs the end of the utterance before it can start. Use a causal RNN "
        "or a short look-ahead (a delay of M words or a BiRNN over chunks). Waiting for one more word costs "
        "250 ms, within 300 ms; two words would be 500 ms. So at most one word of look-ahead.\n\n"
        "3. The model learns to tag from the past alone when the future is hidden, so it still works when "
        "the future is not available, and uses the future when it is there."
    ),
    "written_tagging": (
        "The causal tagger has to decide on a noun before the cue, so it guesses: about 0.5, while the "
        "fillers are easy, so all words is high. With M = 1 it sees the next word, which is the cue a third "
        "of the time: 1/3 + 2/3 * 1/2 = 0.67. The BiRNN's backward direction has read the whole sentence, so "
        "no window is needed; it costs twice the parameters and causality. M = 3 would work here only because "
        "we know the cue distance, and it delays every tag by three steps."
    ),
}
