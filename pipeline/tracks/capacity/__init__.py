"""The capacity track (Morris et al. 2025): GPT-2 grids on uniform random tokens, scored in
bits of unintended memorization, read off as capacity and fitted as bits per parameter."""
