"""The project's error hierarchy: what a user or the environment caused, as opposed to a bug.

Every stage entry point turns a :class:`PipelineError` into one line on stderr and exit
status 2; anything else is a bug and keeps its traceback. A track defines its own subclasses
(``CorpusError`` in the text track) without the core having to know them.
"""

from __future__ import annotations


class PipelineError(Exception):
    """A failure caused by input, parameters or the environment; the message says which."""


class ConfigError(PipelineError, ValueError):
    """Invalid parameters; the message names the key and the reason."""


class ArtifactError(PipelineError, RuntimeError):
    """A stage input is missing or unreadable; the message names the file."""
