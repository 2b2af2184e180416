#!/usr/bin/env node
// `npm install` hook. The package carries a prebuilt addon that finds libtorch at run time, so this hook is only
// needed where that binary does not fit; vitorch works without it (npm install --ignore-scripts, or npm 11, which
// runs no dependency's install script unless approved). It:
//   - keeps the addon node-gyp-build finds (a local build, else the prebuilt for this platform) when the libtorch
//     found now fits it, or when none is found yet (the binary needs none to install; loading it says what to do);
//   - builds from source with cmake-js (scripts/find-libtorch.js locates libtorch) when there is no binary for this
//     platform, when the libtorch found is of another release or C++ ABI, or when VITORCH_FORCE_BUILD=1.
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');
const { describe, compiledLib } = require('./find-libtorch');

const root = path.join(__dirname, '..');

// Why the existing binary cannot serve, or null when it can.
function reasonToBuild() {
  if (process.env.VITORCH_FORCE_BUILD === '1') return 'VITORCH_FORCE_BUILD=1';
  const { findAddon, libtorchForAddon } = compiledLib('addon-loading');
  const { LibtorchError } = compiledLib('libtorch-locator');
  let files;
  try {
    files = findAddon(root);
  } catch (error) {
    return `no usable binary for ${process.platform}-${process.arch} (${error.message.split('\n')[0]})`;
  }
  try {
    const libtorch = libtorchForAddon(files);
    console.log(`vitorch: using ${path.relative(root, files.addon)} with libtorch ${libtorch.version} at ${libtorch.root}`);
    return null;
  } catch (error) {
    if (!(error instanceof LibtorchError)) throw error;
    if (error.kind === 'not-found') {
      console.log(`vitorch: using ${path.relative(root, files.addon)}; it will need a libtorch at run time:\n${error.message}`);
      return null;
    }
    return error.message;
  }
}

function main() {
  const reason = reasonToBuild();
  if (reason === null) return 0;
  let libtorch;
  try {
    libtorch = describe();
  } catch (error) {
    console.error(`vitorch: cannot build from source (${reason.split('\n')[0]}): ${error.message}`);
    return 1;
  }
  console.log(`vitorch: building from source (${reason.split('\n')[0]}) against libtorch ${libtorch.version} ` +
    `(${libtorch.foundBy}: ${libtorch.root})`);
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const build = spawnSync(process.execPath, [cmakeJs, 'compile'], { cwd: root, stdio: 'inherit' });
  return build.status === null ? 1 : build.status;
}

process.exit(main());
