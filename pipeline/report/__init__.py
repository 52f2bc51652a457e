"""Self-contained HTML reports (``semcgcnn report``): of a screen run (:mod:`.screen`) and of
trained models (:mod:`.training`); figures in :mod:`.figures`, the page in :mod:`.html`."""

from __future__ import annotations

from .screen import ReportConfig, build_screen_report
from .training import ReportError, build_training_report, is_training_target

__all__ = [
    "ReportConfig",
    "ReportError",
    "build_screen_report",
    "build_training_report",
    "is_training_target",
]
