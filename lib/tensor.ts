// Tensor: an n-dimensional array held by libtorch, on the CPU or a GPU. Data comes in from and goes out to
// TypedArrays by copy, so a Tensor never aliases memory that JavaScript can change under it.
//
// Native memory is reported to V8 and freed by dispose() (or `using`); the garbage collector frees what was not
// disposed, as a backstop only.
import { binding, NativeTensor } from './binding';
// Defines Symbol.dispose where the runtime lacks it, before the classes below use it.
import './dispose';
import { DType, DTYPES, isDType, isFloatingDType, TensorData, TypedArrayOf } from './dtype';
import {
  expected,
  requireBoolean,
  requireDevice,
  requireInteger,
  requireObject,
  requireShape,
  withCallerStack,
} from './validate';

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

export interface TensorOptions {
  /** The tensor's element type. Defaults to the data's own (Float32Array: float32, ...); a Uint16Array needs
   *  'float16' or 'bfloat16' and is read as raw bits; number[] defaults to float32. */
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

export type TensorInput = TensorData | Uint8ClampedArray | number[];

function requireDType(value: unknown, argument: string): DType {
  if (!isDType(value)) throw new RangeError(expected(`one of ${DTYPES.join(', ')}`, argument, value));
  return value;
}

const NATURAL_DTYPE = new Map<unknown, DType>([
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
  [Int32Array, 'int32'],
  [BigInt64Array, 'int64'],
  [Int16Array, 'int16'],
  [Int8Array, 'int8'],
  [Uint8Array, 'uint8'],
  [Uint8ClampedArray, 'uint8'],
]);

export class Tensor {
  /** @internal */
  readonly native: NativeTensor;

  /** @internal Tensors are made with tensor(), or returned by models and checkpoints. */
  constructor(native: NativeTensor) {
    this.native = native;
  }

  get shape(): number[] {
    return this.native.shape;
  }
  get dtype(): DType {
    return this.native.dtype;
  }
  get device(): string {
    return this.native.device;
  }
  get numel(): number {
    return this.native.shape.reduce((a, b) => a * b, 1);
  }
  /** Bytes of tensor data. */
  get nbytes(): number {
    return this.native.nbytes;
  }
  get disposed(): boolean {
    return this.native.disposed;
  }

  get requiresGrad(): boolean {
    return this.native.requiresGrad;
  }
  set requiresGrad(value: boolean) {
    requireBoolean(value, 'requiresGrad');
    if (value && !isFloatingDType(this.dtype)) {
      throw new TypeError(`only floating-point tensors can require gradients, this one is ${this.dtype}`);
    }
    this.native.requiresGrad = value;
  }

  /** A copy of the elements, row-major, in the TypedArray of this dtype (see TypedArrayOf). */
  toTypedArray(): TypedArrayOf[DType] {
    return this.native.toTypedArray() as TypedArrayOf[DType];
  }

  /** A copy of the elements converted to float32. */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return this.native.toTypedArray() as Float32Array;
    const converted = this.native.to(null, 'float32');
    try {
      return converted.toTypedArray() as Float32Array;
    } finally {
      converted.dispose();
    }
  }

  /** A tensor on another device and/or of another dtype. Like PyTorch, returns this same data when nothing changes. */
  to(target: Device | DType | { device?: Device; dtype?: DType }): Tensor {
    let device: string | null = null;
    let dtype: string | null = null;
    if (typeof target === 'string') {
      if (isDType(target)) dtype = target;
      else device = requireDevice(target, 'to(target)');
    } else {
      const options = requireObject(target, 'to(target)');
      if (options.device !== undefined) device = requireDevice(options.device, 'to({ device })');
      if (options.dtype !== undefined) {
        dtype = requireDType(options.dtype, 'to({ dtype })');
      }
    }
    return new Tensor(this.native.to(device, dtype));
  }

  // ---- autograd and the operations a training loop needs (not a general tensor library) ----

  /** Computes the gradients of this one-element tensor (a loss) into the `grad` of every parameter it depends on,
   *  on the calling thread; backwardAsync() does it on the compute thread. */
  backward(): void {
    this.native.backward();
  }
  backwardAsync(): Promise<void> {
    const callerStack = new Error().stack;
    return withCallerStack(binding.backwardAsync(this.native), callerStack);
  }
  /** The gradient accumulated by backward(), or null (before the first backward, after zeroGrad, when frozen). */
  get grad(): Tensor | null {
    const grad = this.native.grad;
    return grad === null ? null : new Tensor(grad);
  }
  /** The value of a one-element tensor. */
  item(): number {
    return this.native.item();
  }
  /** Indices (int64) of the largest values along `dim`. */
  argmax(dim: number): Tensor {
    return new Tensor(this.native.argmax(requireInteger(dim, 'argmax(dim)', -64, 63)));
  }
  softmax(dim: number): Tensor {
    return new Tensor(this.native.softmax(requireInteger(dim, 'softmax(dim)', -64, 63)));
  }
  /** Mean of every element (integer and boolean tensors in float32). */
  mean(): Tensor {
    return new Tensor(this.native.mean());
  }
  sum(): Tensor {
    return new Tensor(this.native.sum());
  }
  add(other: Tensor | number): Tensor {
    return this.binary('add', other);
  }
  sub(other: Tensor | number): Tensor {
    return this.binary('sub', other);
  }
  mul(other: Tensor | number): Tensor {
    return this.binary('mul', other);
  }
  div(other: Tensor | number): Tensor {
    return this.binary('div', other);
  }
  /** Elementwise equality, as a bool tensor. */
  eq(other: Tensor | number): Tensor {
    return this.binary('eq', other);
  }
  /** The same data without autograd history. */
  detach(): Tensor {
    return new Tensor(this.native.detach());
  }

  private binary(op: 'add' | 'sub' | 'mul' | 'div' | 'eq', other: Tensor | number): Tensor {
    if (typeof other === 'number') {
      if (!Number.isFinite(other)) throw new RangeError(expected('a finite number or a Tensor', `${op}(other)`, other));
      return new Tensor(this.native.binary(op, other));
    }
    if (!(other instanceof Tensor)) throw new TypeError(expected('a Tensor or a number', `${op}(other)`, other));
    return new Tensor(this.native.binary(op, other.native));
  }

  /** Frees the tensor's memory now. Further use throws DisposedError; disposing twice is harmless. */
  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return this.disposed
      ? 'Tensor(disposed)'
      : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }
}

/** Makes a tensor of `shape` from a copy of `data`. */
export function tensor(data: TensorInput, shape: number[], options: TensorOptions = {}): Tensor {
  requireShape(shape, 'shape');
  const opts = requireObject(options, 'options');
  const dtype = opts.dtype === undefined ? undefined : requireDType(opts.dtype, 'options.dtype');
  let array: TensorData | Uint8ClampedArray;
  let sourceDtype: DType | undefined;
  if (Array.isArray(data)) {
    if (!data.every((x) => typeof x === 'number')) throw new TypeError(expected('an array of numbers', 'data', data));
    array = Float32Array.from(data);
  } else if (data instanceof Uint16Array) {
    if (dtype !== 'float16' && dtype !== 'bfloat16') {
      throw new TypeError(
        expected("dtype 'float16' or 'bfloat16' (a Uint16Array holds their raw bits)", 'options.dtype', dtype),
      );
    }
    array = data;
    sourceDtype = dtype;
  } else if (NATURAL_DTYPE.has(data?.constructor)) {
    array = data as TensorData;
  } else {
    throw new TypeError(
      expected(
        'a Float32Array, Float64Array, Int32Array, BigInt64Array, Int16Array, Int8Array, Uint8Array, Uint16Array or number[]',
        'data',
        data,
      ),
    );
  }
  const numel = shape.reduce((a, b) => a * b, 1);
  if (array.length !== numel) {
    throw new RangeError(`expected ${numel} elements for shape [${shape.join(', ')}], received ${array.length}`);
  }
  const device = opts.device === undefined ? undefined : requireDevice(opts.device, 'options.device');
  const requiresGrad =
    opts.requiresGrad === undefined ? false : requireBoolean(opts.requiresGrad, 'options.requiresGrad');
  if (requiresGrad && !isFloatingDType(dtype ?? NATURAL_DTYPE.get(array.constructor) ?? 'float32')) {
    throw new TypeError('only floating-point tensors can require gradients');
  }

  let native = binding.tensorFromTypedArray(array as TensorData, shape, sourceDtype, dtype);
  if (device !== undefined && device !== 'cpu') {
    const moved = native.to(device, null);
    native.dispose();
    native = moved;
  }
  if (requiresGrad) native.requiresGrad = true;
  return new Tensor(native);
}
