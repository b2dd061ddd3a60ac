"""Stage 04 grades each completion once per step: the reflection metrics and the accuracy filter read the
verdicts the reward functions gave, and the logged metrics are those of the separate grader they replace."""

import pytest

pytestmark = pytest.mark.slow

GRPO = (
    "--model_name_or_path tiny://instruct --max_steps 2 --logging_steps 1 --eval_samples 0 --save_steps 1000 "
    "--completions_every 1 --torch_threads 1"
)
METRICS = (
    "srpo/first_acc",
    "srpo/final_acc",
    "srpo/well_formed",
    "srpo/unchanged",
    "srpo/reflection_tokens",
    "srpo/fix_rate",
    "srpo/break_rate",
    "srpo/filter_kept",
)


def old_grader(count):
    """The per-completion grader stage 04 ran beside the reward until it read the reward's verdicts (the
    paper reward's terms without the length term, plus unchanged answers and reflection length)."""
    from srpo import formats, rewards

    def grade(text, row):
        score = rewards.score_completion(
            text,
            row["answer"],
            count_tokens=count,
            variant="paper",
            length=False,
            options=row.get("options"),
            answer_type=row.get("answer_type"),
            precision=row.get("precision"),
        )
        parsed = formats.parse_completion(text)
        score["unchanged"] = parsed.first_answer is not None and parsed.first_answer == parsed.final_answer
        score["reflection_tokens"] = count(parsed.reflection) if parsed.reflection else 0
        return score

    return grade


def test_each_completion_is_graded_once_per_step_with_the_same_metrics(tmp_path, monkeypatch):
    from transformers import AutoProcessor

    from srpo import config, grpo, paths, rewards
    from srpo.data.__main__ import main as curate
    from srpo.grpo_trainer import SRPOGRPOTrainer, completion_accuracy, groups_to_keep, reflection_metrics
    from srpo.launch import prepare_stage

    run_dir = tmp_path / "run"
    cfg, _ = prepare_stage("data_curation", "tiny-cpu", run_dir, "--sft_pool_size 4 --rl_train_size 16")
    curate(cfg)

    real_score, real_grade = rewards.score_completion, rewards.grade_answer
    calls = {"score": 0, "grade": 0}

    def counted_score(*args, **kwargs):
        calls["score"] += 1
        return real_score(*args, **kwargs)

    def counted_grade(*args, **kwargs):
        calls["grade"] += 1
        return real_grade(*args, **kwargs)

    batches = []  # (texts, rows, completion lengths) of each step, as the reward functions saw them
    real_rewards = SRPOGRPOTrainer._calculate_rewards

    def capture(self, inputs, prompts, completions, completion_ids_list):
        texts = [rewards.completion_text(c) for c in completions]
        batches.append((texts, [dict(r) for r in inputs], [len(ids) for ids in completion_ids_list]))
        return real_rewards(self, inputs, prompts, completions, completion_ids_list)

    monkeypatch.setattr(rewards, "score_completion", counted_score)
    monkeypatch.setattr(rewards, "grade_answer", counted_grade)
    monkeypatch.setattr(SRPOGRPOTrainer, "_calculate_rewards", capture)
    summary = grpo.main(config.load("grpo_rl", "tiny-cpu", run_dir, GRPO))
    monkeypatch.undo()
    assert summary["steps"] == 2 and len(batches) == 2 and all(len(b[0]) == 16 for b in batches)

    # once: as many scorings (and answer gradings) as there are distinct completions to score
    def key(text, row, n):
        return text, row["answer"], tuple(row.get("options") or ()), row.get("answer_type"), row.get("precision"), n

    distinct = {key(t, r, n) for texts, rows, lengths in batches for t, r, n in zip(texts, rows, lengths)}
    assert calls["score"] == len(distinct)  # the separate grader scored every completion a second time
    once = {"grade": 0}

    def grade_once(*args, **kwargs):
        once["grade"] += 1
        return real_grade(*args, **kwargs)

    monkeypatch.setattr(rewards, "grade_answer", grade_once)
    for text, gold, options, answer_type, precision, n in distinct:
        real_score(
            text,
            gold,
            count_tokens=len,
            options=list(options) or None,
            answer_type=answer_type,
            precision=precision,
            completion_tokens=n,
        )
    assert calls["grade"] == once["grade"] > 0

    # the same metrics as the separate grader: per step, from its verdicts of the step's completions
    path = paths.resolve_model("tiny://instruct", run_dir)
    grade = old_grader(rewards.token_counter(AutoProcessor.from_pretrained(path).tokenizer))
    curves = {name: dict(summary["curves"].get(name, [])) for name in METRICS}
    for step, (texts, rows, _) in enumerate(batches, start=1):
        grades = [grade(t, r) for t, r in zip(texts, rows, strict=True)]
        expected = reflection_metrics(grades)
        keep = groups_to_keep([completion_accuracy(g, "mean") for g in grades], 8, 0.1, 0.9)
        expected["srpo/filter_kept"] = sum(keep) / len(keep)
        logged = {name: curves[name][step] for name in METRICS if step in curves[name]}
        assert logged == pytest.approx(expected), step
    assert any(v for name in ("srpo/first_acc", "srpo/well_formed") for v in curves[name].values())
