"""Stage 02 pieces without a server: the template teacher, reply checks, selection, SFT layouts, the store."""

import json
import random

import pytest

from srpo import config, formats
from srpo.reflection import selection, sft_set, teacher
from srpo.reflection.attempts import grade_attempt
from srpo.reflection.store import JsonlStore, StoreMismatch
from srpo.tiny import sevenseg

PROBLEMS = sevenseg.make_problems(40, seed=5)


def attempt_of(problem, attempt, source="generator"):
    record = problem.record()
    return {
        "id": f"{problem.id}#x",
        "problem_id": problem.id,
        "attempt_source": source,
        **grade_attempt(record, attempt.text),
    }


# ---------------------------------------------------------------------------------------------- template teacher
def test_template_teacher_names_the_real_misread():
    rng = random.Random(0)
    for p in PROBLEMS:
        flawed = sevenseg.flawed_attempt(p, rng, "misread")
        if flawed.flaw != "misread":
            continue
        reply = teacher.template_reply(p.record(), attempt_of(p, flawed), "two_pass")
        true = p.left if flawed.side == "left" else p.right
        assert f"the {flawed.side} number is {true}, not {flawed.read_as}" in reply["reflection"]
        assert reply["revised_reasoning"] == sevenseg.corrected_reasoning(p)
        assert teacher.check_reflection(reply, gold=p.answer, options=p.options)[1] is None


def test_template_teacher_confirms_a_correct_attempt_and_refuses_other_sources():
    p = PROBLEMS[0]
    reply = teacher.template_reply(p.record(), attempt_of(p, sevenseg.correct_attempt(p)), "paper")
    assert set(reply) == {"reflection"} and "correctly" in reply["reflection"]
    with pytest.raises(ValueError, match="only knows synthetic problems.*mathvista"):
        teacher.template_reply(
            {**p.record(), "source": "mathvista"}, attempt_of(p, sevenseg.correct_attempt(p)), "paper"
        )


# ---------------------------------------------------------------------------------------------- reply checks
@pytest.mark.parametrize(
    "text, reason",
    [
        ('{"reflection": "I added instead of subtracting; 9 - 4 is 5."}', None),
        ('```json\n{"reflection": "I added instead of subtracting; 9 - 4 is 5."}\n```', None),
        ('Sure! {"reflection": "I added instead of subtracting; 9 - 4 is 5."}', None),
        ("no json here", "invalid_json"),
        ('["a list"]', "invalid_json"),
        ('{"reflection": 5}', "schema"),
        ('{"reflection": ""}', "schema"),
        ('{"reflection": "  "}', "empty_reflection"),
        ('{"reflection": "The correct answer is \\\\boxed{5}."}', "restates_gold"),
        ('{"reflection": "<answer>5</answer>"}', "contains_tags"),
    ],
)
def test_validate_reply(text, reason):
    assert teacher.validate_reply(text, gold="5", layout="paper")[1] == reason


def test_two_pass_needs_the_revised_reasoning():
    text = '{"reflection": "I added instead of subtracting; 9 - 4 is 5."}'
    assert teacher.validate_reply(text, gold="5", layout="two_pass")[1] == "schema"


@pytest.mark.parametrize(
    "reflection, gold, restates",
    [
        ("The correct answer is 8.", "8", True),
        ("Actually, it should be (B).", "B", True),
        ("The answer is the right number.", "B", True),
        ("I misread the right digit as 3; its top-left segment is lit, so it is 9 and the sum is 8.", "8", False),
        ("Both numbers are read correctly and the calculation is right.", "A", False),
        ("A careful second look shows the digits are 3 and 5.", "B", False),
    ],
)
def test_restates_gold(reflection, gold, restates):
    options = sevenseg.LARGER_OPTIONS if gold.isalpha() else None
    assert teacher.restates_gold(reflection, gold, options) is restates


def test_teacher_messages_carry_image_attempt_and_truth():
    p = PROBLEMS[1]
    att = attempt_of(p, sevenseg.flawed_attempt(p, random.Random(1)))
    msgs = teacher.teacher_messages(p.record(), att, "two_pass")
    content = msgs[1]["content"]
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,")
    text = content[-1]["text"]
    assert att["think"] in text and f"Ground truth: {p.answer}" in text and "revised_reasoning" in text


# ---------------------------------------------------------------------------------------------- selection
def candidates(n_problems=100, per_problem=2, p_correct=0.25, seed=0):
    rng = random.Random(seed)
    return [
        {
            "id": f"q{i:03d}#p{k}",
            "problem_id": f"q{i:03d}",
            "attempt_source": "policy",
            "correct": rng.random() < p_correct,
        }
        for i in range(n_problems)
        for k in range(per_problem)
    ]


def test_selection_hits_size_and_ratio_deterministically():
    rows = candidates()
    picked, report = selection.select(rows, 60, 0.3, seed=3, max_per_problem=1)
    again, _ = selection.select(list(reversed(rows)), 60, 0.3, seed=3, max_per_problem=1)
    other, _ = selection.select(rows, 60, 0.3, seed=4, max_per_problem=1)
    assert [r["id"] for r in picked] == [r["id"] for r in again], "same seed, same selection, whatever the order"
    assert [r["id"] for r in picked] != [r["id"] for r in other]
    assert (report["selected"], report["correct"], report["wrong"]) == (60, 18, 42)
    assert len({r["problem_id"] for r in picked}) == 60, "one attempt per problem"


def test_selection_reports_a_shortfall_and_mixed_fills_it_from_unused_problems():
    rows = candidates(n_problems=50, per_problem=1, p_correct=0.1)
    n_correct = sum(r["correct"] for r in rows)
    picked, report = selection.select(rows, 50, 0.3, seed=0)
    assert report["correct"] == n_correct and report["shortfall"]["correct"] == 15 - n_correct
    fill = [
        {"id": f"{r['problem_id']}#gc", "problem_id": r["problem_id"], "attempt_source": "generator", "correct": True}
        for r in rows
    ]
    picked, report = selection.select(rows, 50, 0.3, seed=0, fill=fill)
    assert report["correct"] == 15 and report["by_attempt_source"]["generator"]["correct"] == 15 - n_correct
    assert report["selected"] == 50 and len({r["problem_id"] for r in picked}) == 50


def test_a_refill_keeps_the_kept_picks_and_replaces_the_rejected_from_their_class():
    rows = candidates(n_problems=200, per_problem=2, p_correct=0.3)
    picked, _ = selection.select(rows, 60, 0.3, seed=1)
    rejected = {r["id"] for r in picked[:10]}
    keep = [r for r in picked if r["id"] not in rejected]
    again, report = selection.select(rows, 60, 0.3, seed=1, keep=keep, exclude=rejected)
    ids = {r["id"] for r in again}
    assert not ids & rejected and ids >= {r["id"] for r in keep}
    assert (report["selected"], report["correct"], report["wrong"]) == (60, 18, 42), "size and share kept"
    rejected_problems = {r["problem_id"] for r in picked[:10]}
    assert not {r["problem_id"] for r in again} & rejected_problems, "a rejected problem does not come back"
    assert len({r["problem_id"] for r in again}) == 60


# ---------------------------------------------------------------------------------------------- SFT layouts
def test_layouts():
    att = {"think": "The left number is 3 and the right number is 5. 3 + 5 = 9.", "answer": "9"}
    reply = {"reflection": "I added wrongly: 3 + 5 is 8.", "revised_reasoning": "3 + 5 = 8."}
    paper = formats.parse_completion(sft_set.sft_target(att, reply, "8", "paper"))
    assert [b.name for b in paper.blocks] == ["think", "answer", "reflection", "answer"], "no second think (App. B.4)"
    assert (paper.first_answer, paper.final_answer) == ("9", "8")
    two = formats.parse_completion(sft_set.sft_target(att, reply, "8", "two_pass"))
    assert two.is_five_block and two.final_answer == "8"


def test_sft_answers_boxed_or_raw_as_app_b4():
    att = {"think": "3 + 5 = 9.", "answer": "9"}
    reply = {"reflection": "3 + 5 is 8.", "revised_reasoning": "3 + 5 = 8."}
    boxed = sft_set.sft_target(att, reply, "8", "paper")
    raw = sft_set.sft_target(att, reply, "8", "paper", "raw")
    assert boxed.count("\\boxed{") == 2 and "<answer>9</answer>" in raw and raw.endswith("<answer>8</answer>")
    assert "\\boxed" not in raw and formats.parse_completion(raw).answers == ["9", "8"]
    with pytest.raises(ValueError, match="boxed or raw"):
        sft_set.sft_target(att, reply, "8", "paper", "latex")


def test_sft_rows_follow_the_configured_answer_format(tmp_path):
    args = config.load("reflection_generation", "tiny-cpu", tmp_path, "--sft_answer_format raw").args
    p = PROBLEMS[2]
    row = sft_set.sft_row(
        p.record(),
        attempt_of(p, sevenseg.correct_attempt(p)),
        {"reflection": "Fine.", "revised_reasoning": "ok"},
        args,
    )
    assert "\\boxed" not in row["completion"][0]["content"][0]["text"]


def test_two_pass_layout_refuses_the_four_block_sft_prompt(tmp_path):
    with pytest.raises(config.ConfigError, match="srpo_sft describes the paper layout.*use sft_prompt: srpo_rl"):
        config.load("reflection_generation", "tiny-cpu", tmp_path, "--layout two_pass --sft_prompt srpo_sft")
    args = config.load("reflection_generation", "tiny-cpu", tmp_path, "--layout paper --sft_prompt srpo_sft").args
    assert args.sft_prompt == "srpo_sft"


def test_sft_rows_render_with_the_chat_template(tiny_model_path):
    from transformers import AutoProcessor

    args = config.load("reflection_generation", "tiny-cpu").args
    p = PROBLEMS[2]
    att = attempt_of(p, sevenseg.correct_attempt(p))
    row = sft_set.sft_row(p.record(), att, {"reflection": "Fine.", "revised_reasoning": "ok"}, args)
    dataset = sft_set.features().encode_example(row)  # the row fits the declared features
    assert dataset["id"] == att["id"]
    processor = AutoProcessor.from_pretrained(tiny_model_path)
    text = processor.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
    assert text.count("<|vision_start|>") == 1 and formats.SRPO_RL_PROMPT in text and "<reflection>Fine." in text


# ---------------------------------------------------------------------------------------------- store
def test_store_drops_a_line_cut_by_a_kill_and_never_duplicates(tmp_path):
    path = tmp_path / "s.jsonl"
    store = JsonlStore(path)
    store.append([{"id": "a", "v": 1}, {"id": "b", "v": 2}])
    store.append({"id": "a", "v": 99})  # known ids are skipped
    with open(path, "a") as f:
        f.write('{"id": "c", "v"')  # a write cut short by SIGKILL
    again = JsonlStore(path)
    assert again.dropped_partial and [r["id"] for r in again.rows()] == ["a", "b"] and again.get("a")["v"] == 1
    again.append({"id": "c", "v": 3})
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["a", "b", "c"]


def test_store_refuses_results_made_with_other_settings(tmp_path):
    JsonlStore(tmp_path / "s.jsonl", {"model": "m1"}).append({"id": "a"})
    with pytest.raises(StoreMismatch, match="model.*m1.*m2.*delete"):
        JsonlStore(tmp_path / "s.jsonl", {"model": "m2"})


# ---------------------------------------------------------------------------------------------- config
def test_config_rejects_bad_choices_and_a_key_in_place_of_its_name(tmp_path):
    with pytest.raises(config.ConfigError, match="layout must be one of paper, two_pass"):
        config.load("reflection_generation", "tiny-cpu", tmp_path, "--layout three_pass")
    with pytest.raises(config.ConfigError, match="NAME of an environment variable"):
        config.load("reflection_generation", "tiny-cpu", tmp_path, "--teacher_api_key_env sk-abc")
