"""Rendering a prompt's Jinja template in a sandbox, with a time and size limit."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from ledgergate.application.errors import ValidationError

__all__ = ["PromptRenderer"]


class PromptRenderer:
    """Missing required arguments are a ValidationError; a slow or huge render is stopped with one too.

    A render that times out cannot be interrupted inside its thread; the sandbox bounds ``range`` and
    the worker pool is small, so a hostile template costs at most one worker for a while.
    """

    def __init__(self, timeout_s: float = 1.0, max_chars: int = 200_000) -> None:
        self.timeout_s = timeout_s
        self.max_chars = max_chars
        self._env = SandboxedEnvironment(autoescape=False)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="prompt-render")

    def render(self, prompt: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
        """The ``prompts/get`` result. Raises: ValidationError."""
        missing = [a["name"] for a in prompt.get("arguments") or [] if a["required"] and a["name"] not in arguments]
        if missing:
            raise ValidationError(f"missing required argument(s): {', '.join(missing)}")
        future = self._pool.submit(self._render, prompt["template"], arguments)
        try:
            text = future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            raise ValidationError(f"the prompt took longer than {self.timeout_s:g} s to render") from None
        except TemplateError as exc:
            raise ValidationError(f"the prompt could not be rendered: {exc}") from None
        if len(text) > self.max_chars:
            raise ValidationError(f"the rendered prompt is over {self.max_chars} characters")
        result: dict[str, Any] = {"messages": [{"role": "user", "content": {"type": "text", "text": text}}]}
        if prompt.get("description"):
            result["description"] = prompt["description"]
        return result

    def _render(self, template: str, arguments: dict[str, Any]) -> str:
        return self._env.from_string(template).render(**{k: v for k, v in arguments.items() if isinstance(k, str)})

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
