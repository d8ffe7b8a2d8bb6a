"""Errors raised when a CT or mask file cannot be turned into a trustworthy Volume."""

from __future__ import annotations


class CTReadError(ValueError):
    """A file or folder is not a readable CT: the message names the file and what is wrong."""


class DicomOutputError(ValueError):
    """A DICOM output (SEG, SR) cannot be made from these inputs: the message says why."""
