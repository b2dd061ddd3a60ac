"""One config dataclass per stage (``<stage>.py``), plus the shared ``RunArgs`` and ``LaunchArgs``.

Plain data: these modules import nothing outside ``srpo.configs`` (tests/test_configs_plain.py). A check that
needs a stage's own registries (benchmark, prompt or question-type names) is the stage's ``check`` in
``srpo.stages``, run by ``srpo.config`` as soon as the config is parsed, before the stage does any work.

Rule for field names: they must not collide with TRL's ``SFTConfig`` / ``GRPOConfig`` / ``ModelConfig``,
which are parsed together with the stage's own dataclass (so no ``seed``, ``output_dir``,
``model_name_or_path`` in the training stages), and no field may be called ``config`` (TrlParser reserves it).
"""
