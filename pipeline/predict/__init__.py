"""``semcgcnn predict`` on slab files with the screen's flags: each file's prediction
(:mod:`semcgcnn.model.predict_files`) plus the screen's asymmetric-slab flag and a verdict in the
screen's words (:mod:`.files`)."""
