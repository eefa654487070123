"""Everything written as markdown or drawn as a plot: a run's report.md, the downstream tables (paper Tables
1–2), the efficiency, edge and ablation tables (Tables 3–4), the sentence-encoder tables, the goal checks, the
learning curve, and the human names and colours of models.

The names below are imported from their modules on first use, so importing the package is cheap.
"""
_EXPORTS = {
    "sts_table": "sentence_tables", "probe_table": "sentence_tables", "sentence_eval_section": "sentence_tables",
    "table4": "ablation_table", "TRAINED": "curve", "REFERENCES": "curve", "run_point": "curve",
    "learning_curve": "curve", "token_tick": "curve", "plot_curve": "curve", "PAPER_TABLE1": "downstream_tables",
    "PAPER_TABLE2": "downstream_tables", "TABLE1_TASKS": "downstream_tables", "ROWS": "downstream_tables",
    "METRIC": "downstream_tables", "row_labels": "downstream_tables", "NOT_RUN": "downstream_tables",
    "table1": "downstream_tables", "verdict_lines": "downstream_tables", "zero_shot_lines": "downstream_tables",
    "table2": "downstream_tables", "plot_retention": "downstream_tables", "missing_note": "downstream_tables",
    "downstream_section": "downstream_tables", "compress_table": "efficiency_tables",
    "best_variant": "efficiency_tables", "loop_name": "efficiency_tables", "with_robust_peak": "efficiency_tables",
    "train_throughput_table": "efficiency_tables", "efficiency_section": "efficiency_tables",
    "stage_vs_bench": "efficiency_tables", "edge_section": "efficiency_tables", "PAPER_TABLE3": "efficiency_tables",
    "table3": "efficiency_tables", "edge_table": "efficiency_tables", "RETENTION_GOAL": "goals",
    "minutes_goal": "goals", "goal_checks": "goals", "goal_lines": "goals", "NAMES": "names", "COLOURS": "names",
    "model_name": "names", "model_colour": "names", "ROW_NAMES": "run_report", "mlm_verdicts": "run_report",
    "baseline_lines": "run_report", "plot_losses": "run_report", "data_lines": "run_report",
    "provenance_lines": "run_report", "write_report": "run_report", "goals_section": "run_report",
    "rewrite_report": "run_report"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
