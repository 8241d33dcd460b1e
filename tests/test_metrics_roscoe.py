"""Offline ROSCOE-SA: the vectorised scores equal a literal reading of ROSCOE-SA.md's formulas."""

import math

import pytest

from llamav.metrics import ATTRIBUTES, roscoe_sa, split_steps, strip_step_label
from metrics_support import embedder

QUESTION = ["How many red circles are in the image?", "Answer with a number."]
REFERENCE = [
    "The image shows 9 shapes: circles, squares and triangles.",
    "The red shapes are 2 squares and 3 circles.",
    "So there are 3 red circles.",
]
CHAINS = [
    # A faithful paraphrase.
    (["There are nine shapes in the picture.", "Among the red ones, 3 are circles and 2 are squares.",
      "The answer is 3."], QUESTION + REFERENCE, REFERENCE),
    # A chain with an irrelevant step and a wrong number.
    (["The picture has a blue sky.", "The red shapes are 2 squares and 5 circles.", "So 5."], QUESTION + REFERENCE, REFERENCE),
    # One step, repeated content.
    (["So there are 3 red circles."], QUESTION + REFERENCE, REFERENCE),
    # Repetition.
    (["Count the red circles.", "Count the red circles again.", "Count the red circles.", "3"], QUESTION + REFERENCE, REFERENCE),
]


# -- a literal reading of the formulas, pair by pair, with no matrix code --------------------------


def cos01(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return (1 + dot / norm) / 2


def align(x, ys):
    return max(cos01(x, y) for y in ys)


def A(ys, xs):  # noqa: N802  (A(Y <- X), as the spec writes it)
    return [align(x, ys) for x in xs]


def mean(values):
    return sum(values) / len(values) if values else 0.0


def literal_scores(hyp, src, ref, emb):
    e = lambda texts: [list(map(float, emb.sentences([t])[0])) for t in texts]  # noqa: E731
    tok = lambda text: [list(map(float, v)) for v in emb.tokens(text)]  # noqa: E731
    h, s, r = e(hyp), e(src), e(ref)
    th = [v for t in hyp for v in tok(t)]
    ts = [v for t in src for v in tok(t)]
    overlaps = [mean(A(tok(hyp[k]), tok(hyp[t]))) for t in range(1, len(hyp)) for k in range(t)]
    return {
        "faithfulness_step": mean(A(s, h)),
        "faithfulness_token": mean(A(s, h) + A(ts, th)),
        "informativeness_step": (mean(A(s, h)) + mean(A(h, s))) / 2,
        "repetition_token": 1 - max(overlaps) if len(hyp) >= 2 else 1.0,
        "reasoning_alignment": mean(A(r, h)),
        "hallucination": 1 - max((1 - align(hj, r)) * (1 - align(hj, s)) for hj in h),
        "redundancy": min(A(r, h)),
        "commonsense": 1 - max((1 - align(ri, h)) * (1 - align(ri, s)) for ri in r),
        "missing_step": min(A(h, r)),
        "semantic_coverage_step": 1 - abs(mean(A(s, r)) - mean(A(s, h))),
    }


def test_vectorised_scores_equal_the_literal_formulas_to_1e_4():
    emb = embedder()
    results = roscoe_sa(CHAINS, emb)
    for (hyp, src, ref), result in zip(CHAINS, results):
        expected = literal_scores(hyp, src, ref, emb)
        for name in ATTRIBUTES:
            assert result.scores[name] == pytest.approx(expected[name], abs=1e-4), name


def test_scores_lie_in_the_unit_interval():
    for result in roscoe_sa(CHAINS, embedder()):
        assert all(0.0 <= v <= 1.0 for v in result.scores.values())


def test_reference_chain_scored_against_itself_has_perfect_alignment_scores():
    result = roscoe_sa([(REFERENCE, QUESTION + REFERENCE, REFERENCE)], embedder())[0]
    for name in ("faithfulness_step", "reasoning_alignment", "redundancy", "missing_step", "hallucination"):
        assert result.scores[name] == pytest.approx(1.0, abs=1e-6)


def test_repeated_steps_lower_repetition_token():
    once = roscoe_sa([(REFERENCE, QUESTION + REFERENCE, REFERENCE)], embedder())[0]
    twice = roscoe_sa([(REFERENCE + [REFERENCE[1]], QUESTION + REFERENCE, REFERENCE)], embedder())[0]
    assert twice.scores["repetition_token"] == pytest.approx(0.0, abs=1e-6)
    assert once.scores["repetition_token"] > 0.1


def test_single_step_chain_has_repetition_token_one():
    result = roscoe_sa([(["So there are 3 red circles."], QUESTION + REFERENCE, REFERENCE)], embedder())[0]
    assert result.scores["repetition_token"] == 1.0


def test_empty_response_chain_is_not_scorable_and_says_why():
    result = roscoe_sa([([], QUESTION + REFERENCE, REFERENCE)], embedder())[0]
    assert result.scores is None and result.overall is None
    assert result.reason == "empty response chain"


def test_overall_is_the_mean_of_the_ten():
    result = roscoe_sa(CHAINS[:1], embedder())[0]
    assert result.overall == pytest.approx(sum(result.scores.values()) / 10)


def test_each_distinct_sentence_is_embedded_once():
    from llamav.metrics import SentenceEmbedder

    fresh = SentenceEmbedder.__new__(SentenceEmbedder)
    fresh.__dict__.update(embedder().__dict__)  # same model, empty caches
    fresh._sentences, fresh._tokens = {}, {}
    roscoe_sa(CHAINS, fresh)
    distinct = {t for chain in CHAINS for part in chain for t in part}
    assert len(fresh) == len(distinct)


def test_token_vectors_exclude_special_tokens_and_padding():
    emb = embedder()
    emb.embed(["red circles", "The image shows 9 shapes: circles, squares and triangles."])
    pieces = emb.model.tokenizer.tokenize("red circles")
    assert emb.tokens("red circles").shape[0] == len(pieces)


def test_any_sentence_transformers_path_can_be_named():
    from llamav.metrics import SentenceEmbedder
    from llamav.metrics._roscoe import default_model_path

    named = SentenceEmbedder(default_model_path())
    assert named.name == "model"  # the folder's name stands for a local path
    result = roscoe_sa(CHAINS[:1], named)[0]
    expected = roscoe_sa(CHAINS[:1], embedder())[0]
    assert result.scores == pytest.approx(expected.scores, abs=1e-6)


def test_step_labels_are_split_and_stripped():
    text = "Step 1: Count the circles. Step 2: Three are red.\nStep 3: So 3."
    assert split_steps(text) == (["Step 1: Count the circles.", "Step 2: Three are red.", "Step 3: So 3."], True)
    assert strip_step_label("Step 12: So 3.") == "So 3."
    assert split_steps("First, count. Then add them.\nDone") == (["First, count.", "Then add them.", "Done"], False)


def test_unk_word_pieces_keep_their_token_vectors():
    # Geometry symbols tokenize to [UNK]; ROSCOE keeps them, only the framing tokens go.
    step = "∠ABC = 30° ∴ x = 2"
    emb = embedder()
    emb.embed([step])
    pieces = emb.model.tokenizer.tokenize(step)
    assert "[UNK]" in pieces and emb.tokens(step).shape[0] == len(pieces)


def test_a_step_is_embedded_up_to_512_word_pieces():
    step = " ".join(["circle"] * 400)  # 400 word-pieces: past sentence-transformers' 256 default
    emb = embedder()
    emb.embed([step])
    assert emb.tokens(step).shape[0] == 400


def test_the_default_source_is_the_question_alone_and_the_score_names_it():
    from llamav.metrics import ScoreConfig, build_scorers
    from llamav.records import Prediction, Sample

    sample = Sample(id="s", question=" ".join(QUESTION), image=b"", steps=REFERENCE, final_answer="3")
    prediction = Prediction(sample_id="s", model="m", protocol="p", strategy="s", steps=CHAINS[1][0])
    scores = {}
    for source in ("question", "question+reference"):
        [scores[source]] = build_scorers(["roscoe"], ScoreConfig(embedding_model=embedder(), roscoe_source=source))[0].score(
            [(sample, prediction)]
        )
    assert scores["question"].details["source"] == "question sentences"
    assert scores["question+reference"].details["source"] == "question sentences + reference steps"
    # With the reference inside s every reference step aligns to itself: Commonsense is pinned at 1.
    assert scores["question+reference"].attributes["commonsense"] == pytest.approx(1.0)
    assert scores["question"].attributes["commonsense"] < 0.99


# -- a step longer than the sentence model's input -------------------------------------------------

LONG_STEP = " ".join(
    f"In row {i} the {colour} circle sits left of the {shape}, so it is counted once and only once."
    for i, (colour, shape) in enumerate([("red", "square"), ("blue", "triangle"), ("green", "star")] * 8)
)  # about 500 word-pieces: past all-MiniLM-L6-v2's 256, within 512


class ReferenceEmbeddings:
    """Vectors as ROSCOE's reference code gets them: sentence vectors from sentence-transformers'
    `encode` at the model's configured length, token vectors from the transformer at 512."""

    def __init__(self):
        import torch
        from sentence_transformers import SentenceTransformer

        from llamav.metrics._roscoe import default_model_path

        self.model = SentenceTransformer(default_model_path(), device="cpu")
        self.torch = torch

    def sentences(self, texts):
        return self.model.encode(list(texts), normalize_embeddings=True)

    def tokens(self, text):
        tokenizer, transformer = self.model.tokenizer, self.model[0].auto_model
        ids = tokenizer(text, truncation=True, max_length=512, return_tensors="pt")
        with self.torch.inference_mode():
            out = transformer(**ids).last_hidden_state[0, 1:-1]
        return self.torch.nn.functional.normalize(out, dim=-1).numpy()


def test_a_step_longer_than_256_word_pieces_scores_as_the_reference_does():
    emb = embedder()
    assert 256 < len(emb.model.tokenizer.tokenize(LONG_STEP)) <= 510
    chain = ([LONG_STEP, "So there are 3 red circles."], QUESTION, REFERENCE)
    [result] = roscoe_sa([chain], emb)
    reference = ReferenceEmbeddings()
    expected = literal_scores(*chain, reference)
    for name in ATTRIBUTES:
        assert result.scores[name] == pytest.approx(expected[name], abs=1e-3), name
    assert emb.sentences([LONG_STEP])[0] == pytest.approx(reference.sentences([LONG_STEP])[0], abs=1e-5)
    assert emb.tokens(LONG_STEP).shape[0] == len(emb.model.tokenizer.tokenize(LONG_STEP))
