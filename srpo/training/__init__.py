"""What the two training stages (cold-start SFT, ``srpo.sft``; GRPO, ``srpo.grpo``) share.

- ``model``: resolve and load the model and processor, freeze the vision tower, screen rows, held-out check;
- ``checkpoints``: exact resume, the train/stop/resume loop, saving the final model, the log history;
- ``plots``: the figures and tables of notebooks 03 and 04.

The names below are the package's interface (``from srpo import training; training.load_model(...)``).
"""

from srpo.training.checkpoints import (
    FINAL,
    CheckpointMismatch,
    ExactResume,
    last_checkpoint,
    load_checkpoint_weights,
    log_history,
    resumable,
    save_final,
    saved_names,
    train,
    weight_files,
)
from srpo.training.model import (
    QUARANTINE,
    freeze_vision,
    held_out_check,
    is_main_process,
    load_model,
    parameter_counts,
    screen_rows,
    set_tensorboard_dir,
    setup,
)

__all__ = [
    "FINAL",
    "QUARANTINE",
    "CheckpointMismatch",
    "ExactResume",
    "freeze_vision",
    "held_out_check",
    "is_main_process",
    "last_checkpoint",
    "load_checkpoint_weights",
    "load_model",
    "log_history",
    "parameter_counts",
    "resumable",
    "save_final",
    "saved_names",
    "screen_rows",
    "set_tensorboard_dir",
    "setup",
    "train",
    "weight_files",
]
