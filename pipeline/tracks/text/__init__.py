"""The text track (Morris et al. 2025, real text): deduplicated documents, reference models,
a grid over dataset size, and the probes (memorization, extraction, membership, rarity)."""
