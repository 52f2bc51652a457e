"""The generalisation study (``studies/generalise.py``): hyper-parameter variants are named in its
result files, and the shipped-model report (``studies/shipped_report.py``) describes them."""

from __future__ import annotations


def test_hyper_parameter_variants_are_named_in_the_result_file():
    from generalise import variant_tag  # studies/generalise.py

    from semcgcnn.model.config import GraphConfig, ModelConfig, TrainConfig

    assert variant_tag(TrainConfig(), ModelConfig(), GraphConfig()) == ""  # the paper's settings: no tag
    tag = variant_tag(
        TrainConfig(batch_size=32, lr=5e-4),
        ModelConfig(h_fea_len=64, surface_pool=True),
        GraphConfig(surface_depth=3.0),
    )
    assert tag == "-bs32-lr0.0005-h64-sd3-spool"
    from shipped_report import describe_variant  # studies/shipped_report.py

    assert describe_variant(tag) == (
        "batch size 32, learning rate 0.0005, heads' hidden width 64, "
        "surface atoms within 3 Å, heads also read the surface atoms' mean"
    )
    surface = variant_tag(TrainConfig(), ModelConfig(readout="surface"), GraphConfig())
    assert surface == "-rosurface" and describe_variant(surface) == "surface readout"
