"""jobflow workflows (atomate2-style Makers) around the screening pipeline."""
