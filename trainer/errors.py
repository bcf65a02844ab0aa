"""The trainer's errors: each says what went wrong and what to do about it. The CLI prints them
without a traceback; anything else is a bug."""


class DataError(Exception):
    """Training data that cannot be used."""


class TrainingError(Exception):
    """Training cannot go on; the message says why and what is kept."""


class CheckpointError(Exception):
    """A checkpoint file that cannot be read, or cannot start this run."""


USER_ERRORS = (ValueError, DataError, TrainingError, CheckpointError)
