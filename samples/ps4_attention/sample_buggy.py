"""A partly correct ps4 with mistakes learners really make (each marked MISTAKE)."""


def masked_softmax(scores, mask=None):
    # MISTAKE: no maximum subtracted; exp overflows for large scores and a fully masked row is 0/0
    e = np.exp(scores)
    if mask is not None:
        e = e * mask
    return e / e.sum(axis=-1, keepdims=True)


def dot_scores(query, keys):
    # correct
    return np.einsum("bsd,bd->bs", keys, query)


def general_scores(query, keys, W):
    # correct
    return np.einsum("bsk,bk->bs", keys, query @ W)


def additive_scores(query, keys, W_q, W_k, v):
    # MISTAKE: the query projection has no position axis (works only when B == 1)
    return np.tanh(query @ W_q + keys @ W_k) @ v


def attend(scores, values, mask=None):
    # correct (but relies on the masked_softmax above)
    w = masked_softmax(scores, mask)
    return np.einsum("bs,bsd->bd", w, values), w


def attention_entropy(weights):
    # MISTAKE: 0 * log 0 gives NaN for positions with weight 0
    return -(weights * np.log(weights)).sum(axis=-1)


def scaled_dot_product_attention(Q, K, V, mask=None, causal=False):
    # MISTAKE: no 1/sqrt(d) scaling
    scores = Q @ K.transpose(0, 2, 1)
    allowed = np.ones(scores.shape, dtype=bool)
    if mask is not None:
        allowed = allowed & (mask[:, None, :] if mask.ndim == 2 else mask)
    if causal:
        allowed = allowed & np.tril(np.ones(scores.shape[1:], dtype=bool))
    scores = np.where(allowed, scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    return w @ V, w


def bahdanau_decoder_step(y_prev, s_prev, enc_out, enc_mask, params):
    # correct, written out without the helpers above
    P = params
    e = np.tanh((s_prev @ P["W_s"])[:, None, :] + enc_out @ P["W_e"]) @ P["v"]
    if enc_mask is not None:
        e = np.where(enc_mask, e, -np.inf)
    m = e.max(axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    a = np.exp(e - m)
    tot = a.sum(axis=1, keepdims=True)
    a = a / np.where(tot > 0, tot, 1)
    c = np.einsum("bs,bsk->bk", a, enc_out)
    s = gru_cell_forward(np.concatenate([y_prev, c], axis=1), s_prev, **P["gru"])
    return s, c, np.concatenate([s, c], axis=1) @ P["W_out"] + P["b_out"], a


def greedy_decode(enc_out, enc_mask, s0, embedding, params, start_token, max_len):
    # MISTAKE: the decoder state is not carried from step to step
    B, S, _ = enc_out.shape
    s_init = np.zeros((B, params["W_s"].shape[0]), dtype=enc_out.dtype) if s0 is None else s0
    y = np.full(B, start_token)
    tokens, weights = [], []
    for t in range(max_len):
        _, _, logits, w = bahdanau_decoder_step(embedding[y], s_init, enc_out, enc_mask, params)
        y = logits.argmax(axis=1)
        tokens.append(y)
        weights.append(w)
    return np.stack(tokens, axis=1), np.stack(weights, axis=1)


ANSWERS = {
    "written_scaling": "Bigger d gives bigger scores, so scaling keeps them small.",
    "written_bottleneck": "Attention is better for long strings. The picture is diagonal.",
}
