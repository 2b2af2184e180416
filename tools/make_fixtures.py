"""Generate the fixtures the Jest tests compare vitorch against: checkpoints, inputs,
reference outputs and deliberately broken checkpoints, described by DIR/manifest.json.

    python tools/make_fixtures.py --out test/fixtures/generated [--force]

Everything is seeded, so two runs give the same bytes for the same torch version. When
DIR/manifest.json already has this generator version and this torch version, and every
file it names is present, the run does nothing (pass --force to regenerate anyway).

File formats: checkpoints are torch.save(model.state_dict(), path) zip archives; arrays
are raw little-endian float32, row-major and contiguous (.f32); manifest keys are
camelCase because JavaScript reads them.
"""

import io
import shlex
import struct
import zipfile

import torch

from fixture_output import run
from random_weights import randomize_parameters
from reference_vit import from_options, vit

# Bump whenever the content or layout of the fixtures changes, so stale copies regenerate.
GENERATOR_VERSION = 2

# Architectures, by fixture name. Keys are the manifest's camelCase config keys.
SMALL = dict(
    inputShape=[224, 224],
    patchSize=16,
    inChans=3,
    numClasses=10,
    numFeatures=64,
    depth=2,
    numHeads=4,
    mlpRatio=4.0,
    qkvBias=True,
)
MODEL_CONFIGS = {
    "small": SMALL,
    # Non-square and non-224 grids: the position table is resampled from 14x14 to these.
    "grid-10x18": {**SMALL, "inputShape": [160, 288]},
    "grid-20x20": {**SMALL, "inputShape": [320, 320]},
    "grid-6x8": {**SMALL, "inputShape": [96, 128]},
    # 100x70 is not a multiple of 16: the convolution drops the remainder -> 6x4 grid.
    "grid-ragged-6x4": {**SMALL, "inputShape": [100, 70]},
    # Every other option moved at once; the 224 grid for patch 32 is 7x7 (50 table rows).
    "variant-p32": {**SMALL, "patchSize": 32, "inChans": 1, "numClasses": 5, "mlpRatio": 2.0, "qkvBias": False},
    # The same options again with a resampled table (7x7 -> 8x6).
    "variant-p32-grid-8x6": {
        **SMALL,
        "inputShape": [256, 192],
        "patchSize": 32,
        "inChans": 1,
        "numClasses": 5,
        "mlpRatio": 2.0,
        "qkvBias": False,
    },
    # No head: the output is the final-normed class token, [N, numFeatures].
    "headless": {**SMALL, "numClasses": 0},
    # Deep enough for freeze_backbone to leave some blocks trainable (it covers blocks 0-7).
    "deep10": {**SMALL, "depth": 10},
    # A small model with the factory's class count.
    "small-1000": {**SMALL, "numClasses": 1000},
    # The full ViT-B/16 with every default.
    "vit-b16": dict(
        inputShape=[224, 224],
        patchSize=16,
        inChans=3,
        numClasses=1000,
        numFeatures=768,
        depth=12,
        numHeads=12,
        mlpRatio=4.0,
        qkvBias=True,
    ),
}

# (case name, model name, batch size). Input seeds are derived from the position in this list.
CASES = [
    ("small-b1", "small", 1),
    ("small-b3", "small", 3),
    ("grid-10x18-b2", "grid-10x18", 2),
    ("grid-20x20-b1", "grid-20x20", 1),
    ("grid-6x8-b2", "grid-6x8", 2),
    ("grid-ragged-6x4-b2", "grid-ragged-6x4", 2),
    ("variant-p32-b2", "variant-p32", 2),
    ("variant-p32-grid-8x6-b2", "variant-p32-grid-8x6", 2),
    ("headless-b2", "headless", 2),
    ("deep10-b1", "deep10", 1),
    ("small-1000-b1", "small-1000", 1),
    ("vit-b16-b1", "vit-b16", 1),
    ("vit-b16-b2", "vit-b16", 2),
]

WEIGHT_SEED_BASE = 1000
INPUT_SEED_BASE = 5000
FACTORY_INPUT_SEED = 9000
FACTORY_HEAD_SEED = 9001
FACTORY_NUM_CLASSES = 7

# Which model the malformed checkpoints are variations of.
BAD_BASE_MODEL = "small"


def build_model(config):
    """A reference model in eval mode (dropout and drop-path off) from a manifest config."""
    return from_options(config).eval()


def checkpoint_file(model_name):
    return f"{model_name}.pth"


def write_f32(path, tensor):
    """Raw little-endian float32, row-major."""
    array = tensor.detach().to(torch.float32).contiguous().numpy()
    array.astype("<f4", copy=False).tofile(path)


def random_input(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def make_models(out_dir, manifest):
    """Random-weight models, their checkpoints and manifest entries; returns the models."""
    models = {}
    for index, (name, config) in enumerate(MODEL_CONFIGS.items()):
        model = randomize_parameters(build_model(config), WEIGHT_SEED_BASE + index)
        state_dict = model.state_dict()
        torch.save(state_dict, out_dir / checkpoint_file(name))
        manifest["models"][name] = {
            "checkpoint": checkpoint_file(name),
            "config": config,
            "parameterNames": list(state_dict.keys()),
            "parameterShapes": [list(tensor.shape) for tensor in state_dict.values()],
        }
        models[name] = model
    return models


def make_cases(out_dir, manifest, models):
    for index, (case_name, model_name, batch) in enumerate(CASES):
        config = MODEL_CONFIGS[model_name]
        height, width = config["inputShape"]
        images = random_input([batch, config["inChans"], height, width], INPUT_SEED_BASE + index)
        with torch.no_grad():
            outputs = models[model_name](images)
        write_f32(out_dir / f"{case_name}.input.f32", images)
        write_f32(out_dir / f"{case_name}.output.f32", outputs)
        manifest["cases"].append(
            {
                "name": case_name,
                "model": model_name,
                "input": f"{case_name}.input.f32",
                "inputShape": list(images.shape),
                "output": f"{case_name}.output.f32",
                "outputShape": list(outputs.shape),
            }
        )


def make_freeze(manifest):
    """Names left trainable after freeze_backbone and after Unfreeze_backbone."""
    model_name = "deep10"
    model = build_model(MODEL_CONFIGS[model_name])

    def trainable_names():
        return [name for name, parameter in model.named_parameters() if parameter.requires_grad]

    model.freeze_backbone()
    after_freeze = trainable_names()
    model.Unfreeze_backbone()
    after_unfreeze = trainable_names()
    manifest["freeze"] = {
        "model": model_name,
        "trainableAfterFreeze": after_freeze,
        "trainableAfterUnfreeze": after_unfreeze,
    }


def make_factory_fixture(out_dir, manifest):
    """The seed's own call, vit(input_shape, pretrained=<ViT-B/16 checkpoint>, num_classes=7), at a
    non-square input so the factory's resampling of pos_embed is exercised too. The new head is
    random, so record the backbone's features (which must come from the checkpoint) instead of
    logits."""
    model_name = "vit-b16"
    input_shape = [160, 224]
    checkpoint = checkpoint_file(model_name)
    # Seed the fresh head's init so the run is reproducible, even though nothing records it.
    torch.manual_seed(FACTORY_HEAD_SEED)
    model = vit(input_shape=input_shape, pretrained=str(out_dir / checkpoint), num_classes=FACTORY_NUM_CLASSES).eval()
    num_features = MODEL_CONFIGS[model_name]["numFeatures"]
    head_shape = list(model.head.weight.shape)
    assert head_shape == [FACTORY_NUM_CLASSES, num_features], head_shape

    images = random_input([2, 3, *input_shape], FACTORY_INPUT_SEED)
    with torch.no_grad():
        features = model.forward_features(images)
    write_f32(out_dir / "factory.input.f32", images)
    write_f32(out_dir / "factory.features.f32", features)
    manifest["vitFactory"] = {
        "model": model_name,
        "checkpoint": checkpoint,
        "inputShape": input_shape,
        "numClasses": FACTORY_NUM_CLASSES,
        "headWeightShape": head_shape,
        "headBiasShape": [FACTORY_NUM_CLASSES],
        "input": "factory.input.f32",
        "imagesShape": list(images.shape),
        "features": "factory.features.f32",
        "featuresShape": list(features.shape),
    }


def aligned_zip_entry(archive, buffer, name, data, alignment=64):
    """Add a stored (uncompressed) entry whose data starts on an `alignment` boundary, by
    padding the header's extra field the way torch.save does, so the file's layout matches
    a real checkpoint's."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    header_start = buffer.tell()
    fixed_header = 30 + len(name.encode("utf-8")) + 4  # 4 = extra-field id + length
    padding = (-(header_start + fixed_header)) % alignment
    info.extra = b"FB" + struct.pack("<H", padding) + b"Z" * padding
    archive.writestr(info, data)


def hostile_pickle(command):
    """Pickle bytes (protocol 2, like torch.save) that call os.system(command) when loaded.
    Assembled opcode by opcode rather than via __reduce__ because pickling os.system names
    it by its implementation module (posix.system on Linux); this way the global is
    literally os.system, which is what an unsafe loader would resolve and run."""
    encoded = command.encode("utf-8")
    return b"".join(
        [
            b"\x80\x02",  # PROTO 2
            b"cos\nsystem\n",  # GLOBAL os.system
            b"X" + struct.pack("<I", len(encoded)) + encoded,  # BINUNICODE command
            b"\x85",  # TUPLE1 -> (command,)
            b"R",  # REDUCE -> os.system(command)
            b".",  # STOP
        ]
    )


def write_hostile_checkpoint(path, marker_path):
    """A zip laid out like torch.save's whose data.pkl runs `touch <marker>` if unpickled
    without restriction. Written with zipfile; this script never loads it."""
    folder = path.stem
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        aligned_zip_entry(
            archive, buffer, f"{folder}/data.pkl", hostile_pickle(f"touch {shlex.quote(str(marker_path))}")
        )
        aligned_zip_entry(archive, buffer, f"{folder}/byteorder", b"little")
        aligned_zip_entry(archive, buffer, f"{folder}/version", b"3\n")
    path.write_bytes(buffer.getvalue())


def make_bad_checkpoints(out_dir, manifest, models):
    base_name = BAD_BASE_MODEL
    base_state = models[base_name].state_dict()
    generator = torch.Generator().manual_seed(7)
    bad = {}

    def variant(file_name, drop=(), add=None, replace=None):
        """Copy of the base state_dict with keys dropped, added or reshaped, saved as-is."""
        state = type(base_state)((key, value.clone()) for key, value in base_state.items() if key not in drop)
        # Keep the per-module version metadata a real state_dict pickles along.
        state._metadata = base_state._metadata
        for key, shape in (add or {}).items():
            state[key] = torch.randn(shape, generator=generator)
        for key, shape in (replace or {}).items():
            state[key] = torch.randn(shape, generator=generator)
        torch.save(state, out_dir / file_name)
        return file_name

    def shape_of(key):
        return list(base_state[key].shape)

    missing_key = "blocks.1.mlp.fc2.bias"
    bad["missingKey"] = {
        "file": variant("bad-missing-key.pth", drop=[missing_key]),
        "model": base_name,
        "missing": [missing_key],
    }

    # A key one block past the model's depth, as from a deeper checkpoint.
    unexpected_key = "blocks.2.norm1.weight"
    bad["unexpectedKey"] = {
        "file": variant("bad-unexpected-key.pth", add={unexpected_key: shape_of("blocks.1.norm1.weight")}),
        "model": base_name,
        "unexpected": [unexpected_key],
    }

    # A position table from a patch-32 model: 7x7 + 1 rows instead of 14x14 + 1.
    mismatch_key, mismatch_shape = "pos_embed", [1, 50, 64]
    bad["shapeMismatch"] = {
        "file": variant("bad-shape-mismatch.pth", replace={mismatch_key: mismatch_shape}),
        "model": base_name,
        "key": mismatch_key,
        "expectedShape": shape_of(mismatch_key),
        "checkpointShape": mismatch_shape,
    }

    all_missing, all_unexpected = "norm.bias", "head_dist.weight"
    all_mismatch_key, all_mismatch_shape = "head.weight", [12, 64]
    bad["allWrong"] = {
        "file": variant(
            "bad-all-wrong.pth",
            drop=[all_missing],
            add={all_unexpected: [10, 64]},
            replace={all_mismatch_key: all_mismatch_shape},
        ),
        "model": base_name,
        "missing": [all_missing],
        "unexpected": [all_unexpected],
        "shapeMismatch": [
            {
                "key": all_mismatch_key,
                "expectedShape": shape_of(all_mismatch_key),
                "checkpointShape": all_mismatch_shape,
            }
        ],
    }

    # Absolute, since the test process's working directory is not ours.
    marker = (out_dir / "PWNED").resolve()
    write_hostile_checkpoint(out_dir / "bad-hostile-global.pth", marker)
    bad["hostileGlobal"] = {
        "file": "bad-hostile-global.pth",
        "model": base_name,
        "global": "os.system",
        "marker": str(marker),
    }

    torch.save(base_state, out_dir / "bad-legacy-format.pth", _use_new_zipfile_serialization=False)
    bad["legacyFormat"] = {"file": "bad-legacy-format.pth", "model": base_name}

    (out_dir / "bad-not-a-checkpoint.pth").write_text("This is a text file with a .pth name, not a checkpoint.\n")
    bad["notACheckpoint"] = {"file": "bad-not-a-checkpoint.pth", "model": base_name}

    good_bytes = (out_dir / checkpoint_file(base_name)).read_bytes()
    (out_dir / "bad-truncated.pth").write_bytes(good_bytes[: len(good_bytes) // 2])
    bad["truncated"] = {"file": "bad-truncated.pth", "model": base_name, "originalSize": len(good_bytes)}

    manifest["badCheckpoints"] = bad


def manifest_files(manifest):
    """Every file name the manifest refers to."""
    names = [entry["checkpoint"] for entry in manifest["models"].values()]
    for case in manifest["cases"]:
        names += [case["input"], case["output"]]
    factory = manifest["vitFactory"]
    names += [factory["checkpoint"], factory["input"], factory["features"]]
    names += [entry["file"] for entry in manifest["badCheckpoints"].values()]
    return names


def generate(out_dir, args):
    manifest = {"models": {}, "cases": []}
    models = make_models(out_dir, manifest)
    make_cases(out_dir, manifest, models)
    make_freeze(manifest)
    make_factory_fixture(out_dir, manifest)
    make_bad_checkpoints(out_dir, manifest, models)
    manifest["files"] = manifest_files(manifest)
    return manifest


if __name__ == "__main__":
    # In place: the hostile checkpoint names its marker file (PWNED) by its absolute path.
    run(
        "model",
        generate,
        stamp={"generatorVersion": GENERATOR_VERSION, "torch": torch.__version__},
        stale=["PWNED"],
        description=__doc__.splitlines()[0],
    )
