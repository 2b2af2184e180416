"""Check a directory written by make_checkpoint_fixtures.py against PyTorch itself.

    python tools/verify_checkpoint_fixtures.py --dir test/fixtures/generated/checkpoints

Loads every good file back with torch.load(weights_only=True) / safetensors and compares it
bit for bit with the .bin files and the manifest (dtypes, shapes, saved strides and
offsets, shared storages, wrapper keys, model outputs), checks that the hand-written
cuda:0 archive is byte for byte what torch.save writes apart from the device string,
recomputes the adaptation results through tools/reference_vit.py, checks that every broken
file really fails in torch / safetensors (the builtins.eval one only ever with
weights_only=True), and runs check_written_checkpoint.py on good and tampered files.
Prints one line per failure and exits non-zero if there was any.
"""

import argparse
import json
import pickletools
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import torch
import torch.nn as nn

from make_checkpoint_fixtures import (
    FAKE_LOCATION,
    VITORCH_DTYPES,
    ZIP_ALIGNMENT,
    dtype_tensors,
    tensor_bytes,
    torch_save_bytes,
)
from make_fixtures import build_model

TOOLS = Path(__file__).resolve().parent
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print(f"FAIL {message}")
    return condition


def read_f32(path, shape):
    array = np.fromfile(path, dtype="<f4")
    check(array.size == int(np.prod(shape)), f"{path.name}: {array.size} floats for {shape}")
    return torch.from_numpy(array.astype(np.float32).reshape(shape))


def load(path, file_format, **options):
    if file_format == "safetensors":
        return safetensors.torch.load_file(str(path))
    return torch.load(path, weights_only=True, **options)


def compare_entries(label, state, entries, directory, saved_layout):
    for entry in entries:
        name = entry["name"]
        if not check(name in state, f"{label}: no {name!r}"):
            continue
        tensor = state[name]
        check(VITORCH_DTYPES[tensor.dtype] == entry["dtype"], f"{label}: {name} dtype")
        check(list(tensor.shape) == entry["shape"], f"{label}: {name} shape")
        check(
            tensor_bytes(tensor) == (directory / entry["file"]).read_bytes(),
            f"{label}: {name} bytes differ from {entry['file']}",
        )
        if saved_layout:
            check(
                tensor.storage_offset() == entry["storageOffset"] and list(tensor.stride()) == entry["stride"],
                f"{label}: {name} offset/stride {tensor.storage_offset()} {tensor.stride()}",
            )


def check_sharing(label, state, groups):
    for group in groups:
        tensors = [state[key] for key in group["keys"]]
        pointers = {t.untyped_storage().data_ptr() for t in tensors}
        check(len(pointers) == 1, f"{label}: {group['keys']} do not share a storage")
        if group["sameTensor"]:
            check(all(t is tensors[0] for t in tensors), f"{label}: {group['keys']} not tied")


def data_offset(path, info):
    """Where a zip record's data starts (after its local header's name and extra field)."""
    with open(path, "rb") as stream:
        stream.seek(info.header_offset + 26)
        lengths = np.frombuffer(stream.read(4), dtype="<u2")
    return info.header_offset + 30 + int(lengths.sum())


def check_zip_alignment(path):
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            start = data_offset(path, info)
            check(start % ZIP_ALIGNMENT == 0, f"{path.name}: {info.filename} at {start}")


def verify_dtypes(directory, manifest):
    section = manifest["dtypes"]
    for checkpoint in section["checkpoints"]:
        path = directory / checkpoint["file"]
        file_format = checkpoint["format"]
        state = load(path, file_format)
        label = checkpoint["file"]
        if file_format == "safetensors":
            check(sorted(state) == sorted(checkpoint["keys"]), f"{label}: keys")
            with safetensors.safe_open(str(path), framework="pt") as handle:
                check(handle.metadata() == checkpoint["metadata"], f"{label}: metadata")
        else:
            check(list(state) == checkpoint["keys"], f"{label}: keys or their order")
            check(zipfile.is_zipfile(path) == (file_format == "zip"), f"{label}: format")
            check_sharing(label, state, section["sharedStorage"])
        compare_entries(label, state, section["entries"], directory, saved_layout=file_format != "safetensors")
    check_zip_alignment(directory / "dtypes.pth")
    # NaN payloads and signed zeros must be in the .bin files, not normalised away.
    raw = np.frombuffer((directory / "dtypes.float32.bin").read_bytes(), dtype="<u4")
    check(
        0x7FC12345 in raw and 0xFFC00000 in raw and 0x80000000 in raw,
        "dtypes.float32.bin lost its NaN payloads or -0.0",
    )


def verify_locations(directory, manifest):
    section = manifest["locations"]
    path = directory / section["file"]
    with zipfile.ZipFile(path) as archive:
        data_pkl = archive.read(f"{path.stem}/data.pkl")
    strings = [arg for op, arg, _ in pickletools.genops(data_pkl) if op.name == "BINUNICODE"]
    check(
        strings.count(FAKE_LOCATION) >= 1 and "cpu" not in strings,
        f"{path.name}: storages not all recorded on {FAKE_LOCATION}: {strings}",
    )
    if not torch.cuda.is_available():
        try:
            torch.load(path, weights_only=True)
            check(False, f"{path.name}: loaded without map_location on a machine without CUDA")
        except RuntimeError as error:
            check("cuda" in str(error).lower(), f"{path.name}: unexpected error {error}")
    state = torch.load(path, weights_only=True, map_location="cpu")
    compare_entries(path.name, state, section["entries"], directory, saved_layout=True)
    check_sharing(path.name, state, section["sharedStorage"])
    check_zip_alignment(path)

    # The hand-written archive is torch.save's, byte for byte, when it records "cpu".
    tensors = {entry["name"]: state[entry["name"]] for entry in section["entries"]}
    with tempfile.TemporaryDirectory() as scratch:
        reference = Path(scratch) / "same.pth"
        torch.save(tensors, reference)
        with zipfile.ZipFile(reference) as archive:
            identifier = archive.read("same/.data/serialization_id")
        ours = torch_save_bytes(tensors, "same", "cpu", identifier)
        check(ours == reference.read_bytes(), "the hand-written zip differs from torch.save's bytes")
        # And for the dtypes dict, with its views, scalars and empty storage.
        torch.save(dtype_tensors(), reference)
        with zipfile.ZipFile(reference) as archive:
            identifier = archive.read("same/.data/serialization_id")
        check(
            torch_save_bytes(dtype_tensors(), "same", "cpu", identifier) == reference.read_bytes(),
            "the hand-written zip of dtypes differs from torch.save's",
        )


def unwrap(obj, checkpoint):
    if checkpoint["stateDictKey"] is not None:
        obj = obj[checkpoint["stateDictKey"]]
    prefix = checkpoint["keyPrefix"]
    if prefix:
        check(all(key.startswith(prefix) for key in obj), f"{checkpoint['file']}: prefix")
        obj = {key[len(prefix) :]: value for key, value in obj.items()}
    return obj


def run_model(config, state, images, features=False):
    model = build_model(config)
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        return model.forward_features(images) if features else model(images)


def verify_small(directory, manifest):
    section = manifest["small"]
    images = read_f32(directory / section["input"], section["inputShape"])
    expected = read_f32(directory / section["output"], section["outputShape"])
    reference = torch.load(directory / "small.pth", weights_only=True)
    compare_entries("small entries", reference, section["entries"], directory, False)
    for checkpoint in section["checkpoints"]:
        label = checkpoint["file"]
        obj = load(directory / label, checkpoint["format"])
        if checkpoint["format"] != "safetensors":
            check(list(obj) == checkpoint["topLevelKeys"], f"{label}: top-level keys")
        for key, value in checkpoint["scalars"].items():
            check(obj[key] == value, f"{label}: {key}")
        state = unwrap(obj, checkpoint)
        if checkpoint["format"] == "safetensors":
            check(sorted(state) == sorted(checkpoint["expectedKeys"]), f"{label}: keys")
            state = {key: state[key] for key in checkpoint["expectedKeys"]}
        else:
            check(list(state) == checkpoint["expectedKeys"], f"{label}: unwrapped keys")
        check(
            all(torch.equal(state[key], reference[key]) for key in reference), f"{label}: tensors differ from small.pth"
        )
        check(
            torch.equal(run_model(section["config"], state, images), expected),
            f"{label}: model output differs from {section['output']}",
        )
    optimizer = torch.load(directory / "wrapped-model-optimizer.pth", weights_only=True)["optimizer"]
    check(
        len(optimizer["state"]) == section["optimizer"]["stateEntries"]
        and all("momentum_buffer" in value for value in optimizer["state"].values())
        and optimizer["param_groups"][0]["momentum"] == 0.9,
        "optimizer state",
    )
    parallel = nn.DataParallel(build_model(section["config"]))
    parallel.load_state_dict(torch.load(directory / "wrapped-dataparallel.pth", weights_only=True), strict=True)


def verify_adaptation(directory, manifest):
    section = manifest["adaptation"]["posEmbed"]
    state = torch.load(directory / section["file"], weights_only=True)
    table = state["pos_embed"]
    check(list(table.shape) == section["checkpointShape"], "posEmbed: checkpoint shape")
    # Resample independently through the reference model's own code path.
    resampler = build_model({**section["config"]})
    resampler.old_feature_shape = section["checkpointGrid"]
    resampler.new_feature_shape = section["modelGrid"]
    resampler.pos_embed = nn.Parameter(table.clone())
    with torch.no_grad():
        adapted = resampler.resampled_pos_embed()
    entry = section["adapted"]
    check(list(adapted.shape) == section["adaptedShape"] == entry["shape"], "posEmbed: shape")
    check(
        tensor_bytes(adapted) == (directory / entry["file"]).read_bytes(),
        "posEmbed: resampled table differs from the .bin",
    )
    images = read_f32(directory / section["input"], section["inputShape"])
    output = run_model(section["config"], {**state, "pos_embed": adapted}, images)
    check(torch.equal(output, read_f32(directory / section["output"], section["outputShape"])), "posEmbed: output")
    try:
        build_model(section["config"]).load_state_dict(state, strict=True)
        check(False, "posEmbed: the unadapted checkpoint loads strictly")
    except RuntimeError as error:
        check("pos_embed" in str(error), f"posEmbed: {error}")

    section = manifest["adaptation"]["head"]
    state = torch.load(directory / section["file"], weights_only=True)
    for key in section["skipped"]:
        check(list(state[key].shape) == section["checkpointShapes"][key], f"head: {key} shape")
    model = build_model(section["config"])
    for key in section["skipped"]:
        check(list(model.state_dict()[key].shape) == section["modelShapes"][key], f"head: {key}")
    backbone = {key: value for key, value in state.items() if key not in section["skipped"]}
    check(list(backbone) == section["loadedKeys"], "head: loaded keys")
    missing, unexpected = model.load_state_dict(backbone, strict=False)
    check(missing == section["skipped"] and not unexpected, "head: load")
    images = read_f32(directory / section["input"], section["inputShape"])
    with torch.no_grad():
        features = model.forward_features(images)
    check(torch.equal(features, read_f32(directory / section["features"], section["featuresShape"])), "head: features")


def verify_fuzz_seeds(directory, manifest):
    section = manifest["fuzzSeeds"]
    for checkpoint in section["checkpoints"]:
        path = directory / checkpoint["file"]
        check(path.stat().st_size == checkpoint["size"] < 4096, f"{path.name}: size")
        state = load(path, checkpoint["format"])
        compare_entries(
            path.name, state, section["entries"], directory, saved_layout=checkpoint["format"] != "safetensors"
        )
        if checkpoint["format"] != "safetensors":
            check_sharing(path.name, state, section["sharedStorage"])


def expect_failure(label, action):
    try:
        action()
    except Exception as error:  # noqa: BLE001 - any failure is what we want
        print(f"  ok   {label} fails: {type(error).__name__}: {str(error).strip().splitlines()[0][:110]}")
        return
    check(False, f"{label} loaded without error")


def verify_broken(directory, manifest):
    broken = manifest["broken"]
    # The facts each exact error message is built from (test/checkpoint-hostile.test.ts).
    facts = {
        "safetensorsHugeHeader": ("claimedHeaderLength", "bytesAfterLength"),
        "zipRecordBeyondEnd": ("record", "claimedOffset", "centralDirectoryOffset"),
        "unknownOpcode": ("record", "opcode", "pickleOffset"),
        "globalEval": ("global",),
        "legacyTruncated": ("storage", "size"),
    }
    for key, names in facts.items():
        check(all(name in broken[key] for name in names), f"{key}: the manifest names {', '.join(names)}")
    entry = broken["safetensorsHugeHeader"]
    check(
        entry["bytesAfterLength"] + 8 == (directory / entry["file"]).stat().st_size,
        "safetensorsHugeHeader: bytesAfterLength is the file's size less the 8-byte length",
    )
    entry = broken["zipRecordBeyondEnd"]
    check(
        entry["centralDirectoryOffset"] < entry["claimedOffset"],
        "zipRecordBeyondEnd: the record's claimed offset is past the central directory",
    )
    storage, size = broken["legacyTruncated"]["storage"], broken["legacyTruncated"]["size"]
    check(
        storage["offset"] <= size < storage["offset"] + storage["elements"] * storage["elementSize"],
        "legacyTruncated: the cut falls inside the named storage's elements",
    )
    path = directory / broken["safetensorsHugeHeader"]["file"]
    expect_failure("safetensors load_file(huge header)", lambda: safetensors.torch.load_file(str(path)))
    for key in ("zipRecordBeyondEnd", "unknownOpcode", "legacyTruncated"):
        path = directory / broken[key]["file"]
        expect_failure(f"torch.load({path.name})", lambda path=path: torch.load(path, weights_only=True))
    path = directory / broken["zipRecordBeyondEnd"]["file"]
    expect_failure(
        f"zipfile read of {path.name}", lambda: zipfile.ZipFile(path).read(broken["zipRecordBeyondEnd"]["record"])
    )
    path = directory / broken["unknownOpcode"]["file"]
    with zipfile.ZipFile(path) as archive:
        data_pkl = archive.read(f"{path.stem}/data.pkl")
    expect_failure("pickletools on the unknown opcode", lambda: list(pickletools.genops(data_pkl)))

    entry = broken["globalEval"]
    marker = Path(entry["marker"])
    marker.unlink(missing_ok=True)
    path = directory / entry["file"]
    with zipfile.ZipFile(path) as archive:
        data_pkl = archive.read(f"{path.stem}/data.pkl")
    globals_named = [arg for op, arg, _ in pickletools.genops(data_pkl) if op.name == "GLOBAL"]
    check(globals_named == ["builtins eval"], f"globalEval: globals {globals_named}")
    expect_failure(f"torch.load({path.name}, weights_only=True)", lambda: torch.load(path, weights_only=True))
    check(not marker.exists(), "globalEval: the marker exists: the eval ran")

    entry = broken["legacyTruncated"]
    check(
        (directory / entry["file"]).stat().st_size == entry["size"]
        and entry["storagesStart"] < entry["size"] < entry["originalSize"],
        "legacyTruncated: not cut inside the storages",
    )


def run_checker(*arguments):
    process = subprocess.run(
        [sys.executable, str(TOOLS / "check_written_checkpoint.py"), *map(str, arguments)],
        capture_output=True,
        text=True,
    )
    return process.returncode, (process.stdout + process.stderr).strip()


def verify_checker(directory):
    manifest_path = directory / "manifest.json"
    model = [
        "--model-config",
        f"{manifest_path}#small.config",
        "--input",
        directory / "small.input.f32",
        "--output",
        directory / "small.output.f32",
    ]
    good = [
        ["--file", directory / "dtypes.pth", "--expected", f"{manifest_path}#dtypes"],
        ["--file", directory / "dtypes.safetensors", "--expected", f"{manifest_path}#dtypes"],
        ["--file", directory / "fuzz-seed.pth", "--expected", f"{manifest_path}#fuzzSeeds"],
        ["--file", directory / "small.pth", "--expected", f"{manifest_path}#small", *model],
        ["--file", directory / "small.safetensors", "--expected", f"{manifest_path}#small.entries", *model],
    ]
    for arguments in good:
        status, text = run_checker(*arguments)
        check(status == 0, f"checker rejects a torch-written file: {text}")
    # dtypes-legacy.pth is torch's own too, but not laid out as a zip: only the tensors count.
    status, text = run_checker("--file", directory / "dtypes-legacy.pth", "--expected", f"{manifest_path}#dtypes")
    check(status == 0, f"checker rejects dtypes-legacy.pth: {text}")

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        # One flipped bit inside a storage of an otherwise valid archive.
        tampered = scratch / "tampered.pth"
        shutil.copy(directory / "small.pth", tampered)
        with zipfile.ZipFile(tampered) as archive:
            info = archive.getinfo("small/data/0")
        data = bytearray(tampered.read_bytes())
        data[data_offset(tampered, info) + 3] ^= 0x01
        tampered.write_bytes(bytes(data))
        status, text = run_checker("--file", tampered, "--expected", f"{manifest_path}#small", *model)
        check(status == 1, f"checker accepts a tampered file ({status}): {text}")
        print(f"  ok   checker on a tampered file: {text.splitlines()[-1][:110]}")

        # Valid torch file, wrong content: one value of one tensor changed, re-saved by torch.
        state = torch.load(directory / "small.pth", weights_only=True)
        state["norm.bias"][5] += 1e-3
        torch.save(state, scratch / "changed.pth")
        status, text = run_checker("--file", scratch / "changed.pth", "--expected", f"{manifest_path}#small", *model)
        check(status == 1 and "norm.bias" in text and "model output" in text, f"checker misses a changed value: {text}")
        # Wrong dtype, wrong order, a missing key.
        state = torch.load(directory / "small.pth", weights_only=True)
        state["head.bias"] = state["head.bias"].double()
        state = dict(reversed(list(state.items())))
        del state["cls_token"]
        torch.save(state, scratch / "wrong.pth")
        status, text = run_checker("--file", scratch / "wrong.pth", "--expected", f"{manifest_path}#small")
        check(status == 1 and "dtype" in text and "cls_token" in text, f"checker misses dtype/missing key: {text}")
        # Wrong safetensors metadata.
        safetensors.torch.save_file(
            safetensors.torch.load_file(str(directory / "dtypes.safetensors")),
            str(scratch / "meta.safetensors"),
            metadata={"format": "pt"},
        )
        (scratch / "expect.json").write_text(
            json.dumps(
                {
                    "entries": json.loads(manifest_path.read_text())["dtypes"]["entries"],
                    "metadata": {"format": "pt", "note": "vitorch fixture"},
                }
            )
        )
        status, text = run_checker(
            "--file", scratch / "meta.safetensors", "--expected", scratch / "expect.json", "--bin-dir", directory
        )
        check(status == 1 and "metadata" in text, f"checker misses metadata: {text}")
        # Sharing lost in a .pth where the JSON asks for it.
        state = torch.load(directory / "dtypes.pth", weights_only=True)
        state = {key: value.clone() for key, value in state.items()}
        torch.save(state, scratch / "unshared.pth")
        status, text = run_checker("--file", scratch / "unshared.pth", "--expected", f"{manifest_path}#dtypes")
        check(status == 1 and "share" in text, f"checker misses lost sharing: {text}")
        # A zip whose records are not aligned (same content, written by Python's zipfile).
        with (
            zipfile.ZipFile(directory / "fuzz-seed.pth") as source,
            zipfile.ZipFile(scratch / "unaligned.pth", "w") as target,
        ):
            for info in source.infolist():
                target.writestr(info.filename, source.read(info.filename))
        status, text = run_checker("--file", scratch / "unaligned.pth", "--expected", f"{manifest_path}#fuzzSeeds")
        check(status == 1 and "boundary" in text, f"checker misses unaligned records: {text}")
        status, text = run_checker(
            "--file", scratch / "unaligned.pth", "--no-layout-check", "--expected", f"{manifest_path}#fuzzSeeds"
        )
        check(status == 0, f"--no-layout-check still fails: {text}")
        status, text = run_checker("--file", scratch / "missing.pth", "--expected", f"{manifest_path}#fuzzSeeds")
        check(status == 1, f"checker accepts a missing file: {text}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--skip-checker", action="store_true", help="do not exercise check_written_checkpoint.py")
    args = parser.parse_args(argv)
    directory = args.dir
    manifest = json.loads((directory / "manifest.json").read_text())
    for name in manifest["files"]:
        check((directory / name).exists(), f"missing {name}")
    total = sum((directory / name).stat().st_size for name in manifest["files"])
    print(f"{len(manifest['files'])} files, {total / 1e6:.1f} MB")

    for step in (verify_dtypes, verify_locations, verify_small, verify_adaptation, verify_fuzz_seeds, verify_broken):
        step(directory, manifest)
        print(f"{step.__name__}: {'ok' if not failures else f'{len(failures)} failure(s) so far'}")
    if not args.skip_checker:
        verify_checker(directory)
        print(f"verify_checker: {'ok' if not failures else f'{len(failures)} failure(s) so far'}")
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("all checkpoint fixtures verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
