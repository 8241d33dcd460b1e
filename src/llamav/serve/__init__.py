"""`llamav serve`: any llamav model behind the OpenAI chat-completions protocol.

    from llamav.serve import Limits, create_app
    app = create_app(load_model("tiny-random"), limits=Limits(max_tokens=512))   # a FastAPI app

Plain chat requests are answered by the model directly; a request with llamav's `protocol`
extension runs the Reasoner (LlamaV-o1's multi-turn beam search, LLaVA-CoT's stages, ...) and
answers the final answer as content, the stages, steps and cost in the message's `llamav` field.
See docs/serve.md.
"""

from llamav.serve._app import create_app
from llamav.serve._faults import Faults
from llamav.serve._protocol import REASONING_FIELD, APIError, Limits

__all__ = ["REASONING_FIELD", "APIError", "Faults", "Limits", "create_app"]
