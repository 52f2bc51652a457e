"""The class of a screened compound, from its partner element(s) X: what an analyst screening Mg
intermetallics ranks (``intermetallic``) and what they set apart (``semiconductor/Zintl``,
``ionic``).

The rule, by X's category (:func:`~.candidates.element_category`, as in the shipped data's
``X_category``):

- ``ionic``: X a nonmetal other than P and Se: the halides (F, Cl, Br, I), oxides and sulfides
  (O, S), hydrides (H), nitrides (N) and the salt-like carbides (C: MgC2, Mg2C3 hold C₂²⁻/C₃⁴⁻
  anions), and the noble gases.
- ``semiconductor/Zintl``: X a metalloid (B, Si, Ge, As, Sb, Te, Po) or P or Se: the pnictides,
  tetrelides and chalcogenides of covalent, Zintl-like anion networks (Mg2Si, Mg3P2, MgAs4, MgSe,
  MgTe). The borides count here too: their B networks are covalent (MgB4 and MgB7 semiconductors;
  MgB2, though metallic, is no Mg–metal intermetallic either).
- ``intermetallic``: every partner a metal (and pure Mg, no partner). The rule goes by element, not
  by band gap, so Mg2Sn (a narrow-gap semiconductor) and Mg3Bi2 (a semimetal) count as
  intermetallics, Sn and Bi being metals.

A compound of several partners takes the most non-metallic class among them (ionic, then
semiconductor/Zintl, then intermetallic): MgAlS2 would be ionic, MgAlSi semiconductor/Zintl.
"""

from __future__ import annotations

from .candidates import METALLOIDS, NONMETALS

INTERMETALLIC = "intermetallic"
SEMICONDUCTOR = "semiconductor/Zintl"
IONIC = "ionic"
CLASSES = (INTERMETALLIC, SEMICONDUCTOR, IONIC)
"""The classes, from most to least metallic: a compound takes the last that any partner has."""
SEMICONDUCTOR_PARTNERS = METALLOIDS | {"P", "Se"}
"""Partner elements that make a compound ``semiconductor/Zintl``."""
IONIC_PARTNERS = NONMETALS - SEMICONDUCTOR_PARTNERS
"""Partner elements that make a compound ``ionic``."""
RULE = (
    "ionic where a partner element is a halide, O, S, H, N or C; else semiconductor/Zintl where one is "
    f"{', '.join(sorted(SEMICONDUCTOR_PARTNERS))}; else intermetallic"
)
"""The rule in one line, for the report."""


def element_class(symbol: str) -> str:
    """The class an Mg compound of the single partner element ``symbol`` has."""
    if symbol in IONIC_PARTNERS:
        return IONIC
    return SEMICONDUCTOR if symbol in SEMICONDUCTOR_PARTNERS else INTERMETALLIC


def compound_class(x_element: str) -> str:
    """The class of a compound whose partner elements are ``x_element`` (comma-joined symbols, as
    in the ``X_element`` column; "" for pure Mg): the most non-metallic of its partners' classes."""
    partners = [x.strip() for x in x_element.split(",") if x.strip()]
    return max((element_class(x) for x in partners), key=CLASSES.index, default=INTERMETALLIC)
