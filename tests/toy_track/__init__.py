"""A toy track, copied into a temporary project as ``pipeline/tracks/toy`` by
tests/e2e/test_toy_track.py: the proof that a track is one package and one params group."""
