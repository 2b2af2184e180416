// Checks of user arguments, all worded alike: "expected <what> for <argument>, received <what was given>".
// Native code re-checks only what is cheap, so these run before anything crosses into C++.

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `the string '${value.length > 40 ? value.slice(0, 40) + '...' : value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${typeof value} ${String(value)}`;
  }
  if (Array.isArray(value)) {
    const shown = value.slice(0, 8).map((item) => (typeof item === 'object' ? describe(item) : String(item)));
    return `[${shown.join(', ')}${value.length > 8 ? ', ...' : ''}]`;
  }
  if (ArrayBuffer.isView(value)) {
    const length = (value as unknown as { length?: number }).length ?? value.byteLength;
    return `a ${value.constructor.name} of ${length} elements`;
  }
  if (typeof value === 'function') return 'a function';
  const name = (value as object).constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

export function expected(what: string, argument: string, received: unknown): string {
  return `expected ${what} for ${argument}, received ${describe(received)}`;
}

export function requireInteger(value: unknown, argument: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') throw new TypeError(expected('an integer', argument, value));
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new RangeError(expected(`an integer ${range}`, argument, value));
  }
  return value;
}

export function requireNumber(value: unknown, argument: string, check: (n: number) => boolean, what: string): number {
  if (typeof value !== 'number') throw new TypeError(expected('a number', argument, value));
  if (!Number.isFinite(value) || !check(value)) throw new RangeError(expected(what, argument, value));
  return value;
}

export function requireBoolean(value: unknown, argument: string): boolean {
  if (typeof value !== 'boolean') throw new TypeError(expected('a boolean', argument, value));
  return value;
}

export function requireString(value: unknown, argument: string): string {
  if (typeof value !== 'string') throw new TypeError(expected('a string', argument, value));
  return value;
}

export function requireObject(value: unknown, argument: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(expected('an options object', argument, value));
  }
  return value as Record<string, unknown>;
}

/** Rejects keys the options type does not have: a typo such as `numClass` must not be silently ignored. */
export function rejectUnknownKeys(options: Record<string, unknown>, known: readonly string[], argument: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(`unknown option '${key}' for ${argument}; known options: ${known.join(', ')}`);
    }
  }
}

export function requireShape(value: unknown, argument: string): number[] {
  if (!Array.isArray(value)) throw new TypeError(expected('an array of sizes', argument, value));
  value.forEach((size, i) => {
    if (typeof size !== 'number') throw new TypeError(expected('integer sizes', argument, value));
    if (!Number.isInteger(size) || size < 0) {
      throw new RangeError(expected('non-negative integer sizes', argument, value) + ` (size ${i} is ${size})`);
    }
  });
  return value as number[];
}

const DEVICE_PATTERN = /^(cpu|cuda(:\d{1,3})?)$/;

export function isDevice(value: unknown): boolean {
  return typeof value === 'string' && DEVICE_PATTERN.test(value);
}

export function requireDevice(value: unknown, argument: string): string {
  if (typeof value !== 'string') throw new TypeError(expected("a device ('cpu', 'cuda' or 'cuda:N')", argument, value));
  if (!DEVICE_PATTERN.test(value)) {
    throw new RangeError(expected("a device ('cpu', 'cuda' or 'cuda:N')", argument, value));
  }
  return value;
}

/** Captures the caller's stack so an error raised later on a worker thread points at the user's call. */
export function withCallerStack<T>(promise: Promise<T>, callerStack: string | undefined): Promise<T> {
  return promise.catch((error: unknown) => {
    if (error instanceof Error && callerStack) {
      const callerFrames = callerStack.split('\n').slice(1).join('\n');
      error.stack = `${error.name}: ${error.message}\n${callerFrames}`;
    }
    throw error;
  });
}
