"""The reasoning-block parser and prompt builders (the strict five-block structure of SRPO_SPEC §1)."""

import pytest

from srpo import formats
from srpo.formats import parse_completion

GOOD = ("<think>a</think><answer>\\boxed{1}</answer><reflection>r</reflection>"
        "<think>b</think><answer>\\boxed{2}</answer>")  # fmt: skip


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
