"""Prompt formatting: the blog's two Llama-3 pitfalls (trimmed partials, double BOS) stay fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ttcs.backends.prompts import DEFAULT_SYSTEM_PROMPT, ChatPrompter, load_tokenizer
from ttcs.backends.smollm2 import smollm2_folder
from ttcs.errors import UserError

BOS = "<|begin_of_text|>"
# Meta's Llama-3 template, verbatim in the parts that matter: it writes BOS itself and trims contents.
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
PARTIAL = "## Step 1: Add the numbers\n2 + 3 = 5\n\n"


@pytest.fixture(scope="module")
def llama3_style_tokenizer():
    """A byte-level BPE tokenizer trained here, offline, that adds BOS like Llama-3's (the real one needs the Hub)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [BOS, "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    corpus = [DEFAULT_SYSTEM_PROMPT, PARTIAL, "What is 2 + 3? Solve it step by step."] * 20
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(corpus, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", special_tokens=[(BOS, tokenizer.token_to_id(BOS))]
    )
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=BOS, eos_token="<|eot_id|>")
    wrapped.chat_template = LLAMA3_TEMPLATE
    return wrapped


def test_partial_keeps_its_trailing_newlines_where_plain_continuation_trims_them(llama3_style_tokenizer):
    prompter = ChatPrompter(llama3_style_tokenizer)
    prompt = prompter.prompt("What is 2 + 3?", PARTIAL)

    assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n" + PARTIAL)
    # The pitfall is real for this template: transformers' own continuation drops the "\n\n".
    naive = llama3_style_tokenizer.apply_chat_template(
        [*prompter.messages("What is 2 + 3?"), {"role": "assistant", "content": PARTIAL}],
        tokenize=False,
        continue_final_message=True,
    )
    assert naive.endswith("2 + 3 = 5")


def test_prompt_encodes_with_exactly_one_bos_where_plain_tokenizing_gives_two(llama3_style_tokenizer):
    prompter = ChatPrompter(llama3_style_tokenizer)
    bos_id = llama3_style_tokenizer.bos_token_id
    for partial in ("", PARTIAL):
        prompt = prompter.prompt("What is 2 + 3?", partial)
        ids = prompter.encode(prompt)

        assert prompt.count(BOS) == 1
        assert ids.count(bos_id) == 1 and ids[0] == bos_id
        assert llama3_style_tokenizer.decode(ids) == prompt
        assert llama3_style_tokenizer(prompt)["input_ids"].count(bos_id) == 2  # what an engine would do


def test_bos_is_added_when_the_template_does_not_write_it(llama3_style_tokenizer):
    prompter = ChatPrompter(llama3_style_tokenizer)
    bos_id = llama3_style_tokenizer.bos_token_id

    ids = prompter.encode("<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>")

    assert ids[0] == bos_id and ids.count(bos_id) == 1


def test_new_prompt_opens_the_assistant_turn_with_the_blog_system_prompt(llama3_style_tokenizer):
    prompt = ChatPrompter(llama3_style_tokenizer).prompt("What is 2 + 3?")

    assert DEFAULT_SYSTEM_PROMPT.startswith("Solve the following math problem efficiently and clearly:")
    assert f"<|start_header_id|>system<|end_header_id|>\n\n{DEFAULT_SYSTEM_PROMPT}<|eot_id|>" in prompt
    assert prompt.endswith("What is 2 + 3?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


def test_system_prompt_and_chat_template_file_replace_the_defaults(tmp_path: Path):
    template = tmp_path / "plain.jinja"
    template.write_text(
        "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}",
        encoding="utf-8",
    )
    tokenizer = load_tokenizer(str(smollm2_folder()))
    prompter = ChatPrompter(tokenizer, system_prompt="Be brief.", chat_template=str(template))

    assert prompter.prompt("1+1?") == "[system]Be brief.\n[user]1+1?\n[assistant]"
    assert prompter.prompt("1+1?", "  two\n\n") == "[system]Be brief.\n[user]1+1?\n[assistant]  two\n\n"


def test_smollm2_prompt_tokenizes_as_the_model_expects():
    tokenizer = load_tokenizer(str(smollm2_folder()))
    prompter = ChatPrompter(tokenizer)
    prompt = prompter.prompt("What is 2 + 3?", PARTIAL)

    # SmolLM2's template writes its own <|im_start|> markers and its tokenizer adds nothing.
    assert prompter.encode(prompt) == tokenizer(prompt)["input_ids"]
    assert prompt.endswith("<|im_start|>assistant\n" + PARTIAL)
    assert prompter.count_tokens(["", "2 + 3 = 5\n\n"]) == [0, len(tokenizer.encode("2 + 3 = 5\n\n"))]


def test_missing_chat_template_or_template_file_is_a_user_error(llama3_style_tokenizer, tmp_path: Path):
    from transformers import PreTrainedTokenizerFast

    bare = PreTrainedTokenizerFast(tokenizer_object=llama3_style_tokenizer.backend_tokenizer)
    with pytest.raises(UserError, match="--chat-template"):
        ChatPrompter(bare)
    with pytest.raises(UserError, match="cannot read chat template"):
        ChatPrompter(llama3_style_tokenizer, chat_template=str(tmp_path / "missing.jinja"))
