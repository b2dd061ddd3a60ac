"""One config dataclass per stage (``<stage>.py``), plus the shared ``RunArgs`` and ``LaunchArgs``.

Rule for field names: they must not collide with TRL's ``SFTConfig`` / ``GRPOConfig`` / ``ModelConfig``,
which are parsed together with the stage's own dataclass (so no ``seed``, ``output_dir``,
``model_name_or_path`` in the training stages), and no field may be called ``config`` (TrlParser reserves it).
"""
