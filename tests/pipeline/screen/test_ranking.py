"""The probability of being in the top k of a ranking, and its columns in a real screen's wulff table."""

from __future__ import annotations

import numpy as np
import pytest

from semcgcnn.pipeline.screen.ranking import RANKINGS, TOP_K, top_k_probability


def test_top_k_probabilities_sum_to_k_and_follow_the_gaps():
    """In every draw exactly k compounds are in the top k, so the probabilities sum to k; a value
    many σ below all others is in it always, one many σ above never; a tie of two equal values at
    the boundary splits evenly; NaN rows do not compete."""
    values = np.array([0.0, 10.0, 5.0, 5.0, np.nan, 20.0])
    sigma = np.array([0.1, 0.1, 0.1, 0.1, 0.1, np.nan])
    p = top_k_probability(values, sigma, k=2, draws=20000)
    assert np.nansum(p) == pytest.approx(2.0)
    assert p[0] == 1.0 and p[1] == 0.0 and np.isnan(p[4]) and np.isnan(p[5])
    assert p[2] == pytest.approx(0.5, abs=0.02) and p[3] == pytest.approx(0.5, abs=0.02)
    high = top_k_probability(values, sigma, k=1, ascending=False)
    assert high[1] == 1.0 and np.nansum(high) == pytest.approx(1.0)
    # deterministic: the same seed gives the same numbers
    np.testing.assert_array_equal(p, top_k_probability(values, sigma, k=2, draws=20000))


def test_screen_wulff_table_carries_the_top_k_probabilities(mixed_screen):
    """On a real screen: trusted intermetallics with a 1σ get probabilities in [0, 1] summing to
    min(k, n of them) per ranking; the others NaN, trusted MgP4 (semiconductor/Zintl) too."""
    from semcgcnn.pipeline.screen import results
    from semcgcnn.pipeline.screen.compound_class import INTERMETALLIC
    from semcgcnn.pipeline.screen.ranking import ranked_rows
    from semcgcnn.pipeline.screen.rows import TRUSTED

    wulff, _ = results.read_table(mixed_screen, "wulff")
    trusted = (wulff["trust"] == TRUSTED).to_numpy()
    ranked = ranked_rows(wulff)
    np.testing.assert_array_equal(ranked, trusted & (wulff["compound_class"] == INTERMETALLIC).to_numpy())
    assert sorted(wulff.loc[ranked, "formula"]) == ["MgAl", "MgAl", "MgAl3"]
    assert wulff.loc[trusted & ~ranked, "formula"].tolist() == ["MgP4"]
    for r in RANKINGS:
        p = wulff[r.probability_column].to_numpy(float)
        ok = ranked & np.isfinite(wulff[r.std_column].to_numpy(float))
        assert ok.sum() == 3
        assert np.isnan(p[~ok]).all()
        assert ((p[ok] >= 0) & (p[ok] <= 1)).all()
        assert p[ok].sum() == pytest.approx(min(TOP_K, ok.sum()))
