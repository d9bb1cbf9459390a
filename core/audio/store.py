"""Stream an upload to disk under its content hash, validating it first; nothing half-written survives."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.audio.leftovers import UPLOAD_PREFIX
from core.audio.names import sanitize_display_name
from core.audio.probe import AudioInfo, upload_too_large, validate_file
from core.config import Settings
from core.errors import StorageError

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StoredAudio:
    sha256: str
    path: Path
    bytes: int
    display_name: str
    info: AudioInfo


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in CHUNK_BYTES pieces: the key the store files content under."""
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _known_size(source: Path | BinaryIO) -> int | None:
    """The size when it is cheap to know (a path, or Streamlit's UploadedFile.size); None otherwise."""
    if isinstance(source, Path):
        return source.stat().st_size
    size = getattr(source, "size", None)
    return size if isinstance(size, int) else None


def _copy_limited(src: BinaryIO, dst: BinaryIO, limit: int, name: str) -> tuple[str, int]:
    """Copy src to dst, hashing as we go; refuse once more than `limit` bytes have arrived."""
    digest = hashlib.sha256()
    total = 0
    while chunk := src.read(CHUNK_BYTES):
        total += len(chunk)
        if total > limit:
            raise upload_too_large(None, limit, name)
        digest.update(chunk)
        try:
            dst.write(chunk)
        except OSError as exc:
            raise _save_failed(name, exc) from exc
    return digest.hexdigest(), total


def _save_failed(name: str, exc: OSError) -> StorageError:
    """A failure to write the store, said as the server's problem (a full disk is not a bad upload)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(f"The server's disk is full, so {name} could not be saved; try again later.")
    return StorageError(f"Could not save the upload {name}: {exc.strerror or exc}.")


def _already_stored(source: Path, name: str, settings: Settings) -> StoredAudio | None:
    """Hash a local file in place; if that content is stored already, skip the copy (a cache hit stays cheap)."""
    sha256 = sha256_file(source)
    existing = next(iter(sorted(settings.audio_dir.glob(f"{sha256}.*"))), None)
    if existing is None:
        return None
    info = validate_file(existing, name, settings)
    return StoredAudio(sha256=sha256, path=existing, bytes=existing.stat().st_size, display_name=name, info=info)


def store_upload(source: Path | BinaryIO, display_name: str, settings: Settings) -> StoredAudio:
    """Validate an upload and keep it as audio_dir/<sha256>.<ext>; raises InputError and stores nothing on refusal.

    A file-like source is read from its start when it is seekable (Streamlit's UploadedFile may have
    been read already).
    """
    name = sanitize_display_name(display_name)
    limit = settings.max_upload_bytes
    size = _known_size(source)
    if size is not None and size > limit:
        raise upload_too_large(size, limit, name)
    if isinstance(source, Path):
        known = _already_stored(source, name, settings)
        if known is not None:
            return known
    try:
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        settings.audio_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=UPLOAD_PREFIX, suffix=".part", dir=settings.tmp_dir)
    except OSError as exc:
        raise StorageError(f"Could not prepare the audio store: {exc.strerror or exc}.") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as dst:
            if isinstance(source, Path):
                with source.open("rb") as src:
                    sha256, total = _copy_limited(src, dst, limit, name)
            else:
                seekable = getattr(source, "seekable", None)
                if seekable is not None and seekable():
                    source.seek(0)
                sha256, total = _copy_limited(source, dst, limit, name)
            try:
                dst.flush()  # the buffered last piece may be the one that finds the disk full
            except OSError as exc:
                raise _save_failed(name, exc) from exc
        info = validate_file(tmp, name, settings)
        final = settings.audio_dir / f"{sha256}.{info.ext}"
        if not final.exists():
            try:
                os.replace(tmp, final)  # same folder tree, so atomic: readers never see a partial file
            except OSError as exc:
                raise _save_failed(name, exc) from exc
        return StoredAudio(sha256=sha256, path=final, bytes=total, display_name=name, info=info)
    finally:
        tmp.unlink(missing_ok=True)  # already renamed on success; removed on every other path
