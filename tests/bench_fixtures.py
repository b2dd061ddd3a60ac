"""Small benchmark splits in each benchmark's REAL Hub schema (features as on the dataset cards), written by the
tests themselves: no download, no committed binaries. Each fixture carries the quirks the loaders must handle.
"""

from __future__ import annotations

from datasets import Dataset, Features, Image, Sequence, Value
from PIL import Image as PILImage

S = Value("string")


def image(color=(200, 30, 30), mode="RGB", size=(28, 28)):
    return PILImage.new(mode, size, color if mode == "RGB" else color + (255,) if mode == "RGBA" else 128)


# ---------------------------------------------------------------------------------------------- MathVista
MATHVISTA_FEATURES = Features(
    {
        "pid": S,
        "question": S,
        "image": S,
        "decoded_image": Image(),
        "choices": Sequence(S),
        "unit": S,
        "precision": Value("float64"),
        "answer": S,
        "question_type": S,
        "answer_type": S,
        "metadata": {
            "category": S,
            "context": S,
            "grade": S,
            "img_height": Value("int64"),
            "img_width": Value("int64"),
            "language": S,
            "skills": Sequence(S),
            "source": S,
            "split": S,
            "task": S,
        },
        "query": S,
    }
)


def _mv_meta(category, task, skills):
    return {
        "category": category,
        "context": "scientific figure",
        "grade": "college",
        "img_height": 28,
        "img_width": 28,
        "language": "english",
        "skills": skills,
        "source": "fixture",
        "split": "testmini",
        "task": task,
    }


def mathvista_rows() -> list[dict]:
    return [
        # multiple choice: the gold is the option TEXT; image in RGBA (must become RGB)
        {
            "pid": "1",
            "question": "Is f'(2) larger than f'(5)?",
            "image": "images/1.jpg",
            "decoded_image": image(mode="RGBA"),
            "choices": ["larger than", "equal to", "smaller than"],
            "unit": None,
            "precision": None,
            "answer": "equal to",
            "question_type": "multi_choice",
            "answer_type": "text",
            "metadata": _mv_meta("math-targeted-vqa", "textbook question answering", ["algebraic reasoning"]),
            "query": "Hint: answer with the option letter.\nQuestion: Is f'(2) larger than f'(5)?\nChoices:\n"
            "(A) larger than\n(B) equal to\n(C) smaller than",
        },
        # float with precision 2 (stored as a float, 2.0)
        {
            "pid": "2",
            "question": "What is the slope?",
            "image": "images/2.jpg",
            "decoded_image": image(),
            "choices": None,
            "unit": None,
            "precision": 2.0,
            "answer": "1.45",
            "question_type": "free_form",
            "answer_type": "float",
            "metadata": _mv_meta(
                "math-targeted-vqa", "figure question answering", ["statistical reasoning", "arithmetic reasoning"]
            ),
            "query": "Hint: a float with two decimals.\nQuestion: What is the slope?",
        },
        # integer
        {
            "pid": "3",
            "question": "How many bars?",
            "image": "images/3.jpg",
            "decoded_image": image(),
            "choices": None,
            "unit": None,
            "precision": None,
            "answer": "12",
            "question_type": "free_form",
            "answer_type": "integer",
            "metadata": _mv_meta("general-vqa", "visual question answering", ["arithmetic reasoning"]),
            "query": "Hint: an integer.\nQuestion: How many bars?",
        },
    ]


# ---------------------------------------------------------------------------------------------- MathVerse
MATHVERSE_FEATURES = Features(
    {
        "sample_index": S,
        "problem_index": S,
        "problem_version": S,
        "question": S,
        "image": Image(),
        "answer": S,
        "question_type": S,
        "metadata": {"split": S, "source": S, "subject": S, "subfield": S},
        "query_wo": S,
        "query_cot": S,
        "question_for_eval": S,
    }
)


def mathverse_rows() -> list[dict]:
    meta = {"split": "testmini", "source": "GeoQA", "subject": "plane geometry", "subfield": "angle"}
    mc_text = "As shown in the figure, find angle B.\nChoices:\nA:30°\nB:45°\nC:60°\nD:90°"
    rows = []
    for i, version in enumerate(("Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only")):
        question = "" if version == "Vision Only" else mc_text  # vision only: everything is in the image
        rows.append(
            {
                "sample_index": str(i + 1),
                "problem_index": "1",
                "problem_version": version,
                "question": question,
                "image": image(),
                "answer": "C",
                "question_type": "multi-choice",
                "metadata": meta,
                "query_wo": "Please directly answer ...",
                "query_cot": f"Please first conduct reasoning ...\n{question}",
                "question_for_eval": question,
            }
        )
    rows.append(
        {
            "sample_index": "6",
            "problem_index": "2",
            "problem_version": "Text Lite",
            "question": "Find the length of AB.",
            "image": image(),
            "answer": "\\frac{5}{2}",
            "question_type": "free-form",
            "metadata": {**meta, "subject": "analytic geometry"},
            "query_wo": "...",
            "query_cot": "Please first conduct reasoning ...\nFind the length of AB.",
            "question_for_eval": "Find the length of AB.",
        }
    )
    return rows


# ---------------------------------------------------------------------------------------------- MathVision
MATHVISION_FEATURES = Features(
    {
        "id": S,
        "question": S,
        "options": Sequence(S),
        "image": S,
        "decoded_image": Image(),
        "answer": S,
        "solution": S,
        "level": Value("int64"),
        "subject": S,
    }
)


def mathvision_rows() -> list[dict]:
    base = {"image": "images/x.jpg", "decoded_image": image(), "solution": None}
    return [
        # placeholder options: the real options are drawn in the image
        {
            **base,
            "id": "1",
            "question": "<image1>\nWhich figure comes next?",
            "options": ["A", "B", "C", "D", "E"],
            "answer": "D",
            "level": 2,
            "subject": "logic",
        },
        # real option texts
        {
            **base,
            "id": "2",
            "question": "How many edges does the solid have?<image1>",
            "options": ["6", "8", "10", "12", "14"],
            "answer": "D",
            "level": 3,
            "subject": "solid geometry",
        },
        # no options but a letter gold: multiple choice in the image
        {
            **base,
            "id": "3",
            "question": "<image1>\nWhich shape is shaded?",
            "options": [],
            "answer": "B",
            "level": 1,
            "subject": "combinatorial geometry",
        },
        # free form
        {
            **base,
            "id": "4",
            "question": "<image1>\nWhat is the area?",
            "options": [],
            "answer": "2\\sqrt{3}",
            "level": 5,
            "subject": "metric geometry - area",
        },
        {
            **base,
            "id": "5",
            "question": "<image1>\nHow many dots?",
            "options": [],
            "answer": "7",
            "level": 1,
            "subject": "counting",
        },
    ]


# ---------------------------------------------------------------------------------------------- MMMU-Pro
MMMU_STANDARD_FEATURES = Features(
    {
        "id": S,
        "question": S,
        "options": S,
        "explanation": S,
        **{f"image_{k}": Image() for k in range(1, 8)},
        "img_type": S,
        "answer": S,
        "topic_difficulty": S,
        "subject": S,
    }
)
MMMU_VISION_FEATURES = Features({"id": S, "image": Image(), "options": S, "answer": S, "subject": S})


def mmmu_standard_rows() -> list[dict]:
    ten = [str(v) for v in (0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5)]
    none = {f"image_{k}": None for k in range(1, 8)}
    seven = {f"image_{k}": image((10 * k, 0, 0)) for k in range(1, 8)}
    return [
        {
            "id": "validation_Physics_1",
            "question": "Compare <image 2> with <image 1>. What is the ratio?",
            "options": str(ten),
            "explanation": "",
            **none,
            "image_1": image((1, 0, 0)),
            "image_2": image((2, 0, 0)),
            "img_type": "['Diagrams']",
            "answer": "D",
            "topic_difficulty": "Medium",
            "subject": "Physics",
        },
        # seven images; an option text with an apostrophe and one that names an image
        {
            "id": "validation_Art_2",
            "question": "Which painting is oldest? <image 7>",
            "options": str(
                [
                    "<image 1>",
                    "<image 2>",
                    "<image 3>",
                    "<image 4>",
                    "<image 5>",
                    "<image 6>",
                    "Monet's",
                    "none of them",
                    "all the same",
                    "cannot tell",
                ]
            ),
            "explanation": "",
            **seven,
            "img_type": "['Paintings']",
            "answer": "G",
            "topic_difficulty": "Hard",
            "subject": "Art",
        },
    ]


def mmmu_vision_rows() -> list[dict]:
    return [
        {
            "id": "validation_Physics_1",
            "image": image(),
            "options": str(["0.5", "1", "1.5", "2"]),
            "answer": "D",
            "subject": "Physics",
        },
        {
            "id": "validation_Music_3",
            "image": image(mode="RGBA"),
            "options": str([f"bar {k}" for k in range(10)]),
            "answer": "J",
            "subject": "Music",
        },
    ]


def dataset(rows: list[dict], features: Features) -> Dataset:
    return Dataset.from_list(rows, features=features)


FIXTURES = {  # (benchmark, split) -> (rows, features)
    ("mathvista", "testmini"): (mathvista_rows, MATHVISTA_FEATURES),
    ("mathverse", "testmini"): (mathverse_rows, MATHVERSE_FEATURES),
    ("mathvision", "test"): (mathvision_rows, MATHVISION_FEATURES),
    ("mathvision", "testmini"): (mathvision_rows, MATHVISION_FEATURES),
    ("mmmu_pro", "standard (10 options)"): (mmmu_standard_rows, MMMU_STANDARD_FEATURES),
    ("mmmu_pro", "vision"): (mmmu_vision_rows, MMMU_VISION_FEATURES),
}


def fixture_dataset(name: str, split: str) -> Dataset:
    rows, features = FIXTURES[(name, split)]
    return dataset(rows(), features)
