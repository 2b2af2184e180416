// Symbol.dispose, so that `using t = tensor(...)` frees native memory at the end of a scope. Node 20 releases
// before 20.x's explicit-resource-management support (and Jest's sandboxes) lack it; define it there the way
// TypeScript's documentation suggests, with the registry symbol Node itself uses.
const symbolWithDispose = Symbol as unknown as { dispose?: symbol };
if (symbolWithDispose.dispose === undefined) {
  Object.defineProperty(Symbol, 'dispose', { value: Symbol.for('nodejs.dispose') });
}

export {};
