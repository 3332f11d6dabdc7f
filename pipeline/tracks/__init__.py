"""Tracks written as plug-ins: each package here imports only :mod:`pipeline.core`."""
