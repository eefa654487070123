"""Logging of a training run: ``log.jsonl`` (one record per log step), TensorBoard events, the progress bar.

A record is {step, loss, terms, lr, tokens_seen, tokens_per_s, wall_s[, eval]}: loss and terms are means
over the micro-batches of every rank since the previous record, tokens/s over the same window. On resume
the records up to the checkpoint's step are kept and later ones dropped, so the log never repeats a step,
and the record open at the checkpoint continues from its saved sums, so every record equals the one an
uninterrupted run writes.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm.auto import tqdm

from .distributed import all_reduce_sum


def read_log(path: Path, up_to_step: int) -> list[dict]:
    """The records of ``path`` with step ≤ ``up_to_step`` ([] if the file is missing)."""
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("step", 0) <= up_to_step]


class TrainLogger:
    """Window statistics of a run and where they are written (rank 0 writes, every rank averages)."""

    def __init__(self, out_dir: Path, run, desc: str, progress: bool):
        self.path, self.main = Path(out_dir) / "log.jsonl", run.rank == 0
        self.log = read_log(self.path, run.step) if run.step else []
        self.tokens_at_start = run.tokens_seen
        self.writer, self.file = None, None
        if self.main:
            self.path.write_text("".join(json.dumps(r) + "\n" for r in self.log))
            self.file = open(self.path, "a")      # noqa: SIM115  (closed by close())
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(str(Path(out_dir) / "tb"), purge_step=run.step + 1 if run.step else None)
            except ImportError:
                pass
        self.bar = tqdm(total=run.total, initial=run.step, desc=desc, unit="step",
                        disable=not (progress and self.main), dynamic_ncols=True)
        self._reset(time.perf_counter())
        if run.log_window and self.main:      # resumed between two records: continue the open one (the saved
            #                                   sums are over every rank, so rank 0 alone carries them)
            w = run.log_window
            self.loss_sum, self.n_micro, self.terms = w["loss_sum"], w["n_micro"], dict(w["terms"])
            # tokens stay 0: tokens/s is measured over this process's part of the window

    def _reset(self, now: float) -> None:
        self.loss_sum, self.n_micro, self.terms, self.tokens, self.t = 0.0, 0, {}, 0, now

    def window(self) -> dict:
        """The sums over every rank of the record being accumulated (loss_sum, n_micro, terms), saved in
        checkpoints; every rank must call it."""
        keys = sorted(self.terms)
        sums = all_reduce_sum([self.loss_sum, self.n_micro, *[self.terms[k] for k in keys]])
        return {"loss_sum": sums[0], "n_micro": sums[1], "terms": dict(zip(keys, sums[2:]))}

    def add(self, stats: dict) -> None:
        """Accumulate one ``train_step`` result into the current window."""
        self.loss_sum += stats["loss_sum"]
        self.n_micro += stats["n_micro"]
        self.tokens += stats["tokens"]
        for k, v in stats["terms"].items():
            self.terms[k] = self.terms.get(k, 0.0) + v

    def write(self, run, wall_s: float, extra: dict | None = None) -> dict:
        """Close the window: one record to log.jsonl, TensorBoard and the bar; returns the record."""
        now = time.perf_counter()
        keys = sorted(self.terms)
        sums = all_reduce_sum([self.loss_sum, self.n_micro, *[self.terms[k] for k in keys]])
        n = sums[1]
        rec = {"step": run.step, "loss": sums[0] / n, "terms": {k: v / n for k, v in zip(keys, sums[2:])},
               "lr": run.scheduler.get_last_lr()[0], "tokens_seen": run.tokens_seen,
               "tokens_per_s": self.tokens / max(now - self.t, 1e-9), "wall_s": wall_s, **(extra or {})}
        if self.main:
            self.file.write(json.dumps(rec) + "\n")
            self.file.flush()
        self.log.append(rec)
        if self.writer is not None:
            self.writer.add_scalar("loss/total", rec["loss"], run.step)
            for k, v in rec["terms"].items():
                self.writer.add_scalar(f"loss/{k}", v, run.step)
            self.writer.add_scalar("lr", rec["lr"], run.step)
            self.writer.add_scalar("tokens_per_s", rec["tokens_per_s"], run.step)
            for k, v in rec.get("eval", {}).items():
                self.writer.add_scalar(f"eval/{k}", v, run.step)
        self.bar.set_postfix(loss=f"{rec['loss']:.3f}", tok_s=f"{rec['tokens_per_s']:.0f}")
        self._reset(now)
        return rec

    def close(self) -> None:
        self.bar.close()
        if self.writer is not None:
            self.writer.close()
        if self.file is not None:
            self.file.close()
