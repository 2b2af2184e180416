// Bad input is a feature: every wrong argument gets a typed error that names what was expected and what was
// received. TypeError for the wrong kind of thing, RangeError for a wrong value, Error for what cannot run here.
import { cuda, DisposedError, setNumThreads, getNumThreads, tensor, VisionTransformer, vit } from '../lib';
import { manifest } from './fixtures';
import { expectThrows } from './expect-error';

const small = manifest.models.small.config;
let model: VisionTransformer;
beforeAll(() => {
  model = new VisionTransformer(small).eval();
});
afterAll(() => model.dispose());

describe('tensor()', () => {
  test('shape and element count must agree', () => {
    expectThrows(
      () => tensor(new Float32Array(10), [2, 3]),
      RangeError,
      'expected 6 elements for shape [2, 3], received 10',
    );
  });
  test('sizes must be non-negative integers', () => {
    expect(() => tensor(new Float32Array(6), [2, -3])).toThrow(RangeError);
    expect(() => tensor(new Float32Array(6), [2, 1.5 as number])).toThrow(RangeError);
    expect(() => tensor(new Float32Array(6), '2x3' as never)).toThrow(TypeError);
  });
  test('data must be a supported array', () => {
    expect(() => tensor(new Uint32Array(2) as never, [2])).toThrow(
      /expected a Float32Array.*received a Uint32Array of 2 elements/,
    );
    expect(() => tensor('abc' as never, [3])).toThrow(TypeError);
    expect(() => tensor([1, 'a'] as never, [2])).toThrow(TypeError);
  });
  test('a Uint16Array needs dtype float16 or bfloat16', () => {
    expect(() => tensor(new Uint16Array(2), [2])).toThrow(TypeError);
  });
  test('dtype and device names are checked', () => {
    expect(() => tensor(new Float32Array(2), [2], { dtype: 'float8' as never })).toThrow(
      /expected one of float32.*received the string 'float8'/,
    );
    expect(() => tensor(new Float32Array(2), [2], { device: 'tpu' as never })).toThrow(RangeError);
  });
});

describe('VisionTransformer options', () => {
  test('unknown options are refused by name', () => {
    expect(() => new VisionTransformer({ numClass: 10 } as never)).toThrow(/unknown option 'numClass'/);
  });
  test.each([
    [{ patchSize: 0 }, RangeError, /patchSize/],
    [{ patchSize: '16' }, TypeError, /patchSize/],
    [{ inputShape: [224] }, RangeError, /inputShape/],
    [{ inputShape: [8, 8] }, RangeError, /inputShape.*at least patchSize \(16\).*\[8, 8\]/],
    [{ numFeatures: 64, numHeads: 5 }, RangeError, /numHeads.*divisor of numFeatures \(64\).*5/],
    [{ dropRate: 1 }, RangeError, /dropRate/],
    [{ qkvBias: 'yes' }, TypeError, /qkvBias/],
    [{ depth: -1 }, RangeError, /depth/],
  ])('%j', (options, type, message) => {
    expect(() => new VisionTransformer(options as never)).toThrow(type);
    expect(() => new VisionTransformer(options as never)).toThrow(message);
  });
});

describe('forward', () => {
  test('the input must be a Tensor', () => {
    expectThrows(
      () => model.forward(new Float32Array(3) as never),
      TypeError,
      'expected a Tensor for input, received a Float32Array of 3 elements',
    );
  });
  test('a channels-last image names both shapes', () => {
    using wrong = tensor(new Float32Array(224 * 224 * 3), [1, 224, 224, 3]);
    expectThrows(
      () => model.forward(wrong),
      RangeError,
      'expected input of shape [N, 3, 224, 224], received [1, 224, 224, 3]',
    );
  });
  test('the wrong image size', () => {
    using wrong = tensor(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);
    expect(() => model.forward(wrong)).toThrow(/expected input of shape \[N, 3, 224, 224\], received \[1, 3, 32, 32\]/);
  });
  test('the wrong dtype', () => {
    using wrong = tensor(new Float64Array(3 * 224 * 224), [1, 3, 224, 224]);
    expectThrows(
      () => model.forward(wrong),
      TypeError,
      "expected input of dtype float32 (the model's dtype), received float64",
    );
  });
  test('forwardAsync rejects bad input before queueing anything, with the same errors', async () => {
    using wrong = tensor(new Float32Array(224 * 224 * 3), [1, 224, 224, 3]);
    expect(() => model.forwardAsync(wrong)).toThrow(RangeError);
    expect(() => model.forwardAsync(null as never)).toThrow(TypeError);
  });
  test('a disposed input', () => {
    const input = tensor(new Float32Array(3 * 224 * 224), [1, 3, 224, 224]);
    input.dispose();
    expect(() => model.forward(input)).toThrow(DisposedError);
  });
});

describe('model use', () => {
  test('CUDA without a GPU is a clear error', () => {
    if (cuda.isAvailable()) return; // checked on GPU machines by the CUDA tests instead
    expect(() => model.to('cuda')).toThrow(/CUDA was requested \('cuda'\) but is not available/);
    expect(() => tensor(new Float32Array(1), [1], { device: 'cuda:0' })).toThrow(/not available/);
    expect(model.device).toBe('cpu');
  });
  test('device names are checked', () => {
    expectThrows(
      () => model.to('gpu' as never),
      RangeError,
      "expected a device ('cpu', 'cuda' or 'cuda:N') or a dtype (float32, float64, float16, bfloat16) for to(target), received the string 'gpu'",
    );
    expectThrows(
      () => model.to({ dtype: 'int64' } as never),
      RangeError,
      "expected one of float32, float64, float16, bfloat16 for to({ dtype }), received the string 'int64'",
    );
    expect(() => model.to({ device: 'cpu', precision: 'bf16' } as never)).toThrow(/unknown option 'precision'/);
  });
  test('loadStateDict arguments', () => {
    expect(() => model.loadStateDict(42 as never)).toThrow(TypeError);
    expect(() => model.loadStateDict(new Map([['cls_token', 'x']]) as never)).toThrow(TypeError);
    expect(() => model.loadStateDict('x.pth', { strict: 'yes' } as never)).toThrow(TypeError);
    expect(() => model.loadStateDict('x.pth', { strickt: true } as never)).toThrow(/unknown option 'strickt'/);
  });
  test('vit() options', () => {
    expect(() => vit({ pretrained: 42 } as never)).toThrow(TypeError);
    expect(() => vit({ numClasses: -1 })).toThrow(RangeError);
    expect(() => vit({ classes: 10 } as never)).toThrow(/unknown option 'classes'/);
  });
  test('a disposed model says so', () => {
    const disposable = new VisionTransformer({ ...small, depth: 1 });
    disposable.dispose();
    expect(disposable.disposed).toBe(true);
    expectThrows(() => disposable.eval(), DisposedError, 'this VisionTransformer has been disposed');
    disposable.dispose();
  });
  test('thread counts', () => {
    expect(() => setNumThreads(0)).toThrow(RangeError);
    expect(() => setNumThreads('2' as never)).toThrow(TypeError);
    const before = getNumThreads();
    setNumThreads(1);
    expect(getNumThreads()).toBe(1);
    setNumThreads(before);
  });
});
