"""The retention track (Badger 2026): how much of its input an embedding keeps, and memory
models built on the answer. Imports only the core; reads the text track's corpus from disk."""
