"""SEM-CGCNN: crystal-graph featurization, the network, prediction and (``model.training``) training."""

from .config import GraphConfig
from .featurize import CrystalGraph, NoVacuumError, OverlappingAtomsError, featurize, gaussian_expand

__all__ = [
    "CrystalGraph",
    "GraphConfig",
    "NoVacuumError",
    "OverlappingAtomsError",
    "featurize",
    "gaussian_expand",
]
