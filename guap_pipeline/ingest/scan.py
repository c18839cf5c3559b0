"""Scan the landing folder: every Parquet or CSV file under ``predictions/`` and
``labels/``, fingerprinted; symlinks that leave the folder or lead nowhere are refused."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from guap_pipeline.errors import ConfigError

KINDS = ("predictions", "labels")
OUTSIDE_REASON = "symlink to a path outside the landing folder: not read"
BROKEN_LINK_REASON = "symlink to nothing: not read"


@dataclass(frozen=True)
class LandingFile:
    """One file in the landing folder, identified by its path relative to the folder."""

    kind: str
    path: Path
    relative: str
    fingerprint: str
    refused: str | None = None  # why the file is not read (a symlink out of the folder)

    @property
    def file_id(self) -> str:
        return hashlib.sha1(self.relative.encode()).hexdigest()[:16]


def scan_landing(landing: Path) -> list[LandingFile]:
    """Every non-hidden file under ``predictions/`` and ``labels/``, sorted by path.

    A symlink is followed only if it resolves inside the landing folder (or inside its
    ``predictions/`` or ``labels/`` folder, which may itself be a link to a mount); one
    that leads out (or to nothing) is listed with the reason it is ``refused``, so that
    it is quarantined whole and never read. Symlinked folders are not descended into.
    A ``landing`` folder that does not exist is a :class:`ConfigError` (read as empty, a
    wrong path would look like a quiet day); one without ``predictions/`` yet is empty.
    """
    if not landing.is_dir():
        problem = "is not a folder" if landing.exists() else "does not exist"
        raise ConfigError(
            "landing",
            f"{landing} {problem}: create it (with predictions/ and labels/) or fix the path",
        )
    files = []
    for kind in KINDS:
        folder = landing / kind
        if not folder.is_dir():
            continue
        roots = (landing.resolve(), folder.resolve())
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(landing)
            if any(p.startswith(".") for p in relative.parts):
                continue
            refused = _refusal(path, roots)
            if refused is None and not path.is_file():
                continue  # a folder, or a symlinked folder inside the landing folder
            stat = path.lstat() if refused else path.stat()
            files.append(
                LandingFile(
                    kind=kind,
                    path=path,
                    relative=relative.as_posix(),
                    fingerprint=f"{stat.st_size}-{stat.st_mtime_ns}",
                    refused=refused,
                )
            )
    return files


def _refusal(path: Path, roots: tuple[Path, ...]) -> str | None:
    """Why a landing path must not be read (it leads outside ``roots``), else ``None``."""
    target = path.resolve()
    if not any(target.is_relative_to(root) for root in roots):
        return OUTSIDE_REASON
    if path.is_symlink() and not target.exists():
        return BROKEN_LINK_REASON
    return None
