"""DFT (and ML-potential) surface labels: what a calculation returns (:mod:`.calc`), the surface
energy and work function from those results (:mod:`.surface`), which atoms a slab relaxation
moves (:mod:`.slabs`) and one module per backend: GPAW (:mod:`.gpaw`, real PAW DFT run in its own
process), VASP (:mod:`.vasp`: input sets with the paper's settings, dry-run folders, output
parsing) and a universal ML potential (:mod:`.mlip`). The jobflow Makers that chain them are in
:mod:`semcgcnn.workflows.labelling.maker`."""
