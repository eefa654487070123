"""A run folder and its rules: the layout of its files with cached JSON results, ownership markers that keep bertdistil
from replacing folders it did not write, and the provenance of a run (code version, machine, inputs).

The names below are imported from their modules on first use, so importing the package is cheap.
"""
_EXPORTS = {
    "RunLayout": "layout", "cached_json": "layout", "cached_entries": "layout", "OWNER_FILE": "ownership",
    "KINDS": "ownership", "SIGNATURES": "ownership", "REPLACED": "ownership", "owner_kind": "ownership",
    "contents": "ownership", "check_apart": "ownership", "claim": "ownership", "writing": "ownership",
    "empty_folder": "ownership", "RECORDED_LIBRARIES": "provenance", "CHECKPOINT_FILES": "provenance",
    "git_state": "provenance", "versions": "provenance", "cpu_model": "provenance", "machine": "provenance",
    "weights_sha256": "provenance", "provenance": "provenance", "shown": "provenance", "portable": "provenance"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
