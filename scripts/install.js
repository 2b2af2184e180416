#!/usr/bin/env node
// `npm install` hook: uses a prebuilt or already-built addon when node-gyp-build finds one for this platform;
// otherwise locates libtorch (scripts/find-libtorch.js) and builds with cmake-js. When libtorch cannot be found the
// install stops with a message that says how to provide one.
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');
const { describe, LibtorchNotFound } = require('./find-libtorch');

const root = path.join(__dirname, '..');

function prebuiltBinary() {
  try {
    return require('node-gyp-build').resolve(root);
  } catch {
    return null;
  }
}

function main() {
  const existing = prebuiltBinary();
  if (existing && !process.env.VITORCH_FORCE_BUILD) {
    console.log(`vitorch: using ${path.relative(root, existing)}`);
    return 0;
  }
  let libtorch;
  try {
    libtorch = describe();
  } catch (error) {
    if (error instanceof LibtorchNotFound) {
      console.error(`vitorch: ${error.message}`);
      return 1;
    }
    throw error;
  }
  console.log(`vitorch: building against libtorch ${libtorch.version} from ${libtorch.source} (${libtorch.root})`);
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const build = spawnSync(process.execPath, [cmakeJs, 'compile'], { cwd: root, stdio: 'inherit' });
  return build.status === null ? 1 : build.status;
}

process.exit(main());
