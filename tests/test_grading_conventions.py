"""Benchmark conventions in their named modes (MathVista's letter-first and nearest-option rules), refusals,
and yes/no questions answered by restating them (``srpo.grading.conventions``, ``srpo.grading.yesno``)."""

import pytest

from srpo.bench.scoring import score_record
from srpo.grading import grade_answer
from srpo.grading.conventions import first_label_letter, is_refusal, nearest_option
from srpo.grading.yesno import question_of, restated_yes_no

CLOCK = ["9:30", "1:30", "4:30", "5:30", "11:30"]
SOLUTIONS = ["neither; their concentrations are the same", "Solution A", "Solution B"]


def mathvista(options, answer, question="Question: Which one?\nChoices:\n(A) ..", answer_type="multiple_choice"):
    return {
        "id": "1",
        "source": "mathvista:testmini",
        "question": question,
        "options": options,
        "answer": answer,
        "answer_type": answer_type,
        "precision": None,
        "images": [],
        "metadata": {},
    }


def test_mathvista_letter_first_credits_the_label_when_letter_and_text_disagree():
    """calculate_score.py: "(C) 5:30" names C although 5:30 is D; without the convention it names nothing."""
    assert grade_answer("The clock shows the time (C) 5:30.", "C", options=CLOCK, convention="mathvista")
    assert not grade_answer("The clock shows the time (C) 5:30.", "C", options=CLOCK)
    assert grade_answer("(B) Solution B", "Solution A", options=SOLUTIONS, convention="mathvista")
    assert not grade_answer("(B) Solution B", "Solution A", options=SOLUTIONS)
    # MathVista records use it through the benchmark scorer; other benchmarks do not
    assert score_record(mathvista(SOLUTIONS, "B"), "Therefore, the correct answer is (B) Solution B.")["final_correct"]
    assert not score_record(
        {**mathvista(SOLUTIONS, "B"), "source": "mathvision:test"}, "Therefore, the correct answer is (B) Solution B."
    )["final_correct"]


def test_letter_first_reads_labels_not_function_arguments_or_letters_past_the_options():
    assert first_label_letter("f(a) = 3, so (b) is right", 3) == "B"
    assert first_label_letter("f(a) = 3", 3) is None
    assert first_label_letter("(E) 12", 4) is None
    with pytest.raises(ValueError, match="unknown convention"):
        grade_answer("A", "A", options=["1", "2"], convention="mathvistaa")


def test_nearest_option_maps_a_stated_answer_but_never_a_refusal_an_empty_reply_or_prose():
    assert nearest_option("3 πcm", ["2πcm", "3πcm", "4πcm"]) == "B"
    assert nearest_option("", ["Yes", "No"]) is None and nearest_option("x" * 500, ["Yes", "No"]) is None
    items = mathvista(["Solution A", "Solution B"], "B")
    stated = score_record(items, "So it is \\boxed{Sol. B}", mode="mathvista_nearest")
    assert stated["final_correct"] and stated["final_rule"] == "box+nearest" and not stated["parsed"]
    assert not score_record(items, "So it is \\boxed{Sol. B}")["final_correct"]  # the default mode never guesses
    refusal = "The answer cannot be determined from the information given."
    assert not score_record(mathvista(["Yes", "No"], "B"), refusal, mode="mathvista_nearest")["final_correct"]
    assert not score_record(mathvista(["Yes", "No"], "B"), "", mode="mathvista_nearest")["final_correct"]
    prose = "The bars are tall and colourful, and the chart has a legend.\nIt is hard to say much more here."
    assert (
        score_record(mathvista(["Yes", "No"], "B"), prose, mode="mathvista_nearest")["final_rule"] == "last_sentence"
    )
    with pytest.raises(ValueError, match="unknown scoring mode"):
        score_record(items, "B", mode="nearest")


@pytest.mark.parametrize(
    "text",
    [
        "Therefore, the answer cannot be determined.",
        "Sorry, I can't help with images.",
        "I cannot definitively answer if Periwinkle is the maximum without more context.",
        "Therefore, it is impossible to determine whether Aqua is greater than Red.",
        "The text does not provide information on whether Orange Red is the roughest.",
    ],
)
def test_refusals_are_recognised(text):
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        "The answer is 3.",
        "Dark Orchid is not the maximum.",
        "No.",
        "",
        None,
        "The function is not continuous at each point.",
    ],
)
def test_answers_are_not_refusals(text):
    assert not is_refusal(text)


def test_a_yes_no_question_restated_with_or_without_negation_is_answered():
    assert (
        restated_yes_no("Is Dark Orchid the maximum?", "Based on the image, Dark Orchid is not the maximum.") == "no"
    )
    assert (
        restated_yes_no(
            "Does Web Purple have the maximum area under the curve?",
            "Web Purple does not have the maximum area under the curve.",
        )
        == "no"
    )
    assert (
        restated_yes_no("Is this function continuous at each point?", "The function is continuous at each point.")
        == "yes"
    )
    assert (
        restated_yes_no(
            "Are there fewer metallic fighters than rubber objects?",
            "Based on the image, there are fewer metallic fighters than rubber objects.",
        )
        == "yes"
    )


def test_a_restatement_is_read_only_when_unambiguous():
    q = "Are there more red buses than green things?"
    assert restated_yes_no(q, "There are more green things than red buses.") is None  # swapped comparison
    assert (
        restated_yes_no(q, "There are more red buses than green things in the big image today.") is None
    )  # extra words
    assert restated_yes_no(q, "Question: Are there more red buses than green things?") is None  # the question echoed
    assert (
        restated_yes_no(
            q, "There are more red buses than green things. There are not more red buses than green things."
        )
        is None
    )
    assert restated_yes_no("Is X not the maximum?", "X is not the maximum.") is None  # a negated question
    assert question_of("Hint: letter.\nQuestion: Is X the maximum?\nChoices:\n(A) yes\n(B) no") == "Is X the maximum?"


def test_the_benchmark_scorer_reads_a_restated_yes_no_answer_in_every_benchmark():
    record = mathvista(
        ["yes", "no"], "B", question="Hint: letter.\nQuestion: Is Dark Orchid the maximum?\nChoices:\n(A) yes\n(B) no"
    )
    got = score_record(record, "Based on the image, Dark Orchid is not the maximum. The maximum color is Red.")
    assert (got["final_correct"], got["parsed"], got["final_rule"], got["final_answer"]) == (
        True,
        True,
        "restated",
        "no",
    )
    got = score_record({**record, "source": "mathverse:testmini"}, "Dark Orchid is the maximum.")
    assert (got["final_correct"], got["parsed"], got["final_answer"]) == (False, True, "yes")
    assert score_record(record, "Sure!\n\n(B) No\n\nDark Orchid is not the maximum.</s>")["final_answer"] == "no"
    tagged = "<think>x</think><answer>Dark Orchid is not the maximum.</answer>"  # answer blocks: the block decides
    assert score_record(record, tagged)["final_rule"] == "tag:whole"


def test_a_reply_that_runs_on_into_a_made_up_question_is_read_up_to_it():
    """Released replies (idefics, claude 2-shot) invent the next exercise with its own "The answer is"."""
    from srpo.grading import find_answers

    run_on = (
        "The answer is (A) 3.\n\nQuestion: As shown in the figure, find AB.\nChoices:\n(A) 3\n(B) 4\n\n"
        "The answer is (B) 4.\n\nQuestion: As shown in"
    )
    assert find_answers(run_on).final.text == "(A) 3"
    assert find_answers("Question: What is 2+2?\nWe add them.\nThe answer is 4.").final.text == "4"  # an echo first
    assert find_answers("<answer>The answer is 3.\nQuestion: next?\nThe answer is 5.</answer>").final.text == "5"
