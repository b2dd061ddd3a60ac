"""Answer grading for rewards, data filtering and benchmarks: one extraction, one equivalence.

* ``find_answers(reply)``: the first and final answer of a reply and the rule that found each
  (``srpo.grading.extract``);
* ``grade_answer(prediction, gold, options=, answer_type=, precision=)``: the benchmarks' conventions in
  front of math-verify (``srpo.grading.grade``), bounded in time in every thread (``srpo.grading.equiv``);
  ``convention="mathvista"`` applies MathVista's documented letter-first rule (``srpo.grading.conventions``,
  with its nearest-option mapping and the refusal test);
* ``restated_yes_no(question, reply)``: a yes/no question answered by restating it (``srpo.grading.yesno``).

>>> find_answers("So the answer is \\\\boxed{42}.").final.text
'42'
"""

from srpo.grading.equiv import DEADLINE_S
from srpo.grading.equiv import parses as parses_as_math
from srpo.grading.extract import Answer, Answers, block_answer, final_answer, find_answers
from srpo.grading.grade import ANSWER_TYPES, chosen_letter, clear_caches, grade_answer

extract_final_answer = final_answer  # the former name

__all__ = [
    "ANSWER_TYPES",
    "DEADLINE_S",
    "Answer",
    "Answers",
    "block_answer",
    "chosen_letter",
    "clear_caches",
    "extract_final_answer",
    "final_answer",
    "find_answers",
    "grade_answer",
    "parses_as_math",
]
