"""Text-corpus ingestion: load documents, deduplicate them, tokenize them into sequences."""

# pipeline.text.config subclasses sections of pipeline.config, which in turn imports
# pipeline.text.config part-way through; importing pipeline.config first, here, makes that
# cycle resolve the same way whichever of the two modules a caller imports first.
import pipeline.config  # noqa: F401
