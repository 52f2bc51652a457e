"""The report's figures: matplotlib (Agg backend, no display), each returned as PNG bytes."""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from pymatgen.core import Lattice

DPI = 90


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig: Figure) -> bytes:
    """The figure ``fig`` as PNG bytes (the figure is closed)."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def histograms(panels: Sequence[tuple[np.ndarray, str]], bins: int = 30) -> bytes:
    """Side-by-side histograms, one per (values, x label)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2))
    for ax, (values, label) in zip(np.atleast_1d(axes), panels, strict=True):
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        ax.hist(v, bins=bins, color="#3b75af", edgecolor="white")
        ax.set_xlabel(label)
        ax.set_ylabel("compounds")
        ax.set_title(f"n = {len(v)}", fontsize=9)
    fig.tight_layout()
    return png(fig)


class WulffNotDrawn(ValueError):
    """Why a compound's Wulff shape has no panel, in one line."""


def wulff_shape(
    lattice: Lattice, millers: Sequence[tuple[int, int, int]], energies: Sequence[float], title: str
) -> bytes:
    """pymatgen's ``WulffShape`` of the facets, drawn by its own matplotlib plot (``lattice``: the
    conventional cell's; ``millers``: the facets; ``energies``: their surface energies, in the
    order of ``millers``; ``title``: the panel's title).

    pymatgen's plot looks along the largest facet's normal, and for a normal perpendicular to a and
    b (the (0 0 1) of MgAl, MgZn, LiMg2 on the shipped binaries) it divides by a zero in-plane
    length: a RuntimeWarning, NaN view angles and a blank panel. That view is set to pymatgen's own
    for (0 0 1) (from above, ``elev`` 90°) and its RuntimeWarnings kept off the console.

    Raises:
        WulffNotDrawn: pymatgen cannot build the shape (facets that do not enclose a crystal), or
            the shape has no finite surface: no panel to show.
    """
    plt = _pyplot()
    from pymatgen.analysis.wulff import WulffShape

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="pymatgen")
        try:
            shape = WulffShape(
                lattice, [tuple(int(x) for x in m) for m in millers], [float(e) for e in energies]
            )
            area = float(shape.surface_area)
            if not (math.isfinite(area) and area > 0):
                raise WulffNotDrawn(f"the shape has no finite surface (area {area:.3g})")
            ax = shape.get_plot(bar_on=False, legend_on=True, aspect_ratio=(4, 4), units_in_JPERM2=False)
        except WulffNotDrawn:
            raise
        except Exception as exc:  # noqa: BLE001 - qhull and geometry errors of pymatgen
            plt.close("all")
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WulffNotDrawn(f"pymatgen WulffShape failed: {reason[:160]}") from None
    if not (math.isfinite(ax.azim) and math.isfinite(ax.elev)):
        ax.view_init(azim=0, elev=90)
    fig = ax.get_figure()
    fig.set_size_inches(4, 4)
    ax.set_title(title, fontsize=10)
    out = png(fig)
    plt.close("all")
    return out


def scatter_wf_vs_potential(
    wf: np.ndarray,
    wf_std: np.ndarray,
    potential: np.ndarray,
    labels: Sequence[str],
    trusted: np.ndarray,
    mg_potential: float | None,
    annotate: int = 10,
) -> bytes:
    """Wulff work function (x, ±1σ) against the dissolution equilibrium potential (y), as paper Fig. 6b:
    trusted compounds filled, the others open; the pure-Mg potential dashed; the ``annotate``
    highest potentials labelled."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ok = np.isfinite(wf) & np.isfinite(potential)
    err = np.where(np.isfinite(wf_std), wf_std, 0.0)
    for sel, face, what in ((ok & trusted, "#c44e52", "trusted"), (ok & ~trusted, "none", "not trusted")):
        ax.errorbar(
            wf[sel],
            potential[sel],
            xerr=err[sel],
            fmt="o",
            ms=4,
            mfc=face,
            mec="#c44e52",
            ecolor="#c44e5255",
            elinewidth=1,
            label=f"Mg–X compounds, {what} (n = {int(sel.sum())})",
        )
    if mg_potential is not None:
        ax.axhline(mg_potential, ls="--", color="k", lw=1, label=f"Mg → Mg²⁺ ({mg_potential:.2f} V)")
    idx = np.flatnonzero(ok)
    for i in idx[np.argsort(-potential[idx])][:annotate]:
        ax.annotate(labels[i], (wf[i], potential[i]), fontsize=7, xytext=(3, 2), textcoords="offset points")
    ax.set_xlabel("Wulff-weighted work function Φ (eV)")
    ax.set_ylabel("dissolution equilibrium potential (V vs SHE)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return png(fig)


def parity(panels: Sequence[tuple[np.ndarray, np.ndarray, str, str]]) -> bytes:
    """Predicted against true, one panel per (true, predicted, title, unit), with MAE and the y = x line."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.0))
    for ax, (y, p, title, unit) in zip(np.atleast_1d(axes), panels, strict=True):
        ok = np.isfinite(y) & np.isfinite(p)
        ax.scatter(y[ok], p[ok], s=6, alpha=0.5, color="#3b75af")
        lo, hi = np.nanmin(np.r_[y[ok], p[ok]]), np.nanmax(np.r_[y[ok], p[ok]])
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        mae = float(np.mean(np.abs(y[ok] - p[ok])))
        ax.set_title(f"{title}\nMAE {mae:.4g} {unit}, n = {int(ok.sum())}", fontsize=9)
        ax.set_xlabel(f"DFT ({unit})")
        ax.set_ylabel(f"predicted ({unit})")
    fig.tight_layout()
    return png(fig)


def learning_curves(history: Sequence[dict], title: str) -> bytes:
    """Training loss and validation score per epoch; validation MAE per task on a second panel."""
    plt = _pyplot()
    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(8.4, 3.4))
    a.plot(ep, [h["train_loss"] for h in history], label="train loss")
    a.plot(ep, [h["val_score"] for h in history], label="validation score")
    a.set_xlabel("epoch")
    a.set_yscale("log")
    a.legend(fontsize=8)
    a.set_title(title, fontsize=9)
    for key in sorted(k for k in history[0] if k.startswith("val_mae_")):
        b.plot(ep, [h[key] for h in history], label=key.removeprefix("val_mae_"))
    b.set_xlabel("epoch")
    b.set_ylabel("validation MAE (task units)")
    b.set_yscale("log")
    b.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)
