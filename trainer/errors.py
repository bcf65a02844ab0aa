"""The trainer's errors: each says what went wrong and what to do about it. The CLI prints them
without a traceback (VMAE_DEBUG=1 shows it); anything else is a bug and keeps its traceback."""

from manifests.options import OptionError
from trainer.models.sizes import ModelError


class ConfigError(OptionError):
    """Settings that do not make a run (a value out of range, options that do not go together)."""


class DataError(Exception):
    """Training data that cannot be used. Raised in a loader worker, it reaches the trainer rebuilt
    by torch from "Caught DataError in DataLoader worker process 0. Original Traceback …": the
    message is cut back to the worker's own, one line, as the CLI prints it."""

    def __init__(self, message: str = "") -> None:
        if message.startswith("Caught DataError in DataLoader worker") and "DataError: " in message:
            message = message.rsplit("DataError: ", 1)[1].strip()
        super().__init__(message)


class TrainingError(Exception):
    """Training cannot go on; the message says why and what is kept."""


class CheckpointError(Exception):
    """A checkpoint file that cannot be read, or cannot start this run."""


# vmae's own errors only (OptionError: a setting that cannot be read); a ValueError from torch or numpy
# inside an objective is a bug with a traceback
USER_ERRORS = (OptionError, ConfigError, ModelError, DataError, TrainingError, CheckpointError)
