"""DFT (and ML-potential) surface labels: what a calculation returns (:mod:`.calc`), the surface
energy and work function from those results (:mod:`.surface`), which atoms a slab relaxation
moves (:mod:`.slabs`) and one module per backend: GPAW (:mod:`.gpaw`, real PAW DFT run in its own
process), VASP (:mod:`.vasp`: the paper's settings as data, the checks, output parsing) and a
universal ML potential (:mod:`.mlip`); the elemental references (:mod:`.references`). Everything
atomate2 (its Makers, input sets, dry-run folders) and the jobflow Makers that chain the steps
are in :mod:`semcgcnn.workflows.labelling`."""
