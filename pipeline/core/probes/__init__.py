"""Probes any track can apply to any causal LM: greedy-match extraction, the loss-threshold
membership attack, and rarity."""
