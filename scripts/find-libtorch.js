#!/usr/bin/env node
// Locates the libtorch that vitorch builds and links against, for CMakeLists.txt and binding.gyp alike, so that
// both builds agree. Search order:
//   1. $LIBTORCH: a libtorch directory as pytorch.org ships it (include/, lib/, share/cmake/Torch/).
//   2. The `torch` package of the Python found by scripts/python.js (the PyPI wheel; its version is pinned in
//      tools/requirements.txt). The wheel carries the same include/, lib/ and share/ folders.
// Anything else stops the build with a message that says how to provide one.
//
// CLI: node scripts/find-libtorch.js <field>   prints one field of describe() (or linkFlags), for build files.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { findPython } = require('./python');

const HOW_TO_PROVIDE = [
  'vitorch needs libtorch to build. Provide it in one of these ways:',
  '  - install the pinned PyPI wheel:   pip install -r tools/requirements.txt   (inside the vitorch checkout), or',
  '  - point LIBTORCH at an unpacked libtorch archive from pytorch.org:   LIBTORCH=/path/to/libtorch npm install',
].join('\n');

class LibtorchNotFound extends Error {}

function fromEnvironment() {
  const root = process.env.LIBTORCH;
  if (!root) return null;
  if (!fs.existsSync(path.join(root, 'include', 'torch'))) {
    throw new LibtorchNotFound(`LIBTORCH=${root} is not a libtorch directory (expected ${path.join(root, 'include', 'torch')})`);
  }
  return { root: path.resolve(root), source: 'LIBTORCH' };
}

function fromPythonWheel() {
  const python = findPython();
  if (!python) return null;
  // find_spec locates the package without importing it (importing torch takes seconds and loads CUDA libraries).
  const probe = spawnSync(python, ['-c',
    'import importlib.util, os; s = importlib.util.find_spec("torch"); print(os.path.dirname(s.origin) if s else "")'],
  { encoding: 'utf8' });
  const root = probe.status === 0 ? probe.stdout.trim() : '';
  if (!root || !fs.existsSync(path.join(root, 'include', 'torch'))) return null;
  return { root, source: `Python torch wheel (${python})` };
}

function readVersion(root) {
  const wheelVersion = path.join(root, 'version.py');
  if (fs.existsSync(wheelVersion)) {
    const match = /__version__\s*=\s*'([^']+)'/.exec(fs.readFileSync(wheelVersion, 'utf8'));
    if (match) return match[1];
  }
  const archiveVersion = path.join(root, 'build-version');
  if (fs.existsSync(archiveVersion)) return fs.readFileSync(archiveVersion, 'utf8').trim();
  return 'unknown';
}

// libtorch records the libstdc++ ABI it was built with in its CMake config; code linking it must use the same one,
// or std::string in its API silently means a different type.
function readCxx11Abi(root) {
  const config = path.join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake');
  if (fs.existsSync(config)) {
    const match = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(fs.readFileSync(config, 'utf8'));
    if (match) return match[1];
  }
  return '1';
}

function describe() {
  const found = fromEnvironment() || fromPythonWheel();
  if (!found) throw new LibtorchNotFound(`libtorch not found.\n${HOW_TO_PROVIDE}`);
  const libDir = path.join(found.root, 'lib');
  const hasCuda = fs.existsSync(path.join(libDir, 'libtorch_cuda.so'));
  return {
    root: found.root,
    source: found.source,
    version: readVersion(found.root),
    includeDirs: [path.join(found.root, 'include'), path.join(found.root, 'include', 'torch', 'csrc', 'api', 'include')],
    libDir,
    cxx11Abi: readCxx11Abi(found.root),
    // With a CUDA build of libtorch the CUDA libraries are linked too (no CUDA toolkit is needed for that: only
    // libtorch's own shared objects), so that the CUDA kernels register and the same addon can use a GPU.
    cudaLibraries: hasCuda ? ['torch_cuda', 'c10_cuda'] : [],
    cpuLibraries: ['torch', 'torch_cpu', 'c10'],
  };
}

// The linker flags binding.gyp passes (CMakeLists.txt spells the same out in CMake terms).
function linkFlags(info) {
  return [
    `-L${info.libDir}`,
    `-Wl,-rpath,${info.libDir}`,
    '-Wl,--no-as-needed',
    ...info.cudaLibraries.map((name) => `-l${name}`),
    ...info.cpuLibraries.map((name) => `-l${name}`),
    '-Wl,--as-needed',
  ];
}

module.exports = { describe, LibtorchNotFound, HOW_TO_PROVIDE };

if (require.main === module) {
  try {
    const info = describe();
    const field = process.argv[2] || 'json';
    const value = field === 'json' ? JSON.stringify(info, null, 2) : field === 'linkFlags' ? linkFlags(info) : info[field];
    if (value === undefined) throw new Error(`unknown field ${field}`);
    // Lists are printed one per line for gyp's <!@(...) and joined with ';' for CMake's list syntax.
    const asCmake = process.argv.includes('--cmake');
    console.log(Array.isArray(value) ? value.join(asCmake ? ';' : ' ') : value);
  } catch (error) {
    console.error(`vitorch: ${error.message}`);
    process.exit(1);
  }
}
