#!/usr/bin/env node
// The build's view of libtorch, for CMakeLists.txt and binding.gyp alike: which libtorch to compile and link
// against. Where to look is lib/libtorch-locator.ts's decision (LIBTORCH, then the torch package of $PYTHON or
// python3), the same one the addon's loading makes at run time; the build also needs libtorch's headers.
//
// CLI: node scripts/find-libtorch.js <field>   prints one field of describe() (or linkFlags), for build files.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');

// lib/'s compiled modules ship in the package (dist/); a fresh checkout compiles them first (TypeScript is a dev
// dependency there, and npm runs the install script before `prepare`).
function compiledLib(name) {
  const compiled = path.join(root, 'dist', 'lib', `${name}.js`);
  if (!fs.existsSync(compiled)) {
    const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')],
      { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    if (tsc.status !== 0 || !fs.existsSync(compiled)) throw new Error(`could not compile lib/ into dist/ (tsc exited ${tsc.status})`);
  }
  return require(compiled);
}

// The version wanted when none is found: the one tools/requirements.txt pins for the tests.
function pinnedTorchVersion() {
  const requirements = fs.readFileSync(path.join(root, 'tools', 'requirements.txt'), 'utf8');
  const match = /^torch==(\S+)/m.exec(requirements);
  return match ? match[1] : 'the version in tools/requirements.txt';
}

function describe() {
  const { locateLibtorch } = compiledLib('libtorch-locator');
  const found = locateLibtorch(pinnedTorchVersion());
  const headers = path.join(found.root, 'include', 'torch');
  if (!fs.existsSync(headers)) {
    throw new Error(`the libtorch at ${found.root} has no C++ headers (${headers}), which a build from source needs`);
  }
  return {
    ...found,
    includeDirs: [path.join(found.root, 'include'), path.join(found.root, 'include', 'torch', 'csrc', 'api', 'include')],
    cxx11Abi: found.cxx11Abi ?? '1',
    cpuLibraries: ['torch_cpu', 'c10'],
  };
}

// The linker flags binding.gyp passes (CMakeLists.txt spells the same out in CMake terms): by name, no RPATH.
function linkFlags(info) {
  return [`-L${info.libDir}`, ...info.cpuLibraries.map((name) => `-l${name}`)];
}

module.exports = { describe, compiledLib, pinnedTorchVersion };

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
