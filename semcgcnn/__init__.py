"""sem-cgcnn: surface-emphasised multi-task crystal graph networks for surface screening.

The installed distribution exposes one namespace, ``semcgcnn``; the repository folders
``model/``, ``datasets/``, ``pipeline/`` and ``workflows/`` are mapped to
``semcgcnn.model``, ``semcgcnn.datasets``, ``semcgcnn.pipeline`` and ``semcgcnn.workflows``.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sem-cgcnn")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__"]
