"""SEM-CGCNN: crystal-graph featurization and (from the model issue on) the network."""

from .config import GraphConfig
from .featurize import CrystalGraph, NoVacuumError, OverlappingAtomsError, featurize, gaussian_expand

__all__ = ["CrystalGraph", "GraphConfig", "NoVacuumError", "OverlappingAtomsError", "featurize", "gaussian_expand"]
