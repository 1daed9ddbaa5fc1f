"""Pick and build a policy backend by name; heavy libraries are imported only for the one chosen.

`load_backend(backend="auto", model="smollm2-135m", **options)` is the one entry point the
commands and the other components (search, judge verifiers) use.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from ttcs.backends.base import Backend
from ttcs.backends.smollm2 import ALIAS
from ttcs.errors import UserError

# name -> (module, class); imported lazily so `ttcs --help` never touches torch or vllm.
BACKENDS = {
    "vllm": ("ttcs.backends.vllm_backend", "VllmBackend"),
    "openai": ("ttcs.backends.openai_backend", "OpenAIBackend"),
    "hf": ("ttcs.backends.hf_backend", "HFBackend"),
}
BACKEND_NAMES = ("auto", *BACKENDS)


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def resolve_backend_name(backend: str, options: dict[str, Any] | None = None) -> str:
    """`auto` is openai when a --base-url is given, else vllm when importable, else hf."""
    if backend not in BACKEND_NAMES:
        raise UserError(f"unknown backend {backend!r}; choose one of {', '.join(BACKEND_NAMES)}")
    if backend != "auto":
        return backend
    if options and options.get("base_url"):
        return "openai"
    return "vllm" if vllm_available() else "hf"


def load_backend(backend: str = "auto", model: str = ALIAS, **options: Any) -> Backend:
    """Build the backend called `backend` for `model` (a Hub id, a local folder or the alias `smollm2-135m`).

    Options (each backend ignores those it does not use; None means the backend's default):
    gpu_memory_utilization, tensor_parallel_size, enforce_eager, dtype, max_model_len (vllm);
    base_url, api_key, concurrency, timeout, retries, served_model, tokenizer (openai);
    device, batch_size, dtype (hf); system_prompt, chat_template (a file) for every backend.
    """
    name = resolve_backend_name(backend, options)
    module_name, class_name = BACKENDS[name]
    if name == "vllm" and not vllm_available():
        raise UserError("the vllm backend needs vLLM; install it (`pip install vllm`) or pass --backend hf")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(model=model, **{key: value for key, value in options.items() if value is not None})
