"""Sharded checkpoints, for runs with --fsdp: a ckpt-NNNNNNNN/ folder that every rank writes
through torch.distributed.checkpoint (DCP), each its own shards of the trainee's weights and of the
optimizer state, and rank 0 the plan (.metadata) and record.pt: everything of the run record that
is not one of those tensors (step, data position, RNG, config, the optimizer's groups). The folder
is written as .ckpt-NNNNNNNN.tmp/ and renamed when whole, so a crash leaves the previous one.
DCP reshards on load: a run resumes with another number of ranks, and one process reads it whole
(eval, predict, embed, --init).

DCP's own reader unpickles .metadata, and any non-tensor item, with nothing to stop code in them.
Here .metadata goes through an unpickler that knows DCP's metadata classes and nothing else, and a
non-tensor item is refused (ours hold none): a checkpoint stays data.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint.metadata import Metadata, TensorStorageMetadata
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from trainer.checkpoint.disk import os_error_of, save_torch
from trainer.errors import CheckpointError

RECORD = "record.pt"
PLAN = ".metadata"


def is_sharded(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / PLAN).is_file() and (path / RECORD).is_file()


# ---- reading as data ----------------------------------------------------------------------------

_METADATA_CLASSES = {
    "torch.distributed.checkpoint.metadata": {"Metadata", "MetadataIndex", "ChunkStorageMetadata",
                                              "TensorStorageMetadata", "BytesStorageMetadata", "TensorProperties",
                                              "StorageMeta", "_MEM_FORMAT_ENCODING"},
    "torch.distributed.checkpoint.filesystem": {"_StorageInfo"},
    "pathlib": {"PosixPath", "PurePosixPath", "WindowsPath", "PureWindowsPath", "Path"},
    "collections": {"OrderedDict"},
    "torch": {"Size"},
}


class _PlanUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if name in _METADATA_CLASSES.get(module, ()):
            return super().find_class(module, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype | torch.layout):
            return getattr(torch, name)
        if module.startswith("torch") and name == "_get_layout":
            return super().find_class(module, name)
        raise CheckpointError(f"the checkpoint's {PLAN} asks for {module}.{name}, which is not part of a "
                              "torch.distributed.checkpoint plan; vmae does not run what a file holds")


class _SafeReader(FileSystemReader):
    def read_metadata(self):
        try:
            with open(Path(self.path) / PLAN, "rb") as f:
                metadata = _PlanUnpickler(f).load()
        except CheckpointError:
            raise
        except Exception as e:  # noqa: BLE001 - a damaged plan fails in many ways
            raise CheckpointError(f"{self.path}/{PLAN} is not a readable checkpoint plan ({e})") from e
        if not isinstance(metadata, Metadata):
            raise CheckpointError(f"{self.path}/{PLAN} holds a {type(metadata).__name__}, not a checkpoint plan")
        _check_plan(Path(self.path), metadata)
        if getattr(metadata, "storage_meta", None) is not None:
            metadata.storage_meta.load_id = self.load_id
        return metadata


def _check_plan(folder: Path, metadata) -> None:
    """The plan is an input too: every file it names is a file of the folder, every stored item lies
    within its file, and no tensor is larger than the bytes stored for it. So a crafted plan
    neither reads another file nor allocates more memory than the folder holds."""
    where = f"{folder}/{PLAN}"
    stored: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for index, info in (getattr(metadata, "storage_data", None) or {}).items():
        name = getattr(info, "relative_path", None)
        if not isinstance(name, str) or Path(name).name != name or name in (".", "..") or \
                not (folder / name).is_file():
            raise CheckpointError(f"{where} names the data file {name!r}, which is not a file of {folder}; refusing "
                                  "to read outside the checkpoint folder")
        size = sizes.setdefault(name, (folder / name).stat().st_size)
        offset, length = getattr(info, "offset", None), getattr(info, "length", None)
        if not (isinstance(offset, int) and isinstance(length, int) and 0 <= offset and 0 <= length
                and offset + length <= size):
            raise CheckpointError(f"{where} places an item at bytes {offset}+{length} of {name}, which holds {size}; "
                                  "the checkpoint is damaged")
        stored[index.fqn] = stored.get(index.fqn, 0) + length
    for fqn, meta in metadata.state_dict_metadata.items():
        if not isinstance(meta, TensorStorageMetadata):
            continue
        dims = list(meta.size)
        if not all(isinstance(d, int) and d >= 0 for d in dims):
            raise CheckpointError(f"{where}: tensor {fqn!r} has the shape {dims}; the checkpoint is damaged")
        wanted = math.prod(dims) * torch.empty((), dtype=meta.properties.dtype).element_size()
        have = stored.get(fqn, 0)
        if wanted > have:
            raise CheckpointError(f"{where}: tensor {fqn!r} claims {dims} ({wanted:,} bytes) but {have:,} "
                                  "bytes are stored for it; refusing to allocate it (vmae writes its tensors whole, "
                                  "uncompressed)")


class _TensorsOnlyPlanner(DefaultLoadPlanner):
    def load_bytes(self, read_item, value: io.BytesIO) -> None:
        raise CheckpointError(f"the sharded checkpoint holds a non-tensor item {read_item.dest_index.fqn!r}; vmae's "
                              "hold tensors only and it will not unpickle it")


def _plan(path: Path):
    """The folder's plan, checked here (with our message) before DCP reads it within its collectives."""
    return _SafeReader(str(path)).read_metadata()


def _load(state: dict, path: Path) -> None:
    """Fill `state` from the shards; the plan has been checked with _plan."""
    with warnings.catch_warnings():  # one process reading a sharded checkpoint is intended, not a mistake
        warnings.filterwarnings("ignore", message=".*assuming the intent is to load in a single process")
        dcp.load(state, storage_reader=_SafeReader(str(path)), planner=_TensorsOnlyPlanner())


def read_record(path: Path, load_file: Callable[[Path], dict]) -> dict:
    """The whole record, as one process holds it: record.pt with "model" and "objective" filled
    from the shards (the optimizer's state is left out: only a resume needs it)."""
    record = load_file(path / RECORD)
    plan = _plan(path)
    state = {k: torch.empty(m.size, dtype=m.properties.dtype) for k, m in plan.state_dict_metadata.items()
             if isinstance(m, TensorStorageMetadata) and k.startswith("trainee.")}
    _load(state, path)
    trainee = {k.removeprefix("trainee."): v for k, v in state.items()}
    record["model"] = {k.removeprefix("model."): v for k, v in trainee.items() if k.startswith("model.")}
    record["objective"] = {k.removeprefix("objective."): v for k, v in trainee.items() if k.startswith("objective.")}
    return record


# ---- a run's sharded state ------------------------------------------------------------------------

def _trainee_state(trainee: torch.nn.Module) -> dict:
    """The trainee's checkpointed tensors (the model and the objective's trainable parts), as this
    rank holds them (its shards under FSDP)."""
    frozen = trainee.objective._is_frozen
    return {k: v for k, v in get_model_state_dict(trainee).items()
            if not (k.startswith("objective.") and frozen(k.removeprefix("objective.")))}


def save(out: Path, step: int, trainee: torch.nn.Module, optimizer: torch.optim.Optimizer, record: dict,
         main: bool) -> Path:
    """Every rank calls this; rank 0 (`main`) also writes record.pt and puts the folder in place."""
    final, tmp = out / f"ckpt-{step:08d}", out / f".ckpt-{step:08d}.tmp"
    if main:
        shutil.rmtree(tmp, ignore_errors=True)  # left by a run killed while writing
        tmp.mkdir(parents=True)
    _barrier()
    optim = get_optimizer_state_dict(trainee, optimizer)
    with warnings.catch_warnings():  # --fsdp in one process writes the same sharded form, on purpose
        warnings.filterwarnings("ignore", message=".*assuming the intent is to save in a single process")
        try:
            dcp.save({"trainee": _trainee_state(trainee), "optim": optim["state"]}, checkpoint_id=str(tmp))
        except CheckpointException as e:  # a full disk is a fault of the machine: said as one
            raise os_error_of(e) or e from e
    if main:
        save_torch({**record, "optimizer_groups": optim["param_groups"]}, tmp / RECORD)
        os.replace(tmp, final)
    _barrier()
    return final


def restore(path: Path, trainee: torch.nn.Module, optimizer: torch.optim.Optimizer, record: dict) -> None:
    """Load the trainee's weights and the optimizer's state, resharded to this run's ranks
    (FSDP-sharded, replicated under DDP, or whole in one process)."""
    _plan(path)
    state = {"trainee": _trainee_state(trainee), "optim": get_optimizer_state_dict(trainee, optimizer)["state"]}
    _load(state, path)
    # not strict: a frozen teacher is in the trainee, not in the checkpoint (it has its own file)
    set_model_state_dict(trainee, state["trainee"], options=StateDictOptions(strict=False))
    set_optimizer_state_dict(trainee, optimizer, {"state": state["optim"], "param_groups": record["optimizer_groups"]})


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()

