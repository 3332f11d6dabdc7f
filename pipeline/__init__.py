"""Library shared by the DVC stages and the Prefect flows of the memorization pipeline."""
