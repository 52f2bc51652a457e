"""The transfer-learning study (``studies/transfer_learning.py``, paper Fig. 5): its training
fractions share one validation and one test set and nest their training rows."""

from __future__ import annotations

import numpy as np


def test_study_splits_fix_validation_and_test_and_nest_training():
    from transfer_learning import fraction_splits

    splits = fraction_splits(801, 0, (0.2, 0.4, 0.6))
    assert [len(s[0]) for s in splits.values()] == [160, 320, 481]
    val, test = splits[0.2][1], splits[0.2][2]
    assert len(val) == len(test) == 160 and not set(val) & set(test)
    for tr, va, te in splits.values():
        assert np.array_equal(va, val) and np.array_equal(te, test) and not set(tr) & (set(val) | set(test))
    assert set(splits[0.2][0]) <= set(splits[0.4][0]) <= set(splits[0.6][0])
    assert set(splits[0.6][0]) | set(val) | set(test) == set(range(801))
