"""Run mode (tiny-cpu): train and evaluate every arm here, each in its own run directory, through the same
entry points as the main run (``python -m srpo.grpo`` then ``python -m srpo.benchmarks``).

An arm's run directory is ``<run_dir>/ablations/arms/<arm>/seed<s>/``. Its GRPO reads this run's RL prompts
(by path), so arms share stages 01-02 and differ only in what the arm changes and in the seed. A seed is a
whole training run: with ``sft_per_seed`` an arm that starts from the reflection SFT model starts, at seed s,
from an SFT run with seed s (``<run_dir>/ablations/sft/seed<s>/``, trained once and shared by every arm at
that seed; seed = notebook 03's seed reuses its model), so the spread over seeds covers SFT and GRPO. The data
(stages 01-02) and the evaluation's own sampling seed are the same for every seed. Finished arms are skipped
when the stage is re-run (each arm's stages resume on their own).
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from srpo import paths, progress
from srpo.ablations.arms import ARMS, Arm, link_shared_stage02, needs_own_sft_set, select_arms, sft_set_overrides
from srpo.launch import run_stage

log = logging.getLogger(__package__)


def arm_dir(run_dir, arm: str, seed: int) -> Path:
    return paths.stage_dir(run_dir, "ablations") / "arms" / arm / f"seed{seed}"


def sft_seed_dir(run_dir, seed: int) -> Path:
    return paths.stage_dir(run_dir, "ablations") / "sft" / f"seed{seed}"


def run_sft_seed(run_dir) -> int:
    """The seed notebook 03 trained the run's SFT model with."""
    from srpo import config

    return int(config.read_yaml_mapping(paths.stage_dir(run_dir, "cold_start_sft") / "config.yaml")["seed"])


def sft_model(run_dir, seed: int, args) -> str:
    """The reflection SFT model an arm starts from at ``seed``: notebook 03's, or this seed's own SFT run."""
    if not args.sft_per_seed or seed == run_sft_seed(run_dir):
        return str(paths.final_dir(run_dir, "cold_start_sft"))
    return str(paths.final_dir(sft_seed_dir(run_dir, seed), "cold_start_sft"))


def train_sft_seed(run_dir, profile: str, seed: int, args) -> dict:
    """Notebook 03's SFT again with another seed (same data and recipe, no held-out evaluation)."""
    target = sft_seed_dir(run_dir, seed)
    start = time.time()
    if not paths.is_done(target, "cold_start_sft"):
        sft_set = paths.stage_dir(run_dir, "reflection_generation") / "sft"
        run_stage(
            "cold_start_sft",
            profile,
            target,
            _overrides(
                model_name_or_path=sft_base_model(run_dir, profile),
                dataset=sft_set,
                seed=seed,
                eval_samples=0,
                torch_threads=args.arm_torch_threads,
                launcher="local",
            ),
            echo=False,
        )
    return {"arm": "sft", "seed": seed, "run_dir": str(target), "seconds": round(time.time() - start, 1)}


def start_model(arm: Arm, run_dir, profile: str, seed: int, args) -> str:
    """The checkpoint an arm trains from (or is evaluated as)."""
    if arm.start == "base":
        return sft_base_model(run_dir, profile)
    if arm.start == "sft":
        return sft_model(run_dir, seed, args)
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
            run_stage(
                "reflection_generation",
                profile,
                target,
                _overrides(**sft_set_overrides(ARMS["cot_sft_grpo"]), torch_threads=args.arm_torch_threads),
                echo=False,
            )
    if not paths.is_done(target, "cold_start_sft"):
        run_stage(
            "cold_start_sft",
            profile,
            target,
            _overrides(
                dataset=cot_dataset(sft_run),
                num_train_epochs=args.cot_sft_epochs,
                eval_samples=0,
                eval_prompt="single_pass",
                torch_threads=args.arm_torch_threads,
                launcher="local",
                seed=seed,
            ),
            echo=False,
        )
    return target


def run_arm(arm: Arm, run_dir, profile: str, seed: int, args) -> dict:
    """Train (if the arm trains) and evaluate one arm; returns where its results are."""
    target = arm_dir(run_dir, arm.name, seed)
    start = time.time()
    model = start_model(arm, run_dir, profile, seed, args)
    if arm.trains:
        model = _train(arm, run_dir, target, profile, seed, model, args)
    if not paths.is_done(target, "benchmarks"):
        run_stage(
            "benchmarks",
            profile,
            target,
            _overrides(
                models=f"{arm.name}={model}",
                model_prompts=f"{arm.name}={arm.prompt}",
                paper_models=f"{arm.name}=-",
                synthetic_n=args.eval_n,
                sampled_limit=args.eval_sampled_limit,
                sampled_n=args.eval_sampled_n,
                seed=args.seed,
                torch_threads=args.arm_torch_threads,
            ),
            echo=False,
        )
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
        run_stage(
            "grpo_rl",
            profile,
            target,
            _overrides(
                model_name_or_path=model,
                dataset=str(rl),
                max_steps=args.grpo_max_steps,
                seed=seed,
                eval_samples=0,
                torch_threads=args.arm_torch_threads,
                launcher="local",
            )
            + " "
            + arm.grpo,
            echo=False,
        )
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


def relative_cost(arm: Arm) -> float:
    """Rough cost of an arm's job, for the order only (tiny-cpu, measured: an SFT + GRPO arm ~120 s, a
    five-block GRPO arm ~105 s, a single-pass GRPO arm ~57 s, an evaluation ~13 s)."""
    if not arm.trains:
        return 0.1
    own_sft = 0.2 if arm.start == "cot_sft" else 0.0
    return own_sft + (0.5 if arm.prompt == "single_pass" and arm.start == "base" else 1.0)


def arm_seeds(arm: Arm, args) -> list[int]:
    """The seeds an arm runs with: every seed when it trains (or is an SFT model that does), except the arms
    listed in ``one_seed_arms``, which run with the first seed only; the untrained base once."""
    varies = arm.trains or (arm.start == "sft" and args.sft_per_seed)
    return list(args.seeds) if varies and arm.name not in args.one_seed_arms else list(args.seeds[:1])


def run_arms(cfg) -> list[dict]:
    """All selected arms x their seeds, ``workers`` at a time (``run_jobs``); logs one line per finished job.

    First the SFT runs of the extra seeds (every SFT-started arm at that seed waits for them), then the arms,
    longest first so the workers finish together."""
    args, run_dir, profile = cfg.args, cfg.run.run_dir, cfg.run.profile
    arms = select_arms(args.arms)
    select_arms(args.one_seed_arms or ["base"])  # unknown names: the same error as for ``arms``
    jobs = [(arm, seed) for arm in arms for seed in arm_seeds(arm, args)]
    sft_seeds = sorted(
        {
            s
            for arm, s in jobs
            if arm.start == "sft" and sft_model(run_dir, s, args) != sft_model(run_dir, run_sft_seed(run_dir), args)
        }
    )
    jobs.sort(key=lambda job: -relative_cost(job[0]))  # longest first: the workers finish together
    stale = []
    for arm, seed in jobs:
        target = arm_dir(run_dir, arm.name, seed)
        if arm.trains and paths.is_done(target, "grpo_rl"):
            steps = paths.read_summary(target, "grpo_rl").get("steps")
            if steps != args.grpo_max_steps:
                stale.append(f"{target} ({steps} steps)")
    if stale:  # reusing them would report an old budget under the new one's name
        raise ValueError(
            f"finished arms trained another GRPO budget than grpo_max_steps {args.grpo_max_steps}: "
            f"{', '.join(stale)}; run the new budget in another run directory, or remove those folders"
        )
    return run_jobs(jobs, run_dir, profile, args, sft_seeds)


def run_jobs(jobs: list[tuple[Arm, int]], run_dir, profile: str, args, sft_seeds=(), label="ablation_arms") -> list:
    """Train the SFT runs of ``sft_seeds``, then run every ``(arm, seed)`` of ``jobs`` (``run_arm``),
    ``args.workers`` at a time in this process's threads (each job is its own stage processes). Logs one line and
    advances one progress line per finished job; returns the arms' results. A failing job stops the stage, with
    its log path in the message."""
    done = []
    lines = progress.Lines(label, len(sft_seeds) + len(jobs), every=1)
    lines.update(0)
    from trl import TrlParser  # noqa: F401  why: trl's lazy import is not thread-safe; resolve it before the workers

    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        for phase in (
            [pool.submit(train_sft_seed, run_dir, profile, s, args) for s in sft_seeds],
            [pool.submit(run_arm, arm, run_dir, profile, seed, args) for arm, seed in jobs],
        ):
            for future in as_completed(phase):
                result = future.result()
                done.append(result)
                log.info(f"{result['arm']} seed {result['seed']}: done in {result['seconds']:.0f}s")
                lines.update(len(done), last=f"{result['arm']}/seed{result['seed']}")
    return [r for r in done if r["arm"] != "sft"]
