"""`qwen-prm`: Qwen/Qwen2.5-Math-PRM-7B and -72B.

Format, as in the model card: the chat [system "Please reason step by step, and put your final
answer within \\boxed{}.", user = question, assistant = "<extra_0>".join(steps) + "<extra_0>"]
rendered by the tokenizer's template (no generation prompt); a step's score is the class-1
(positive) probability of the softmax over the two-class token-classification logits at each
`<extra_0>` token.

The Hub checkpoint ships remote code (`Qwen2ForProcessRewardModel`). We do not execute it: the
same architecture, a Qwen2Model with the head Sequential(Linear(h, h), ReLU, Linear(h, 2)) under
the parameter names `model.*` and `score.0.*`/`score.2.*` (as in the published modeling file and
vLLM's port), is defined here and loaded with plain `from_pretrained`, so it also runs offline
and on transformers versions the remote file predates.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Qwen2Config, Qwen2Model, Qwen2PreTrainedModel

from ttcs.errors import UserError
from ttcs.prms.base import PathToScore
from ttcs.prms.batching import Encoded
from ttcs.prms.hf import (
    TokenPRM,
    chat_ids,
    load_tokenizer,
    load_with_head,
    require_chat_template,
    resolve_device,
    resolve_dtype,
)
from ttcs.prms.registry import LoadOptions

FAMILY = "qwen-prm"
SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."
STEP_SEPARATOR = "<extra_0>"
NUM_LABELS = 2


class Qwen2ProcessRewardModel(Qwen2PreTrainedModel):
    """Qwen2 with the Qwen2.5-Math-PRM two-class token head (see the module docstring)."""

    config_class = Qwen2Config

    def __init__(self, config: Qwen2Config) -> None:
        super().__init__(config)
        self.model = Qwen2Model(config)
        self.score = nn.Sequential(
            nn.Linear(config.hidden_size, config.hidden_size),
            nn.ReLU(),
            nn.Linear(config.hidden_size, NUM_LABELS),
        )
        self.post_init()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.score(hidden)


def conversation(path: PathToScore) -> list[dict]:
    answer = STEP_SEPARATOR.join(step.replace(STEP_SEPARATOR, "") for step in path.steps) + STEP_SEPARATOR
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": path.problem.replace(STEP_SEPARATOR, "")},
        {"role": "assistant", "content": answer},
    ]


class QwenPRM(TokenPRM):
    def __init__(self, name: str, tokenizer: Any, model: Any, options: LoadOptions, device: str) -> None:
        super().__init__(name, tokenizer, model, options, device)
        ids = tokenizer.encode(STEP_SEPARATOR, add_special_tokens=False)
        if len(ids) != 1:
            raise UserError(f"{name}: its tokenizer has no {STEP_SEPARATOR} token, so it is not {FAMILY}")
        self.separator_id = ids[0]

    def encode(self, path: PathToScore) -> Encoded:
        if not path.steps:
            return Encoded((), ())
        ids = chat_ids(self.tokenizer, conversation(path))
        return Encoded(tuple(ids), tuple(i for i, token in enumerate(ids) if token == self.separator_id))

    def step_probabilities(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return logits.float().softmax(dim=-1)[:, :, 1]


def load(spec: str, options: LoadOptions) -> QwenPRM:
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    tokenizer = load_tokenizer(spec)
    require_chat_template(tokenizer, spec, FAMILY)
    model = load_with_head(Qwen2ProcessRewardModel, spec, dtype, "score.", FAMILY)
    return QwenPRM(spec, tokenizer, model.to(device).eval(), options, device)
