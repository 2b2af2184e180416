// freezeBackbone / unfreezeBackbone touch exactly what the seed's freeze_backbone / Unfreeze_backbone do
// (patch_embed, cls_token, pos_embed, blocks[:8]); the expected names come from PyTorch.
import { VisionTransformer } from '../lib';
import { manifest } from './fixtures';

function trainable(model: VisionTransformer): string[] {
  return model
    .namedParameters()
    .filter(([, value]) => value.requiresGrad)
    .map(([name]) => name);
}

test('requiresGrad after freezeBackbone and unfreezeBackbone equals PyTorch', () => {
  const fixture = manifest.models[manifest.freeze.model];
  using model = new VisionTransformer(fixture.config);
  expect(trainable(model)).toEqual(fixture.parameterNames);
  model.freezeBackbone();
  expect(trainable(model)).toEqual(manifest.freeze.trainableAfterFreeze);
  model.unfreezeBackbone();
  expect(trainable(model)).toEqual(manifest.freeze.trainableAfterUnfreeze);
});

test('a model shallower than 8 blocks freezes every block, and only the backbone', () => {
  using model = new VisionTransformer(manifest.models.small.config);
  model.freezeBackbone();
  expect(trainable(model)).toEqual(['norm.weight', 'norm.bias', 'head.weight', 'head.bias']);
});
