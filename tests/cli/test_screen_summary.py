"""The summary ``semcgcnn screen`` prints under its ranking: how many compounds are ranked, and
what was left out and why, or "none" (never a dangling "Left out: 0, for ...:" line)."""

from __future__ import annotations

import pandas as pd


def _summary_lines(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Ranked: "))
    end = next(i for i, line in enumerate(lines) if line.startswith("Training labels' range"))
    return lines[start:end]


def test_every_compound_trusted_says_left_out_none(cli, tmp_path):
    """The first two shipped binaries (AcMg, AcMg3): both Wulff rows trusted."""
    out = tmp_path / "screen"
    res = cli("screen", "--limit", "2", "--workers", "1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    wulff = pd.read_parquet(out / "wulff.parquet")
    assert list(wulff["trust"]) == ["trusted", "trusted"]
    assert _summary_lines(res.stdout) == [
        "Ranked: 2 of 2 compounds with trust == 'trusted' in wulff.parquet. Left out: none."
    ]
    assert "for (a compound can have several reasons)" not in res.stdout


def test_left_out_compounds_are_counted_by_reason(cli, tmp_path):
    """Two Mg oxides/fluorides: anion chemistry, out of the model's domain, so none is ranked."""
    from semcgcnn.cli.screen import trust_lines

    out = tmp_path / "screen"
    res = cli("screen", "--elements", "O,F", "--limit", "2", "--workers", "1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    wulff = pd.read_parquet(out / "wulff.parquet")
    reasons = wulff["trust"].str.split("; ").explode().value_counts()
    assert reasons.to_dict() == {"compound out of domain": 2, "dominant facet out of domain": 2}
    assert (
        _summary_lines(res.stdout)
        == trust_lines(wulff)
        == [
            "Ranked: 0 of 2 compounds with trust == 'trusted' in wulff.parquet. "
            "Left out: 2, for (a compound can have several reasons):",
            "     2  compound out of domain",
            "     2  dominant facet out of domain",
        ]
    )
