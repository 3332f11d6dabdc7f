"""The corpus track: documents in (Python's documentation offline, FineWeb from the Hub or
local files), deduplicated token sequences out, split by document into the pools every other
track reads through :mod:`pipeline.core.corpus`."""
