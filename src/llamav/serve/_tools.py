"""Function calling (`tools`, `tool_choice`) through constrained decoding, as vLLM's guided
decoding does it: the reply is decoded under the JSON schema of a call,

    {"name": "<one of the functions>", "arguments": {<that function's parameters schema>}}

so a finished reply is always a call of a function that exists, with arguments that validate.
It is answered as OpenAI's `tool_calls`. `required` and a named function force a call; `auto` lets
the model answer plain text instead (text that does not open with `{`); `none` ignores the tools.
The models served here have no native tool format, so the functions are described to the model in
a system message.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

CALL_FINISH = "tool_calls"


@dataclass(frozen=True)
class Tools:
    """The functions a reply may call (name -> JSON schema of its arguments, and descriptions)
    and whether it must call one."""

    parameters: dict[str, dict[str, Any]]
    descriptions: dict[str, str]
    required: bool

    def schema(self) -> dict[str, Any]:
        """The JSON schema of one call of any of the functions."""
        calls = [
            {"type": "object",
             "properties": {"name": {"const": name}, "arguments": arguments},
             "required": ["name", "arguments"], "additionalProperties": False}
            for name, arguments in self.parameters.items()
        ]
        return calls[0] if len(calls) == 1 else {"anyOf": calls}

    def instructions(self) -> str:
        """What the model is told about the functions (a system message)."""
        lines = ["You can call these functions. To call one, reply with only a JSON object "
                 '{"name": <function name>, "arguments": <its arguments>}.']
        for name, arguments in self.parameters.items():
            said = self.descriptions.get(name)
            lines.append(f"- {name}{': ' + said if said else ''}; arguments: {json.dumps(arguments)}")
        if not self.required:
            lines.append("If no function helps, answer in plain text instead.")
        return "\n".join(lines)

    def read(self, text: str) -> list[dict[str, Any]] | None:
        """The reply as OpenAI `tool_calls`, or None when it is plain text (an `auto` reply) or
        not a whole call (cut short)."""
        try:
            call = json.loads(text)
        except json.JSONDecodeError:
            return None
        if not isinstance(call, dict) or call.get("name") not in self.parameters:
            return None
        return [{
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments", {}))},
        }]


def choose_tools(tools: list[Any], choice: Any) -> Tools | None:
    """`tools` and `tool_choice` as the request gave them (validated models); None when the reply
    is plain text (no tools, or `none`)."""
    if not tools or choice == "none":
        return None
    parameters = {t.function.name: t.function.parameters or {"type": "object"} for t in tools}
    descriptions = {t.function.name: t.function.description for t in tools if t.function.description}
    if choice is None or choice == "auto":
        return Tools(parameters, descriptions, required=False)
    if choice == "required":
        return Tools(parameters, descriptions, required=True)
    name = choice.function.name
    return Tools({name: parameters[name]}, {k: v for k, v in descriptions.items() if k == name}, required=True)
