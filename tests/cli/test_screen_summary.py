"""The summary ``semcgcnn screen`` prints under its ranking: how many compounds are ranked (the
trusted intermetallics), and what was left out and why, or "none" (never a dangling "Left out: 0,
for ...:" line)."""

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
        "Ranked: 2 of 2 compounds, the trusted intermetallics "
        "(trust == 'trusted' and compound_class == 'intermetallic' in wulff.parquet). Left out: none."
    ]
    assert "for (a compound can have several reasons)" not in res.stdout


def test_left_out_compounds_are_counted_by_reason(cli, tmp_path):
    """Two Mg fluorides: anion chemistry, out of the model's domain, so none is ranked (one is also
    a polymorph 0.10 eV/atom above the estimated hull); no empty ranking table is printed."""
    from semcgcnn.cli.screen import trust_lines

    out = tmp_path / "screen"
    res = cli("screen", "--elements", "O,F", "--limit", "2", "--workers", "1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    wulff = pd.read_parquet(out / "wulff.parquet")
    reasons = wulff["trust"].str.split("; ").explode().value_counts()
    unstable = "estimated more than 0.1 eV/atom above the convex hull: likely an unstable polymorph"
    assert reasons.to_dict() == {"compound out of domain": 2, "dominant facet out of domain": 2, unstable: 1}
    assert "no trusted intermetallic to rank" in res.stdout and "P(top" not in res.stdout
    assert (
        _summary_lines(res.stdout)
        == trust_lines(wulff)
        == [
            "Ranked: 0 of 2 compounds, the trusted intermetallics "
            "(trust == 'trusted' and compound_class == 'intermetallic' in wulff.parquet). "
            "Left out: 2, for (a compound can have several reasons):",
            "     2  compound out of domain",
            "     2  dominant facet out of domain",
            f"     1  {unstable}",
        ]
    )


def test_trusted_compounds_of_other_classes_are_left_out_and_counted(mixed_screen):
    """Mg–Al, –Cl, –P, –S, –Se binaries: the printed rankings hold only the three trusted
    intermetallics; trusted MgP4 (semiconductor/Zintl) is counted as left out by its class."""
    from semcgcnn.cli.screen import trust_lines

    stdout = (mixed_screen.parent / "summary.txt").read_text(encoding="utf-8")
    wulff = pd.read_parquet(mixed_screen / "wulff.parquet")
    lines = _summary_lines(stdout)
    assert lines == trust_lines(wulff)
    assert lines[0].startswith("Ranked: 3 of 13 compounds, the trusted intermetallics ")
    assert lines[0].endswith("Left out: 10, for (a compound can have several reasons):")
    assert lines[-1] == "     1  trusted, but semiconductor/Zintl: not an intermetallic"
    table = stdout[: stdout.index("P(top 10): the chance")]
    rows = [line.split("│")[2].strip() for line in table.splitlines() if line.startswith("│")]
    # each ranking's 3 best: always the three intermetallics, never trusted MgP4 (Φ 4.03 eV)
    assert sorted(rows) == sorted(["mp-1039019", "mp-1039141", "mp-1038916"] * 3)
