// Tensors from and to TypedArrays: every dtype round-trips exactly, conversions follow IEEE 754, and native
// memory is released by dispose(), `using`, or (as a backstop) the garbage collector.
import { DisposedError, DType, tensor, Tensor } from '../lib';

const roundTrips: [string, () => ArrayLike<number | bigint>, DType][] = [
  ['Float32Array', () => Float32Array.of(1.5, -2.25, 3e-8, Number.MAX_VALUE > 0 ? 3.4e38 : 0, -0), 'float32'],
  ['Float64Array', () => Float64Array.of(1 / 3, -1e300, 5e-324, 0, 42), 'float64'],
  ['Int32Array', () => Int32Array.of(-2147483648, 2147483647, 0, 1, -1), 'int32'],
  ['BigInt64Array', () => BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 0n, 7n, -7n), 'int64'],
  ['Int16Array', () => Int16Array.of(-32768, 32767, 0, 5, -5), 'int16'],
  ['Int8Array', () => Int8Array.of(-128, 127, 0, 3, -3), 'int8'],
  ['Uint8Array', () => Uint8Array.of(0, 255, 128, 1, 2), 'uint8'],
];

test.each(roundTrips)('%s round-trips bit for bit', (_name, make, dtype) => {
  const data = make();
  using t = tensor(data as never, [5]);
  expect(t.dtype).toBe(dtype);
  expect(t.shape).toEqual([5]);
  expect(t.device).toBe('cpu');
  expect(t.requiresGrad).toBe(false);
  // Compared element-wise: Jest runs tests in a separate realm, so TypedArray constructors differ by identity.
  expect(Array.from(t.toTypedArray() as ArrayLike<number | bigint>)).toEqual(Array.from(data));
  expect(t.toTypedArray().constructor.name).toBe(data.constructor.name);
});

test('float16 and bfloat16 convert from float32 as IEEE 754 says and travel as raw bits', () => {
  const values = Float32Array.of(1, -2, 0.5, 65504, 0);
  using half = tensor(values, [5], { dtype: 'float16' });
  expect(half.dtype).toBe('float16');
  expect(Array.from(half.toTypedArray() as Uint16Array)).toEqual([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0000]);
  expect(Array.from(half.toFloat32Array())).toEqual(Array.from(values));
  using brain = tensor(values, [5], { dtype: 'bfloat16' });
  expect(Array.from(brain.toTypedArray() as Uint16Array).slice(0, 3)).toEqual([0x3f80, 0xc000, 0x3f00]);
  using fromBits = tensor(Uint16Array.of(0x3c00, 0x4000), [2], { dtype: 'float16' });
  expect(Array.from(fromBits.toFloat32Array())).toEqual([1, 2]);
});

test('to() converts dtype and keeps values; number[] makes float32', () => {
  using t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  expect(t.dtype).toBe('float32');
  using d = t.to('float64');
  expect(d.dtype).toBe('float64');
  expect(Array.from(d.toTypedArray() as Float64Array)).toEqual([1, 2, 3, 4, 5, 6]);
  using i = t.to({ dtype: 'int64' });
  expect(Array.from(i.toTypedArray() as BigInt64Array)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
  using same = t.to('cpu');
  expect(Array.from(same.toFloat32Array())).toEqual([1, 2, 3, 4, 5, 6]);
});

test('requiresGrad can be set on floating-point tensors only', () => {
  using t = tensor(Float32Array.of(1, 2), [2], { requiresGrad: true });
  expect(t.requiresGrad).toBe(true);
  t.requiresGrad = false;
  expect(t.requiresGrad).toBe(false);
  using ints = tensor(Int32Array.of(1, 2), [2]);
  expect(() => {
    ints.requiresGrad = true;
  }).toThrow(TypeError);
});

test('dispose() frees the tensor; later use throws DisposedError; disposing twice is harmless', () => {
  const t = tensor(new Float32Array(1000), [10, 100]);
  expect(t.nbytes).toBe(4000);
  t.dispose();
  expect(t.disposed).toBe(true);
  expect(() => t.shape).toThrow(DisposedError);
  expect(() => t.toFloat32Array()).toThrow(/disposed/);
  t.dispose();
  expect(String(t)).toBe('Tensor(disposed)');
});

test('`using` disposes at the end of the scope', () => {
  let kept: Tensor;
  {
    using t = tensor(Float32Array.of(1), [1]);
    kept = t;
    expect(kept.disposed).toBe(false);
  }
  expect(kept.disposed).toBe(true);
});

test('zero-element tensors work', () => {
  using empty = tensor(new Float32Array(0), [0, 3]);
  expect(empty.shape).toEqual([0, 3]);
  expect(empty.toFloat32Array().length).toBe(0);
});

test('data is copied: changing the source array later does not change the tensor', () => {
  const data = Float32Array.of(1, 2, 3);
  using t = tensor(data, [3]);
  data[0] = 100;
  expect(t.toFloat32Array()[0]).toBe(1);
});
