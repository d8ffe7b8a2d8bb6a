"""Reading and writing CT volumes (NIfTI, DICOM) into the canonical :class:`Volume`."""
