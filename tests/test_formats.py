"""The reasoning-block parser and prompt builders (the strict five-block structure of paper §3.2.2, App. B.4)."""

import pytest

from srpo import formats
from srpo.formats import parse_completion

GOOD = (
    "<think>a</think><answer>\\boxed{1}</answer><reflection>r</reflection><think>b</think><answer>\\boxed{2}</answer>"
)


def test_five_blocks_parse():
    p = parse_completion(GOOD)
    assert p.is_five_block and p.first_answer == "1" and p.final_answer == "2" and p.reflection == "r"
    assert parse_completion(" \n" + GOOD.replace("><", ">\n<") + "\n").is_five_block


@pytest.mark.parametrize(
    "text",
    [
        "x" + GOOD,  # text before
        GOOD + "x",  # text after
        GOOD.replace("</think><answer>", "</think> junk <answer>", 1),  # text between
        GOOD.replace("<reflection>r</reflection>", "<reflection> </reflection>"),  # empty block
        GOOD + "<answer>3</answer>",  # extra block
        GOOD.replace("<reflection>r</reflection>", ""),  # missing block
        GOOD.replace("<think>a</think>", "<think>a<think>n</think>", 1),  # nested tag
        GOOD.replace("</reflection>", ""),  # unclosed
    ],
)
def test_malformed_is_not_five_block(text):
    assert not parse_completion(text).is_five_block


def test_lenient_extraction_from_malformed():
    p = parse_completion("<think>x</think><answer>\\boxed{7}</answer>")
    assert not p.is_five_block and p.first_answer == "7" and p.final_answer == "7" and p.reflection is None
    assert parse_completion("no tags at all").first_answer is None
    assert parse_completion("<answer>plain text</answer>").first_answer == "plain text"


def test_last_boxed_handles_nesting_and_unbalanced():
    assert formats.last_boxed("\\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert formats.last_boxed("\\boxed{1} then \\boxed{2") == "1"
    assert formats.last_boxed("{" * 100000 + "\\boxed{x") is None


def test_prompt_placement():
    sys_msgs = formats.build_messages("Q?", 2, "srpo_rl", "system")
    assert sys_msgs[0]["role"] == "system" and sys_msgs[1]["content"][:2] == [{"type": "image"}] * 2
    user = formats.build_messages("Q?", 1, "single_pass", "user")
    assert len(user) == 1 and user[0]["content"][-1]["text"].endswith(formats.SINGLE_PASS_PROMPT)
    with pytest.raises(ValueError, match="unknown prompt"):
        formats.build_messages("Q?", 1, "srpo")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("<think>a</think><answer>\\boxed{1}</answer>", True),
        (" <think>a</think>\n<answer>1</answer>\n", True),
        ("<think>a</think><answer> </answer>", False),  # empty answer
        ("<think>a</think>x<answer>1</answer>", False),  # stray text
        ("<answer>1</answer><think>a</think>", False),  # wrong order
        (GOOD, False),  # the five-block format is not single pass
        ("<think>a</think><answer>1</answer><answer>2</answer>", False),  # extra block
    ],
)
def test_single_pass_structure(text, expected):
    parsed = parse_completion(text)
    assert parsed.is_single_pass is expected and not (parsed.is_single_pass and parsed.is_five_block)


def test_answers_are_computed_once_and_non_strings_parse_empty():
    p = parse_completion(GOOD)
    assert p.answers is p.answers and p.first_answer_block == "\\boxed{1}" and p.first_think == "a"
    assert parse_completion(None).blocks == [] and not parse_completion(b"<think>".decode()).is_five_block


# ---------------------------------------------------------------- edge cases of docs/paper_vs_release.md
@pytest.mark.parametrize("empty", ["\\boxed{}", "\\boxed{ }", " \\boxed{} "])
def test_an_empty_answer_fails_the_strict_structures(empty):
    five = GOOD.replace("\\boxed{1}", empty, 1)
    assert not parse_completion(five).is_five_block and not parse_completion(five).is_five_block_after_text
    assert parse_completion(five).first_answer == ""  # still extracted (graded wrong)
    assert not parse_completion(f"<think>a</think><answer>{empty}</answer>").is_single_pass
    assert not parse_completion(GOOD.replace("\\boxed{2}", empty)).is_five_block


def test_an_answer_inside_a_think_is_not_an_answer():
    text = GOOD.replace("<think>a</think>", "<think>a, so <answer>3</answer> maybe</think>", 1)
    p = parse_completion(text)
    assert p.first_answer == "1" and p.answers == ["1", "2"] and p.first_think.startswith("a, so <answer>3")
    assert [b.name for b in p.blocks] == list(formats.FIVE_BLOCKS) and not p.is_five_block


def test_a_reflection_that_quotes_a_tag_keeps_its_block():
    quoted = "I closed </think> too early and skipped <answer>"
    p = parse_completion(GOOD.replace("<reflection>r</reflection>", f"<reflection>{quoted}</reflection>"))
    assert p.reflection == quoted and [b.name for b in p.blocks] == list(formats.FIVE_BLOCKS)
    assert p.final_answer == "2" and not p.is_five_block  # a tag inside a block fails the format (as the release)


def test_a_think_never_closed_still_leaves_its_answers():
    p = parse_completion(GOOD.replace("<think>a</think>", "<think>a", 1))
    assert p.first_answer == "1" and p.final_answer == "2" and not p.is_five_block


def test_leading_text_fails_the_strict_format_but_not_the_releases():
    p = parse_completion("Sure, here it is. " + GOOD)
    assert p.leading_text and not p.is_five_block and p.is_five_block_after_text
    assert not parse_completion("x" + GOOD + "x").is_five_block_after_text  # trailing text fails both
    q = parse_completion(GOOD)
    assert q.is_five_block and q.is_five_block_after_text and not q.leading_text
