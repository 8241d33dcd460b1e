"""Model backends at their edges: the option and argument checks of `load_model`'s backends (each
a one-line error naming what is wrong), the requests the `openai` backend sends and the reasons it
gives, and the tiny-random model's streaming, image and JSON guards. One tiny-random model is built
for the module; the openai backend talks to a scripted server on loopback."""

from __future__ import annotations


import pytest
from PIL import Image
from transformers import PretrainedConfig

from llamav.models import GenerateParams, Message, ModelLoadError, load_model
from llamav.models.hf import HFModel, _stop_ids, _Streamer, context_length
from llamav.models.pricing import PriceTable
from llamav.models.tiny import build_tiny_random, bundled_checkpoint
from metrics_support import ScriptedChatServer

HELLO = [Message("user", "Hello")]


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_random()


@pytest.fixture(scope="module")
def scripted():
    srv = ScriptedChatServer()
    yield srv
    srv.close()


# -- load_model's checks, before anything is loaded ----------------------------------------------


@pytest.mark.parametrize("spec", ["tiny-random:extra", "llamav-tiny:extra"])
def test_the_built_in_models_take_no_argument_and_say_what_they_got(spec):
    name = spec.split(":")[0]
    with pytest.raises(ModelLoadError, match=f"^{name} takes no argument \\(got 'extra'\\)$"):
        load_model(spec)


def test_hf_without_a_model_id_says_what_to_give():
    with pytest.raises(ModelLoadError, match="^hf: needs a model id or a path, e.g. hf:"):
        load_model("hf:")


def test_an_option_a_backend_does_not_take_is_one_line_naming_it():
    # llamav-tiny hands its options to HFModel.from_pretrained, which has no `colour`: the
    # TypeError becomes the user's mistake, said once.
    with pytest.raises(ModelLoadError, match="^llamav-tiny: option 'colour' does not apply to this backend$"):
        load_model("llamav-tiny", colour="red")


def test_from_pretrained_called_directly_refuses_an_unknown_dtype():
    # load_model checks dtypes first; a caller of the class method gets the same sentence.
    with pytest.raises(ModelLoadError, match="^unknown dtype 'fp8'; known: "):
        HFModel.from_pretrained(str(bundled_checkpoint()), dtype="fp8")


def test_tiny_random_on_device_auto_lands_on_the_cpu_without_a_gpu():
    import torch

    model = load_model("tiny-random", device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert model.model.device.type == expected


def test_a_price_table_that_is_not_a_mapping_names_the_file(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text("- gpt-4o\n- 2.5\n")
    with pytest.raises(ValueError, match=f"^price table {path}: expected a mapping MODEL"):
        PriceTable.load(path)


# -- the openai backend ----------------------------------------------------------------------------


def test_openai_without_a_model_name_says_how_to_write_one():
    with pytest.raises(ValueError, match="name the model, e.g. openai:gpt-4o-mini"):
        load_model("openai:", base_url="http://127.0.0.1:9/v1")


def test_openai_without_a_key_or_a_local_server_asks_for_the_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="set OPENAI_API_KEY"):
        load_model("openai:gpt-4o-mini")


@pytest.mark.parametrize("options", [{"timeout": 0}, {"max_retries": -1}, {"concurrency": 0}])
def test_openai_refuses_a_timeout_retry_or_concurrency_out_of_range(options):
    with pytest.raises(ValueError, match="timeout must be > 0, max_retries >= 0 and concurrency >= 1"):
        load_model("openai:m", base_url="http://127.0.0.1:9/v1", **options)


def test_openai_refuses_a_server_kind_it_does_not_know():
    with pytest.raises(ValueError, match=r"server='tgi'; known: vllm, openai"):
        load_model("openai:m", base_url="http://127.0.0.1:9/v1", server="tgi")


def test_openai_sends_top_p_seed_and_stops_as_asked(scripted):
    scripted.script("fine")
    model = load_model("openai:m", base_url=scripted.base_url, max_retries=0)
    model.generate(HELLO, None, GenerateParams(temperature=0.7, top_p=0.9, seed=3, stop=("</a>", "</b>"),
                                               max_new_tokens=5))
    [request] = scripted.requests
    assert (request["top_p"], request["seed"], request["stop"], request["max_tokens"]) == (0.9, 3, ["</a>", "</b>"], 5)


def test_openai_greedy_sends_no_top_p_and_no_stop(scripted):
    scripted.script("fine")
    model = load_model("openai:m", base_url=scripted.base_url, max_retries=0)
    model.generate(HELLO, None, GenerateParams(temperature=0.0, top_p=0.9))
    [request] = scripted.requests
    assert "top_p" not in request and "stop" not in request and "seed" not in request


def test_openai_beams_cannot_return_more_sequences_than_beams(scripted):
    model = load_model("openai:m", base_url=scripted.base_url, server="vllm")
    with pytest.raises(ValueError, match="num_return_sequences cannot exceed num_beams"):
        model.generate(HELLO, None, GenerateParams(num_beams=2, num_return_sequences=3))


def test_openai_refuses_json_or_text_which_chat_completions_cannot_say(scripted):
    model = load_model("openai:m", base_url=scripted.base_url)
    with pytest.raises(ValueError, match="json_or_text has no chat-completions equivalent"):
        model.generate(HELLO, None, GenerateParams(json_schema={"type": "object"}, json_or_text=True))


def test_openai_a_409_is_retried_by_the_client_and_the_reason_says_so(scripted):
    scripted.script("unused")
    scripted.status = 409
    model = load_model("openai:m", base_url=scripted.base_url, max_retries=1)
    with pytest.raises(Exception, match="^gave up after 2 attempts: ConflictError") as failed:
        model.generate(HELLO, None, GenerateParams())
    assert type(failed.value).__name__ == "OpenAIBackendError" and len(scripted.requests) == 2


# -- the hf backend on tiny-random -------------------------------------------------------------------


def test_a_streamed_generation_refuses_beams(tiny):
    with pytest.raises(ValueError, match="streaming decodes one continuation"):
        tiny.generate_stream(HELLO, None, GenerateParams(num_beams=2), on_text=lambda piece: None)


def test_an_image_with_no_message_to_hold_it_is_refused(tiny):
    with pytest.raises(ValueError, match="an image was given but no message has has_image=True"):
        tiny.generate(HELLO, Image.new("RGB", (8, 8)), GenerateParams(max_new_tokens=1))


def test_a_json_schema_refuses_beam_search(tiny):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    with pytest.raises(ValueError, match="use num_beams=1 with json_schema"):
        tiny.generate(HELLO, None, GenerateParams(json_schema=schema, num_beams=2, max_new_tokens=2))


def test_a_model_from_the_hub_is_known_by_its_id_when_it_has_no_folder_here(tiny, monkeypatch):
    # transformers records a hub id (not a folder) in _name_or_path; no weights to fingerprint.
    monkeypatch.setattr(tiny.model.config, "_name_or_path", "org/not-a-folder-here")
    assert tiny.endpoint() == {"path": "org/not-a-folder-here", "revision": None}


def test_a_config_without_positions_has_no_known_context_length():
    assert context_length(PretrainedConfig()) is None
    assert context_length(PretrainedConfig(max_position_embeddings=640)) == 640


def test_without_an_eos_in_the_generation_config_the_tokenizers_ends_generation(tiny, monkeypatch):
    monkeypatch.setattr(tiny.model.generation_config, "eos_token_id", None)
    assert _stop_ids(tiny.model, tiny.tokenizer) == [tiny.tokenizer.eos_token_id]


def test_the_streamer_holds_back_a_tail_that_may_open_a_stop_string(tiny):
    import torch

    pieces: list[str] = []
    streamer = _Streamer(tiny.tokenizer, ("</end>", "zz"), pieces.append)
    streamer.put(torch.tensor([[1, 2]]))  # the prompt, which generate hands over first
    for text in ["Hello", " wor", "ld </", "en"]:
        streamer.put(torch.tensor(tiny.tokenizer.encode(text, add_special_tokens=False)))
    # "</en" may be the start of "</end>": it waits; the text before it went out.
    assert "".join(pieces) == "Hello world "
    streamer.end()
    # The reply ended without the stop string: what was held back is sent.
    assert "".join(pieces) == "Hello world </en"


def test_an_hf_checkpoint_on_device_auto_takes_the_gpu_or_else_the_cpu():
    import torch

    # `--trust-remote-code` on a checkpoint with no code of its own changes nothing.
    model = load_model(f"hf:{bundled_checkpoint()}", device="auto", trust_remote_code=True)
    assert model.name == f"hf:{bundled_checkpoint()}"
    assert model.model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_an_option_of_the_wrong_type_is_not_mistaken_for_an_option_the_backend_lacks():
    # The TypeError is about the value, not the option's name: it goes up as it is.
    with pytest.raises(TypeError, match="int\\(\\) argument must be"):
        load_model("openai:m", base_url="http://127.0.0.1:9/v1", concurrency=[2])
