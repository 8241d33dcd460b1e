"""Constrained JSON decoding for the `hf` backend (xgrammar): at each step only the tokens that keep
the text a prefix of JSON matching the request's schema can be chosen, and the model's end tokens
only where the document is complete, so a continuation that ends by itself always parses and
validates. See docs/serve.md for why xgrammar.
"""

from __future__ import annotations

import json
from typing import Any


class JSONGrammar:
    """One model's grammar compiler (built on the first JSON request) and the tokens JSON never
    holds. `stop_ids` are the ids that end the model's generation (every EOS id of its
    generation config)."""

    def __init__(self, model: Any, tokenizer: Any, stop_ids: list[int]) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        self._compiler: Any = None
        self._banned: list[int] = []

    def processors(self, schema: dict[str, Any], num_beams: int, or_text: bool = False) -> list[Any]:
        """Logits processors for one `generate` call: one grammar matcher follows each row. Beam
        search reorders rows behind the matchers' back, so it is refused. With `or_text`, a reply
        may instead be plain text that does not open with `{` (a tool call the model may decline)."""
        # xgrammar is the server extra's dependency, needed only by JSON requests.
        import xgrammar
        from xgrammar.contrib.hf import LogitsProcessor

        if num_beams > 1:
            raise ValueError("a JSON schema constrains one sequence a row: use num_beams=1 with json_schema")
        if self._compiler is None:
            self._compiler = self._build_compiler()
        try:
            # Strict semantics, as OpenAI's structured outputs and vLLM (xgrammar's default): a
            # property the schema does not list is not generated unless it says
            # `additionalProperties: true`. Left open, a small model goes on inventing keys and
            # never closes the object (instructor's and langchain's schemas leave it open).
            # Compact JSON, so no token is spent on free whitespace.
            text = json.dumps(schema)
            if or_text:
                document = xgrammar.Grammar.from_json_schema(text, any_whitespace=False, strict_mode=True)
                compiled = self._compiler.compile_grammar(
                    xgrammar.Grammar.union(xgrammar.Grammar.from_regex(r"[^{][\s\S]*"), document))
            else:  # the compiler caches what it compiled by the schema's text: a judge's schema compiles once
                compiled = self._compiler.compile_json_schema(text, any_whitespace=False, strict_mode=True)
        except Exception as exc:  # xgrammar raises RuntimeError/ValueError for schemas it refuses
            raise ValueError(f"unsupported JSON schema: {exc}") from None
        return [_BanTokens(self._banned), LogitsProcessor(compiled)]

    def _build_compiler(self) -> Any:
        # Imported with the processors above; this runs once, on the first JSON request.
        import xgrammar

        # The mask must cover every logit, which can be more than the tokenizer's vocabulary.
        vocab_size = self.model.get_output_embeddings().weight.shape[0]
        # Every id that ends generation is a stop token to the grammar: allowed only once the
        # document is complete. Left to itself, xgrammar knows only the tokenizer's EOS, and reads
        # another end token (llamav-tiny's `<|end|>`) as the characters of its name, text a string
        # may hold: generation then ended inside a string (issue 22).
        info = xgrammar.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=vocab_size,
                                                       stop_token_ids=self.stop_ids)
        stops = set(self.stop_ids)
        # Special tokens (padding, image, role markers) are dropped when the text is decoded, so
        # one inside a string would change the document after the grammar checked it; and
        # xgrammar lets raw control characters into strings, which JSON forbids (they must be
        # escaped; compact JSON never holds one). Both are banned outright.
        special = {int(i) for i in self.tokenizer.all_special_ids}
        special |= {int(i) for i, token in self.tokenizer.added_tokens_decoder.items() if token.special}
        control = {i for i, piece in enumerate(info.decoded_vocab) if any(b < 0x20 for b in piece)}
        self._banned = sorted((special | control) - stops)
        return xgrammar.GrammarCompiler(info)


class _BanTokens:
    """A logits processor that never lets the given token ids be chosen."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.ids:
            scores[:, self.ids] = float("-inf")
        return scores
