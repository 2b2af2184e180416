"""Check a fixture directory written by make_fixtures.py against itself and the reference.

    python tools/verify_fixtures.py --dir test/fixtures/generated

Reloads every checkpoint strictly into a fresh reference model, recomputes every case and
the factory features, checks names, shapes, file sizes and the freeze lists, and checks
that each malformed checkpoint fails the way the manifest says. The hostile checkpoint is
only disassembled, never unpickled. Exits non-zero on the first class of failure found.
"""

import argparse
import json
import pickletools
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

from make_fixtures import build_model
from reference_vit import VisionTransformer, vit

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print(f"FAIL {message}")


def read_f32(path, shape):
    array = np.fromfile(path, dtype="<f4")
    check(array.size == int(np.prod(shape)), f"{path.name}: {array.size} floats, shape {shape}")
    return torch.from_numpy(array.astype(np.float32).reshape(shape))


def load_state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def verify_models_and_cases(fixtures, manifest):
    models = {}
    for name, entry in manifest["models"].items():
        state = load_state(fixtures / entry["checkpoint"])
        check(list(state.keys()) == entry["parameterNames"], f"{name}: key order")
        check([list(t.shape) for t in state.values()] == entry["parameterShapes"], f"{name}: shapes")
        model = build_model(entry["config"])
        check(
            list(model.state_dict().keys()) == entry["parameterNames"],
            f"{name}: a fresh reference model has other keys than the checkpoint",
        )
        model.load_state_dict(state, strict=True)
        models[name] = model

    for case in manifest["cases"]:
        images = read_f32(fixtures / case["input"], case["inputShape"])
        expected = read_f32(fixtures / case["output"], case["outputShape"])
        with torch.no_grad():
            recomputed = models[case["model"]](images)
        difference = (recomputed - expected).abs().max().item()
        # Spread across the batch shows the output really depends on the image.
        spread = (expected - expected.mean(0)).abs().max().item() if len(expected) > 1 else 0.0
        print(
            f"case {case['name']:26s} recompute max|diff| {difference:.2e}  "
            f"output max|y| {expected.abs().max().item():7.3f}  batch spread {spread:.3f}"
        )
        check(list(recomputed.shape) == case["outputShape"], f"{case['name']}: output shape")
        check(difference == 0.0, f"{case['name']}: recomputed output differs by {difference}")
    return models


def verify_freeze(manifest):
    entry = manifest["freeze"]
    config = manifest["models"][entry["model"]]["config"]
    all_names = manifest["models"][entry["model"]]["parameterNames"]
    # Written out independently of reference_vit: freezing covers blocks 0-7 only.
    kept = [
        name
        for name in all_names
        if name.startswith(("norm.", "head.")) or (name.startswith("blocks.") and int(name.split(".")[1]) >= 8)
    ]
    print(
        f"freeze: depth {config['depth']}, {len(entry['trainableAfterFreeze'])} of "
        f"{len(all_names)} parameters trainable after freeze_backbone"
    )
    check(entry["trainableAfterFreeze"] == kept, "freeze: trainable names after freeze")
    check(entry["trainableAfterUnfreeze"] == all_names, "freeze: trainable names after unfreeze")


def verify_factory(fixtures, manifest, models):
    entry = manifest["vitFactory"]
    checkpoint = str(fixtures / entry["checkpoint"])
    model = vit(input_shape=entry["inputShape"], pretrained=checkpoint, num_classes=entry["numClasses"]).eval()
    images = read_f32(fixtures / entry["input"], entry["imagesShape"])
    expected = read_f32(fixtures / entry["features"], entry["featuresShape"])
    # The backbone must be the checkpoint's: a plain model of that input shape loaded from it agrees.
    plain = VisionTransformer(input_shape=entry["inputShape"]).eval()
    plain.load_state_dict(torch.load(checkpoint, weights_only=True), strict=True)
    with torch.no_grad():
        recomputed = model.forward_features(images)
        plain_features = plain.forward_features(images)
    print(
        f"factory: features max|diff| {(recomputed - expected).abs().max().item():.2e}, "
        f"vs plain model {(plain_features - expected).abs().max().item():.2e}, "
        f"head {list(model.head.weight.shape)}"
    )
    check(torch.equal(recomputed, expected), "factory: features differ")
    check(torch.equal(plain_features, expected), "factory: features differ from the plain model's")
    check(list(model.head.weight.shape) == entry["headWeightShape"], "factory: head shape")


def strict_load_error(model, state):
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        return str(error)
    return ""


def verify_bad_checkpoints(fixtures, manifest):
    bad = manifest["badCheckpoints"]
    base_config = manifest["models"][bad["missingKey"]["model"]]["config"]

    for kind in ("missingKey", "unexpectedKey", "shapeMismatch", "allWrong"):
        entry = bad[kind]
        message = strict_load_error(build_model(base_config), load_state(fixtures / entry["file"]))
        mentioned = [entry.get("key")] + entry.get("missing", []) + entry.get("unexpected", [])
        mentioned += [item["key"] for item in entry.get("shapeMismatch", []) if isinstance(item, dict)]
        mentioned = [key for key in mentioned if key]
        check(
            bool(message) and all(key in message for key in mentioned),
            f"{kind}: strict load did not fail naming {mentioned}: {message[:200]}",
        )
        print(f"{kind}: strict load fails naming {mentioned}")

    hostile = bad["hostileGlobal"]
    path = fixtures / hostile["file"]
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickle_name = next(name for name in names if name.endswith("/data.pkl"))
        globals_called = [
            argument.replace(" ", ".")
            for opcode, argument, _ in pickletools.genops(archive.read(pickle_name))
            if opcode.name == "GLOBAL"
        ]
    check(globals_called == [hostile["global"]], f"hostile: globals {globals_called}")
    check(not Path(hostile["marker"]).exists(), "hostile: marker file exists")
    print(f"hostileGlobal: entries {names}, globals {globals_called}, marker absent")

    legacy = fixtures / bad["legacyFormat"]["file"]
    check(not zipfile.is_zipfile(legacy), "legacy: is a zip")
    legacy_state = load_state(legacy)
    reference_state = load_state(fixtures / manifest["models"][bad["legacyFormat"]["model"]]["checkpoint"])
    check(
        all(torch.equal(legacy_state[key], value) for key, value in reference_state.items()),
        "legacy: tensors differ from the good checkpoint",
    )
    print("legacyFormat: not a zip; torch.load reads the same tensors as the good checkpoint")

    for kind in ("notACheckpoint", "truncated"):
        try:
            load_state(fixtures / bad[kind]["file"])
            check(False, f"{kind}: torch.load accepted it")
        except Exception as error:  # noqa: BLE001 - any refusal is the expected outcome
            print(f"{kind}: torch.load refuses it ({type(error).__name__})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, type=Path)
    fixtures = parser.parse_args(argv).dir
    manifest = json.loads((fixtures / "manifest.json").read_text())
    print(
        f"manifest: generator {manifest['generatorVersion']}, torch {manifest['torch']}; "
        f"running torch {torch.__version__}"
    )

    models = verify_models_and_cases(fixtures, manifest)
    verify_freeze(manifest)
    verify_factory(fixtures, manifest, models)
    verify_bad_checkpoints(fixtures, manifest)

    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all fixture checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
