"""``hyperct serve``: an HTTP service and a web viewer over trained runs.

Parts: :mod:`~hyperct.serve.config` (settings), :mod:`~hyperct.serve.uploads` (safe storage of
uploads), :mod:`~hyperct.serve.store` (persistent jobs), :mod:`~hyperct.io.scan_qc` (input checks),
:mod:`~hyperct.serve.runs` (the loaded models), :mod:`~hyperct.serve.jobs` (the workers),
:mod:`~hyperct.serve.app` (the API and the viewer), :mod:`~hyperct.serve.client`.
"""
