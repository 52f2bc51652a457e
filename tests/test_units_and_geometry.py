"""The concepts defined once in the utility layer: the eV/Å² → J/m² factor and the face area |a×b|."""

from __future__ import annotations

import math

import pytest

from semcgcnn.geometry import face_area
from semcgcnn.units import ANGSTROM_M, ELEMENTARY_CHARGE_C, EV_PER_A2_TO_J_PER_M2, UNITS


def test_the_surface_energy_factor_is_codata_e_per_square_angstrom():
    from scipy import constants

    exact = constants.e / constants.angstrom**2  # CODATA: 16.02176634 J/m² per eV/Å²
    assert ELEMENTARY_CHARGE_C / ANGSTROM_M**2 == pytest.approx(exact, rel=1e-12)
    assert exact == pytest.approx(16.02176634, rel=1e-12)
    # every table is written with the CODATA value to four decimals: that float, bit for bit
    assert EV_PER_A2_TO_J_PER_M2 == round(exact, 4) == 16.0218
    assert EV_PER_A2_TO_J_PER_M2 == pytest.approx(exact, rel=2.2e-6)


def test_target_units_are_the_datasets_and_the_checkpoints():
    from semcgcnn.datasets import TARGETS

    assert {name: t.unit for name, t in TARGETS.items()} == UNITS
    assert TARGETS["surface_energy"].column == "surface_energy_eV_per_A2" and UNITS["work_function"] == "eV"


def test_face_area_of_an_oblique_real_slab_is_a_b_sin_gamma(elemental):
    s = elemental["37Au320"].structure  # Au (3 2 0): a triclinic cell, c not along the a×b normal
    a, b, _ = s.lattice.abc
    alpha, beta, gamma = s.lattice.angles
    assert abs(gamma - 90) > 10 and abs(alpha - 90) > 5 and abs(beta - 90) > 5
    by_hand = a * b * math.sin(math.radians(gamma))
    assert face_area(s.lattice.matrix) == pytest.approx(by_hand, rel=1e-12)
    assert 29 < by_hand < 33  # 4.173 Å × 7.760 Å × sin 74.4°
    from semcgcnn.model import GraphConfig, featurize

    assert featurize(s, GraphConfig()).area == face_area(s.lattice.matrix)  # the graph's area, the same float
    big = s.copy()  # an in-plane supercell doubles it, a longer c leaves it
    big.make_supercell([2, 1, 3])
    assert face_area(big.lattice.matrix) == pytest.approx(2 * by_hand, rel=1e-12)
