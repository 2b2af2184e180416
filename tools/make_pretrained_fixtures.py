"""Checkpoints of the other ViT families, saved the way each library saves them, and the libraries' own outputs:
the oracle of vitorch's loadPretrained (test/pretrained.test.ts).

    python tools/make_pretrained_fixtures.py --out test/fixtures/generated/pretrained [--force]

Writes into OUT (replaced whole, through a temporary folder):
  input.f32                  2 images [2, 3, 224, 224], seeded normals, raw little-endian float32
  hf-classifier/             transformers' ViTForImageClassification (exact GELU, LayerNorm eps 1e-12, named
                             classes), as save_pretrained writes it: config.json and model.safetensors, with the
                             preprocessor_config.json of a ViTImageProcessor of its own mean and std
  image.png                  a 224x224 RGB image of seeded random pixels
  hf-classifier-bin/         the same model as transformers 4 saved it by default (and 5 still reads):
                             config.json and pytorch_model.bin (torch.save of the same state dict)
  hf-model/                  transformers' ViTModel (no classifier, a pooler; hidden_act gelu_pytorch_tanh)
  timm-vit.pth, .safetensors timm's vit_tiny_patch16_224 (2 blocks, 7 classes), its state dict
  deit-distilled.safetensors timm's deit_tiny_distilled_patch16_224: a distillation token; vitorch refuses it
  global-pool.safetensors    timm's ViT with global_pool='avg' and its fc_norm; vitorch refuses it
  register-tokens.safetensors  timm's ViT with 4 register tokens; vitorch refuses it
  <name>.f32                 each loadable model's output on input.f32 in evaluation mode: logits, or (hf-model)
                             the class token after the final LayerNorm, last_hidden_state[:, 0]
  hf-classifier-image.f32    hf-classifier's logits on image.png as its ViTImageProcessor prepares it: what
                             `vitorch predict --weights hf-classifier image.png` must give
  manifest.json              the above, with each output's shape and the classes
Every model is randomly initialised from a fixed seed; nothing is downloaded.
"""

import numpy as np
import timm
import torch
import transformers
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor, ViTModel

from fixture_output import run

# Bumped whenever what this writes changes, so that an older set is made again.
GENERATOR_VERSION = 2
IMAGE = 224
BATCH = 2
CLASSES = ["tabby", "tiger", "lynx", "ocelot", "serval"]


def hf_config(**overrides):
    """A small transformers ViT: 224-pixel images in 32-pixel patches, 48 features, 2 blocks of 3 heads."""
    settings = dict(
        image_size=IMAGE,
        patch_size=32,
        hidden_size=48,
        num_hidden_layers=2,
        num_attention_heads=3,
        intermediate_size=192,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        qkv_bias=True,
    )
    settings.update(overrides)
    return ViTConfig(**settings)


def randomise_norms(model):
    """LayerNorms start as the identity (weight 1, bias 0); random ones make a wrong name map visible."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.normal_(1.0, 0.1)
                module.bias.normal_(0.0, 0.1)
    return model


def write_output(folder, name, output, manifest):
    output = output.detach().to(torch.float32).contiguous()
    (folder / f"{name}.f32").write_bytes(output.numpy().astype("<f4").tobytes())
    manifest["outputs"][name] = {"file": f"{name}.f32", "shape": list(output.shape)}


def generate(folder, _args):
    manifest = {"input": "input.f32", "inputShape": [BATCH, 3, IMAGE, IMAGE], "outputs": {}, "classes": CLASSES}
    generator = torch.Generator().manual_seed(20)
    images = torch.randn(BATCH, 3, IMAGE, IMAGE, generator=generator)
    (folder / "input.f32").write_bytes(images.numpy().astype("<f4").tobytes())

    torch.manual_seed(1)
    config = hf_config(num_labels=len(CLASSES), id2label=dict(enumerate(CLASSES)))
    classifier = randomise_norms(ViTForImageClassification(config)).eval()
    classifier.save_pretrained(folder / "hf-classifier")
    with torch.no_grad():
        write_output(folder, "hf-classifier", classifier(pixel_values=images).logits, manifest)
    # A mean and std unlike ImageNet's, so that a reader that ignores preprocessor_config.json gives other logits.
    # The image is the model's size: transformers' resize and vitorch's centre crop then both leave it as it is.
    processor = ViTImageProcessor(
        size={"height": IMAGE, "width": IMAGE}, image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.25, 0.3]
    )
    processor.save_pretrained(folder / "hf-classifier")
    pixels = np.random.default_rng(20).integers(0, 256, size=(IMAGE, IMAGE, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "image.png")
    with Image.open(folder / "image.png") as image:
        prepared = processor(images=image.convert("RGB"), return_tensors="pt").pixel_values
    with torch.no_grad():
        write_output(folder, "hf-classifier-image", classifier(pixel_values=prepared).logits, manifest)
    # transformers 5 writes safetensors only; the pytorch_model.bin of transformers 4 (still read by 5, and the form
    # of many hub checkpoints) is torch.save of the same state dict under the same names.
    legacy = folder / "hf-classifier-bin"
    legacy.mkdir()
    (legacy / "config.json").write_text((folder / "hf-classifier" / "config.json").read_text())
    torch.save(load_file(folder / "hf-classifier" / "model.safetensors"), legacy / "pytorch_model.bin")
    manifest["outputs"]["hf-classifier-bin"] = manifest["outputs"]["hf-classifier"]

    torch.manual_seed(2)
    features = randomise_norms(ViTModel(hf_config(hidden_act="gelu_pytorch_tanh"))).eval()
    features.save_pretrained(folder / "hf-model")
    with torch.no_grad():
        write_output(folder, "hf-model", features(pixel_values=images).last_hidden_state[:, 0], manifest)

    torch.manual_seed(3)
    vit = randomise_norms(timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=7, depth=2)).eval()
    state = {name: value.contiguous() for name, value in vit.state_dict().items()}
    torch.save(state, folder / "timm-vit.pth")
    save_file(state, folder / "timm-vit.safetensors")
    with torch.no_grad():
        write_output(folder, "timm-vit", vit(images), manifest)

    refused = {
        "deit-distilled": timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False, depth=1),
        "global-pool": timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=1, global_pool="avg"),
        "register-tokens": timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=1, reg_tokens=4),
    }
    for name, model in refused.items():
        save_file(
            {key: value.contiguous() for key, value in model.state_dict().items()}, folder / f"{name}.safetensors"
        )
    manifest["refused"] = [f"{name}.safetensors" for name in refused]
    manifest["image"] = "image.png"
    manifest["files"] = [
        "input.f32",
        "image.png",
        "hf-classifier/preprocessor_config.json",
        "hf-classifier/model.safetensors",
        "hf-classifier-bin/pytorch_model.bin",
        "hf-model/model.safetensors",
        "timm-vit.pth",
        "timm-vit.safetensors",
        *manifest["refused"],
        *{entry["file"] for entry in manifest["outputs"].values()},
    ]
    return manifest


def stamp(_args):
    return {
        "generator": GENERATOR_VERSION,
        "torch": torch.__version__,
        "timm": timm.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
    }


if __name__ == "__main__":
    run("pretrained", generate, stamp=stamp, whole_folder=True, description=__doc__)
