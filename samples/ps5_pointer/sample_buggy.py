"""A partly correct ps5 with mistakes learners make (each marked MISTAKE)."""


def pointer_scores(enc, dec_h, W_enc, W_dec, v):
    # correct
    return np.tanh(enc @ W_enc + (dec_h @ W_dec)[:, None, :]) @ v


def pointer_log_probs(scores, chosen):
    # MISTAKE: log of a (stable) softmax: probabilities below 1e-308 underflow to 0 and their log to -inf
    masked = np.where(chosen, -np.inf, scores)
    e = np.exp(masked - masked.max(axis=1, keepdims=True))
    with np.errstate(divide="ignore"):
        return np.log(e / e.sum(axis=1, keepdims=True))


def pointer_decoder_step(inp, s_prev, enc_out, chosen, params):
    # correct
    s = gru_cell_forward(inp, s_prev, **params["dec"])
    return s, pointer_log_probs(pointer_scores(enc_out, s, params["W_enc"], params["W_dec"], params["v"]), chosen)


def pointer_log_likelihood(x, perm, params):
    # MISTAKE: the first step's log-probability is left out of the sum
    B, N, D = x.shape
    rows = np.arange(B)
    enc_out, s = rnn_forward(x, None, **params["enc"])
    inp, chosen = np.tile(params["start"], (B, 1)), np.zeros((B, N), dtype=bool)
    total = np.zeros(B, dtype=x.dtype)
    for i in range(N):
        s, lp = pointer_decoder_step(inp, s, enc_out, chosen, params)
        if i > 0:
            total = total + lp[rows, perm[:, i]]
        chosen = chosen.copy()
        chosen[rows, perm[:, i]] = True
        inp = x[rows, perm[:, i]]
    return total


def pointer_greedy_decode(x, params):
    # MISTAKE: ties broken to the highest index (the last of equal maxima)
    B, N, D = x.shape
    rows = np.arange(B)
    enc_out, s = rnn_forward(x, None, **params["enc"])
    inp, chosen = np.tile(params["start"], (B, 1)), np.zeros((B, N), dtype=bool)
    perm, total = np.zeros((B, N), dtype=np.int64), np.zeros(B, dtype=x.dtype)
    for i in range(N):
        s, lp = pointer_decoder_step(inp, s, enc_out, chosen, params)
        idx = N - 1 - np.argmax(lp[:, ::-1], axis=1)
        perm[:, i], total = idx, total + lp[rows, idx]
        chosen = chosen.copy()
        chosen[rows, idx] = True
        inp = x[rows, idx]
    return perm, total


def pointer_beam_search(x, params, beam_width):
    # MISTAKE: hypotheses ranked by their summed probabilities instead of summed log-probabilities
    if beam_width < 1:
        raise ValueError("beam_width must be at least 1")
    B, N, D = x.shape
    K = min(beam_width, math.factorial(N))
    enc_all, h_all = rnn_forward(x, None, **params["enc"])
    perms, scores = np.zeros((B, K, N), dtype=np.int64), np.zeros((B, K), dtype=x.dtype)
    for b in range(B):
        s, inp = h_all[b:b + 1], params["start"][None]
        chosen, score, seqs = np.zeros((1, N), dtype=bool), np.zeros(1, dtype=x.dtype), np.zeros((1, 0), dtype=np.int64)
        for i in range(N):
            k = len(score)
            s, lp = pointer_decoder_step(inp, s, np.repeat(enc_all[b:b + 1], k, axis=0), chosen, params)
            cand = np.where(chosen, -np.inf, score[:, None] + np.exp(lp)).ravel()
            best = np.argsort(-cand, kind="stable")[:min(beam_width, k * (N - i))]
            parent, pos = best // N, best % N
            score, s = cand[best], s[parent]
            seqs = np.concatenate([seqs[parent], pos[:, None]], axis=1)
            chosen = chosen[parent]
            chosen[np.arange(len(pos)), pos] = True
            inp = x[b, pos]
        perms[b], scores[b] = seqs, score
    return perms, scores


ANSWERS = {
    "written_vocabulary": "The fixed decoder only knows 10 positions. The pointer network points at inputs.",
    "written_decoding": "Log-probabilities are more stable. Greedy is fine for sorting. 0.99^10 is about 0.9.",
}
