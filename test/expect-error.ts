// Assertions on what an error is, not only what it says: Jest's `toThrow(new RangeError('m'))` compares the message
// alone and passes for a TypeError('m') too. These check the exact class (a subclass does not pass for its base), the
// exact message and, where given, the error's own fields (DataError's `file`).

type ErrorClass<E extends Error> = new (...args: never[]) => E;

function expectError<E extends Error>(
  caught: unknown,
  type: ErrorClass<E>,
  message: string,
  fields?: Partial<E>,
): void {
  expect(caught).toBeInstanceOf(Error);
  expect((caught as Error).constructor).toBe(type);
  expect((caught as Error).message).toBe(message);
  if (fields) expect(caught).toMatchObject(fields);
}

/** `action()` throws (synchronously) an instance of exactly `type` with exactly `message`. */
export function expectThrows<E extends Error>(
  action: () => unknown,
  type: ErrorClass<E>,
  message: string,
  fields?: Partial<E>,
): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  if (caught === undefined) throw new Error(`expected a ${type.name} ('${message}'), but nothing was thrown`);
  expectError(caught, type, message, fields);
}

/** `promise` rejects with an instance of exactly `type` with exactly `message`. */
export async function expectRejects<E extends Error>(
  promise: Promise<unknown>,
  type: ErrorClass<E>,
  message: string,
  fields?: Partial<E>,
): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  if (caught === undefined) throw new Error(`expected a rejection with a ${type.name} ('${message}'), but it resolved`);
  expectError(caught, type, message, fields);
}
