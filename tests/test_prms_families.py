"""Each PRM family, loaded through ttcs's registry from a tiny offline model, against a reference.

The reference computations below follow each family's model card / published code directly
(input strings, token ids, heads) and are written independently of ttcs's encoders.
"""

from __future__ import annotations

import pytest
import torch

from ttcs.errors import UserError
from ttcs.prms.base import PathToScore
from ttcs.prms.registry import load_verifier

pytestmark = pytest.mark.slow

PATHS = [
    PathToScore("What is 2 + 3?", ("We add the numbers.", "2 + 3 = 5.", "The answer is $\\boxed{5}$.")),
    PathToScore("Solve for $x$: $3x = 12$.", ("Divide both sides by 3.",)),
    PathToScore(
        "Ana has 7 apples and gets 5 more. How many now?",
        ("She starts with 7.", "Then 7 + 5 = 13.", "So 13 apples.", "Final: \\boxed{13}"),
    ),
]


def assert_matches(verifier, reference) -> None:
    """Scores equal the reference, one per step, unbatched and batched alike."""
    expected = [reference(path) for path in PATHS]
    unbatched = [verifier.score([path])[0].scores for path in PATHS]
    batched = [scored.scores for scored in verifier.score(PATHS)]
    for path, want, one, many in zip(PATHS, expected, unbatched, batched, strict=True):
        assert len(one) == len(many) == len(path.steps) == len(want)
        assert one == pytest.approx(want, abs=1e-5)
        assert many == pytest.approx(want, abs=1e-5)
        assert all(0.0 <= value <= 1.0 for value in many)
    assert len({round(v, 6) for scores in batched for v in scores}) > 3  # not a constant


def test_rlhflow_matches_search_and_learn_reference(rlhflow_folder) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    verifier = load_verifier(str(rlhflow_folder), batch_size=2)  # family detected from the name
    tokenizer = AutoTokenizer.from_pretrained(rlhflow_folder)
    model = AutoModelForCausalLM.from_pretrained(rlhflow_folder).eval()
    candidates = [
        tokenizer.encode("+", add_special_tokens=False)[-1],
        tokenizer.encode("-", add_special_tokens=False)[-1],
    ]
    marker = tokenizer.convert_tokens_to_ids("ки")

    def reference(path: PathToScore) -> list[float]:
        # search-and-learn's _score_batched: a "+" dialogue and a parallel "ки" dialogue to mask.
        plus, masked = [], []
        for k, step in enumerate(path.steps):
            text = f"{path.problem} {step}" if k == 0 else step
            plus += [{"content": text, "role": "user"}, {"content": "+", "role": "assistant"}]
            masked += [{"content": text, "role": "user"}, {"content": "ки", "role": "assistant"}]
        ids = tokenizer(
            tokenizer.apply_chat_template(plus, tokenize=False), add_special_tokens=False, return_tensors="pt"
        ).input_ids
        ids2 = tokenizer(
            tokenizer.apply_chat_template(masked, tokenize=False),
            add_special_tokens=False,
            return_tensors="pt",
        ).input_ids
        assert ids.shape == ids2.shape
        with torch.no_grad():
            scores = model(ids).logits[:, :, candidates].softmax(dim=-1)[:, :, 0]
        return scores[0, :-1][ids2[0, 1:] == marker].tolist()

    assert verifier.name == str(rlhflow_folder)
    assert_matches(verifier, reference)


def test_math_shepherd_matches_model_card(math_shepherd_folder) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    verifier = load_verifier(str(math_shepherd_folder), token_budget=64)
    tokenizer = AutoTokenizer.from_pretrained(math_shepherd_folder)
    model = AutoModelForCausalLM.from_pretrained(math_shepherd_folder).eval()
    candidate_tokens = tokenizer.encode("+ -")[1:]
    step_tag_id = tokenizer.encode("ки")[-1]

    def reference(path: PathToScore) -> list[float]:
        output = "\n".join(f"{step} ки" for step in path.steps)
        input_id = torch.tensor([tokenizer.encode(f"{path.problem} {output}")])
        with torch.no_grad():
            scores = model(input_id).logits[:, :, candidate_tokens].softmax(dim=-1)[:, :, 0]
        return scores[input_id == step_tag_id].tolist()

    assert_matches(verifier, reference)


def test_qwen_prm_matches_model_card(qwen_prm_folder) -> None:
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, Qwen2Model

    verifier = load_verifier(str(qwen_prm_folder))  # detected from config.json architectures
    tokenizer = AutoTokenizer.from_pretrained(qwen_prm_folder)
    body = Qwen2Model.from_pretrained(qwen_prm_folder).eval()
    head = load_file(qwen_prm_folder / "model.safetensors")

    def reference(path: PathToScore) -> list[float]:
        messages = [
            {
                "role": "system",
                "content": "Please reason step by step, and put your final answer within \\boxed{}.",
            },
            {"role": "user", "content": path.problem},
            {"role": "assistant", "content": "<extra_0>".join(path.steps) + "<extra_0>"},
        ]
        conversation = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
        input_ids = tokenizer(conversation, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            hidden = body(input_ids=input_ids).last_hidden_state
            hidden = torch.relu(hidden @ head["score.0.weight"].T + head["score.0.bias"])
            logits = hidden @ head["score.2.weight"].T + head["score.2.bias"]
        step_sep_id = tokenizer.encode("<extra_0>", add_special_tokens=False)[0]
        probabilities = logits.softmax(dim=-1) * (input_ids == step_sep_id).unsqueeze(-1)
        sample = probabilities[0]
        return sample[sample != 0].view(-1, 2)[:, 1].tolist()  # the card's make_step_rewards

    assert_matches(verifier, reference)


def test_skywork_matches_reference_inference(skywork_folder) -> None:
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, Qwen2ForCausalLM

    verifier = load_verifier(str(skywork_folder), batch_size=3)  # detected: Qwen2ForPrmModel
    tokenizer = AutoTokenizer.from_pretrained(skywork_folder)
    model = Qwen2ForCausalLM.from_pretrained(skywork_folder).eval()
    weights = load_file(skywork_folder / "model.safetensors")

    def reference(path: PathToScore) -> list[float]:
        # skywork-o1-prm-inference's prepare_input with step_token "\n" on "\n".join(steps).
        ids = tokenizer.encode((tokenizer.bos_token or "") + path.problem + "\n")
        flags = [0] * len(ids)
        step_token_id = tokenizer.encode("\n")[-1]
        for step in "\n".join(path.steps).split("\n"):
            step_ids = tokenizer.encode(step) + [step_token_id]
            ids += step_ids
            flags += [0] * (len(step_ids) - 1) + [1]
        with torch.no_grad():
            hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0]
        values = torch.sigmoid(hidden @ weights["v_head.summary.weight"].T + weights["v_head.summary.bias"])[
            :, 0
        ]
        return [float(values[i]) for i, flag in enumerate(flags) if flag]

    assert_matches(verifier, reference)


def test_uprm_adapter_matches_the_model_it_was_saved_from(uprm_adapter) -> None:
    from ttcs.prms.uprm import conversation

    folder, original = uprm_adapter
    verifier = load_verifier(str(folder), family="uprm", batch_size=2)
    tokenizer = verifier.tokenizer
    marker = tokenizer.convert_tokens_to_ids("<|*|>")

    def reference(path: PathToScore) -> list[float]:
        text = tokenizer.apply_chat_template(conversation(path), tokenize=False)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
        assert int((ids == marker).sum()) == len(path.steps)  # one marker per assistant turn
        with torch.no_grad():
            probabilities = original(input_ids=ids).logits.softmax(dim=-1)
        return probabilities[0, ids[0] == marker, 0].tolist()  # class 0 = correct

    assert_matches(verifier, reference)


def test_batches_halve_after_an_out_of_memory_error(rlhflow_folder) -> None:
    verifier = load_verifier(str(rlhflow_folder), batch_size=4)
    expected = [value for scored in verifier.score(PATHS) for value in scored.scores]
    real_forward, calls = verifier._forward, []

    def forward_that_runs_out_of_memory_once(batch):
        # A fake: no real OOM can be provoked on this CPU machine, so the first multi-path batch raises it.
        calls.append(len(batch))
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_forward(batch)

    verifier._forward = forward_that_runs_out_of_memory_once
    again = [value for scored in verifier.score(PATHS) for value in scored.scores]
    assert again == pytest.approx(expected, abs=1e-6)
    assert calls[0] == 3 and max(calls[1:]) <= 1 and verifier.caps.batch_size == 1


@pytest.mark.parametrize(
    ("spec", "family", "message"),
    [
        ("nobody/unknown-model", None, "cannot tell which PRM family"),
        ("sympy-steps", "rlhflow", "drop --prm-family"),
        ("RLHFlow/x", "telepathy", "unknown --prm-family"),
        ("judge:", None, "needs a model"),
    ],
)
def test_unknown_or_contradictory_names_are_user_errors(spec, family, message) -> None:
    with pytest.raises(UserError, match=message):
        load_verifier(spec, family=family)


def test_a_family_that_does_not_match_the_weights_is_refused(
    qwen_prm_folder, rlhflow_folder, uprm_adapter
) -> None:
    with pytest.raises(UserError, match="not skywork"):
        load_verifier(str(qwen_prm_folder), family="skywork")
    with pytest.raises(UserError, match="not a uprm adapter"):
        load_verifier(str(rlhflow_folder), family="uprm")
    with pytest.raises(UserError, match="use --prm-family uprm"):
        load_verifier(str(uprm_adapter[0]), family="qwen-prm")
    with pytest.raises(UserError, match="no v_head weights"):
        load_verifier(str(rlhflow_folder), family="skywork")
