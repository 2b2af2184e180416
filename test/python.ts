// The Python that holds the reference tools' dependencies (tools/requirements.txt), found as the npm scripts find it
// (scripts/python.js), and the tools themselves.
import { spawn, spawnSync } from 'child_process';
import * as path from 'path';
import { defaultModelDir } from '../lib';

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

/**
 * PyTorch's answer for the embedded default model (tools/classify_reference.py with its config and weights, then
 * ARGS; INPUT on stdin), parsed from the JSON the tool prints. A tool that fails or writes to stderr fails the test.
 */
export function embeddedModelReference<T>(args: string[], input?: string): T {
  const dir = defaultModelDir();
  const run = spawnSync(
    python(),
    [
      tool('classify_reference.py'),
      '--config',
      path.join(dir, 'config.json'),
      '--weights',
      path.join(dir, 'weights.pth'),
      ...args,
    ],
    { input, encoding: 'utf8', cwd: TOOLS, maxBuffer: 1 << 26 },
  );
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout) as T;
}

/**
 * Runs the client tool `name` with `args` asynchronously (so that a server in this very process can answer it) and
 * resolves with the JSON it prints; rejects with its stderr when it exits non-zero.
 */
export function pythonClientReport<T>(name: string, args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(python(), [tool(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(stdout) as T) : reject(new Error(`${name} exited ${code}:\n${stderr}`)),
    );
  });
}
