"""Check a checkpoint file that vitorch wrote, with PyTorch as the judge.

    python tools/check_written_checkpoint.py --file F --expected E.json[#key.path]
        [--bin-dir DIR] [--allow-extra-keys] [--ignore-order] [--no-layout-check]
        [--model-config C.json[#key.path] --input I.f32 --output O.f32 [--rtol 1e-5] [--atol A]]

Loads F the way Python users will: torch.load(F, weights_only=True) for .pth/.pt (any
other name too, unless it ends in .safetensors), safetensors.torch.load_file for
.safetensors. Then compares every tensor bit for bit (dtype, shape, bytes) with what E
describes. E is JSON, either a list of entries or an object holding one:
    {"entries": [{"name": "blocks.0.norm1.weight", "dtype": "float32",
                  "shape": [64], "file": "blocks.0.norm1.weight.bin"}, ...],
     "sharedStorage": [{"keys": ["a", "b"]}],    optional; .pth only: these keys must
                                                  come back sharing one storage
     "metadata": {"format": "pt"}}                optional; .safetensors only: the
                                                  header's __metadata__ must equal it
Entries have the schema of make_checkpoint_fixtures.py's manifest (extra fields are
ignored): dtype is a vitorch dtype name, file holds the exact bytes of the contiguous
tensor (little-endian, row-major, one byte per bool), relative to --bin-dir (default: E's
folder). `E.json#dtypes` picks the object at manifest["dtypes"] (dots separate levels).

For .pth files the keys must also come in the entries' order (--ignore-order to skip) and,
unless --no-layout-check, the zip must look like torch.save's: one top folder, data.pkl,
byteorder "little", version, correct CRCs, every record's data 64-byte aligned.

With --model-config (the manifest's camelCase config: inputShape, patchSize, inChans,
numClasses, numFeatures, depth, numHeads, mlpRatio, qkvBias), the state dict is also loaded
into tools/reference_vit.py's VisionTransformer with load_state_dict(strict=True), run on
--input (raw float32 [N, inChans, H, W]) and compared with --output (raw float32): each
value must satisfy |got - want| <= rtol * |want| + atol, where atol defaults to rtol times
the largest |want| (so values near zero are judged at the output's scale).

Exit status: 0 when everything agrees; 1 with one line per problem on stderr otherwise;
2 for unusable arguments (missing expected JSON, bad config). A one-line summary goes to
stdout either way.
"""

import argparse
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import torch

from make_checkpoint_fixtures import VITORCH_DTYPES, ZIP_ALIGNMENT, tensor_bytes
from make_fixtures import build_model

DEFAULT_RTOL = 1e-5


class UsageError(Exception):
    pass


def load_json_reference(reference):
    """`file.json` or `file.json#a.b`: the JSON value, and the file's folder."""
    file_name, _, key_path = reference.partition("#")
    path = Path(file_name)
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read JSON {path}: {error}") from error
    for key in filter(None, key_path.split(".")):
        if not isinstance(value, dict) or key not in value:
            raise UsageError(f"{reference}: no key {key!r}")
        value = value[key]
    return value, path.parent


def expected_description(reference, bin_dir):
    value, folder = load_json_reference(reference)
    if isinstance(value, list):
        value = {"entries": value}
    if not isinstance(value, dict) or not isinstance(value.get("entries"), list):
        raise UsageError(f"{reference}: expected a list of entries or an object with 'entries'")
    for entry in value["entries"]:
        if not isinstance(entry, dict) or not {"name", "dtype", "shape", "file"} <= set(entry):
            raise UsageError(f"{reference}: every entry needs name, dtype, shape and file; got {entry!r}")
    return value, Path(bin_dir) if bin_dir else folder


class Checker:
    def __init__(self):
        self.problems = []

    def problem(self, message):
        self.problems.append(message)
        print(message, file=sys.stderr)


def zip_layout_problems(path):
    """Ways the archive differs from what torch.save writes."""
    problems = []
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if not infos:
            return ["the zip has no records"]
        folders = {info.filename.split("/", 1)[0] for info in infos}
        if len(folders) != 1 or any("/" not in info.filename for info in infos):
            problems.append(f"records are not all under one top folder: {sorted(folders)}")
            return problems
        folder = folders.pop()
        names = {info.filename for info in infos}
        for required in ("data.pkl", "byteorder", "version"):
            if f"{folder}/{required}" not in names:
                problems.append(f"zip has no {folder}/{required} record (torch.save writes one)")
        if f"{folder}/byteorder" in names and archive.read(f"{folder}/byteorder") != b"little":
            problems.append(f"byteorder record is {archive.read(f'{folder}/byteorder')!r}, expected b'little'")
        bad_crc = archive.testzip()
        if bad_crc is not None:
            problems.append(f"record {bad_crc} fails its CRC check")
        with open(path, "rb") as stream:
            for info in infos:
                if info.compress_type != zipfile.ZIP_STORED:
                    problems.append(
                        f"record {info.filename} is compressed (method {info.compress_type}); torch.save stores records"
                    )
                stream.seek(info.header_offset + 26)
                name_length, extra_length = np.frombuffer(stream.read(4), dtype="<u2")
                data_offset = info.header_offset + 30 + int(name_length) + int(extra_length)
                if data_offset % ZIP_ALIGNMENT:
                    problems.append(
                        f"record {info.filename} data starts at byte {data_offset}, "
                        f"not on a {ZIP_ALIGNMENT}-byte boundary"
                    )
    return problems


def load_file(path, checker, layout_check):
    """(format, state dict or None)."""
    if path.suffix == ".safetensors":
        try:
            return "safetensors", safetensors.torch.load_file(str(path))
        except Exception as error:  # noqa: BLE001 - any failure is the file's problem
            checker.problem(f"safetensors.torch.load_file failed: {one_line(error)}")
            return "safetensors", None
    file_format = "zip" if zipfile.is_zipfile(path) else "legacy"
    if file_format == "zip" and layout_check:
        for message in zip_layout_problems(path):
            checker.problem(message)
    try:
        loaded = torch.load(path, weights_only=True)
    except Exception as error:  # noqa: BLE001
        checker.problem(f"torch.load(weights_only=True) failed: {one_line(error)}")
        return file_format, None
    if not isinstance(loaded, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in loaded.items()
    ):
        checker.problem(f"the file holds a {type(loaded).__name__}, not a dict of name -> tensor")
        return file_format, None
    return file_format, loaded


def one_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def first_difference(actual, expected, item_size):
    a = np.frombuffer(actual, dtype=np.uint8)
    b = np.frombuffer(expected, dtype=np.uint8)
    byte = int(np.flatnonzero(a != b)[0])
    return byte // item_size


def compare_tensors(state, description, bin_dir, file_format, checker, ignore_order, allow_extra):
    entries = description["entries"]
    expected_names = [entry["name"] for entry in entries]
    missing = [name for name in expected_names if name not in state]
    extra = [name for name in state if name not in set(expected_names)]
    for name in missing:
        checker.problem(f"missing tensor {name!r}")
    if extra and not allow_extra:
        checker.problem(f"unexpected tensors: {extra}")
    if file_format != "safetensors" and not ignore_order and not missing and not extra:
        if list(state) != expected_names:
            checker.problem(f"keys come in another order: {list(state)}")

    matched = 0
    for entry in entries:
        name = entry["name"]
        if name not in state:
            continue
        tensor = state[name]
        dtype = VITORCH_DTYPES.get(tensor.dtype, str(tensor.dtype))
        if dtype != entry["dtype"]:
            checker.problem(f"{name!r}: dtype {dtype}, expected {entry['dtype']}")
            continue
        if list(tensor.shape) != list(entry["shape"]):
            checker.problem(f"{name!r}: shape {list(tensor.shape)}, expected {entry['shape']}")
            continue
        try:
            expected = (bin_dir / entry["file"]).read_bytes()
        except OSError as error:
            checker.problem(f"{name!r}: cannot read expected bytes: {error}")
            continue
        actual = tensor_bytes(tensor)
        if len(actual) != len(expected):
            checker.problem(f"{name!r}: {len(actual)} bytes, the .bin has {len(expected)}")
        elif actual != expected:
            index = first_difference(actual, expected, tensor.element_size())
            count = int(np.count_nonzero(np.frombuffer(actual, np.uint8) != np.frombuffer(expected, np.uint8)))
            checker.problem(
                f"{name!r}: {count} of {len(expected)} bytes differ, the first "
                f"in element {index} of the contiguous tensor"
            )
        else:
            matched += 1

    if file_format != "safetensors":
        for group in description.get("sharedStorage", []):
            keys = [key for key in group["keys"] if key in state]
            pointers = {state[key].untyped_storage().data_ptr() for key in keys}
            if len(pointers) > 1:
                checker.problem(f"{keys} should share one storage but do not")
    return matched


def check_metadata(path, expected, checker):
    with safetensors.safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if metadata != expected:
        checker.problem(f"safetensors metadata {metadata}, expected {expected}")


def read_f32(path):
    try:
        return torch.from_numpy(np.fromfile(path, dtype="<f4").astype(np.float32))
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error}") from error


def check_model(state, config_reference, input_path, output_path, rtol, atol, checker):
    """Returns the largest |difference|, or None when the model could not run."""
    config, _ = load_json_reference(config_reference)
    if isinstance(config, dict) and "config" in config and "patchSize" not in config:
        config = config["config"]
    try:
        model = build_model(config)
    except (KeyError, TypeError) as error:
        raise UsageError(f"bad model config {config!r}: {error}") from error
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        details = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
        for line in details or [one_line(error)]:
            checker.problem(f"load_state_dict(strict=True): {line}")
        return None

    height, width = config["inputShape"]
    per_image = config["inChans"] * height * width
    images = read_f32(input_path)
    if images.numel() == 0 or images.numel() % per_image:
        raise UsageError(
            f"{input_path}: {images.numel()} floats is not a whole number of "
            f"[{config['inChans']}, {height}, {width}] images"
        )
    images = images.reshape(-1, config["inChans"], height, width)
    with torch.no_grad():
        got = model(images).reshape(-1)
    want = read_f32(output_path)
    if got.numel() != want.numel():
        checker.problem(f"model output has {got.numel()} values, {output_path} has {want.numel()}")
        return None
    scale = float(want.abs().max()) if want.numel() else 0.0
    floor = rtol * scale if atol is None else atol
    difference = (got - want).abs()
    bad = difference > rtol * want.abs() + floor
    if bool(bad.any()):
        index = int(torch.nonzero(bad)[0])
        largest = float(difference.max())
        checker.problem(
            f"model output differs at {int(bad.sum())} of {want.numel()} values "
            f"(first at flat index {index}: {float(got[index])!r} vs "
            f"{float(want[index])!r}; largest difference {largest:.3g})"
        )
    return float(difference.max()) if difference.numel() else 0.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", required=True, type=Path, help="the checkpoint vitorch wrote")
    parser.add_argument("--expected", required=True, help="JSON of expected tensors (FILE or FILE#key.path)")
    parser.add_argument("--bin-dir", help="folder of the .bin files (default: the JSON's)")
    parser.add_argument(
        "--allow-extra-keys", action="store_true", help="tensors the JSON does not list are not a problem"
    )
    parser.add_argument("--ignore-order", action="store_true", help=".pth: do not require the entries' key order")
    parser.add_argument(
        "--no-layout-check",
        action="store_true",
        help="zip: skip the torch.save layout checks (records, CRC, alignment)",
    )
    parser.add_argument("--model-config", help="model config JSON (FILE or FILE#key.path)")
    parser.add_argument("--input", type=Path, help="raw float32 images for the model check")
    parser.add_argument("--output", type=Path, help="raw float32 expected model output")
    parser.add_argument("--rtol", type=float, default=DEFAULT_RTOL)
    parser.add_argument("--atol", type=float, default=None, help="absolute floor (default: rtol * largest |expected|)")
    args = parser.parse_args(argv)
    model_args = [args.model_config, args.input, args.output]
    if any(model_args) and not all(model_args):
        parser.error("--model-config, --input and --output go together")

    checker = Checker()
    try:
        description, bin_dir = expected_description(args.expected, args.bin_dir)
        if not args.file.is_file():
            checker.problem(f"{args.file} does not exist")
            file_format, state = "?", None
        else:
            file_format, state = load_file(args.file, checker, not args.no_layout_check)
        matched, difference = 0, None
        if state is not None:
            matched = compare_tensors(
                state, description, bin_dir, file_format, checker, args.ignore_order, args.allow_extra_keys
            )
            if file_format == "safetensors" and "metadata" in description:
                check_metadata(args.file, description["metadata"], checker)
            if args.model_config:
                difference = check_model(
                    state, args.model_config, args.input, args.output, args.rtol, args.atol, checker
                )
    except UsageError as error:
        print(f"check_written_checkpoint: {error}", file=sys.stderr)
        return 2

    total = len(description["entries"])
    summary = f"{args.file} ({file_format}): {matched}/{total} tensors match bit for bit"
    if difference is not None:
        summary += f"; model output max |difference| {difference:.3g}"
    if checker.problems:
        print(f"FAIL {summary}; {len(checker.problems)} problem(s)")
        return 1
    print(f"OK {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
