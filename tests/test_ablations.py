"""Stage 06: aggregation of arm run directories into the table and the report, on fixture run dirs, and the
job chains that slurm/ablation_arms.sh submits on a cluster."""

import json

import pytest

from srpo import config, paths
from srpo.ablations import ARMS, collect, notes, report, submit
from srpo.ablations.__main__ import main
from srpo.launch import prepare_stage


def write_arm(run_dir, arm, first, final, *, sampled_first=None, n=300, fix=0.3, brk=0.1, unchanged=0.7, steps=150):
    """A finished arm: benchmarks (greedy + sampled) and, for trained arms, a GRPO summary."""

    def row(mode, f1, f2):
        return {
            "model": arm,
            "label": "synthetic:test",
            "mode": mode,
            "scorer": "rule",
            "n": n,
            "first_acc": f1,
            "final_acc": f2,
            "fix_rate": fix,
            "break_rate": brk,
            "unchanged_rate": unchanged,
            "structure_rate": 1.0,
        }

    sampled = sampled_first if sampled_first is not None else first - 0.1
    paths.write_summary(
        run_dir, "benchmarks", {"results": [row("greedy", first, final), row("sampled", sampled, final - 0.05)]}
    )
    if ARMS[arm].trains:
        paths.write_summary(
            run_dir,
            "grpo_rl",
            {
                "steps": steps,
                "train_seconds": 60.0,
                "reward": {"variant": "released" if "released" in arm else "paper"},
            },
        )


@pytest.fixture
def arm_dirs(tmp_path):
    root = tmp_path / "run" / "ablations" / "arms"
    write_arm(root / "base" / "seed0", "base", 0.60, 0.60, unchanged=1.0)
    write_arm(root / "sft_only" / "seed0", "sft_only", 0.70, 0.71)
    for seed, (first, final) in enumerate([(0.80, 0.82), (0.84, 0.86)]):
        write_arm(root / "srpo" / f"seed{seed}", "srpo", first, final)
    # the released reward: far worse first answers (sampled), final answers as good -> erring on purpose
    write_arm(root / "srpo_released" / "seed0", "srpo_released", 0.70, 0.84, sampled_first=0.45, fix=0.7)
    return tmp_path / "run"


def test_aggregate_means_spreads_and_report(arm_dirs):
    found = collect.arm_runs_in(arm_dirs)
    assert set(found) == {("base", 0), ("sft_only", 0), ("srpo", 0), ("srpo", 1), ("srpo_released", 0)}
    rows = collect.aggregate([collect.arm_results(a, s, p) for (a, s), p in found.items()])
    srpo = next(r for r in rows if r["arm"] == "srpo" and r["mode"] == "greedy")
    assert (
        srpo["seeds"] == 2
        and srpo["final_acc"] == pytest.approx(0.84)
        and srpo["final_acc_ci"] > 0
        and len(srpo["final_acc_by_seed"]) == 2
    )
    table = {r["arm"]: r for r in report.arm_table(rows)}
    assert (
        table["srpo"]["greedy final"] == "84.0 ± 25.4"
    )  # 95% t-interval, 2 seeds: 12.706 x 0.028 / sqrt 2 and table["srpo"]["paper Table 3 avg"] == "53.5"
    assert table["base"]["GRPO steps"] == "–" and table["srpo"]["GRPO steps"] == 150
    check = report.released_reward_check(rows)
    assert "erring on purpose" in check and "45.0%" in check
    text = "\n".join(notes.arm_notes(rows))
    assert "sft_only vs base" in text and "srpo vs sft_only" in text


def test_released_check_says_when_there_is_no_effect(arm_dirs):
    root = arm_dirs / "ablations" / "arms"
    write_arm(root / "srpo_released" / "seed0", "srpo_released", 0.82, 0.84, sampled_first=0.73)
    rows = collect.aggregate([collect.arm_results(a, s, p) for (a, s), p in collect.arm_runs_in(arm_dirs).items()])
    assert "did not measurably teach the policy to answer wrong first" in report.released_reward_check(rows)


def test_aggregate_mode_stage_on_sibling_run_dirs(tmp_path, monkeypatch):
    (tmp_path / "recipes").symlink_to(config.recipes_dir())  # a project root whose runs/ is this test's
    monkeypatch.setenv("SRPO_HOME", str(tmp_path))
    runs = tmp_path / "runs" / "7b"
    write_arm(runs / "main-ablation-srpo-s0", "srpo", 0.8, 0.8)
    write_arm(runs / "main-ablation-srpo_released-s0", "srpo_released", 0.8, 0.8)
    write_arm(runs / "main-ablation-base-s0", "base", 0.6, 0.6)
    cfg, _ = prepare_stage("ablations", "7b", runs / "main")
    summary = main(cfg)
    assert summary["arms"] == ["base", "srpo", "srpo_released"] and summary["mode"] == "aggregate"
    report_text = (runs / "main" / "ablations" / "report.md").read_text()
    assert "Where the paper and the released code disagree" in report_text and "rule" in report_text
    assert (runs / "main" / "ablations" / "figures" / "arms.png").exists()
    assert json.loads((runs / "main" / "ablations" / "table.json").read_text())


def test_cluster_job_chains(capsys):
    jobs = submit.arm_jobs(ARMS["srpo_released"], 1, "7b", "main", cot_set=None)
    assert [j["name"] for j in jobs] == ["grpo", "bench"] and jobs[0]["script"] == "slurm/grpo_7b.sh"
    assert "--reward released" in jobs[0]["overrides"] and "--seed 1" in jobs[0]["overrides"]
    assert "cold_start_sft/final" in jobs[0]["overrides"] and jobs[0]["run_name"] == "main-ablation-srpo_released-s1"
    cot = submit.arm_jobs(ARMS["cot_sft_grpo"], 0, "32b", "main", cot_set="/x/cot")
    # 32b's stage 02 makes the paper layout: the plain-CoT arm makes its own two-pass SFT set first
    assert [j["name"] for j in cot] == ["reflect", "sft", "grpo", "bench"] and cot[1]["script"] == "slurm/sft_32b.sh"
    assert [j["name"] for j in submit.arm_jobs(ARMS["base"], 0, "7b", "main", None)] == ["bench"]
    ids = submit.submit("7b", "main", ["srpo", "base"], [0, 1], dry_run=True)
    printed = capsys.readouterr().out
    # srpo: seed 0 is the main run's GRPO (reuse_main_srpo: bench only), seed 1 (grpo, bench); base: bench; aggregate
    assert printed.count("sbatch") == 1 + 2 + 1 + 1
    assert "--dependency=afterok:<main-ablation-srpo-s1/grpo_7b.sh>" in printed and len(ids) == 4


def test_released_check_separates_incentive_from_strategy(arm_dirs):
    root = arm_dirs / "ablations" / "arms"
    # first answers far worse and final answers worse too: the incentive shows, the err-then-fix strategy fails
    write_arm(root / "srpo_released" / "seed0", "srpo_released", 0.65, 0.70, sampled_first=0.45)
    rows = collect.aggregate([collect.arm_results(a, s, p) for (a, s), p in collect.arm_runs_in(arm_dirs).items()])
    check = report.released_reward_check(rows)
    assert "The incentive shows" in check and "does not work here" in check


@pytest.mark.parametrize("profile", ["7b", "32b"])
def test_every_arms_jobs_parse_and_the_cot_arm_gets_the_layout_it_needs(profile, tmp_path):
    """Stage 06 at 7b/32b: the plain-CoT view needs the two-pass layout and 7b/32b's stage 02 makes the paper
    layout, so the arm's SFT job used to raise and the aggregate job (afterok on every arm) never ran."""
    from srpo.cluster.__main__ import load_for_plan
    from srpo.stages import STAGES

    stage_of = {"reflect": "reflection_generation", "sft": "cold_start_sft", "grpo": "grpo_rl", "bench": "benchmarks"}
    for arm in ARMS.values():
        for job in submit.arm_jobs(arm, 0, profile, "main", cot_set="cot:/main/reflection_generation/sft"):
            stage = stage_of[job["name"]]
            assert stage in STAGES
            load_for_plan(stage, profile, tmp_path / arm.name, job["overrides"])  # parses, as on a login node
    cot = submit.arm_jobs(ARMS["cot_sft_grpo"], 0, profile, "main", cot_set="cot:/main/reflection_generation/sft")
    reflect, sft = cot[0], cot[1]
    assert reflect["overrides"] == "--layout two_pass --sft_prompt srpo_rl" and reflect["run_name"] == sft["run_name"]
    own_set = paths.default_run_dir(profile, sft["run_name"]) / "reflection_generation" / "sft"
    assert f"--dataset cot:{own_set} " in sft["overrides"] + " "
    assert [j["name"] for j in submit.arm_jobs(ARMS["cot_sft_grpo"], 0, "tiny-cpu", "main", "cot:/x")][0] == "sft"


def test_the_arms_stage02_reads_the_main_runs_pool_and_attempts(tmp_path):
    from srpo.ablations.arms import SHARED_STAGE02, link_shared_stage02

    main_run, arm_run = tmp_path / "main", tmp_path / "arm"
    link_shared_stage02(main_run, arm_run)  # before the main run's stage 02 exists (submit time)
    (main_run / "data_curation").mkdir(parents=True)
    paths.write_summary(main_run, "data_curation", {"ok": 1})
    (main_run / "reflection_generation").mkdir()
    (main_run / "reflection_generation" / "attempts.jsonl").write_text('{"id": "a"}\n')
    assert paths.is_done(arm_run, "data_curation")
    assert (arm_run / "reflection_generation" / "attempts.jsonl").read_text() == '{"id": "a"}\n'
    assert all((arm_run / rel).is_symlink() for rel in SHARED_STAGE02)
    link_shared_stage02(main_run, arm_run)  # idempotent


def test_sft_only_is_evaluated_with_the_prompt_it_was_trained_with(tmp_path):
    from srpo.bench.prompts import TRAINED, trained_prompt

    run = tmp_path / "run"
    for stage, text in (
        ("cold_start_sft", "dataset: stage:reflection_generation\n"),
        ("reflection_generation", "sft_prompt: srpo_sft\nsft_prompt_placement: system\n"),
    ):
        (run / stage).mkdir(parents=True)
        (run / stage / "config.yaml").write_text(text)
    assert trained_prompt(run / "cold_start_sft" / "final") == ("srpo_sft", "system")
    (run / "arm" / "cold_start_sft").mkdir(parents=True)
    (run / "arm" / "cold_start_sft" / "config.yaml").write_text("dataset: cot:/x/sft\n")
    assert trained_prompt(run / "arm" / "cold_start_sft" / "final") == ("single_pass", "system")
    with pytest.raises(ValueError, match="explicit prompt"):
        trained_prompt(tmp_path / "hub-model")
    assert ARMS["sft_only"].prompt == TRAINED
    for profile in ("7b", "32b"):
        assert "sft=trained" in config.recipe_value(profile, "benchmarks", "model_prompts")
        assert config.recipe_value(profile, "reflection_generation", "sft_prompt") != "srpo_rl"


def test_seeds_plan_one_sft_per_seed_shared_by_the_arms_that_start_from_it(tmp_path, monkeypatch):
    """Run mode with seeds 0-2: seed 0 reuses notebook 03's SFT model, seeds 1 and 2 get one SFT run each, trained
    before any arm needs it, and every SFT-started arm at seed s (evaluated or trained) uses seed s's model;
    ``one_seed_arms`` run once and the untrained base once. The stages are recorded, not run."""
    from srpo.ablations import run as arm_run

    main_run = tmp_path / "runs" / "tiny-cpu" / "main"
    (main_run / "cold_start_sft").mkdir(parents=True)
    (main_run / "cold_start_sft" / "config.yaml").write_text("seed: 0\nmodel_name_or_path: tiny://instruct\n")
    calls = []

    def fake_run_stage(stage, profile, run_dir, overrides="", echo=True):
        calls.append((stage, str(run_dir), overrides))
        paths.write_summary(run_dir, stage, {"stage": stage})
        return {}

    monkeypatch.setattr(arm_run, "run_stage", fake_run_stage)
    cfg = config.load(
        "ablations",
        "tiny-cpu",
        main_run,
        "--seeds 0 1 2 --workers 1 --one_seed_arms no_effectiveness --arms base sft_only srpo no_effectiveness",
    )
    arm_run.run_arms(cfg)

    sft_runs = [(d, o) for s, d, o in calls if s == "cold_start_sft"]
    assert [d.rsplit("/", 1)[-1] for d, _ in sft_runs] == ["seed1", "seed2"]  # seed 0 is notebook 03's
    assert all("--dataset " + str(main_run / "reflection_generation" / "sft") in o for _, o in sft_runs)
    first_arm = next(i for i, c in enumerate(calls) if c[0] != "cold_start_sft")
    assert first_arm == 2  # both SFT seeds finished before any arm started

    def model_of(stage, arm, seed):
        (o,) = [o for s, d, o in calls if s == stage and d.endswith(f"arms/{arm}/seed{seed}")]
        return o

    assert str(main_run / "cold_start_sft" / "final") in model_of("benchmarks", "sft_only", 0)
    for seed in (1, 2):
        seed_model = str(main_run / "ablations" / "sft" / f"seed{seed}" / "cold_start_sft" / "final")
        assert seed_model in model_of("benchmarks", "sft_only", seed)
        assert f"--model_name_or_path {seed_model}" in model_of("grpo_rl", "srpo", seed)
    arm_dirs = {d.split("arms/")[1] for _, d, _ in calls if "arms/" in d}
    assert {a for a in arm_dirs if a.startswith(("base", "no_effectiveness"))} == {
        "base/seed0",
        "no_effectiveness/seed0",
    }


def test_paired_verdicts_use_the_seeds_both_arms_ran():
    def row(arm, by_seed):
        values = list(by_seed.values())
        return {
            "arm": arm,
            "benchmark": "synthetic:test",
            "mode": "sampled",
            "seeds": len(values),
            "n": 400,
            "final_acc": sum(values) / len(values),
            "final_acc_by_seed": by_seed,
            "first_acc": sum(values) / len(values),
            "first_acc_by_seed": by_seed,
        }

    srpo = row("srpo", {0: 0.60, 1: 0.62, 2: 0.61})
    better = row("cot_sft_grpo", {0: 0.66, 1: 0.69, 2: 0.67})  # +6.3 points, the same sign on every seed
    noisy = row("grpo_no_sft", {0: 0.70, 1: 0.50, 2: 0.64})
    diff, interval, z = notes.comparison(better, srpo, "final_acc")
    assert z is None and interval.n == 3 and interval.excludes_zero() and diff == pytest.approx(0.063, abs=1e-3)
    assert "a difference" in notes.verdict((diff, interval, z))
    assert "no difference shown" in notes.verdict(notes.comparison(srpo, noisy, "final_acc"))
    one_seed = row("no_effectiveness", {0: 0.40})  # pairs on seed 0 only: falls back to a z, and says so
    text = notes.verdict(notes.comparison(one_seed, srpo, "final_acc"))
    assert "one seed" in text and "spread between training runs is not in it" in text
    base = row("base", {0: 0.55})  # untrained: held fixed against every seed of the other arm
    _, interval, _ = notes.comparison(srpo, base, "final_acc")
    assert interval.n == 3 and interval.mean == pytest.approx(0.06)


def test_arms_finished_with_another_budget_are_refused_before_any_job(tmp_path, monkeypatch):
    from srpo.ablations import run as arm_run

    main_run = tmp_path / "runs" / "tiny-cpu" / "main"
    (main_run / "cold_start_sft").mkdir(parents=True)
    (main_run / "cold_start_sft" / "config.yaml").write_text("seed: 0\nmodel_name_or_path: tiny://instruct\n")
    paths.write_summary(arm_run.arm_dir(main_run, "srpo_released", 0), "grpo_rl", {"steps": 200})
    monkeypatch.setattr(arm_run, "run_stage", lambda *a, **k: pytest.fail("a job started"))
    cfg = config.load("ablations", "tiny-cpu", main_run, "--seeds 0 --arms srpo_released --grpo_max_steps 400")
    with pytest.raises(ValueError, match=r"srpo_released/seed0 \(200 steps\)"):
        arm_run.run_arms(cfg)
