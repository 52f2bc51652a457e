"""Screening pipeline: candidates → slabs → predictions → Wulff-weighted properties → Parquet."""
