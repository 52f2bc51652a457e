"""The screen's candidate sources: the Materials Project query built offline, ternaries included."""

from __future__ import annotations

import pytest

from semcgcnn.pipeline.screen.candidates import CandidateError, gather, mp_label, mp_query
from semcgcnn.pipeline.screen.config import ScreenConfig


def test_the_mp_query_asks_for_binaries_by_default_and_ternaries_when_told():
    assert mp_query(0.05) == {
        "elements": ["Mg"],
        "num_elements": (2, 2),
        "energy_above_hull": (0, 0.05),
        "fields": ["material_id", "structure", "energy_above_hull"],
    }
    assert mp_query(0.1, max_elements=3)["num_elements"] == (2, 3)
    assert mp_label(0.05, 2) == "mp:Materials Project summary, binary Mg, e_above_hull<=0.05"
    assert "2- to 3-element" in mp_label(0.05, 3)


def test_max_elements_is_recorded_only_when_not_the_default():
    """A screen's manifest records what decides it; a binary screen's manifest stays as it was, so
    an interrupted one resumes under this version."""
    assert "max_elements" not in ScreenConfig().parameters()
    p = ScreenConfig(source="mp", max_elements=3).parameters()
    assert p["max_elements"] == 3 and ScreenConfig.from_parameters(p).max_elements == 3


def test_mp_without_a_key_is_a_user_error(monkeypatch):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    with pytest.raises(CandidateError, match="MP_API_KEY"):
        gather("mp", max_elements=3)
