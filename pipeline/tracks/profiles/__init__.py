"""Memorization profiles (Chen, Han, Miyao 2024): a ladder of model sizes, a match-score grid,
transitions, boundary effects, embeddings and a memorization predictor."""
