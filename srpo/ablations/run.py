"""Run mode (tiny-cpu): train and evaluate every arm here, each in its own run directory, through the same
entry points as the main run (``python -m srpo.grpo`` then ``python -m srpo.benchmarks``).

An arm's run directory is ``<run_dir>/ablations/arms/<arm>/seed<s>/``. Its GRPO starts from this run's
models and reads this run's RL prompts (by path), so arms share stages 01–03 and differ only in what the
arm changes. Finished arms are skipped when the stage is re-run (each arm's stages resume on their own).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from srpo import paths, progress
from srpo.ablations.arms import ARMS, Arm, link_shared_stage02, needs_own_sft_set, select_arms, sft_set_overrides
from srpo.launch import run_stage


def arm_dir(run_dir, arm: str, seed: int) -> Path:
    return paths.stage_dir(run_dir, "ablations") / "arms" / arm / f"seed{seed}"


def start_model(arm: Arm, run_dir, profile: str, seed: int, args) -> str:
    """The checkpoint an arm trains from (or is evaluated as)."""
    if arm.start == "base":
        return sft_base_model(run_dir, profile)
    if arm.start == "sft":
        return str(paths.final_dir(run_dir, "cold_start_sft"))
    if arm.start == "cot_sft":
        return str(paths.final_dir(train_cot_sft(run_dir, profile, seed, args), "cold_start_sft"))
    raise ValueError(f"arm {arm.name}: unknown start {arm.start!r}")


def sft_base_model(run_dir, profile: str) -> str:
    """The model this run's SFT stage started from (its resolved config), else the profile's recipe."""
    from srpo import config

    resolved = paths.stage_dir(run_dir, "cold_start_sft") / "config.yaml"
    if resolved.exists():
        return config.read_yaml_mapping(resolved)["model_name_or_path"]
    from srpo.rehearsal import recipe_value  # the recipe's value, or the rehearsal's tiny stand-in

    return recipe_value(profile, "cold_start_sft", "model_name_or_path")


def cot_dataset(run_dir) -> str:
    """The plain-CoT arm's SFT data: a view of this run's SFT set, derived by the SFT stage when it loads."""
    return "cot:" + str(paths.stage_dir(run_dir, "reflection_generation") / "sft")


def train_cot_sft(run_dir, profile: str, seed: int, args) -> Path:
    target = arm_dir(run_dir, "cot_sft_grpo", seed)
    sft_run = run_dir
    if needs_own_sft_set(ARMS["cot_sft_grpo"], run_dir, profile):  # stage 02 again, in the arm's layout
        sft_run = target
        if not paths.is_done(target, "reflection_generation"):
            link_shared_stage02(run_dir, target)
            run_stage("reflection_generation", profile, target, _overrides(
                **sft_set_overrides(ARMS["cot_sft_grpo"]), torch_threads=args.arm_torch_threads), echo=False)  # fmt: skip
    if not paths.is_done(target, "cold_start_sft"):
        run_stage("cold_start_sft", profile, target, _overrides(
            dataset=cot_dataset(sft_run), num_train_epochs=args.cot_sft_epochs, eval_samples=0,
            eval_prompt="single_pass", torch_threads=args.arm_torch_threads, launcher="local", seed=seed), echo=False)  # fmt: skip
    return target


def run_arm(arm: Arm, run_dir, profile: str, seed: int, args) -> dict:
    """Train (if the arm trains) and evaluate one arm; returns where its results are."""
    target = arm_dir(run_dir, arm.name, seed)
    start = time.time()
    model = start_model(arm, run_dir, profile, seed, args)
    if arm.trains:
        model = _train(arm, run_dir, target, profile, seed, model, args)
    if not paths.is_done(target, "benchmarks"):
        run_stage("benchmarks", profile, target, _overrides(
            models=f"{arm.name}={model}", model_prompts=f"{arm.name}={arm.prompt}", paper_models=f"{arm.name}=-",
            synthetic_n=args.eval_n, sampled_limit=args.eval_sampled_limit, sampled_n=args.eval_sampled_n,
            seed=args.seed, torch_threads=args.arm_torch_threads), echo=False)  # fmt: skip
    return {"arm": arm.name, "seed": seed, "run_dir": str(target), "seconds": round(time.time() - start, 1)}


def _train(arm: Arm, run_dir, target: Path, profile: str, seed: int, model: str, args) -> str:
    main_grpo = paths.stage_dir(run_dir, "grpo_rl")
    if arm.name == "srpo" and args.reuse_main_srpo and _same_budget(main_grpo, args.grpo_max_steps, seed):
        # notebook 04 already trained exactly this arm: record its GRPO summary here, and evaluate its model
        paths.write_summary(
            target, "grpo_rl", {**paths.read_summary(run_dir, "grpo_rl"), "reused_from": str(main_grpo)}
        )
        return str(paths.final_dir(run_dir, "grpo_rl"))
    if not paths.is_done(target, "grpo_rl"):
        rl = paths.stage_dir(run_dir, "data_curation") / "rl_train"
        run_stage("grpo_rl", profile, target, _overrides(
            model_name_or_path=model, dataset=str(rl), max_steps=args.grpo_max_steps, seed=seed, eval_samples=0,
            torch_threads=args.arm_torch_threads, launcher="local") + " " + arm.grpo, echo=False)  # fmt: skip
    return str(paths.final_dir(target, "grpo_rl"))


def _same_budget(grpo_dir: Path, steps: int, seed: int) -> bool:
    summary = grpo_dir / paths.SUMMARY
    if not summary.exists():
        return False
    s = json.loads(summary.read_text())
    config_text = (grpo_dir / "config.yaml").read_text()
    return (
        s.get("steps") == steps
        and f"\nseed: {seed}\n" in config_text
        and s.get("reward", {}).get("variant") == "paper"
    )


def _overrides(**values) -> str:
    return " ".join(f"--{k} {v}" for k, v in values.items())


def run_arms(cfg) -> list[dict]:
    """All selected arms x seeds, ``workers`` at a time; prints one line per finished arm."""
    args, run_dir, profile = cfg.args, cfg.run.run_dir, cfg.run.profile
    jobs = [(arm, seed) for arm in select_arms(args.arms) for seed in args.seeds]
    jobs = [(arm, seed) for arm, seed in jobs if arm.trains or seed == args.seeds[0]]  # eval-only arms: once
    jobs.sort(key=lambda job: (job[0].start != "cot_sft", not job[0].trains))  # longest first: workers finish together
    done = []
    lines = progress.Lines("ablation_arms", len(jobs), every=1)
    lines.update(0)
    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = {pool.submit(run_arm, arm, run_dir, profile, seed, args): (arm, seed) for arm, seed in jobs}
        for future in as_completed(futures):
            arm, seed = futures[future]
            result = future.result()  # an arm that fails stops the stage, with its log path in the message
            done.append(result)
            print(f"[ablations] {arm.name} seed {seed}: done in {result['seconds']:.0f}s", flush=True)
            lines.update(len(done), last=f"{arm.name}/seed{seed}")
    return done
