// `vitorch serve` in a child process for the tests that need the command itself (signals, exit codes, flags): HTTP
// on any free port, and gRPC on any free port too unless the arguments say where or --no-grpc, so that tests running
// side by side never contend for 8001.
import { spawn } from 'child_process';
import type { ChildProcess } from 'child_process';
import * as path from 'path';

const CLI = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'vitorch.js');

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** 0 with --no-grpc. */
  grpcPort: number;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

function serveArgs(args: string[]): string[] {
  const grpcGiven = args.includes('--no-grpc') || args.some((a) => a === '--grpc-port' || a.startsWith('--grpc-port='));
  return [CLI, 'serve', '--port', '0', ...(grpcGiven ? [] : ['--grpc-port', '0']), ...args];
}

/** The command once it is listening and says it is ready; rejects with its stderr if it exits first. */
export function serveUntilReady(args: string[]): Promise<ServeProcess> {
  const grpc = !args.includes('--no-grpc');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, serveArgs(args), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const exited = new Promise<{ code: number | null; signal: string | null }>((done) =>
      child.on('close', (code, signal) => done({ code, signal })),
    );
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr += chunk;
      const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
      const grpcPort = /listening for gRPC on 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1];
      if (url && (grpcPort || !grpc) && /^vitorch serve: ready: /m.test(stderr)) {
        resolve({ child, url, grpcPort: Number(grpcPort ?? 0), stderr: () => stderr, exited });
      }
    });
    child.on('error', reject);
    exited.then(({ code }) => reject(new Error(`vitorch serve exited (${code}) before it was ready:\n${stderr}`)));
  });
}

/** The command run to its exit (a usage or load error): its exit code and stderr. */
export function serveUntilExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, serveArgs(args), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
