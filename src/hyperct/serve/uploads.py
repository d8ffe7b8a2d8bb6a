"""Turning an upload into a scan on disk, safely.

Accepted: one NIfTI file (``.nii`` or ``.nii.gz``), one zip of a DICOM series, or several DICOM
files. Nothing the client sends becomes a path: files are stored under names this module makes
up (``scan.nii.gz``, ``dicom/00000.dcm``). A zip is read member by member with limits on the
member count, the total uncompressed size and the compression ratio (zip bombs), and members
that are links, encrypted, or whose names are absolute or climb out with ``..`` (zip slip) are
refused outright rather than skipped, so the client learns what was wrong.
"""

from __future__ import annotations

import gzip
import shutil
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

CHUNK = 1 << 20
NIFTI1_HEADER, NIFTI2_HEADER = 348, 540


class UploadError(ValueError):
    """The upload is not something the service accepts; ``status`` is the HTTP code to answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on what one study may be."""

    max_bytes: int = 2 << 30
    max_files: int = 2000
    max_unzipped_bytes: int = 4 << 30
    max_zip_ratio: float = 100.0


@dataclass(frozen=True)
class UploadFile:
    """One part of the upload: the client's file name (only for messages) and its content."""

    filename: str
    stream: BinaryIO


def store_upload(files: Sequence[UploadFile], folder: Path, limits: UploadLimits) -> tuple[str, Path]:
    """Save the upload under ``folder``; returns (kind, path to read the CT from).

    kind is ``nifti``, ``dicom-zip`` or ``dicom-files``.
    """
    if not files:
        raise UploadError("no file in the upload: send a NIfTI file, a zip of a DICOM series or DICOM files")
    if len(files) > limits.max_files:
        raise UploadError(f"{len(files)} files in one upload; at most {limits.max_files}", 413)
    folder.mkdir(parents=True, exist_ok=True)
    if len(files) == 1:
        head = _peek(files[0].stream)
        if head[:4] == b"PK\x03\x04":
            raw = folder / "upload.zip"
            _copy_limited(files[0], raw, limits.max_bytes)
            target = folder / "dicom"
            _extract_zip(raw, target, files[0].filename, limits)
            raw.unlink()
            return "dicom-zip", target
        if not _is_dicom(head):
            path = folder / ("scan.nii.gz" if head[:2] == b"\x1f\x8b" else "scan.nii")
            _copy_limited(files[0], path, limits.max_bytes)
            _check_nifti(path, files[0].filename)
            return "nifti", path
    target = folder / "dicom"
    target.mkdir()
    total = 0
    for index, part in enumerate(files):
        if not _is_dicom(_peek(part.stream)):
            raise UploadError(f"{part.filename!r} is not a DICOM file (no 'DICM' marker at byte 128)")
        total += _copy_limited(part, target / f"{index:05d}.dcm", limits.max_bytes - total)
    return "dicom-files", target


def _peek(stream: BinaryIO) -> bytes:
    head = stream.read(132)
    stream.seek(0)
    return head


def _is_dicom(head: bytes) -> bool:
    return len(head) >= 132 and head[128:132] == b"DICM"


def _copy_limited(part: UploadFile, path: Path, limit: int) -> int:
    written = 0
    with path.open("wb") as out:
        while chunk := part.stream.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise UploadError(f"{part.filename!r}: the upload is larger than the limit of {limit} bytes", 413)
            out.write(chunk)
    if written == 0:
        raise UploadError(f"{part.filename!r} is empty")
    return written


def _check_nifti(path: Path, name: str) -> None:
    """The header's size field says NIfTI-1 or -2, and a gzip stream is complete."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            header = f.read(4)
            if path.suffix == ".gz":
                while f.read(CHUNK):
                    pass
    except (OSError, EOFError) as err:
        raise UploadError(f"{name!r} is not a readable NIfTI file: {err}") from err
    sizes = {int.from_bytes(header, "little"), int.from_bytes(header, "big")}
    if len(header) < 4 or not sizes & {NIFTI1_HEADER, NIFTI2_HEADER}:
        raise UploadError(
            f"{name!r} is neither NIfTI (.nii, .nii.gz) nor a zip of DICOM files nor DICOM"
        )


def _extract_zip(raw: Path, target: Path, name: str, limits: UploadLimits) -> None:
    try:
        archive = zipfile.ZipFile(raw)
    except zipfile.BadZipFile as err:
        raise UploadError(f"{name!r} is not a valid zip file: {err}") from err
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        _check_members(members, name, limits)
        target.mkdir()
        budget = limits.max_unzipped_bytes
        for index, member in enumerate(members):
            with archive.open(member) as src, (target / f"{index:05d}.dcm").open("wb") as out:
                copied = _copy_stream(src, out, min(budget, member.file_size))
                if copied < 0:
                    raise UploadError(f"{name!r}: member {member.filename!r} holds more than its header says")
                budget -= copied


def _check_members(members: list[zipfile.ZipInfo], name: str, limits: UploadLimits) -> None:
    if not members:
        raise UploadError(f"{name!r} holds no files")
    if len(members) > limits.max_files:
        raise UploadError(f"{name!r} holds {len(members)} files; at most {limits.max_files}", 413)
    total = sum(m.file_size for m in members)
    if total > limits.max_unzipped_bytes:
        raise UploadError(f"{name!r} unpacks to {total} bytes; at most {limits.max_unzipped_bytes}", 413)
    compressed = max(1, sum(m.compress_size for m in members))
    if total / compressed > limits.max_zip_ratio:
        raise UploadError(
            f"{name!r} has a compression ratio of {total / compressed:.0f}; at most "
            f"{limits.max_zip_ratio:.0f} (refused as a possible zip bomb)", 413,
        )
    for member in members:
        path = PurePosixPath(member.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or ":" in member.filename:
            raise UploadError(f"{name!r}: member {member.filename!r} points outside the archive")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise UploadError(f"{name!r}: member {member.filename!r} is a symbolic link")
        if member.flag_bits & 0x1:
            raise UploadError(f"{name!r}: member {member.filename!r} is encrypted")


def _copy_stream(src: BinaryIO, out: BinaryIO, limit: int) -> int:
    """Copy at most ``limit`` bytes; -1 when the source holds more."""
    copied = 0
    while chunk := src.read(min(CHUNK, limit - copied + 1)):
        copied += len(chunk)
        if copied > limit:
            return -1
        out.write(chunk)
    return copied


def remove_upload(folder: Path) -> None:
    """Delete what :func:`store_upload` wrote for a refused upload."""
    shutil.rmtree(folder, ignore_errors=True)
