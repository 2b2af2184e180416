// Symbol.dispose, for `using x = ...` (explicit resource management). Node 20 defines it; older runtimes get the
// well-known registry symbol TypeScript's downlevel helpers look for.
export const disposeSymbol: symbol =
  (Symbol as unknown as { dispose?: symbol }).dispose ?? Symbol.for('Symbol.dispose');
