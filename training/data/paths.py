"""Where the data lives, and the one gate every loader opens files through.

The data directory is read-only and holds public datasets under their own licences (several are
non-commercial): the project reads them from where they are and never copies them into the repo.
It is found, in order, from an explicit setting (`--data-dir` / the recipe's config), the
`TRIAGE_DATA_DIR` environment variable, or `../shared/data` next to the repository.

`heldout/` is reserved for evaluation by others and must never reach training, tuning or model
selection: `data_file` refuses any path that resolves into it, however it is spelled (`..`,
symlinks, a data directory that is itself inside `heldout/`). Every loader opens its files through
`data_file`, so no loader can read it.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "TRIAGE_DATA_DIR"
"""Environment variable naming the data directory."""

HELDOUT_DIR = "heldout"
"""The evaluation-only folder that no loader may read."""

_REPO_ROOT = Path(__file__).resolve().parents[2]
_DEFAULT_RELATIVE = Path("..") / "shared" / "data"


class DataError(Exception):
    """A data file is missing, malformed or forbidden; the message is one line and quotes no tweet."""


def _default_candidates() -> list[Path]:
    # The repository's sibling first (works from any working directory), then the working
    # directory's (works when the code runs from a copy of the repo, e.g. an installed wheel).
    return [_REPO_ROOT / _DEFAULT_RELATIVE, Path.cwd() / _DEFAULT_RELATIVE]


def _is_heldout(path: Path) -> bool:
    # Case-folded so that `HeldOut/` cannot slip through on a case-insensitive file system.
    return any(part.casefold() == HELDOUT_DIR for part in path.parts)


def _checked_dir(path: Path, origin: str) -> Path:
    resolved = path.expanduser().resolve()
    if not resolved.is_dir():
        raise DataError(f"data directory {path} (from {origin}) does not exist or is not a directory")
    if _is_heldout(resolved):
        raise DataError(
            f"data directory {path} (from {origin}) is inside `{HELDOUT_DIR}/`, which is reserved for evaluation"
        )
    return resolved


def resolve_data_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """Return the data directory: `configured` if given, else `$TRIAGE_DATA_DIR`, else `../shared/data`.

    The default is looked up next to the repository root, then next to the current directory.
    Raises `DataError` when the chosen directory does not exist.
    """
    if configured is not None and str(configured) != "":
        return _checked_dir(Path(configured), "the configuration")
    from_env = os.environ.get(DATA_DIR_ENV, "").strip()
    if from_env:
        return _checked_dir(Path(from_env), f"${DATA_DIR_ENV}")
    for candidate in _default_candidates():
        if candidate.is_dir():
            return _checked_dir(candidate, "the default location")
    tried = ", ".join(str(candidate) for candidate in _default_candidates())
    raise DataError(
        f"no data directory found: pass --data-dir, set {DATA_DIR_ENV}, or put the data at {tried}"
    )


def _gate(data_dir: Path, parts: tuple[str, ...]) -> Path:
    """Resolve `data_dir/parts...`, refusing absolute parts, escapes from `data_dir` and `heldout/`."""
    root = Path(data_dir).resolve()
    if any(Path(part).is_absolute() for part in parts):
        raise DataError("data paths must be relative to the data directory")
    candidate = root.joinpath(*parts)
    # Check both the spelled and the resolved path: the spelled one catches `heldout/../x` tricks
    # before the file system is touched, the resolved one catches symlinks and `..`.
    resolved = candidate.resolve()
    heldout = (root / HELDOUT_DIR).resolve()
    if (
        _is_heldout(root)
        or _is_heldout(candidate.relative_to(root))
        or resolved == heldout
        or resolved.is_relative_to(heldout)
        or _is_heldout(resolved)
    ):
        raise DataError(f"`{HELDOUT_DIR}/` is reserved for evaluation and cannot be read by the loaders")
    if not resolved.is_relative_to(root):
        raise DataError(f"{'/'.join(parts)} is outside the data directory")
    return resolved


def data_file(data_dir: Path, *parts: str) -> Path:
    """Return the existing file `data_dir/parts...`, refusing anything that resolves into `heldout/`.

    Raises `DataError` for a missing file, an absolute part, a path that leaves `data_dir`, or a
    path under `heldout/` (directly, through `..`, or through a symlink).
    """
    resolved = _gate(data_dir, parts)
    if not resolved.is_file():
        raise DataError(f"missing data file {'/'.join(parts)} in {Path(data_dir).resolve()}")
    return resolved


def data_folder(data_dir: Path, *parts: str) -> Path:
    """Return the existing folder `data_dir/parts...`, with the same refusals as `data_file`."""
    resolved = _gate(data_dir, parts)
    if not resolved.is_dir():
        raise DataError(f"missing data folder {'/'.join(parts)} in {Path(data_dir).resolve()}")
    return resolved


def relative_name(data_dir: Path, path: Path) -> str:
    """`path` relative to `data_dir`, for error messages (`care/train.jsonl`)."""
    try:
        return path.relative_to(Path(data_dir).resolve()).as_posix()
    except ValueError:
        return path.name
