"""Generate the checkpoint-format fixtures the Jest tests read: every dtype in every file
format, views and shared storages, CUDA storage locations, wrapped training checkpoints,
checkpoints that need adapting, small seeds for a mutation fuzzer and broken files, all
described by DIR/manifest.json.

    python tools/make_checkpoint_fixtures.py --out test/fixtures/generated/checkpoints [--force]

Everything is seeded. When DIR/manifest.json already has this generator version and these
torch and safetensors versions, and every file it lists is present, the run does nothing
(pass --force to regenerate anyway).

File formats:
  * `.pth`: torch.save zip archives unless the manifest says "legacy" (torch.save with
    _use_new_zipfile_serialization=False); `.pth.tar`: the same, as timm's CheckpointSaver
    names them; `.safetensors`: safetensors.torch.save_file;
  * `.bin`: the exact bytes of `tensor.contiguous()`: little-endian, row-major, one byte per
    bool, float16/bfloat16 as their 16-bit patterns;
  * `.f32`: raw little-endian float32, row-major (model inputs and outputs, as in
    make_fixtures.py).
Manifest keys are camelCase because JavaScript reads them; README.md describes the layout.
"""

import argparse
import builtins
import hashlib
import io
import math
import os
import pickle
import pickletools
import re
import shutil
import struct
import sys
import tempfile
import warnings
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import timm.utils
import torch
import torch.nn as nn
import torch.nn.functional as F

from fixture_output import run
from make_fixtures import SMALL, build_model, random_input, write_f32
from random_weights import TOKEN_STD, randomize_parameters

# Bump whenever the content or layout of the fixtures changes, so stale copies regenerate.
GENERATOR_VERSION = 3

# torch dtype -> the name vitorch (lib/dtype.ts) gives it.
VITORCH_DTYPES = {
    torch.float32: "float32",
    torch.float64: "float64",
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.int64: "int64",
    torch.int32: "int32",
    torch.int16: "int16",
    torch.int8: "int8",
    torch.uint8: "uint8",
    torch.bool: "bool",
}

SAFETENSORS_METADATA = {"format": "pt", "note": "vitorch fixture"}

# The device the hand-pickled checkpoint claims its storages live on.
FAKE_LOCATION = "cuda:0"

# torch.save starts every record's data on a multiple of this.
ZIP_ALIGNMENT = 64

DTYPES_SEED = 100
LOCATIONS_SEED = 200
SMALL_WEIGHT_SEED = 300
SGD_BATCH_SEED = 301
SMALL_INPUT_SEED = 302
POS_EMBED_SEED = 400
POS_INPUT_SEED = 401
HEAD_WEIGHT_SEED = 500
HEAD_INPUT_SEED = 501
FUZZ_SEED = 600
TIMM_FUZZ_SEED = 700

# The position table of the same architecture trained at 384x384 (timm's ViT at 384).
POS_SOURCE_GRID = [24, 24]
HEAD_CHECKPOINT_CLASSES = 1000
# Where the "beyond" zip says one of its records starts (the file itself is ~1.5 KB).
FAR_OFFSET = 1 << 30
# What the broken safetensors header length field claims.
HUGE_HEADER_LENGTH = 8 << 30
UNKNOWN_OPCODE = 0xFF


class Output:
    """The fixture directory plus the list of every file written into it (the manifest's
    `files`, which is also what the up-to-date check looks for)."""

    def __init__(self, directory):
        self.directory = directory
        self.files = []

    def path(self, name):
        if name in self.files:
            raise RuntimeError(f"fixture file written twice: {name}")
        self.files.append(name)
        return self.directory / name


# ---- tensors and their expected bytes ---------------------------------------------------


def tensor_bytes(tensor):
    """The bytes of tensor.contiguous(), in this (little-endian) machine's order."""
    flat = tensor.detach().contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes()


def storage_bytes(storage):
    """Every byte of an untyped storage."""
    return torch.empty(0, dtype=torch.uint8).set_(storage).numpy().tobytes()


def storage_elements(tensor):
    return tensor.untyped_storage().nbytes() // tensor.element_size()


def write_entries(out, prefix, tensors):
    """One `.bin` per tensor and its manifest entry: name, dtype, shape, file (the schema
    check_written_checkpoint.py reads), plus how the tensor lies in its storage as saved."""
    entries = []
    for name, tensor in tensors.items():
        file_name = f"{prefix}.{name}.bin"
        out.path(file_name).write_bytes(tensor_bytes(tensor))
        entries.append(
            {
                "name": name,
                "dtype": VITORCH_DTYPES[tensor.dtype],
                "shape": list(tensor.shape),
                "file": file_name,
                "storageOffset": tensor.storage_offset(),
                "stride": list(tensor.stride()),
                "contiguous": tensor.is_contiguous(),
                "storageNumel": storage_elements(tensor),
            }
        )
    return entries


def storage_groups(tensors):
    """Keys whose tensors share one storage (zero-byte storages share nothing), with
    whether they are one and the same tensor object."""
    by_storage = {}
    for name, tensor in tensors.items():
        storage = tensor.untyped_storage()
        if storage.nbytes() > 0:
            by_storage.setdefault(storage.data_ptr(), []).append(name)
    groups = []
    for names in by_storage.values():
        if len(names) > 1:
            first = tensors[names[0]]
            groups.append({"keys": names, "sameTensor": all(tensors[name] is first for name in names)})
    return groups


def contiguous_clones(tensors):
    """What safetensors can hold: independent contiguous copies."""
    return {name: tensor.detach().contiguous().clone() for name, tensor in tensors.items()}


def save_safetensors(path, tensors):
    safetensors.torch.save_file(contiguous_clones(tensors), str(path), metadata=SAFETENSORS_METADATA)


# ---- the hand-written torch.save zip (for storages recorded on cuda:0) -------------------


class LocationPickler(pickle.Pickler):
    """Pickles like torch.save (protocol 2; storages as persistent ids, numbered in the
    order they are met) but records `location` as every storage's device."""

    def __init__(self, file, location):
        super().__init__(file, protocol=2)
        self.location = location
        self.keys = {}
        self.storages = {}

    def persistent_id(self, obj):
        if not isinstance(obj, torch.storage.TypedStorage):
            return None
        untyped = obj._untyped_storage
        key = self.keys.setdefault(untyped._cdata, str(len(self.keys)))
        self.storages[key] = untyped
        storage_type = getattr(torch, obj._pickle_storage_type())
        return ("storage", storage_type, key, self.location, obj._size())


def serialization_id(records):
    """A 40-digit id derived from the records. torch.save writes one computed its own way;
    readers only pass it on, so any deterministic digits do."""
    digest = hashlib.sha256()
    for name, data in records:
        digest.update(name.encode("utf-8"))
        digest.update(data)
    return str(int.from_bytes(digest.digest()[:17], "little") % 10**40).zfill(40).encode()


def torch_zip_bytes(folder, records):
    """A zip laid out as torch.save's writer lays it out: stored records named
    `folder/<name>`, each local header padded through an "FB" extra field so the data
    starts on a 64-byte boundary, CRC and sizes in a data descriptor after non-empty data
    (zeros in the local header), no timestamps, then the central directory, a zip64 end
    record, its locator and the classic end record."""
    buffer = bytearray()
    directory = bytearray()
    for name, data in records:
        full_name = f"{folder}/{name}".encode()
        offset = len(buffer)
        padding = -(offset + 30 + len(full_name) + 4) % ZIP_ALIGNMENT
        extra = b"FB" + struct.pack("<H", padding) + b"Z" * padding
        flags = 0x0800 | (0x0008 if data else 0)  # UTF-8 names; data descriptor follows
        crc = zlib.crc32(data)
        buffer += struct.pack("<IHHHHHIIIHH", 0x04034B50, 0, flags, 0, 0, 0, 0, 0, 0, len(full_name), len(extra))
        buffer += full_name + extra + data
        if data:
            buffer += struct.pack("<IIII", 0x08074B50, crc, len(data), len(data))
        directory += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            0,
            0,
            flags,
            0,
            0,
            0,
            crc,
            len(data),
            len(data),
            len(full_name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        directory += full_name
    if len(buffer) >= 0xFFFFFFFF:
        raise RuntimeError("torch_zip_bytes only writes archives under 4 GB")
    count = len(records)
    directory_offset = len(buffer)
    buffer += directory
    zip64_end_offset = len(buffer)
    buffer += struct.pack(
        "<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 0x2D, 0, 0, count, count, len(directory), directory_offset
    )
    buffer += struct.pack("<IIQI", 0x07064B50, 0, zip64_end_offset, 1)
    buffer += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(directory), directory_offset, 0)
    return bytes(buffer)


def torch_zip_records(pickle_bytes, storages):
    """The records torch.save writes, in its order, minus the serialization id."""
    records = [("data.pkl", pickle_bytes), ("byteorder", sys.byteorder.encode())]
    for key in sorted(storages):
        records.append((f"data/{key}", storage_bytes(storages[key])))
    records.append(("version", b"3\n"))
    return records


def torch_save_bytes(obj, folder, location, identifier=None):
    """The bytes torch.save(obj, <folder>.pth) writes, except that every storage is
    recorded on `location` and the serialization id is `identifier` (default: derived from
    the records)."""
    records = torch_zip_records(*pickle_with_location(obj, location))
    records.append((".data/serialization_id", identifier or serialization_id(records)))
    return torch_zip_bytes(folder, records)


def pickle_with_location(obj, location):
    """(data.pkl bytes, storages by key) as torch.save would pickle obj, with `location`."""
    buffer = io.BytesIO()
    pickler = LocationPickler(buffer, location)
    pickler.dump(obj)
    return buffer.getvalue(), pickler.storages


def rewrite_torch_zip(path, replace):
    """Rewrite a torch.save archive record by record, with `replace` (name -> bytes)
    substituted, in the same layout."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        folder = names[0].split("/", 1)[0]
        records = [(name.split("/", 1)[1], archive.read(name)) for name in names]
    records = [(name, replace.get(name, data)) for name, data in records]
    path.write_bytes(torch_zip_bytes(folder, records))


# ---- section: every dtype ---------------------------------------------------------------


def float32_values():
    finfo = torch.finfo(torch.float32)
    values = torch.tensor(
        [
            0.0,
            -0.0,
            1.5,
            -2.25,
            finfo.max,
            -finfo.max,
            finfo.tiny,
            finfo.smallest_normal * finfo.eps,
            math.inf,
            -math.inf,
            0.0,
            0.0,
        ],
        dtype=torch.float32,
    )
    bits = values.view(torch.int32)
    bits[10] = 0x7FC12345  # quiet NaN with a payload
    bits[11] = struct.unpack("<i", struct.pack("<I", 0xFFC00000))[0]  # negative NaN
    return values.reshape(3, 4)


def dtype_tensors():
    """The `dtypes` state dict: one tensor per dtype, then views, odd layouts and a tie."""
    generator = torch.Generator().manual_seed(DTYPES_SEED)
    inf, nan = math.inf, math.nan
    f16, bf16, f64 = (torch.finfo(t) for t in (torch.float16, torch.bfloat16, torch.float64))
    tensors = {
        "float32": float32_values(),
        "float16": torch.tensor(
            [0.0, -0.0, 0.5, -1.25, f16.max, -f16.max, f16.tiny, 2.0**-24, inf, -inf, nan, 1 / 3, -2 / 3, 0.1],
            dtype=torch.float16,
        ).reshape(2, 7),
        "bfloat16": torch.tensor(
            [
                0.0,
                -0.0,
                0.5,
                -1.25,
                bf16.max,
                -bf16.max,
                bf16.tiny,
                2.0**-133,
                inf,
                -inf,
                nan,
                1 / 3,
                -math.pi,
                0.1,
                1e-3,
                262016.0,
            ],
            dtype=torch.bfloat16,
        ).reshape(2, 8),
        "float64": torch.tensor(
            [0.0, -0.0, 1.5, -2.25, f64.max, -f64.max, f64.tiny, 5e-324, inf, -inf, nan, math.pi, 0.1],
            dtype=torch.float64,
        ),
        "int64": torch.tensor(
            [-(2**63), 2**63 - 1, -1, 0, 1, -123456789012345, 2**53 + 1, -(2**53 + 1)], dtype=torch.int64
        ).reshape(2, 4),
        "int32": torch.tensor([-(2**31), 2**31 - 1, -1, 0, 1, -123456, 65536, 7], dtype=torch.int32),
        "int16": torch.tensor([-32768, 32767, -1, 0, 1, -300, 255, 256], dtype=torch.int16).reshape(2, 2, 2),
        "int8": torch.tensor([-128, 127, -1, 0, 1, -64, 100, 2], dtype=torch.int8).reshape(4, 2),
        "uint8": torch.tensor([0, 255, 128, 127, 1, 254, 16, 200], dtype=torch.uint8),
        "bool": torch.tensor([True, False, False, True, True, False, True]),
    }
    # Two views of one storage with different offsets.
    base = torch.randn(12, generator=generator)
    tensors["shared.slice"] = base[2:7]
    tensors["shared.grid"] = base.view(3, 4)
    # Transposed: strides (1, 3), not contiguous.
    tensors["layout.transposed"] = torch.randn(5, 3, generator=generator).t()
    # Contiguous, but starting 3 elements into a 10-element storage.
    tensors["layout.offset"] = torch.randn(10, generator=generator, dtype=torch.float64)[3:]
    # A 2x3 window of a 4x5 grid: offset 6, strides (5, 1).
    tensors["layout.window"] = torch.arange(20, dtype=torch.int16).reshape(4, 5)[1:3, 1:4]
    tensors["scalar.float32"] = torch.tensor(-7.25)
    tensors["scalar.int64"] = torch.tensor(-(2**40) - 1)
    tensors["empty"] = torch.zeros(0, 3)
    tied = torch.randn(2, 3, generator=generator)
    tensors["tied.a"] = tied
    tensors["tied.b"] = tied
    return tensors


def make_dtypes(out, manifest):
    tensors = dtype_tensors()
    missing = set(VITORCH_DTYPES.values()) - {VITORCH_DTYPES[t.dtype] for t in tensors.values()}
    assert not missing, missing
    entries = write_entries(out, "dtypes", tensors)
    torch.save(tensors, out.path("dtypes.pth"))
    torch.save(tensors, out.path("dtypes-legacy.pth"), _use_new_zipfile_serialization=False)
    save_safetensors(out.path("dtypes.safetensors"), tensors)
    keys = list(tensors)
    manifest["dtypes"] = {
        "entries": entries,
        "sharedStorage": storage_groups(tensors),
        "checkpoints": [
            {"format": "zip", "file": "dtypes.pth", "keys": keys},
            {"format": "legacy", "file": "dtypes-legacy.pth", "keys": keys},
            # Contiguous clones: same values, but no shared storage and no saved layout.
            {"format": "safetensors", "file": "dtypes.safetensors", "keys": keys, "metadata": SAFETENSORS_METADATA},
        ],
    }


# ---- section: storages recorded on cuda:0 -------------------------------------------------


def make_locations(out, manifest):
    generator = torch.Generator().manual_seed(LOCATIONS_SEED)
    weight = torch.randn(4, 3, generator=generator)
    tensors = {
        "proj.weight": weight,
        "proj.weight.tail": weight[2:],  # shares the weight's storage at offset 6
        "proj.bias": torch.randn(4, generator=generator, dtype=torch.float64),
        "step": torch.tensor(12),
        "mask": torch.tensor([True, False, True]),
    }
    entries = write_entries(out, "locations", tensors)
    path = out.path("locations-cuda.pth")
    path.write_bytes(torch_save_bytes(tensors, path.stem, FAKE_LOCATION))
    manifest["locations"] = {
        "file": "locations-cuda.pth",
        "format": "zip",
        "location": FAKE_LOCATION,
        "entries": entries,
        "sharedStorage": storage_groups(tensors),
    }


# ---- section: the small model, wrapped and in every format --------------------------------


def trained_small_model():
    """The small model with random weights after one SGD(momentum=0.9) step, and that
    optimizer (whose state now holds a momentum buffer per parameter)."""
    model = randomize_parameters(build_model(SMALL), SMALL_WEIGHT_SEED)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    height, width = SMALL["inputShape"]
    images = random_input([2, SMALL["inChans"], height, width], SGD_BATCH_SEED)
    labels = torch.tensor([3, 7])
    optimizer.zero_grad()
    F.cross_entropy(model(images), labels).backward()
    optimizer.step()
    return model.eval(), optimizer


def write_case(out, prefix, model, input_seed, features=False):
    """Run one seeded batch of 2 through model (or its forward_features); write both."""
    height, width = SMALL["inputShape"]
    images = random_input([2, SMALL["inChans"], height, width], input_seed)
    with torch.no_grad():
        result = model.forward_features(images) if features else model(images)
    kind = "features" if features else "output"
    write_f32(out.path(f"{prefix}.input.f32"), images)
    write_f32(out.path(f"{prefix}.{kind}.f32"), result)
    return {
        "input": f"{prefix}.input.f32",
        "inputShape": list(images.shape),
        kind: f"{prefix}.{kind}.f32",
        f"{kind}Shape": list(result.shape),
    }


def make_wrapped(out, manifest):
    model, optimizer = trained_small_model()
    state = model.state_dict()
    keys = list(state)
    parallel_state = nn.DataParallel(model).state_dict()  # CPU-only: just adds "module."
    assert list(parallel_state) == ["module." + key for key in keys]

    torch.save(state, out.path("small.pth"))
    torch.save(state, out.path("small-legacy.pth"), _use_new_zipfile_serialization=False)
    save_safetensors(out.path("small.safetensors"), state)

    wrappers = [
        # name, file, saved object, stateDictKey, keyPrefix, scalars
        ("bare", "small.pth", state, None, "", {}),
        ("stateDict", "wrapped-state-dict.pth", {"state_dict": state, "epoch": 7}, "state_dict", "", {"epoch": 7}),
        (
            "modelOptimizer",
            "wrapped-model-optimizer.pth",
            {"model": state, "optimizer": optimizer.state_dict(), "epoch": 3, "best_acc": 0.81},
            "model",
            "",
            {"epoch": 3, "best_acc": 0.81},
        ),
        ("dataParallel", "wrapped-dataparallel.pth", parallel_state, None, "module.", {}),
        (
            "dataParallelStateDict",
            "wrapped-dataparallel-state-dict.pth",
            {"state_dict": parallel_state},
            "state_dict",
            "module.",
            {},
        ),
    ]
    checkpoints = []
    for name, file_name, saved, state_key, prefix, scalars in wrappers:
        if file_name != "small.pth":
            torch.save(saved, out.path(file_name))
        checkpoints.append(
            {
                "name": name,
                "file": file_name,
                "format": "zip",
                "stateDictKey": state_key,
                "keyPrefix": prefix,
                "topLevelKeys": list(saved),
                "scalars": scalars,
                "expectedKeys": keys,
            }
        )
    for name, file_name, file_format in [
        ("bareLegacy", "small-legacy.pth", "legacy"),
        ("bareSafetensors", "small.safetensors", "safetensors"),
    ]:
        checkpoints.append(
            {
                "name": name,
                "file": file_name,
                "format": file_format,
                "stateDictKey": None,
                "keyPrefix": "",
                "topLevelKeys": keys,
                "scalars": {},
                "expectedKeys": keys,
            }
        )

    manifest["small"] = {
        "config": SMALL,
        "keys": keys,
        "shapes": [list(t.shape) for t in state.values()],
        "entries": write_entries(out, "small", state),
        **write_case(out, "small", model, SMALL_INPUT_SEED),
        "optimizer": {
            "type": "SGD",
            "lr": 0.01,
            "momentum": 0.9,
            "steps": 1,
            "stateEntries": len(optimizer.state_dict()["state"]),
        },
        "checkpoints": checkpoints,
    }
    return state


# ---- section: checkpoints that need adapting ----------------------------------------------


def resample_pos_embed(pos_embed, source_grid, target_grid):
    """Class row kept; image rows viewed as source_grid, resized bicubically
    (align_corners=False, no antialias) to target_grid."""
    class_row, grid_rows = pos_embed[:, :1], pos_embed[:, 1:]
    channels = pos_embed.shape[-1]
    grid = grid_rows.reshape(1, *source_grid, channels).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=target_grid, mode="bicubic", align_corners=False, antialias=False)
    return torch.cat([class_row, grid.permute(0, 2, 3, 1).reshape(1, -1, channels)], dim=1)


def make_pos_embed_adaptation(out, state):
    source_rows = POS_SOURCE_GRID[0] * POS_SOURCE_GRID[1] + 1
    generator = torch.Generator().manual_seed(POS_EMBED_SEED)
    big_table = torch.randn(1, source_rows, SMALL["numFeatures"], generator=generator) * TOKEN_STD
    checkpoint = {key: (big_table if key == "pos_embed" else value) for key, value in state.items()}
    torch.save(checkpoint, out.path("adapt-pos-embed-24x24.pth"))

    model = build_model(SMALL)
    target_grid = list(model.old_feature_shape)  # the table's own grid: 224 // patch
    adapted = resample_pos_embed(big_table, POS_SOURCE_GRID, target_grid)
    assert adapted.shape == model.pos_embed.shape, adapted.shape
    model.load_state_dict({**checkpoint, "pos_embed": adapted}, strict=True)
    [adapted_entry] = write_entries(out, "adapt-pos-embed", {"pos_embed": adapted})
    return {
        "file": "adapt-pos-embed-24x24.pth",
        "format": "zip",
        "config": SMALL,
        "key": "pos_embed",
        "checkpointShape": list(big_table.shape),
        "checkpointGrid": POS_SOURCE_GRID,
        "modelGrid": target_grid,
        "adaptedShape": list(adapted.shape),
        "adapted": adapted_entry,
        "interpolation": {"mode": "bicubic", "alignCorners": False, "antialias": False},
        **write_case(out, "adapt-pos-embed", model, POS_INPUT_SEED),
    }


def make_head_adaptation(out):
    config = {**SMALL, "numClasses": HEAD_CHECKPOINT_CLASSES}
    source = randomize_parameters(build_model(config), HEAD_WEIGHT_SEED)
    state = source.state_dict()
    torch.save(state, out.path("adapt-head-1000.pth"))
    target = build_model(SMALL)
    skipped = ["head.weight", "head.bias"]
    # The backbone comes from the checkpoint, so the 1000-class model's features are the
    # 10-class model's after the adapted load.
    backbone = {key: value for key, value in state.items() if key not in skipped}
    missing, unexpected = target.load_state_dict(backbone, strict=False)
    assert missing == skipped and not unexpected, (missing, unexpected)
    probe = random_input([1, SMALL["inChans"], *SMALL["inputShape"]], HEAD_INPUT_SEED)
    with torch.no_grad():
        assert torch.equal(target.forward_features(probe), source.forward_features(probe))
    return {
        "file": "adapt-head-1000.pth",
        "format": "zip",
        "config": SMALL,
        "checkpointNumClasses": HEAD_CHECKPOINT_CLASSES,
        "modelNumClasses": SMALL["numClasses"],
        "skipped": skipped,
        "checkpointShapes": {key: list(state[key].shape) for key in skipped},
        "modelShapes": {key: list(target.state_dict()[key].shape) for key in skipped},
        "loadedKeys": list(backbone),
        **write_case(out, "adapt-head", source, HEAD_INPUT_SEED, features=True),
    }


# ---- section: fuzz seeds and broken files -------------------------------------------------


def fuzz_tensors():
    generator = torch.Generator().manual_seed(FUZZ_SEED)
    weight = torch.randn(2, 3, generator=generator)
    return {
        "weight": weight,
        "weight_t": weight.t(),  # shares the weight's storage
        "bias": torch.randn(3, generator=generator).to(torch.float16),
        "index": torch.tensor([0, -1, 7]),
        "flag": torch.tensor([True, False]),
    }


def make_fuzz_seeds(out, manifest):
    tensors = fuzz_tensors()
    entries = write_entries(out, "fuzz-seed", tensors)
    torch.save(tensors, out.path("fuzz-seed.pth"))
    torch.save(tensors, out.path("fuzz-seed-legacy.pth"), _use_new_zipfile_serialization=False)
    save_safetensors(out.path("fuzz-seed.safetensors"), tensors)
    seeds = []
    for file_format, file_name in [
        ("zip", "fuzz-seed.pth"),
        ("legacy", "fuzz-seed-legacy.pth"),
        ("safetensors", "fuzz-seed.safetensors"),
    ]:
        size = (out.directory / file_name).stat().st_size
        assert size < 4096, (file_name, size)
        seeds.append({"format": file_format, "file": file_name, "size": size})
    manifest["fuzzSeeds"] = {"entries": entries, "sharedStorage": storage_groups(tensors), "checkpoints": seeds}
    return tensors


def pickle_ops(data):
    """(opcode name, position) of every opcode of the first pickle in data, without
    running it."""
    return [(opcode.name, position) for opcode, _, position in pickletools.genops(data)]


def legacy_pickles(data):
    """A legacy torch.save file's five pickles (magic number, protocol, system info, the object,
    the storage keys), walked opcode by opcode, never loaded, and where the raw storages start."""
    position, pickles = 0, []
    for _ in range(5):
        ops = pickle_ops(data[position:])
        name, stop_at = ops[-1]
        assert name == "STOP"
        pickles.append(data[position : position + stop_at + 1])
        position += stop_at + 1
    return pickles, position


class _LegacyStorageIds(pickle.Unpickler):
    """Reads a legacy file's object pickle for its storages' persistent ids alone: every other
    global becomes a no-op, so nothing in the pickle runs."""

    def __init__(self, data):
        super().__init__(io.BytesIO(data))
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch" and name.endswith("Storage"):
            with warnings.catch_warnings():  # the legacy storage classes are deprecated, not gone
                warnings.simplefilter("ignore", UserWarning)
                return getattr(torch, name).dtype
        return lambda *args: None

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, number of elements[, view metadata])
        self.storages[pid[2]] = (pid[1], pid[4])


def legacy_storages(data):
    """(key, dtype, number of elements, offset of its first element) of each raw storage in a
    legacy torch.save file, in file order: each is an 8-byte element count and the elements."""
    pickles, position = legacy_pickles(data)
    reader = _LegacyStorageIds(pickles[3])
    reader.load()
    storages = []
    for key in pickle.loads(pickles[4]):
        dtype, numel = reader.storages[key]
        (count,) = struct.unpack("<q", data[position : position + 8])
        assert count == numel, (key, count, numel)
        storages.append((key, dtype, numel, position + 8))
        position += 8 + numel * dtype.itemsize
    return storages


def central_directory_entries(data):
    """(name, offset of its central directory header) for every record of a small zip."""
    end = data.rindex(b"PK\x05\x06")
    count, _, directory_offset = struct.unpack("<HII", data[end + 10 : end + 20])
    entries, at = [], directory_offset
    for _ in range(count):
        name_length, extra_length, comment_length = struct.unpack("<HHH", data[at + 28 : at + 34])
        entries.append((data[at + 46 : at + 46 + name_length].decode("utf-8"), at))
        at += 46 + name_length + extra_length + comment_length
    return entries


def make_broken(out, manifest, seed_tensors):
    broken = {}

    # A safetensors file whose 8-byte header length claims 8 GiB; the rest is the seed's.
    seed = (out.directory / "fuzz-seed.safetensors").read_bytes()
    out.path("broken-header-8gb.safetensors").write_bytes(struct.pack("<Q", HUGE_HEADER_LENGTH) + seed[8:])
    broken["safetensorsHugeHeader"] = {
        "file": "broken-header-8gb.safetensors",
        "format": "safetensors",
        "problem": f"the header length field says {HUGE_HEADER_LENGTH} bytes; the file has {len(seed)}",
        "claimedHeaderLength": HUGE_HEADER_LENGTH,
        "bytesAfterLength": len(seed) - 8,
    }

    # A zip whose central directory puts data/0's local header 1 GiB into a ~1.5 KB file.
    path = out.path("broken-zip-beyond.pth")
    torch.save(seed_tensors, path)
    data = bytearray(path.read_bytes())
    [(record, at)] = [(name, at) for name, at in central_directory_entries(data) if name.endswith("/data/0")]
    struct.pack_into("<I", data, at + 42, FAR_OFFSET)
    end_record = data.rindex(b"PK\x05\x06")
    (directory_offset,) = struct.unpack("<I", data[end_record + 16 : end_record + 20])
    path.write_bytes(bytes(data))
    broken["zipRecordBeyondEnd"] = {
        "file": "broken-zip-beyond.pth",
        "format": "zip",
        "problem": f"the central directory puts record {record} at byte {FAR_OFFSET}; the file has {len(data)} bytes",
        "record": record,
        "claimedOffset": FAR_OFFSET,
        "fileSize": len(data),
        "centralDirectoryOffset": directory_offset,
    }

    # A torch.save zip whose data.pkl has a byte that is no pickle opcode after its first
    # three opcodes (PROTO, EMPTY_DICT, BINPUT).
    path = out.path("broken-unknown-opcode.pth")
    torch.save(seed_tensors, path)
    with zipfile.ZipFile(path) as archive:
        pickle_bytes = archive.read(f"{path.stem}/data.pkl")
    insert_at = pickle_ops(pickle_bytes)[3][1]
    rewrite_torch_zip(path, {"data.pkl": pickle_bytes[:insert_at] + bytes([UNKNOWN_OPCODE]) + pickle_bytes[insert_at:]})
    broken["unknownOpcode"] = {
        "file": "broken-unknown-opcode.pth",
        "format": "zip",
        "problem": f"data.pkl has byte 0x{UNKNOWN_OPCODE:02x}, which is no pickle opcode, at offset {insert_at}",
        "record": f"{path.stem}/data.pkl",
        "opcode": UNKNOWN_OPCODE,
        "pickleOffset": insert_at,
    }

    # {'weight': builtins.eval(<touch the marker>)}: only an unrestricted unpickler runs it.
    marker = (out.directory / "EVAL_RAN").resolve()
    expression = f"__import__('pathlib').Path({str(marker)!r}).touch()".encode()
    hostile = b"".join(
        [
            b"\x80\x02",  # PROTO 2
            b"}",  # EMPTY_DICT
            b"(",  # MARK
            b"X" + struct.pack("<I", 6) + b"weight",  # BINUNICODE key
            b"cbuiltins\neval\n",  # GLOBAL builtins.eval
            b"X" + struct.pack("<I", len(expression)) + expression,  # BINUNICODE source
            b"\x85",  # TUPLE1
            b"R",  # REDUCE
            b"u",  # SETITEMS
            b".",  # STOP
        ]
    )
    path = out.path("broken-global-eval.pth")
    records = [("data.pkl", hostile), ("byteorder", sys.byteorder.encode()), ("version", b"3\n")]
    records.append((".data/serialization_id", serialization_id(records)))
    path.write_bytes(torch_zip_bytes(path.stem, records))
    broken["globalEval"] = {
        "file": "broken-global-eval.pth",
        "format": "zip",
        "problem": "data.pkl calls GLOBAL builtins.eval, which would touch the marker file",
        "global": "builtins.eval",
        "marker": str(marker),
    }

    # A legacy file cut halfway through the elements of its largest storage. (Storages are
    # written in the order of their keys, which torch takes from memory addresses: the one cut is
    # chosen by size, so that the cut never lands in an element count.)
    path = out.path("broken-legacy-truncated.pth")
    torch.save(seed_tensors, path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    storages_start = legacy_pickles(data)[1]
    key, dtype, numel, offset = max(legacy_storages(data), key=lambda storage: storage[2] * storage[1].itemsize)
    cut = offset + numel * dtype.itemsize // 2
    path.write_bytes(data[:cut])
    broken["legacyTruncated"] = {
        "file": "broken-legacy-truncated.pth",
        "format": "legacy",
        "problem": f"a legacy checkpoint of {len(data)} bytes whose storages start at byte "
        f"{storages_start}, cut at byte {cut}, halfway through storage {key}",
        "originalSize": len(data),
        "storagesStart": storages_start,
        "size": cut,
        "storage": {
            "key": key,
            "dtype": str(dtype).removeprefix("torch."),
            "elements": numel,
            "elementSize": dtype.itemsize,
            "offset": offset,
        },
    }

    manifest["broken"] = broken


# ---- section: timm training checkpoints (read with skipUnknownGlobals) ---------------------

# The globals vitorch's unpickler allows (native/checkpoint/allowed_globals.cc); any other one
# a pickle names is refused by default and skipped with skipUnknownGlobals.
ALLOWED_GLOBALS = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
} | {
    f"torch.{name}Storage"
    for name in ["Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool"]
}


def pickle_globals(data):
    """Every distinct module.name the GLOBAL opcodes of a protocol-2 pickle name, in the
    order first named, read with pickletools (nothing is imported or run)."""
    names = []
    for opcode, argument, _ in pickletools.genops(data):
        assert opcode.name != "STACK_GLOBAL", "torch.save writes protocol 2: GLOBAL only"
        if opcode.name == "GLOBAL":
            name = argument.replace(" ", ".", 1)
            if name not in names:
                names.append(name)
    return names


def torch_weights_only_refusal(path):
    """What torch.load(weights_only=True) says about the file, and the global it names."""
    try:
        torch.load(path, weights_only=True)
    except pickle.UnpicklingError as error:
        message = str(error)
        found = re.search(r"GLOBAL ([\w.]+)", message)
        if not found:
            raise RuntimeError(f"torch's refusal names no global: {message}") from error
        [line] = [line for line in message.splitlines() if found.group(0) in line][:1]
        return {"refusedGlobal": found.group(1), "torchMessage": line.strip()[:300]}
    raise RuntimeError(f"torch.load(weights_only=True) accepted {path}")


def timm_args(extra):
    """An argparse.Namespace as timm's train.py makes one (a subset of its options), with
    numpy scalars that training scripts often leave in it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="vit_small_patch16_224")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--opt", default="sgd")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=2e-5)
    parser.add_argument("--sched", default="cosine")
    parser.add_argument("--mean", type=float, nargs=3, default=None)
    parser.add_argument("--input-size", type=int, nargs=3, default=None)
    parser.add_argument("--model-ema", action="store_true")
    parser.add_argument("--amp", action="store_true")
    args = parser.parse_args(extra)
    args.seed = np.int64(42)
    args.prefetcher = not args.amp
    return args


def save_with_timm(directory, model, optimizer, args, model_ema, epoch, metric):
    """timm's own CheckpointSaver writes model_best.pth.tar; returns its path."""
    saver = timm.utils.CheckpointSaver(
        model=model,
        optimizer=optimizer,
        args=args,
        model_ema=model_ema,
        checkpoint_dir=str(directory),
        recovery_dir=str(directory),
        max_history=1,
    )
    saver.save_checkpoint(epoch, metric=metric)
    return Path(directory) / "model_best.pth.tar"


def make_timm_checkpoints(out, manifest, seed_tensors):
    model, optimizer = trained_small_model()
    state = model.state_dict()
    # The EMA starts from the weights before the SGD step and takes one update, so its
    # tensors differ from the state dict's: a reader that took the wrong one would show.
    initial = randomize_parameters(build_model(SMALL), SMALL_WEIGHT_SEED).eval()
    model_ema = timm.utils.ModelEmaV3(initial, decay=0.9)
    model_ema.update(model, step=10)  # timm's decay is 0 for the first step, 0.9 from then
    args = timm_args(["--lr", "0.01", "--model-ema", "--mean", "0.5", "0.5", "0.5"])
    metric = np.float64(81.25)

    files = {}
    with tempfile.TemporaryDirectory() as scratch:
        best = save_with_timm(scratch, model, optimizer, args, model_ema, 7, metric)
        shutil.copyfile(best, out.path("timm-model-best.pth.tar"))
    saved = torch.load(out.directory / "timm-model-best.pth.tar", weights_only=False)
    assert list(saved["state_dict"]) == list(state)
    assert all(torch.equal(saved["state_dict"][k], v) for k, v in state.items())
    torch.save(saved, out.path("timm-model-best-legacy.pth.tar"), _use_new_zipfile_serialization=False)
    for name, file_name, file_format in [
        ("zip", "timm-model-best.pth.tar", "zip"),
        ("legacy", "timm-model-best-legacy.pth.tar", "legacy"),
    ]:
        path = out.directory / file_name
        if file_format == "zip":
            with zipfile.ZipFile(path) as archive:
                [pickle_name] = [n for n in archive.namelist() if n.endswith("/data.pkl")]
                data = archive.read(pickle_name)
            names = pickle_globals(data)
        else:
            names = None  # the legacy pickles are not split out here; same object as the zip
        files[name] = {"file": file_name, "format": file_format, **torch_weights_only_refusal(path)}
        if names is not None:
            files[name]["globals"] = names
    unknown = [name for name in files["zip"]["globals"] if name not in ALLOWED_GLOBALS]
    for entry in files.values():
        entry.pop("globals", None)

    manifest["timm"] = {
        "checkpoints": list(files.values()),
        "topLevelKeys": list(saved),
        "stateDictKey": "state_dict",
        "unknownGlobals": unknown,
        "metric": float(metric),
        "epoch": saved["epoch"],
        "arch": saved["arch"],
        "emaDiffers": any(not torch.equal(saved["state_dict_ema"][k], v) for k, v in state.items()),
    }
    make_timm_fuzz_seed(out, manifest, seed_tensors)
    make_hostile_skipped(out, manifest, seed_tensors)


def make_timm_fuzz_seed(out, manifest, seed_tensors):
    """A few-KB file with timm's layout (state dict, optimizer state, EMA, Namespace, numpy
    metric), for the fuzzer to mutate with skipUnknownGlobals on."""
    torch.manual_seed(TIMM_FUZZ_SEED)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    model_ema = timm.utils.ModelEmaV3(model, decay=0.9)
    with tempfile.TemporaryDirectory() as scratch:
        best = save_with_timm(scratch, model, optimizer, timm_args([]), model_ema, 1, np.float64(0.5))
        shutil.copyfile(best, out.path("fuzz-seed-timm.pth.tar"))
    size = (out.directory / "fuzz-seed-timm.pth.tar").stat().st_size
    assert size < 8192, size
    manifest["fuzzSeeds"]["skipUnknownGlobals"] = [{"format": "zip", "file": "fuzz-seed-timm.pth.tar", "size": size}]


class Call:
    """Pickles as a call of `function` with `arguments` (GLOBAL, the arguments, REDUCE), as a
    hostile file would write it. Nothing is called when pickling."""

    def __init__(self, function, *arguments):
        self.function = function
        self.arguments = arguments

    def __reduce__(self):
        return self.function, self.arguments


class SpoofedStorage:
    """Stands for a storage whose persistent id names os.system as its storage type."""


class SpoofingPickler(LocationPickler):
    def persistent_id(self, obj):
        if isinstance(obj, SpoofedStorage):
            return ("storage", os.system, "0", "cpu", 4)
        return super().persistent_id(obj)


def hostile_zip(out, file_name, obj):
    """A torch.save-layout zip of obj pickled by SpoofingPickler (storages on the CPU)."""
    buffer = io.BytesIO()
    pickler = SpoofingPickler(buffer, "cpu")
    pickler.dump(obj)
    records = torch_zip_records(buffer.getvalue(), pickler.storages)
    records.append((".data/serialization_id", serialization_id(records)))
    out.path(file_name).write_bytes(torch_zip_bytes(Path(file_name).stem, records))


def make_hostile_skipped(out, manifest, seed_tensors):
    """Files that call os.system and builtins.eval, read with skipUnknownGlobals: nothing may
    run, the notes must name the calls, and no placeholder may pass for a tensor."""
    marker = (out.directory / "SYSTEM_RAN").resolve()
    command = f"touch {marker}"
    expression = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    weight = seed_tensors["weight"].clone()
    cases = {}

    hostile_zip(
        out,
        "hostile-skip-calls.pth",
        {
            "state_dict": {"weight": weight},
            "args": Call(os.system, command),
            "eval": Call(builtins.eval, expression),
        },
    )
    cases["calls"] = {
        "file": "hostile-skip-calls.pth",
        "loads": True,
        "globals": ["os.system", "builtins.eval"],
        "marker": str(marker),
        "entries": write_entries(out, "hostile-skip-calls", {"weight": weight}),
    }

    def refused(file, fake, names):
        """A state dict whose "fake" entry is FAKE: refused even with skipUnknownGlobals (no tensor to skip to)."""
        hostile_zip(out, file, {"state_dict": {"weight": weight, "fake": fake}})
        return {"file": file, "loads": False, "key": "fake", "globals": names, "marker": str(marker)}

    rebuild = torch._utils._rebuild_tensor_v2
    # A tensor rebuilt from what os.system returns, in the state dict itself.
    cases["rebuild"] = refused(
        "hostile-skip-rebuild.pth",
        Call(rebuild, Call(os.system, command), 0, (4,), (1,), False, OrderedDict()),
        ["os.system"],
    )
    # A storage persistent id whose storage type is os.system; its record data/0 exists.
    cases["storage"] = refused(
        "hostile-skip-storage.pth", Call(rebuild, SpoofedStorage(), 0, (4,), (1,), False, OrderedDict()), ["os.system"]
    )
    # A function outside the allowlist called with a real tensor (its storage is data/1).
    cases["function"] = refused(
        "hostile-skip-function.pth", Call(builtins.eval, seed_tensors["bias"].clone()), ["builtins.eval"]
    )
    for case in cases.values():
        # The names as the pickle writes them (protocol 2 names builtins.eval __builtin__.eval,
        # os.system posix.system); torch's refusal maps them back to Python 3's names.
        with zipfile.ZipFile(out.directory / case["file"]) as archive:
            data = archive.read(f"{Path(case['file']).stem}/data.pkl")
        written = [name for name in pickle_globals(data) if name not in ALLOWED_GLOBALS]
        assert len(written) == len(case["globals"]), (written, case["globals"])
        case["globals"] = written
        case.update(torch_weights_only_refusal(out.directory / case["file"]))
    manifest["hostileSkipped"] = cases


# ---- driver -------------------------------------------------------------------------------


def generate(out_dir, args):
    if sys.byteorder != "little":
        raise RuntimeError("the .bin fixtures are defined as little-endian bytes")
    out = Output(out_dir)
    manifest = {}
    make_dtypes(out, manifest)
    make_locations(out, manifest)
    state = make_wrapped(out, manifest)
    manifest["adaptation"] = {"posEmbed": make_pos_embed_adaptation(out, state), "head": make_head_adaptation(out)}
    seed_tensors = make_fuzz_seeds(out, manifest)
    make_broken(out, manifest, seed_tensors)
    make_timm_checkpoints(out, manifest, seed_tensors)
    manifest["files"] = out.files
    size = sum((out_dir / name).stat().st_size for name in out.files)
    print(f"{len(out.files)} checkpoint files, {size / 1e6:.1f} MB")
    return manifest


if __name__ == "__main__":
    # In place: the hostile files name their marker files (EVAL_RAN, SYSTEM_RAN) by their absolute paths.
    run(
        "checkpoint",
        generate,
        stamp={
            "generatorVersion": GENERATOR_VERSION,
            "torch": torch.__version__,
            "safetensors": safetensors.__version__,
        },
        stale=["EVAL_RAN", "SYSTEM_RAN"],
        description=__doc__.splitlines()[0],
    )
