"""A correct ps5 written differently from the solutions: loops over positions and sequences where the
solution vectorises, einsum, and a plain Python list of hypotheses in beam search."""


def pointer_scores(enc, dec_h, W_enc, W_dec, v):
    B, N, H = enc.shape
    if dec_h.shape != (B, H):
        raise ValueError("dec_h must be (B, H) with the B and H of enc")
    query = np.einsum("bh,ha->ba", dec_h, W_dec)
    out = np.empty((B, N), dtype=np.result_type(enc, dec_h, W_enc, v))
    for j in range(N):
        out[:, j] = np.einsum("ba,a->b", np.tanh(enc[:, j] @ W_enc + query), v)
    return out


def pointer_log_probs(scores, chosen):
    if scores.shape != chosen.shape:
        raise ValueError("scores and chosen must have the same shape")
    out = np.full(scores.shape, -np.inf, dtype=scores.dtype)
    for b in range(scores.shape[0]):
        free = np.logical_not(chosen[b])
        z = scores[b, free]
        if z.size:
            top = z.max()
            out[b, free] = (z - top) - np.log(np.sum(np.exp(z - top)))
    return out


def pointer_decoder_step(inp, s_prev, enc_out, chosen, params):
    dec = params["dec"]
    s_new = gru_cell_forward(inp, s_prev, dec["W_x"], dec["W_h"], dec["b_x"], dec["b_h"])
    u = pointer_scores(enc_out, s_new, params["W_enc"], params["W_dec"], params["v"])
    return s_new, pointer_log_probs(u, chosen)


def pointer_log_likelihood(x, perm, params):
    B, N, D = x.shape
    perm = np.asarray(perm)
    if perm.shape != (B, N) or any(sorted(row.tolist()) != list(range(N)) for row in perm):
        raise ValueError("perm must hold one permutation of 0..N-1 per sequence")
    enc_out, h = rnn_forward(x, None, params["enc"]["W_xh"], params["enc"]["W_hh"], params["enc"]["b_h"])
    result = np.empty(B, dtype=x.dtype)
    for b in range(B):
        s, inp = h[b:b + 1], params["start"].reshape(1, D)
        chosen = np.zeros((1, N), dtype=bool)
        total = x.dtype.type(0)
        for j in perm[b]:
            s, lp = pointer_decoder_step(inp, s, enc_out[b:b + 1], chosen, params)
            total = total + lp[0, j]
            chosen = chosen.copy()
            chosen[0, j] = True
            inp = x[b:b + 1, j]
        result[b] = total
    return result


def pointer_greedy_decode(x, params):
    B, N, D = x.shape
    enc_out, h = rnn_forward(x, None, params["enc"]["W_xh"], params["enc"]["W_hh"], params["enc"]["b_h"])
    perm = np.empty((B, N), dtype=np.int64)
    ll = np.empty(B, dtype=x.dtype)
    for b in range(B):
        s, inp = h[b:b + 1], params["start"].reshape(1, D)
        chosen = np.zeros((1, N), dtype=bool)
        total = x.dtype.type(0)
        for i in range(N):
            s, lp = pointer_decoder_step(inp, s, enc_out[b:b + 1], chosen, params)
            best = -1
            for j in range(N):                       # strict '>' keeps the lowest of equal maxima
                if not chosen[0, j] and (best < 0 or lp[0, j] > lp[0, best]):
                    best = j
            perm[b, i] = best
            total = total + lp[0, best]
            chosen = chosen.copy()
            chosen[0, best] = True
            inp = x[b:b + 1, best]
        ll[b] = total
    return perm, ll


def pointer_beam_search(x, params, beam_width):
    if int(beam_width) < 1:
        raise ValueError("beam_width must be a positive integer")
    B, N, D = x.shape
    enc_out, h = rnn_forward(x, None, params["enc"]["W_xh"], params["enc"]["W_hh"], params["enc"]["b_h"])
    all_perms, all_scores = [], []
    for b in range(B):
        # a hypothesis: (log-probability, positions so far, decoder state, next input)
        beams = [(x.dtype.type(0), [], h[b:b + 1], params["start"].reshape(1, D))]
        for _ in range(N):
            pool = []
            for score, seq, s, inp in beams:
                chosen = np.zeros((1, N), dtype=bool)
                chosen[0, seq] = True
                s_new, lp = pointer_decoder_step(inp, s, enc_out[b:b + 1], chosen, params)
                for j in range(N):
                    if j not in seq:
                        pool.append((score + lp[0, j], seq + [j], s_new, x[b:b + 1, j]))
            pool.sort(key=lambda hyp: -hyp[0])       # stable: earlier hypothesis, lower position first
            beams = pool[:beam_width]
        all_perms.append([seq for _, seq, _, _ in beams])
        all_scores.append([score for score, _, _, _ in beams])
    return np.array(all_perms, dtype=np.int64).reshape(B, -1, N), np.array(all_scores, dtype=x.dtype)


ANSWERS = {
    "written_vocabulary": (
        "1. The fixed decoder's output layer has one unit per slot seen in training (10), so there is no "
        "unit, hence no probability, for position 10 or later; it would need a bigger layer retrained on "
        "longer lists. The pointer network computes N scores for N inputs and none of its weights has a "
        "size that depends on N.\n\n"
        "2. Slot j of the fixed decoder must learn which position holds the next value from the summary "
        "[s, c] alone; the pointer scores each position from its own encoder state, so pointing at the "
        "right content is built in and shared by all positions."
    ),
    "written_decoding": (
        "1. A sequence's probability is a product, so its log is a sum of log-probabilities. Steps 0.9, 0.1 "
        "(product 0.09, sum 1.0) against 0.6, 0.35 (product 0.21, sum 0.95): summing probabilities picks "
        "the worse one.\n\n"
        "2. The trained sorter puts nearly all probability on one position per step, so greedy is already "
        "optimal; the random network is uncertain, so short-sighted choices go wrong.\n\n"
        "3. 0.99^10 = 0.90 and 0.99^30 = 0.74. Longer lists crowd the numbers closer together and drive the "
        "encoder into states it never saw in training."
    ),
}
