#!/usr/bin/env node
// npm run prebuild:all: the prebuilt addon of every torch minor release scripts/torch-releases.js lists, one after
// another, each built from its newest patch release's PyPI wheel: `pip download --no-deps` fetches the wheel (no
// CUDA libraries: the headers and libtorch's CPU libraries are all a build needs), its torch/ folder is unpacked into
// the release cache (outside the checkout; VITORCH_RELEASE_CACHE moves it), and scripts/prebuild.js builds against
// it in a staging folder of its own, so the checkout's build/ stays the primary release's.
//
//   node scripts/prebuild-all.js [--fetch-only] [RELEASE ...]     e.g. 2.9.1 2.15.0; all of them by default
//     --fetch-only   download and unpack the wheels, build nothing
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { compiledLib } = require('./find-libtorch');
const { findPython } = require('./python');
const { buildReleases, releaseCache } = require('./torch-releases');

const root = path.join(__dirname, '..');

// What a build needs from the wheel: headers, the CMake config (it records the C++ ABI), the version and the CPU
// libraries the addon links. The wheel's RPATHs point at CUDA's pip packages, absent here; linking needs none.
const UNPACK = `
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
wanted = ("torch/include/", "torch/share/cmake/", "torch/version.py", "torch/lib/libc10.so", "torch/lib/libtorch_cpu.so")
with zipfile.ZipFile(wheel) as archive:
    archive.extractall(dest, [n for n in archive.namelist() if n.startswith(wanted)])
`;

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status ?? result.signal}`);
}

/** The torch/ folder of the release's wheel, unpacked in the cache (downloaded and unpacked once). */
function unpackedLibtorch(python, version) {
  const folder = path.join(releaseCache(), 'libtorch', version);
  const torch = path.join(folder, 'torch');
  if (fs.existsSync(path.join(torch, 'version.py'))) return torch;
  const wheels = path.join(releaseCache(), 'wheels');
  fs.mkdirSync(wheels, { recursive: true });
  run(python, ['-m', 'pip', 'download', '--no-deps', '--quiet', '--dest', wheels, `torch==${version}`]);
  const wheel = fs.readdirSync(wheels).find((name) => name.startsWith(`torch-${version}-`) && name.endsWith('.whl'));
  if (!wheel) throw new Error(`pip download left no torch-${version} wheel in ${wheels}`);
  const partial = `${folder}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  run(python, ['-c', UNPACK, path.join(wheels, wheel), partial]);
  fs.rmSync(folder, { recursive: true, force: true });
  fs.renameSync(partial, folder);
  // The unpacked folder is what later builds use; the wheel (0.5-1 GB) is not needed again.
  fs.rmSync(path.join(wheels, wheel));
  return torch;
}

function main() {
  const python = process.env.PYTHON || findPython();
  if (!python) throw new Error('prebuild:all needs Python with pip (python3, or PYTHON=/path/to/python)');
  const unknown = process.argv.slice(2).filter((arg) => arg.startsWith('--') && arg !== '--fetch-only');
  if (unknown.length > 0) throw new Error(`unknown option ${unknown.join(' ')} (usage: [--fetch-only] [RELEASE ...])`);
  const fetchOnly = process.argv.includes('--fetch-only');
  const named = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const releases = named.length > 0 ? named : buildReleases();
  const rows = [];
  for (const version of releases) {
    const started = Date.now();
    const libtorch = unpackedLibtorch(python, version);
    if (fetchOnly) continue;
    const stage = path.join(releaseCache(), 'build', compiledLib('libtorch-locator').minorRelease(version));
    console.log(`prebuild:all: torch ${version} (${libtorch}) in ${stage}`);
    run(process.execPath, [path.join(__dirname, 'prebuild.js'), '--stage', stage],
      { cwd: root, env: { ...process.env, LIBTORCH: libtorch } });
    const target = compiledLib('addon-loading').prebuiltDirFor(version, root);
    const size = fs.readdirSync(target).reduce((sum, name) => sum + fs.statSync(path.join(target, name)).size, 0);
    rows.push({ release: version, seconds: Math.round((Date.now() - started) / 1000), mib: (size / 2 ** 20).toFixed(1) });
  }
  if (fetchOnly) return;
  console.log('\nrelease  prebuilt  took');
  for (const row of rows) console.log(`${row.release.padEnd(8)} ${`${row.mib} MiB`.padEnd(9)} ${row.seconds} s`);
}

try {
  main();
} catch (error) {
  console.error(`prebuild:all: ${error.message}`);
  process.exit(1);
}
