"""SRPOGRPOTrainer on the tiny Qwen2.5-VL: a batch that mixes text-only and image rows trains (TRL 1.16 gives a
text-only row the images None, which the processor rejects), an optimizer step whose groups the accuracy
filter all dropped leaves the weights where they were (AdamW's momentum would move them), and the release's
refill: filtered groups are replaced by kept groups of new prompts, so every update trains on a full batch."""

import pytest
import torch

pytestmark = pytest.mark.slow


def mixed_dataset(n_prompts: int):
    """Text-only rows beside image rows of very different sizes, and a two-image row (the cluster RL mix)."""
    from datasets import Dataset, Image, List
    from PIL import Image as PILImage

    from srpo import formats

    sizes = [None, (28, 28), (200, 60), None, [(56, 56), (112, 84)], (300, 300)]
    rows = []
    for i in range(n_prompts):
        size = sizes[i % len(sizes)]
        images = (
            []
            if size is None
            else [PILImage.new("RGB", s, (i * 40 % 255, 90, 20)) for s in (size if isinstance(size, list) else [size])]
        )
        rows.append(
            {
                "prompt": formats.build_messages(f"What is {i} + 1?", len(images), "srpo_rl", "system"),
                "images": images,
                "answer": str(i + 1),
            }
        )
    return Dataset.from_list(rows).cast_column("images", List(Image()))


def tiny_trainer(tmp_path, dataset, grade, batch=4, group=4, filter_mode="mask", max_refills=4, **config):
    from transformers import AutoModelForImageTextToText
    from trl import GRPOConfig

    from srpo import pixels
    from srpo.grpo_trainer import SRPOGRPOTrainer
    from srpo.tiny import resolve_model

    path = resolve_model("tiny://random")
    processor = pixels.load_processor(path, pixels.PixelBudget(3136, 262_144))  # the cluster recipes' pixel budget
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    args = GRPOConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=batch,
        num_generations=group,
        max_completion_length=8,
        learning_rate=1e-2,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        seed=0,
        shuffle_dataset=False,
        beta=0.0,
        lr_scheduler_type="constant",
        **config,
    )

    def reward(completions, **kwargs):  # varies within a group, so advantages are not all zero
        return [float(len(str(c)) % 3) for c in completions]

    return SRPOGRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        grade=grade,
        accuracy_filter=(0.1, 0.9),
        filter_metric="mean",
        filter_mode=filter_mode,
        max_refills=max_refills,
    )


def test_a_batch_mixing_text_only_and_image_rows_trains(tmp_path):
    counter = iter(range(10**6))

    def half_right(text, row):  # 1 of 2 per group: every group kept
        right = bool(next(counter) % 2)
        return {"first_correct": right, "final_correct": right}

    # 6 prompts x 2 completions per step: text-only, small, wide, text-only, two-image and large rows together
    trainer = tiny_trainer(
        tmp_path, mixed_dataset(6), half_right, batch=12, group=2, max_steps=2, gradient_accumulation_steps=1
    )
    before = {k: v.clone() for k, v in trainer.model.named_parameters() if "visual" not in k}
    trainer.train()  # TRL 1.16 alone: TypeError ... got type=<class 'NoneType'> at step 1
    assert trainer.state.global_step == 2
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.named_parameters() if k in before)


def test_a_step_whose_groups_were_all_filtered_does_not_move_the_weights(tmp_path):
    calls = {"n": 0}

    def grade(text, row):  # step 1: mixed groups (kept, momentum builds); step 2: all right (dropped)
        calls["n"] += 1
        right = calls["n"] > 4 or calls["n"] % 2 == 0  # 4 completions (1 group) per step
        return {"first_correct": right, "final_correct": right}

    trainer = tiny_trainer(tmp_path, mixed_dataset(4), grade, max_steps=2, gradient_accumulation_steps=1)
    snapshots = []

    from transformers import TrainerCallback

    class Snap(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            snapshots.append({k: v.detach().clone() for k, v in trainer.model.named_parameters() if v.requires_grad})

    trainer.add_callback(Snap())
    trainer.train()
    assert len(snapshots) == 2
    first, second = snapshots
    steps = [h for h in trainer.state.log_history if "srpo/filter_kept" in h]
    assert [h["srpo/filter_kept"] for h in steps] == [1.0, 0.0] and steps[1]["srpo/empty_updates"] == 1.0
    moved = [k for k in first if not torch.equal(first[k], second[k])]
    assert not moved, f"an update with no kept group moved {len(moved)} tensors, e.g. {moved[:3]}"


def test_the_filter_keeps_a_step_with_signal_moving(tmp_path):
    """Control for the test above: the same schedule with a kept second step does move the weights."""
    calls = {"n": 0}

    def grade(text, row):
        calls["n"] += 1
        return {"first_correct": bool(calls["n"] % 2), "final_correct": bool(calls["n"] % 2)}

    trainer = tiny_trainer(tmp_path, mixed_dataset(4), grade, max_steps=2, gradient_accumulation_steps=1)
    snapshots = []
    from transformers import TrainerCallback

    class Snap(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            snapshots.append({k: v.detach().clone() for k, v in trainer.model.named_parameters() if v.requires_grad})

    trainer.add_callback(Snap())
    trainer.train()
    first, second = snapshots
    assert any(not torch.equal(first[k], second[k]) for k in first)


def test_micro_batches_of_text_only_rows_next_to_image_ones(tmp_path):
    """A rollout split into micro-batches of one prompt's completions (the cluster recipes: 8 per device = one
    prompt's 8 completions): a text-only prompt's micro-batch gets empty image inputs from TRL 1.16, which
    Qwen2.5-VL's vision tower rejects. Scored in chunks (steps_per_generation > accumulation) and trained."""
    counter = iter(range(10**6))

    def half_right(text, row):
        right = bool(next(counter) % 2)
        return {"first_correct": right, "final_correct": right}

    trainer = tiny_trainer(
        tmp_path,
        mixed_dataset(6),
        half_right,
        batch=2,
        group=2,
        max_steps=3,
        gradient_accumulation_steps=2,
        steps_per_generation=6,
    )
    trainer.train()  # TRL 1.16 alone: ValueError: torch.cat(): expected a non-empty list of Tensors
    assert trainer.state.global_step == 3


def loss_inputs(trainer) -> list[dict]:
    """Record what every loss call sees: per row, its question number and whether it has loss tokens."""
    import re

    seen = []
    original = trainer.compute_loss

    def compute_loss(model, inputs, *args, **kwargs):
        texts = trainer.processing_class.batch_decode(inputs["prompt_ids"], skip_special_tokens=True)
        seen.append(
            [
                {"question": int(re.search(r"What is (\d+) \+ 1", t).group(1)), "tokens": int(m.sum())}
                for t, m in zip(texts, inputs["completion_mask"], strict=True)
            ]
        )
        return original(model, inputs, *args, **kwargs)

    trainer.compute_loss = compute_loss
    return seen


def by_question(rule):
    """A grade that depends on the question only (the row's answer is question + 1)."""
    counter = iter(range(10**6))

    def grade(text, row):
        right = rule(int(row["answer"]) - 1, next(counter))
        return {"first_correct": right, "final_correct": right}

    return grade


def test_refill_replaces_filtered_groups_with_kept_groups_of_new_prompts(tmp_path):
    """The release's filter: a group the model always solves is dropped and the rollout is topped up with new
    prompts' kept groups (text-only, image and two-image rows alike), so the update trains on a full batch.
    Masking (the old behaviour) would leave the solved group's rows in the batch with no loss tokens."""
    grade = by_question(lambda q, n: True if q % 2 == 0 else bool(n % 2))  # even questions: always right
    trainer = tiny_trainer(
        tmp_path,
        mixed_dataset(12),
        grade,
        batch=8,
        group=2,
        max_steps=2,
        gradient_accumulation_steps=2,
        steps_per_generation=2,
        filter_mode="refill",
    )
    seen = loss_inputs(trainer)
    trainer.train()
    rows = [r for batch in seen for r in batch]
    assert len(seen) == 4 and all(len(batch) == 8 for batch in seen)  # 2 steps x 2 micro-batches of 8 rows
    assert all(r["question"] % 2 == 1 and r["tokens"] > 0 for r in rows), rows  # kept groups only, all trained
    assert {r["question"] for r in rows} - {1, 3, 5, 7}  # questions beyond the first rollouts: the refill's
    logged = [h for h in trainer.state.log_history if "srpo/filter_refills" in h]
    assert logged and all(h["srpo/filter_refills"] >= 1 and h["srpo/filter_masked"] == 0 for h in logged)


def test_refill_gives_up_after_max_refills_and_masks_the_rest(tmp_path):
    grade = by_question(lambda q, n: True)  # every group solved: nothing to refill with
    trainer = tiny_trainer(
        tmp_path,
        mixed_dataset(8),
        grade,
        batch=4,
        group=2,
        max_steps=1,
        gradient_accumulation_steps=1,
        filter_mode="refill",
        max_refills=1,
    )
    seen = loss_inputs(trainer)
    trainer.train()
    assert len(seen[0]) == 4 and all(r["tokens"] == 0 for r in seen[0])
    logged = next(h for h in trainer.state.log_history if "srpo/filter_refills" in h)
    assert logged["srpo/filter_refills"] == 1 and logged["srpo/filter_masked"] == 1.0
    assert logged["srpo/empty_updates"] == 1.0
