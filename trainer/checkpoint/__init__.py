"""The checkpoint format, owned by this package alone, behind one entry point: run-folder names
(folders.py), reading files as data only (files.py), a run's records and resume (records.py),
reading any checkpoint to start from (reader.py), loading weights by a model family's rules
(loading.py); sharded.py holds the FSDP form, hf.py the transformers layout, export.py the files
vmae writes for other tools."""

from trainer.checkpoint.files import CARD, CARD_FORMAT, FORMAT, HEADER_KEY, VERSION, load_file, unwrap_state_dict
from trainer.checkpoint.folders import BEST, checkpoints, latest, prune, resolve
from trainer.checkpoint.loading import classifier, load_weights, new_classifier, rebuild
from trainer.checkpoint.reader import Checkpoint, read
from trainer.checkpoint.records import model_record, restore, restore_rng, run_record, save, save_best

__all__ = ["BEST", "CARD", "CARD_FORMAT", "FORMAT", "HEADER_KEY", "VERSION", "Checkpoint", "checkpoints", "classifier",
           "latest", "load_file", "load_weights", "model_record", "new_classifier", "prune", "read", "rebuild",
           "resolve", "restore", "restore_rng", "run_record", "save", "save_best", "unwrap_state_dict"]
