"""TRL's ``GRPOTrainer`` plus the things SRPO needs and TRL does not have (paper §4.1; the authors' OpenRLHF
release, its ``--dynamic_filtering`` options):

* the online accuracy filter of the released scripts: a prompt group takes part in the update only if the
  mean accuracy of its G completions lies in [0.1, 0.9] (groups the model always or never solves carry
  no signal about correctness and mostly push format and length). As in the release, a completion's
  accuracy is the correctness part of the reward (metric ``reward``: the ``accuracy`` plus ``effectiveness``
  terms, so TT 0.75 / FT 1.0 / TF 0.25 / FF 0 under the released reward and TT 0.75 / FT 0.5 / TF 0.25 /
  FF 0 under the paper's): a group answered right twice every time (0.75) is kept, as there; ``mean``,
  ``first`` and ``final`` (correctness only) are the alternatives;
* what happens to the filtered groups (``filter_mode``). ``refill`` (the release, the default): they are
  dropped and the rollout is refilled with the groups of new prompts, generated and scored like the first
  ones, until every rank holds a full batch of kept completions, so every update trains on as many informative
  groups as the recipe's batch (MM-EUREKA's OpenRLHF fork, ``experience_maker.py`` ``filter`` plus the replay
  buffer that waits until it is full). At most ``max_refills`` extra rounds per rollout (the release has no
  cap; a run whose prompts are all solved would loop there); what is still missing after them is filled with
  filtered rows masked out of the loss, as in ``mask``. ``mask``: filtered groups are masked out of the loss
  (the update averages over fewer groups; cheaper: no extra generation). In both, an optimizer step in which
  no group on any rank was kept does not move the weights (its learning rate is 0: AdamW's momentum would
  otherwise keep moving them on a step that holds no signal);
* per-step reflection metrics: first- and final-answer accuracy, fix rate (wrong -> right), break rate
  (right -> wrong), unchanged answers, well-formed share, reflection length.

All of it hooks into TRL's own methods: ``_calculate_rewards`` (every completion's verdict, the one the
reward functions gave it, is gathered in the same order as TRL's rewards: each completion is graded once per
step), ``_generate_and_score_completions`` (the batch it returns is edited before the loss sees it, and refill
rounds call TRL's own version on new prompts) and ``_prepare_inputs`` (the empty-update skip). Masked groups get
advantage 0 and are masked out of the loss; the kept groups are reweighted so the loss is their mean alone, as if
the filtered groups had been dropped. ``_generate`` and ``_get_per_token_logps_and_entropies`` work around two
TRL 1.16 faults with
batches that mix text-only and image rows (see their comments).
"""

from __future__ import annotations

import torch
from accelerate.utils import gather_object
from trl import GRPOTrainer
from trl.trainer.utils import split_pixel_values_by_grid, unsplit_pixel_values_by_grid

from srpo.rewards import RewardComponent, completion_text, latest_verdicts

# loss types whose normaliser counts sequences (rescale advantages) or global tokens (recount tokens)
_SEQUENCE_NORMALISED = ("grpo", "dr_grpo", "luspo")
_TOKEN_NORMALISED = ("dapo",)
FILTER_MODES = ("refill", "mask")  # what happens to filtered groups (module docstring)


def completion_accuracy(grade: dict, metric: str = "reward") -> float:
    """Accuracy of one completion for the filter. ``reward`` (the release): the reward's correctness terms,
    ``accuracy + effectiveness`` of ``rewards.score_completion`` under the run's reward variant; ``mean``: the
    mean of first and final correctness; ``first`` / ``final``: one of them.

    >>> completion_accuracy({"accuracy": 0.5, "effectiveness": 0.25, "first_correct": True, "final_correct": True})
    0.75
    """
    if metric == "reward":
        if "accuracy" not in grade:
            raise KeyError(
                "the 'reward' filter metric needs the reward's terms in the grade (rewards.score_completion)"
            )
        return float(grade["accuracy"]) + float(grade.get("effectiveness", 0.0))
    first, final = bool(grade.get("first_correct")), bool(grade.get("final_correct"))
    return {"mean": (first + final) / 2, "first": float(first), "final": float(final)}[metric]


def groups_to_keep(accuracies: list[float], group_size: int, low: float, high: float) -> list[bool]:
    """One flag per group of ``group_size`` consecutive completions: keep if low <= mean accuracy <= high.

    >>> groups_to_keep([1, 1, 1, 1, 0, 1, 0, 0], 4, 0.1, 0.9)
    [False, True]
    """
    if len(accuracies) % group_size:
        raise ValueError(f"{len(accuracies)} completions do not split into groups of {group_size}")
    groups = [accuracies[i : i + group_size] for i in range(0, len(accuracies), group_size)]
    return [low - 1e-9 <= sum(g) / len(g) <= high + 1e-9 for g in groups]


def keep_rows(
    grades: list[dict], metric: str, bounds: tuple[float, float], group_size: int, process_index: int, local: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(this rank's ``local`` rows, all ranks' rows) as bool tensors: True where the row's group passes the filter.
    ``grades`` are all ranks' completions in TRL's gathered order (rank 0's rows first)."""
    accuracies = [completion_accuracy(g, metric) for g in grades]
    keep_groups = groups_to_keep(accuracies, group_size, *bounds)
    keep_global = torch.tensor([k for k in keep_groups for _ in range(group_size)], dtype=torch.bool)
    start = process_index * local
    return keep_global[start : start + local], keep_global


def reflection_metrics(grades: list[dict]) -> dict:
    """Per-step means over all completions of the step (``grades`` from ``rewards.score_completion``)."""
    n = max(1, len(grades))
    first = [g.get("first_correct") for g in grades]
    final = [g.get("final_correct") for g in grades]
    first_wrong = [fi for f, fi in zip(first, final, strict=True) if f is False]
    first_right = [fi for f, fi in zip(first, final, strict=True) if f is True]
    out = {
        "srpo/first_acc": sum(bool(f) for f in first) / n,
        "srpo/final_acc": sum(bool(f) for f in final) / n,
        "srpo/well_formed": sum(bool(g.get("well_formed")) for g in grades) / n,
        "srpo/unchanged": sum(bool(g.get("unchanged")) for g in grades) / n,
        "srpo/reflection_tokens": sum(g.get("reflection_tokens", 0) for g in grades) / n,
    }
    if first_wrong:
        out["srpo/fix_rate"] = sum(bool(f) for f in first_wrong) / len(first_wrong)
    if first_right:
        out["srpo/break_rate"] = sum(not f for f in first_right) / len(first_right)
    return out


class SRPOGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` with the online accuracy filter and reflection metrics.

    A completion's verdict (at least ``first_correct``, ``final_correct``, ``well_formed``, ``unchanged`` and
    ``reflection_tokens``) is the one the reward functions of ``srpo.rewards.make_reward_funcs`` gave it in
    the same step (``rewards.latest_verdicts``), so nothing is graded twice. ``grade(completion_text,
    inputs_row) -> dict`` replaces that with a grader of one's own (tests, ``scripts/gpu_check.py``).
    """

    def __init__(
        self,
        *args,
        grade=None,
        accuracy_filter: tuple[float, float] | None = None,
        filter_metric: str = "reward",
        filter_mode: str = "refill",
        max_refills: int = 4,
        on_completions=None,
        **kwargs,
    ):
        if filter_mode not in FILTER_MODES:
            raise ValueError(f"filter_mode must be one of {FILTER_MODES}, got {filter_mode!r}")
        super().__init__(*args, **kwargs)
        if grade is None and not any(isinstance(f, RewardComponent) for f in self.reward_funcs):
            raise ValueError(
                "SRPOGRPOTrainer reads each completion's verdict from the reward functions of "
                "srpo.rewards.make_reward_funcs; pass them in reward_funcs, or pass grade="
            )
        self._kept_tokens = 0  # completion tokens in the loss since the last optimizer step (this rank)
        self._grade = grade
        self._accuracy_filter = accuracy_filter
        self._filter_metric = filter_metric
        self._filter_mode, self._max_refills = filter_mode, max_refills
        self._refill_queue: list[list[int]] = []  # prompt indices of the refill rounds to come (same on every rank)
        self._refill_epoch = 0
        if accuracy_filter and filter_mode == "refill" and not hasattr(self.train_dataset, "__getitem__"):
            raise ValueError(
                "the accuracy filter's refill draws new prompts by index: it needs a map-style "
                "dataset, not a streamed one; use --accuracy_filter_mode mask"
            )
        self._on_completions = on_completions  # callback(step, prompts, completions, grades) for samples
        self._grades: list[dict] = []
        if accuracy_filter and self.loss_type not in _SEQUENCE_NORMALISED + _TOKEN_NORMALISED + ("bnpo",):
            raise ValueError(
                f"the accuracy filter supports loss_type grpo, dr_grpo, dapo, bnpo; got {self.loss_type!r}"
            )

    def _generate(self, prompts):
        # Workaround for TRL 1.16 (checked up to 1.16.0; no fixed release known): `_tokenize_prompts` gives a
        # text-only row of a multimodal batch the images `None`, and `_generate_and_score_completions` hands
        # `[None, [img], ...]` to the processor, which accepts `[]` for "no image" (transformers#40263) but
        # raises on `None` ("only a single or a list of entries is supported but got type=<class
        # 'NoneType'>"). The RL mix puts text-only MATH rows beside image rows, so this is step 1 of a run.
        out = super()._generate(prompts)
        images = out[6] if isinstance(out, tuple) and len(out) == 8 else None
        if isinstance(images, list) and any(i is None for i in images):
            out = (*out[:6], [[] if i is None else i for i in images], out[7])
        return out

    def _get_per_token_logps_and_entropies(
        self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, **kwargs
    ):
        # Workaround for TRL 1.16 (same kind as `_generate` above): TRL scores a batch in chunks of `batch_size`
        # rows and hands every chunk its slice of `pixel_values` / `image_grid_thw`; a chunk holding only
        # text-only rows (a MATH prompt's 8 completions) gets empty ones, and Qwen2.5-VL's vision tower fails on
        # an empty grid ("torch.cat(): expected a non-empty list of Tensors"). Such chunks go through without
        # image inputs. Under ZeRO-3 every rank must run the same modules in the same order (each forward
        # gathers its parameters collectively), so a chunk without images first runs the frozen vision tower
        # on one dummy 28 x 28 image, as the ranks with images do.
        n = input_ids.size(0)
        size = batch_size or n
        chunks = [(a, min(a + size, n)) for a in range(0, n, size)]
        num_images = kwargs.get("num_images")
        has_pixels = kwargs.get("pixel_values") is not None and kwargs.get("image_grid_thw") is not None
        keepalive = self._vision_keepalive_needed()
        if has_pixels and num_images is not None and all(sum(num_images[a:b]) for a, b in chunks):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, **kwargs
            )
        if not has_pixels and not keepalive:
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, **kwargs
            )
        parts = []
        for a, b in chunks:
            sub = _chunk_kwargs(kwargs, a, b) if has_pixels and num_images is not None else _text_only(kwargs, a, b)
            if "pixel_values" not in sub and keepalive:
                self._run_vision_keepalive(model)
            parts.append(
                super()._get_per_token_logps_and_entropies(
                    model, input_ids[a:b], attention_mask[a:b], logits_to_keep, b - a, **sub
                )
            )
        logps = torch.cat([p[0] for p in parts])
        entropies = torch.cat([p[1] for p in parts]) if parts[0][1] is not None else None
        aux = torch.stack([p[2] for p in parts]).mean() if parts[0][2] is not None else None
        return logps, entropies, aux

    def _vision_keepalive_needed(self) -> bool:
        state = getattr(self.accelerator.state, "deepspeed_plugin", None)
        return bool(state) and self.accelerator.num_processes > 1 and getattr(state, "zero_stage", 0) == 3

    def _run_vision_keepalive(self, model) -> None:
        """Make the next forward of ``model`` run the vision tower on a dummy image, from inside that forward
        (a pre-hook on the language model, which Qwen2.5-VL calls after its vision tower): ZeRO-3 checks that
        every rank's forward visits the same modules, so the dummy pass cannot happen outside it."""
        core = self.accelerator.unwrap_model(model)
        inner = getattr(core, "model", core)
        visual, language = getattr(inner, "visual", None), getattr(inner, "language_model", None)
        if visual is None or language is None:
            return
        if not getattr(self, "_keepalive_hook", None):
            cfg = core.config.vision_config
            width = 3 * cfg.temporal_patch_size * cfg.patch_size**2
            merge = cfg.spatial_merge_size

            def run_visual(module, args, kwargs):
                if not self._keepalive_pending:
                    return None
                self._keepalive_pending = False
                grid = torch.tensor([[1, merge, merge]], device=self.accelerator.device)
                pixels = torch.zeros(merge * merge, width, device=self.accelerator.device, dtype=core.dtype)
                out = visual(pixels, grid_thw=grid)
                out = out[0] if isinstance(out, tuple | list) else getattr(out, "pooler_output", out)
                embeds = kwargs.get("inputs_embeds")
                if embeds is None or not torch.is_tensor(out):
                    return None
                # zero times the dummy output: the backward pass also visits the vision tower on every rank
                return args, {**kwargs, "inputs_embeds": embeds + 0.0 * out.sum().to(embeds.dtype)}

            # prepend: before DeepSpeed's own pre-hook of the language model, so the module order matches
            self._keepalive_hook = language.register_forward_pre_hook(run_visual, with_kwargs=True, prepend=True)
        self._keepalive_pending = True

    def _prepare_inputs(self, generation_batch):
        """TRL's micro-batch, and the learning rate set to 0 for an optimizer step in which the accuracy filter
        kept nothing on any rank (the weights stay put; see the module docstring). The scheduler resets the rate
        at its next step. Runs before the micro-batch's backward, so it works with DeepSpeed too (the engine
        steps inside ``backward`` of the last micro-batch)."""
        inputs = super()._prepare_inputs(generation_batch)
        if self._accuracy_filter and self.model.training:
            self._kept_tokens += int(inputs["completion_mask"].sum())
            if self.accelerator.sync_gradients:  # the last micro-batch before the optimizer step
                kept = self.accelerator.reduce(
                    torch.tensor(float(self._kept_tokens), device=self.accelerator.device), reduction="sum"
                )
                self._kept_tokens = 0
                empty = float(kept) == 0
                self._metrics["train"]["srpo/empty_updates"].append(float(empty))
                if empty:
                    for group in self.optimizer.param_groups:
                        group["lr"] = 0.0
        return inputs

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        texts = [completion_text(c) for c in completions]
        if self._grade is None:  # the verdicts the reward functions just gave these completions
            local = latest_verdicts(self.reward_funcs, texts)
        else:
            local = [self._grade(text, row) for text, row in zip(texts, inputs, strict=True)]
        self._grades = gather_object(local)  # same order as the rows of the gathered rewards
        if self._on_completions is not None and self.accelerator.is_main_process:
            self._on_completions(self.state.global_step, prompts, texts, local)
        return rewards

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        mode = "train" if self.model.training else "eval"
        for name, value in reflection_metrics(self._grades).items():
            self._metrics[mode][name].append(value)
        if self._accuracy_filter and mode == "train":
            if self._filter_mode == "refill":
                output = self._refill(output, len(inputs))
            else:
                self._apply_filter(output, mode)
        return output

    def _keep(self, local: int) -> tuple[torch.Tensor, torch.Tensor]:
        return keep_rows(
            self._grades,
            self._filter_metric,
            self._accuracy_filter,
            self.num_generations,
            self.accelerator.process_index,
            local,
        )

    def _apply_filter(self, output: dict, mode: str) -> None:
        """``mask``: filtered groups get advantage 0 and no loss tokens; the kept ones are reweighted."""
        keep, keep_global = self._keep(len(output["advantages"]))
        self._metrics[mode]["srpo/filter_kept"].append(int(keep_global.sum()) / max(1, len(keep_global)))
        _mask_rows(self, output, keep)

    def _refill(self, output: dict, local: int) -> dict:
        """``refill`` (the release): this rank's kept rows, topped up with the kept rows of new prompts' groups
        (TRL's own generation and scoring, ``max_refills`` rounds at most) until it holds ``local`` rows again.
        Every rank runs the same number of rounds (generation and scoring are collective)."""
        keep, keep_global = self._keep(local)
        self._metrics["train"]["srpo/filter_kept"].append(int(keep_global.sum()) / max(1, len(keep_global)))
        parts, kept, rounds = [_select_rows(output, keep)], int(keep.sum()), 0
        while rounds < self._max_refills:
            short = torch.tensor(float(max(0, local - kept)), device=self.accelerator.device)
            if float(self.accelerator.gather(short.reshape(1)).max()) == 0:
                break
            more = super()._generate_and_score_completions(self._refill_prompts(local))
            keep_more, _ = self._keep(local)
            parts.append(_select_rows(more, keep_more))
            kept += int(keep_more.sum())
            rounds += 1
        self._metrics["train"]["srpo/filter_refills"].append(float(rounds))
        if kept < local:  # still short after max_refills: fill with filtered rows, masked out of the loss
            parts.append(_select_rows(output, ~keep))
        merged = _take_rows(_concat_rows(parts, self._tokenizer.pad_token_id), local)
        active = torch.zeros(local, dtype=torch.bool)
        active[: min(kept, local)] = True
        self._metrics["train"]["srpo/filter_masked"].append(1.0 - min(kept, local) / local)
        _mask_rows(self, merged, active)
        return merged

    def _refill_prompts(self, local: int) -> list[dict]:
        """This rank's share of the next refill batch: ``generation_batch_size`` rows, each prompt repeated
        ``num_generations`` times, from a shuffled pass over the RL prompts of its own (seed + 1 + pass), the same
        on every rank."""
        g = self.num_generations
        per_batch = self.args.generation_batch_size // g
        if not self._refill_queue:
            order = torch.randperm(
                len(self.train_dataset),
                generator=torch.Generator().manual_seed(self.args.seed + 1 + self._refill_epoch),
            )
            order = order.tolist()
            self._refill_epoch += 1
            self._refill_queue = [order[i : i + per_batch] for i in range(0, len(order) - per_batch + 1, per_batch)]
            if not self._refill_queue:
                raise ValueError(
                    f"the accuracy filter's refill needs at least {per_batch} RL prompts, the dataset "
                    f"has {len(self.train_dataset)}; use --accuracy_filter_mode mask"
                )
        rows = [i for i in self._refill_queue.pop(0) for _ in range(g)]
        start = self.accelerator.process_index * local
        return [self.train_dataset[i] for i in rows[start : start + local]]


def _mask_rows(trainer, output: dict, keep: torch.Tensor) -> None:
    """Rows of ``output`` where ``keep`` is False get advantage 0 and no loss tokens; the loss's normaliser is
    corrected so it is the mean over the kept rows of all ranks alone (sequence-normalised losses: rescale the
    advantages; token-normalised: recount the tokens)."""
    keep = keep.to(output["advantages"].device)
    total = trainer.accelerator.gather(torch.tensor([float(len(keep))], device=keep.device)).sum()
    kept = trainer.accelerator.gather(keep.sum().float().reshape(1)).sum()
    output["advantages"] = output["advantages"] * keep
    output["completion_mask"] = output["completion_mask"] * keep.unsqueeze(1).to(output["completion_mask"].dtype)
    if kept and trainer.loss_type in _SEQUENCE_NORMALISED:  # loss averages over all sequences: undo the dilution
        output["advantages"] = output["advantages"] * (total / kept)
    if trainer.loss_type in _TOKEN_NORMALISED:  # loss divides by the batch's active tokens: recount them
        output["num_items_in_batch"] = trainer.accelerator.gather(output["completion_mask"].sum()).sum()


def _pad(values: list[torch.Tensor], fill, left: bool) -> torch.Tensor:
    """2-D tensors padded to the widest (on the left: TRL's prompt side; on the right: its completion side), stacked."""
    width = max(v.size(1) for v in values)
    return torch.cat(
        [
            torch.nn.functional.pad(v, (width - v.size(1), 0) if left else (0, width - v.size(1)), value=fill)
            for v in values
        ]
    )


def _select_rows(output: dict, rows: torch.Tensor) -> dict:
    """The rows of TRL's scored batch where ``rows`` (bool, one per row) is True, with the image inputs split per
    row (TRL's ``split_pixel_values_by_grid``; a batch without images gets empty ones, so parts concatenate)."""
    n = len(rows)
    split = split_pixel_values_by_grid(output) if "pixel_values" in output else _no_images(output, n)
    return _rows(split, torch.nonzero(rows.cpu()).flatten().tolist(), n)


def _no_images(output: dict, n: int) -> dict:
    if "num_images" not in output:
        return output
    return {**output, "pixel_values": [None] * n, "image_grid_thw": [None] * n}  # filled in by _concat_rows


def _rows(split: dict, index: list[int], n: int) -> dict:
    out = {}
    for key, value in split.items():
        if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.size(0) == n:
            out[key] = value[index]
        elif isinstance(value, list) and len(value) == n:
            out[key] = [value[i] for i in index]
        else:
            out[key] = value
    return out


def _concat_rows(parts: list[dict], pad_token_id: int) -> dict:
    """Row-wise concatenation of ``_select_rows`` results, padding 2-D tensors to the widest part (prompt-side
    tensors on the left, completion-side ones on the right; token ids with ``pad_token_id``, the rest with 0)."""
    images = [v for p in parts for k in ("pixel_values",) for v in p.get(k, []) if v is not None]
    if images:  # rows of an image-less part: zero-size image inputs
        for p in parts:
            p["pixel_values"] = [images[0][:0] if v is None else v for v in p["pixel_values"]]
            p["image_grid_thw"] = [
                torch.zeros(0, 3, dtype=torch.long) if v is None else v for v in p["image_grid_thw"]
            ]
    out = {}
    for key, first in parts[0].items():
        values = [p[key] for p in parts]
        if key in ("pixel_values", "image_grid_thw") and not images:
            out[key] = None  # no image in any part
        elif isinstance(first, list):
            out[key] = [v for value in values for v in value]
        elif key in _PER_ROW and isinstance(first, torch.Tensor):
            # prompt part (left-padded) + zeros for the completion (TRL extends them so): pad each part on its side
            widths = [p["prompt_ids"].size(1) for p in parts]
            prompts = _pad([v[:, :w] for v, w in zip(values, widths, strict=True)], 0, left=True)
            completions = _pad([v[:, w:] for v, w in zip(values, widths, strict=True)], 0, left=False)
            out[key] = torch.cat([prompts, completions], dim=1)
        elif isinstance(first, torch.Tensor) and first.ndim == 2:
            fill = pad_token_id if key in ("prompt_ids", "completion_ids") else 0
            out[key] = _pad(values, fill, left=key in ("prompt_ids", "prompt_mask"))
        elif isinstance(first, torch.Tensor) and first.ndim == 1:
            out[key] = torch.cat(values)
        else:
            out[key] = first  # scalars (num_items_in_batch is recounted by _mask_rows)
    return {k: v for k, v in out.items() if v is not None}


def _take_rows(merged: dict, n: int) -> dict:
    """The first ``n`` rows, with the image inputs merged back into TRL's flat layout."""
    out = _rows(merged, list(range(n)), len(merged["advantages"]))
    return unsplit_pixel_values_by_grid(out) if "pixel_values" in out else out


_PER_ROW = ("token_type_ids", "mm_token_type_ids")


def _text_only(kwargs: dict, start: int, end: int) -> dict:
    """The keyword inputs of rows ``start:end`` without any image input."""
    image_keys = ("pixel_values", "image_grid_thw", "num_images")
    out = {k: v for k, v in kwargs.items() if k not in image_keys}
    for key in _PER_ROW:
        if out.get(key) is not None:
            out[key] = out[key][start:end]
    return out


def _chunk_kwargs(kwargs: dict, start: int, end: int) -> dict:
    """Rows ``start:end`` of TRL's multimodal keyword inputs (Qwen2-VL layout: ``pixel_values`` holds
    ``prod(image_grid_thw)`` rows per image); no image inputs at all when those rows have no image."""
    num_images = kwargs["num_images"]
    if not sum(num_images[start:end]):
        return _text_only(kwargs, start, end)
    grid = kwargs["image_grid_thw"]
    first, last = sum(num_images[:start]), sum(num_images[:end])
    rows = grid.prod(dim=-1)
    row_start, row_end = int(rows[:first].sum()), int(rows[:last].sum())
    out = dict(
        kwargs,
        pixel_values=kwargs["pixel_values"][row_start:row_end],
        image_grid_thw=grid[first:last],
        num_images=list(num_images[start:end]),
    )
    for key in _PER_ROW:
        if out.get(key) is not None:
            out[key] = out[key][start:end]
    return out
