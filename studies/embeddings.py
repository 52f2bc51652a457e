"""Element embeddings of a trained model (the paper's Fig. 4).

    python studies/embeddings.py [--model model/weights/semcgcnn-mg] [--out-dir reports]

Each element the model was trained on goes through the network's embedding layer
(:func:`semcgcnn.model.embeddings.element_embeddings`: 92 CGCNN features, surface flag 0, the
checkpoint's element descriptors); the Pearson correlations between those vectors are drawn in
Mendeleev-number order. The note compares them with the same correlations of the raw input rows
(what the embedding starts from), so it says what the trained layer adds and what it inherits.

Writes ``element_embeddings.parquet`` (vectors), ``element_embedding_correlation.png`` (heatmap)
and ``element_embeddings.md`` (the note) into ``--out-dir``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from semcgcnn.model.checkpoint import SHIPPED_MODEL, CheckpointError, load_checkpoint, resolve_checkpoint
from semcgcnn.model.embeddings import element_embeddings, element_input_rows, embedding_correlation

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("embeddings")
FAMILIES = (
    "alkali",
    "alkaline earth",
    "lanthanoid",
    "actinoid",
    "transition metal",
    "post-transition metal",
    "metalloid",
    "nonmetal",
)
N_NEIGHBOURS = 5


def family(symbol: str) -> str:
    """The element's family from pymatgen's ``Element`` predicates (La in the lanthanoids, Ac in the actinoids)."""
    from pymatgen.core import Element

    e = Element(symbol)
    for name, test in (
        ("alkali", e.is_alkali),
        ("alkaline earth", e.is_alkaline),
        ("lanthanoid", e.is_lanthanoid),
        ("actinoid", e.is_actinoid),
        ("transition metal", e.is_transition_metal),
        ("post-transition metal", e.is_post_transition_metal),
        ("metalloid", e.is_metalloid),
    ):
        if test:
            return name
    return "nonmetal"


def input_correlation(checkpoint, elements: list[str]) -> pd.DataFrame:
    """Pearson correlation of the elements' raw input rows (as the embedding layer reads them)."""
    from pymatgen.core import Element

    rows = element_input_rows(checkpoint, np.array([Element(s).Z for s in elements]))
    x = rows.index_select(1, checkpoint.model.input_cols).double().numpy()
    return pd.DataFrame(np.corrcoef(x), index=elements, columns=elements)


def family_means(corr: pd.DataFrame) -> pd.DataFrame:
    """Per family with at least two members: mean correlation within the family (off-diagonal) and
    with every element outside it."""
    fam = pd.Series({s: family(s) for s in corr.index})
    c = corr.to_numpy()
    rows = []
    for name in FAMILIES:
        m = (fam == name).to_numpy()
        if m.sum() < 2:
            continue
        inner = c[np.ix_(m, m)][~np.eye(m.sum(), dtype=bool)]
        rows.append(
            {
                "family": name,
                "n": int(m.sum()),
                "members": " ".join(fam.index[m]),
                "within": float(inner.mean()),
                "outside": float(c[np.ix_(m, ~m)].mean()),
            }
        )
    return pd.DataFrame(rows)


def neighbours(corr: pd.DataFrame, symbol: str, k: int = N_NEIGHBOURS) -> list[tuple[str, float]]:
    """The ``k`` elements most correlated with ``symbol`` (itself excluded)."""
    s = corr.loc[symbol].drop(symbol).sort_values(ascending=False)
    return [(e, float(v)) for e, v in s.head(k).items()]


def plot(corr: pd.DataFrame, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(corr)
    fig, ax = plt.subplots(figsize=(0.16 * n + 2.5, 0.16 * n + 1.5))
    im = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(n), corr.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(n), corr.index, fontsize=7)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="Pearson r")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _off_mean(corr: pd.DataFrame) -> float:
    c = corr.to_numpy()
    return float(c[~np.eye(len(c), dtype=bool)].mean())


def _fmt(pairs: list[tuple[str, float]]) -> str:
    return ", ".join(f"{e} {v:.2f}" for e, v in pairs)


def yb_contrast(corr: pd.DataFrame) -> tuple[float, float] | None:
    """Yb's mean r with Ca/Sr/Ba and with the other lanthanoids (the paper's exception), if all are present."""
    earth = [s for s in ("Ca", "Sr", "Ba") if s in corr.index]
    lan = [s for s in corr.index if family(s) == "lanthanoid" and s != "Yb"]
    if "Yb" not in corr.index or not earth or not lan:
        return None
    return float(corr.loc["Yb", earth].mean()), float(corr.loc["Yb", lan].mean())


def robustness(others: list[tuple[str, pd.DataFrame]]) -> list[str]:
    """The note's statistics for other checkpoints (same recipe, other training rows and seeds)."""
    if not others:
        return []
    lines = [
        "",
        "## The same statistics for other checkpoints",
        "",
        "Whether an observation is the data's or one training run's: the committed split models "
        "(same recipe and readout, trained on their splits' rows).",
        "",
        "| model | Mg's nearest | Yb with Ca/Sr/Ba | Yb with other lanthanoids | lanthanoids within / with the rest |",
        "|---|---|---|---|---|",
    ]
    for label, corr in others:
        yb = yb_contrast(corr)
        lanth = family_means(corr).set_index("family").loc["lanthanoid"]
        lines.append(
            f"| `{label}` | {_fmt(neighbours(corr, 'Mg', 3))} | {yb[0]:.2f} | {yb[1]:.2f} | "
            f"{lanth['within']:.2f} / {lanth['outside']:.2f} |"
            if yb
            else f"| `{label}` | – | – | – | – |"
        )
    return lines


def note(
    model_label: str,
    ck,
    emb: pd.DataFrame,
    corr: pd.DataFrame,
    raw: pd.DataFrame,
    wall_s: float,
    others: list[tuple[str, pd.DataFrame]] = (),
) -> str:
    fam_e, fam_r = family_means(corr), family_means(raw)
    both = fam_e.merge(fam_r[["family", "within", "outside"]], on="family", suffixes=("", "_input"))
    lines = [
        "# Element embeddings (the paper's Fig. 4)",
        "",
        f"Written by `studies/embeddings.py` from `{model_label}` (`{ck.model_id}`, readout "
        f"`{ck.model.cfg.readout}`, {ck.model.cfg.n_descriptors} element descriptors) in {wall_s:.1f} s on a "
        "2-core CPU (no GPU). Each of the "
        f"{len(emb)} elements the model was trained on (card `training_elements`: the Mg–X partners plus the "
        "elemental and Palizhati slabs' elements) is its input row (92 CGCNN features, surface flag 0, the "
        "checkpoint's element descriptors) through the network's embedding layer: "
        f"{emb.shape[1]}-dimensional vectors (`element_embeddings.parquet`). The heatmap "
        "(`element_embedding_correlation.png`) is their Pearson correlation in Mendeleev-number order "
        "(pymatgen `Element.mendeleev_no`).",
        "",
        "The paper takes node features after the convolutions (which mix in the Mg neighbours); these are "
        "before them, so they belong to the element alone. The embedding is one linear layer of the input "
        "row, so part of the structure is inherited from the CGCNN one-hot features: the column *input* "
        "gives the same statistic for the raw input rows.",
        "",
        "![element embedding correlation](element_embedding_correlation.png)",
        "",
        "## Families (mean Pearson r)",
        "",
        f"Mean off-diagonal r over all pairs: {_off_mean(corr):.2f} (embedding), {_off_mean(raw):.2f} (input rows): "
        "the layer's shared bias and the descriptor columns lift every pair, so compare *within* with *with the rest*.",
        "",
        "| family | n | members | within (embedding) | with the rest (embedding) | within (input) | with the rest (input) |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {r.family} | {r.n} | {r.members} | {r.within:.2f} | {r.outside:.2f} | {r.within_input:.2f} | "
            f"{r.outside_input:.2f} |"
            for r in both.itertuples()
        ],
        "",
        "## Nearest neighbours by correlation",
        "",
        "| element | embedding | input rows |",
        "|---|---|---|",
    ]
    for s in ("Mg", "Yb", "Zn", "Se"):
        if s in corr.index:
            lines.append(f"| {s} | {_fmt(neighbours(corr, s))} | {_fmt(neighbours(raw, s))} |")
    yb, yb_raw = yb_contrast(corr), yb_contrast(raw)
    if yb and yb_raw:
        lines += [
            "",
            f"Yb (the paper's exception): mean r with Ca/Sr/Ba {yb[0]:.2f} against {yb[1]:.2f} with the other "
            f"lanthanoids in the embedding; {yb_raw[0]:.2f} against {yb_raw[1]:.2f} in the input rows.",
        ]
    lines += robustness(list(others))
    return "\n".join(lines) + "\n"


def _label(path: Path) -> str:
    stem = resolve_checkpoint(path)
    try:
        return str(stem.resolve().relative_to(REPO))
    except ValueError:
        return str(stem)


def main(
    model: Annotated[
        Path, typer.Option(help="Checkpoint stem, card or folder (default: the shipped model).")
    ] = SHIPPED_MODEL,
    out_dir: Annotated[Path, typer.Option(help="Folder for the parquet, PNG and note.")] = REPO / "reports",
    compare: Annotated[
        list[Path] | None,
        typer.Option(
            help="Other checkpoints whose statistics the note lists (default: the committed split models)."
        ),
    ] = None,
) -> None:
    t0 = time.perf_counter()
    compare = (
        compare
        if compare is not None
        else [REPO / "studies" / "models" / f"semcgcnn-{s}-s0" for s in ("random", "grouped")]
    )
    try:
        stem = resolve_checkpoint(model)
        ck = load_checkpoint(stem)
        others = [(_label(c), embedding_correlation(element_embeddings(load_checkpoint(c)))) for c in compare]
    except (CheckpointError, ValueError) as e:
        raise typer.BadParameter(str(e)) from None
    emb = element_embeddings(ck)
    corr = embedding_correlation(emb)
    raw = input_correlation(ck, list(emb.index))
    out_dir.mkdir(parents=True, exist_ok=True)
    from pymatgen.core import Element

    table = emb.reset_index()
    table.insert(1, "mendeleev_no", [int(Element(s).mendeleev_no) for s in emb.index])
    table.insert(2, "family", [family(s) for s in emb.index])
    table.to_parquet(out_dir / "element_embeddings.parquet", index=False)
    label = _label(stem)
    plot(
        corr,
        out_dir / "element_embedding_correlation.png",
        f"Pearson r of element embeddings ({label}), Mendeleev order",
    )
    wall = time.perf_counter() - t0
    (out_dir / "element_embeddings.md").write_text(note(label, ck, emb, corr, raw, wall, others))
    log.info("wrote %s (%d elements × %d) in %.1f s", out_dir / "element_embeddings.md", *emb.shape, wall)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    typer.run(main)
