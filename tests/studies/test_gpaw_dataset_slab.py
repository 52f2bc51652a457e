"""The GPAW relabelling study (``studies/gpaw_dataset_slab.py``): a shipped Mg–X slab relabelled
with GPAW against its VASP label."""

from __future__ import annotations

import pytest
from backends_required import requires_gpaw


@requires_gpaw
@pytest.mark.slow
def test_gpaw_relabels_a_shipped_li2mg_slab_close_to_its_vasp_label(tmp_path):
    """A stoichiometric slab of the shipped Mg–X set (Li2Mg, 18 atoms; its relaxed VASP-PBE label
    0.0320 eV/Å², 3.007 eV) relabelled with GPAW fast against the shipped MP bulk: the comparison
    of reports/gpaw_dataset_slab.json (measured: +1 % in γ, +0.02 eV in Φ), held to 15 % and 0.25 eV."""
    from gpaw_dataset_slab import DEFAULT_SLAB, compare

    res = compare(DEFAULT_SLAB, "fast", tmp_path)
    assert res["formula"] == "Li2Mg" and res["n_atoms"] == 18 and res["bulk_id"] == "mp-976843"
    assert abs(res["relative_difference_surface_energy"]) < 0.15
    assert abs(res["difference_work_function_eV"]) < 0.25
    assert (
        abs(res["gpaw_work_function_bottom_eV"] - res["gpaw_work_function_top_eV"]) < 0.02
    )  # symmetric slab
