"""The contract's error, in a module that imports nothing heavy (the CLI catches it at start-up)."""


class ManifestError(Exception):
    """A corpus table that is missing, from another schema version, or lacks columns."""
