"""Triplet extraction: one pass, two stages (pairs, then a relation per pair), and Ray
for many machines. kgc_lite/extract/pipeline.py picks among them."""
