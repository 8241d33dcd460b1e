"""Every digest changes exactly when what it names changes: computed here from their definitions
(sha256 of canonical JSON), and checked to move with each part and with nothing else."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import llamav.answer
import llamav.metrics
import llamav.reasoning.parse
import llamav.text
from llamav.decoding import DECODING_REVISION
from llamav.evaluate import GenerationKey, RunConfig, Store, model_identity, reference_digest, sample_digest
from llamav.evaluate.keys import (
    EXECUTION_FIELDS,
    digest,
    file_digest,
    folder_fingerprint,
    generation_hash,
    is_secret,
    prediction_hash,
    run_hash,
    sample_set_digest,
    score_key,
    scorer_hash,
    scoring_code_digest,
    semantic_options,
)
from llamav.metrics import ANSWER_PROMPT_VERSION, DEFAULT_MODEL, STEP_PROMPT_VERSION, STEP_THRESHOLD
from llamav.models import tiny
from llamav.records import Prediction, Sample


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sample(**changes) -> Sample:
    fields = {"id": "s0", "question": "How many?", "image": b"png", "steps": ["Step 1: count."], "final_answer": "3",
              "category": "Counting"}
    return Sample(**{**fields, **changes})


def test_a_digest_is_sha256_of_compact_json_with_sorted_keys_and_unescaped_text():
    assert digest({"b": 1, "a": ["é", None]}) == sha('{"a":["é",null],"b":1}')
    assert digest(Path("/x")) == sha('"/x"')  # anything else by its str()


@pytest.mark.parametrize(("option", "secret"), [
    ("api_key", True), ("Authorization", True), ("hf_token", True), ("client_secret", True), ("password", True),
    ("max_tokens", False), ("max_new_tokens", False), ("token_limit_field", False), ("dtype", False),
])
def test_secret_options_are_told_by_their_names(option, secret):
    assert is_secret(option) is secret


def test_only_options_that_change_answers_are_kept_and_in_sorted_order():
    options = {"revision": "abc", "dtype": "bf16", "device": "cuda:1", "base_url": "http://h", "api_key": "sk",
               "my_token": "t", "timeout": 5, "concurrency": 4, "max_retries": 2, "device_map": "auto",
               "prefix_cache": True}
    kept = semantic_options(options)
    assert kept == {"dtype": "bf16", "revision": "abc"} and list(kept) == ["dtype", "revision"]


def test_tiny_random_is_known_by_the_digest_of_the_code_that_builds_it():
    expected = hashlib.sha256(Path(tiny.__file__).read_bytes()).hexdigest()[:16]
    assert model_identity("tiny-random", {}) == f"tiny-random@{expected}"


def test_a_hub_model_is_known_by_its_revision_when_one_is_asked():
    assert model_identity("hf:org/model", {"revision": "v2"}) == "hf:org/model@v2"
    assert model_identity("hf:org/model", {}) == "hf:org/model"
    assert model_identity("openai:gpt-4o", {"base_url": "http://h"}) == "openai:gpt-4o"


def test_a_local_checkpoint_is_known_by_its_files(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    expected = digest([["model.safetensors", 7, sha("weights")]])
    assert folder_fingerprint(folder) == expected
    assert model_identity(f"hf:{folder}", {}) == f"hf:{folder}@{expected[:16]}"


def test_the_bundled_checkpoint_is_known_by_its_files():
    path = tiny.bundled_checkpoint()
    assert model_identity("llamav-tiny", {}) == f"llamav-tiny@{folder_fingerprint(path)[:16]}"


def test_renaming_adding_or_changing_a_weight_file_is_a_new_model_but_hidden_files_and_docs_are_not(tmp_path):
    folder = tmp_path / "ckpt"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.bin").write_bytes(b"1")
    (folder / "config.json").write_text("{}")
    first = folder_fingerprint(folder)
    (folder / ".lock").write_text("x")
    (folder / "NOTES.TXT").write_text("x")
    (folder / "card.rst").write_text("x")
    assert folder_fingerprint(folder) == first
    (folder / "sub" / "a.bin").rename(folder / "sub" / "b.bin")
    renamed = folder_fingerprint(folder)
    (folder / "extra.safetensors").write_bytes(b"")
    assert len({first, renamed, folder_fingerprint(folder)}) == 3


def test_a_single_file_checkpoint_is_known_by_its_name_and_bytes(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"gguf")
    assert folder_fingerprint(path) == digest([["model.gguf", 4, sha("gguf")]])


def test_a_large_file_is_known_by_its_size_and_its_two_ends(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"HEAD" + b"m" * 10 + b"TAIL")
    expected = hashlib.sha256(b"18" + b"HEAD" + b"TAIL").hexdigest()
    assert file_digest(path, whole_below=17, edge=4) == expected
    path.write_bytes(b"HEAD" + b"M" * 10 + b"TAIL")  # only the middle changed: not read
    assert file_digest(path, whole_below=17, edge=4) == expected
    assert file_digest(path, whole_below=18, edge=4) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_samples_digest_is_what_the_model_is_shown_and_its_reference_digest_adds_what_it_is_scored_against():
    base = sample()
    assert sample_digest(base) == digest({"image": base.image_sha256, "question": "How many?", "options": None})
    assert reference_digest(base) == digest({"shown": sample_digest(base), "steps": ["Step 1: count."],
                                             "final_answer": "3", "answer_type": base.answer_type,
                                             "category": "Counting"})
    for change in ({"final_answer": "4"}, {"steps": ["Step 1: look."]}, {"category": "Maths"}):
        assert sample_digest(sample(**change)) == sample_digest(base)
        assert reference_digest(sample(**change)) != reference_digest(base)
    for change in ({"question": "How many red?"}, {"image": b"other"}, {"options": ["3", "4"]}):
        assert sample_digest(sample(**change)) != sample_digest(base)


def test_a_generation_key_is_the_digest_of_its_parts_and_the_sample():
    key = GenerationKey("m@1", "g", "llamav-o1", "beam", 7)
    assert key.for_sample(sample()) == digest(["m@1", "g", "llamav-o1", "beam", 7, "s0", sample_digest(sample())])


def test_a_generation_key_moves_with_the_model_settings_and_not_with_how_the_work_is_done():
    base = RunConfig(model="tiny-random")
    key = GenerationKey.of(base)
    assert key == GenerationKey.of(RunConfig(model="tiny-random", batch_size=3, workers=2, retry_failed=True,
                                             model_args={"device": "cpu", "api_key": "sk"}))
    assert (key.protocol, key.strategy, key.seed) == (base.protocol, base.strategy, base.seed)
    assert key.model_identity == model_identity("tiny-random", {})
    for change in ({"max_new_tokens": 7}, {"temperature": 0.5}, {"model_args": {"dtype": "float32"}}):
        assert generation_hash(RunConfig(model="tiny-random", **change)) != key.generation_hash


def test_a_run_hash_ignores_execution_settings_and_secrets_and_follows_everything_else():
    base = RunConfig(model="tiny-random")
    same = RunConfig(model="tiny-random", batch_size=2, workers=3, retry_failed=True, judge_concurrency=2,
                     threads=1, price_table="prices.yaml", model_args={"api_key": "sk", "base_url": "http://h"})
    assert same.run_hash() == base.run_hash()
    for change in ({"seed": 1}, {"limit": 3}, {"beams": 3}, {"model_args": {"dtype": "bf16"}},
                   {"bench": "vrc-synth?size=9"}):
        assert RunConfig(model="tiny-random", **change).run_hash() != base.run_hash()


def test_a_score_key_is_the_digest_of_scorer_prediction_and_reference():
    assert score_key("h", "p", sample()) == digest(["h", "p", reference_digest(sample())])


def test_each_metrics_scorer_hash_follows_its_own_settings_only():
    base = RunConfig(model="tiny-random", metrics=["answer", "roscoe", "steps"])
    hashes = {m: scorer_hash(m, base) for m in ("answer", "roscoe", "steps")}
    assert len(set(hashes.values())) == 3
    tolerant = base.model_copy(update={"rel_tol": 0.01})
    assert scorer_hash("answer", tolerant) != hashes["answer"]
    assert scorer_hash("roscoe", tolerant) == hashes["roscoe"]
    embedder = base.model_copy(update={"embedding_model": "other-model"})
    assert scorer_hash("roscoe", embedder) != hashes["roscoe"] and scorer_hash("steps", embedder) != hashes["steps"]
    assert scorer_hash("answer", embedder) == hashes["answer"]
    source = base.model_copy(update={"roscoe_source": "question+reference"})
    assert scorer_hash("roscoe", source) != hashes["roscoe"] and scorer_hash("steps", source) == hashes["steps"]
    # the model under test never changes how its answers are scored
    assert scorer_hash("answer", base.model_copy(update={"model": "llamav-tiny", "seed": 5})) == hashes["answer"]


def test_a_judges_identity_args_and_seed_key_its_scores_but_its_address_does_not():
    judged = RunConfig(model="tiny-random", judge="openai:judge", judge_args={"base_url": "http://a"})
    base = scorer_hash("judge", judged)
    moved = judged.model_copy(update={"judge_args": {"base_url": "http://b", "api_key": "k"}})
    assert scorer_hash("judge", moved) == base
    for change in ({"judge": "openai:other"}, {"judge_args": {"revision": "2"}}, {"seed": 3},
                   {"judge_sees_image": not judged.judge_sees_image}, {"judge_samples": 3}):
        assert scorer_hash("judge", judged.model_copy(update=change)) != base
    assert scorer_hash("answer", judged) != scorer_hash("answer", judged.model_copy(update={"judge": None}))


def test_a_scorer_registered_elsewhere_is_keyed_by_the_whole_run():
    base = RunConfig(model="tiny-random")
    assert scorer_hash("custom", base) != scorer_hash("custom", base.model_copy(update={"seed": 9}))
    assert scorer_hash("custom", base) == scorer_hash("custom", base.model_copy(update={"batch_size": 9}))


def test_the_scoring_code_digest_covers_the_metrics_the_answer_reader_and_the_splitters():
    files = sorted(Path(llamav.metrics.__file__).parent.glob("*.py")) + [
        Path(llamav.text.__file__), Path(llamav.answer.__file__), Path(llamav.reasoning.parse.__file__)]
    assert scoring_code_digest() == digest([[f.name, f.read_text(encoding="utf-8")] for f in files])


def test_predictions_stored_for_a_checkpoint_are_not_found_once_it_is_retrained_in_place(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    config = RunConfig(model=f"hf:{folder}")
    stored = Prediction(sample_id="s0", model=config.model, protocol="llamav-o1", strategy="beam", final_answer="3")
    with Store(tmp_path / "s.db") as store:
        store.add_predictions(GenerationKey.of(config), [(sample(), stored)])
        assert store.predictions(GenerationKey.of(config), [sample()]) == {"s0": stored}
        (folder / "model.safetensors").write_bytes(b"\x01" + b"\x00" * 63)  # retrained: same size, new weights
        assert store.predictions(GenerationKey.of(config), [sample()]) == {}


# -- stored keys keep their value: each digest is the one its definition gives, field names included


def test_the_generation_hash_is_the_digest_of_params_semantic_model_args_and_decoding_revision():
    config = RunConfig(model="tiny-random", model_args={"dtype": "float32", "device": "cpu"})
    assert generation_hash(config) == digest({"params": config.generation_params, "model_args": {"dtype": "float32"},
                                              "decoding_revision": DECODING_REVISION})


def test_the_run_hash_is_written_under_the_settings_first_names_without_execution_fields():
    config = RunConfig(model="tiny-random", judge="openai:j", judge_args={"base_url": "http://h", "revision": "2"})
    fields = config.model_dump(exclude=set(EXECUTION_FIELDS), by_alias=True)
    assert "judge_max_new_tokens" in fields and "self_judge_max_new_tokens" not in fields
    fields |= {"model_args": {}, "judge_args": {"revision": "2"}}
    assert run_hash(config) == digest(fields)


def test_each_scorer_hash_is_the_digest_of_its_documented_parts():
    code = scoring_code_digest()
    plain = RunConfig(model="tiny-random", rel_tol=0.02, roscoe_source="question+reference")
    assert scorer_hash("answer", plain) == digest({"metric": "answer", "code": code, "rel_tol": 0.02, "judge": None,
                                                   "prompt": None})
    assert scorer_hash("roscoe", plain) == digest({"metric": "roscoe", "code": code, "embedding_model": DEFAULT_MODEL,
                                                   "source": "question+reference"})
    assert scorer_hash("steps", plain.model_copy(update={"embedding_model": "e"})) == digest(
        {"metric": "steps", "code": code, "embedding_model": "e", "threshold": STEP_THRESHOLD})
    assert scorer_hash("custom", plain) == digest({"metric": "custom", "code": code, "config": run_hash(plain)})
    judged = RunConfig(model="tiny-random", judge="openai:j", judge_args={"api_key": "k", "revision": "2"}, seed=4,
                       judge_samples=3)
    judge = {"model": "openai:j@2", "args": {"revision": "2"}, "seed": 4, "sees_image": False}
    assert scorer_hash("judge", judged) == digest({"metric": "judge", "code": code, "judge": judge,
                                                   "judge_samples": 3, "prompt": STEP_PROMPT_VERSION})
    assert scorer_hash("answer", judged) == digest({"metric": "answer", "code": code, "rel_tol": 0.0, "judge": judge,
                                                    "prompt": ANSWER_PROMPT_VERSION})


def test_a_predictions_hash_is_the_digest_of_its_json_and_tells_predictions_apart():
    first = Prediction(sample_id="s0", model="m", protocol="p", strategy="s", final_answer="3")
    assert prediction_hash(first) == digest(json.loads(first.model_dump_json()))
    assert prediction_hash(first) != prediction_hash(first.model_copy(update={"final_answer": "4"}))


def test_a_sample_sets_digest_ignores_order_and_follows_each_reference():
    one, two = sample(), sample(id="s1", question="Which?")
    assert sample_set_digest([one, two]) == sample_set_digest([two, one]) == digest(
        sorted([[s.id, reference_digest(s)] for s in (one, two)]))
    assert sample_set_digest([one, two]) != sample_set_digest([one, two.model_copy(update={"final_answer": "9"})])


def test_a_local_checkpoint_path_holding_a_colon_is_still_fingerprinted(tmp_path):
    folder = tmp_path / "run:3"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"w")
    assert model_identity(f"hf:{folder}", {}) == f"hf:{folder}@{folder_fingerprint(folder)[:16]}"


def test_moving_a_weight_file_into_a_subfolder_is_a_new_model(tmp_path):
    folder = tmp_path / "ckpt"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"1")
    flat = folder_fingerprint(folder)
    (folder / "a.bin").rename(folder / "sub" / "a.bin")
    assert folder_fingerprint(folder) == digest([["sub/a.bin", 1, sha("1")]]) != flat
