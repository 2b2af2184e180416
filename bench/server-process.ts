// A server under test as a child process of its own: started in its own process group with its output in a log
// file, ready when a URL answers 200, stopped with SIGTERM (then SIGKILL after a grace period) to that group only.
// Whatever is still running, and every temporary folder, goes when the benchmark exits, however it exits.
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const running = new Set<ServerProcess>();
const temporaryDirs = new Set<string>();

function cleanUpNow(): void {
  for (const server of running) server.killNow();
  for (const dir of temporaryDirs) fs.rmSync(dir, { recursive: true, force: true });
  temporaryDirs.clear();
}
process.once('exit', cleanUpNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    cleanUpNow();
    process.exit(130);
  });
}

/** A folder under the system's temporary one, removed when the benchmark exits (or earlier by removeTemporaryDir). */
export function temporaryDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temporaryDirs.add(dir);
  return dir;
}

export function removeTemporaryDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  temporaryDirs.delete(dir);
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  /** Polled until `isReady` accepts its answer (by default: status 200). */
  readyUrl: string;
  isReady?: (status: number, body: string) => boolean;
  readyTimeoutMs: number;
}

export class ServerProcess {
  private exited: Promise<void>;
  private exitCode: number | null | undefined;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        running.delete(this);
        resolve();
      }),
    );
    running.add(this);
  }

  get pid(): number {
    return this.child.pid as number;
  }
  get hasExited(): boolean {
    return this.exitCode !== undefined;
  }

  static async start(options: StartOptions): Promise<ServerProcess> {
    const log = fs.openSync(options.logFile, 'a');
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', log, log],
      detached: true,
    });
    fs.closeSync(log);
    const server = new ServerProcess(options.name, child, options.logFile);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) =>
        reject(new Error(`could not start ${options.name} (${options.command}): ${error.message}`)),
      );
    });
    const deadline = Date.now() + options.readyTimeoutMs;
    while (Date.now() < deadline) {
      if (server.hasExited)
        throw new Error(`${options.name} exited before it was ready; its log ends:\n${server.logTail()}`);
      try {
        const response = await fetch(options.readyUrl, { signal: AbortSignal.timeout(2000) });
        const body = await response.text();
        if ((options.isReady ?? ((status) => status === 200))(response.status, body)) return server;
      } catch {
        /* not listening yet */
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await server.stop();
    throw new Error(
      `${options.name} was not ready at ${options.readyUrl} after ${options.readyTimeoutMs / 1000} s; ` +
        `its log ends:\n${server.logTail()}`,
    );
  }

  logTail(lines = 20): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** SIGTERM to the process group, SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 20_000): Promise<void> {
    if (this.hasExited) return;
    this.signalGroup('SIGTERM');
    const timer = setTimeout(() => this.signalGroup('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    // The group may outlive its leader (TorchServe's Python workers); they go too.
    this.signalGroup('SIGKILL');
  }

  killNow(): void {
    this.signalGroup('SIGKILL');
  }

  private signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      /* already gone */
    }
  }
}
