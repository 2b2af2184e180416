// The Python that holds the reference tools' dependencies (tools/requirements.txt), found as the npm scripts find it
// (scripts/python.js), and the tools themselves.
import * as path from 'path';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- scripts/ is plain CommonJS, outside the TypeScript project
const { findPython } = require('../scripts/python.js') as { findPython(): string | null };

/** The interpreter's absolute path. */
export function python(): string {
  const found = findPython();
  if (!found)
    throw new Error('the tests need Python 3 with the packages of tools/requirements.txt ($PYTHON, python3, python)');
  return found;
}

/** The folder of the reference tools (their working directory, so that they import each other). */
export const TOOLS = path.join(__dirname, '..', 'tools');

export function tool(name: string): string {
  return path.join(TOOLS, name);
}
