#!/usr/bin/env node
// `npm install` hook. The package carries a prebuilt addon that finds libtorch at run time, so this hook is only
// needed where that binary does not fit; vitorch works without it (npm install --ignore-scripts, or npm 11, which
// runs no dependency's install script unless approved). It:
//   - keeps the addon lib/addon-loading.ts picks (a local build, else the prebuilt for this platform and the libtorch's
//     minor release) when the libtorch found fits it, or the prebuilt ones when no libtorch is found yet (they need
//     none to install; loading says what to do);
//   - builds from source with cmake-js (scripts/find-libtorch.js locates libtorch) when there is no binary for this
//     platform or for the libtorch's release, when the libtorch found has another C++ ABI, or when
//     VITORCH_FORCE_BUILD=1.
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');
const { describe, compiledLib } = require('./find-libtorch');

const root = path.join(__dirname, '..');

// Why no existing binary can serve, or null when one can.
function reasonToBuild() {
  if (process.env.VITORCH_FORCE_BUILD === '1') return 'VITORCH_FORCE_BUILD=1';
  const { resolveAddon, prebuiltReleases, localBuild } = compiledLib('addon-loading');
  const { LibtorchError } = compiledLib('libtorch-locator');
  try {
    const { files, libtorch } = resolveAddon(process.env, root);
    console.log(`vitorch: using ${path.relative(root, files.addon)} with libtorch ${libtorch.version} at ${libtorch.root}`);
    return null;
  } catch (error) {
    if (!(error instanceof LibtorchError)) throw error;
    if (error.kind === 'not-found') {
      // The binaries need no libtorch to install; loading says what to do.
      const local = localBuild(root);
      const releases = prebuiltReleases(root);
      const binaries = local !== null ? path.relative(root, local.addon)
        : releases.length > 0 ? `the prebuilt addons for torch ${releases.join(', ')}` : null;
      if (binaries !== null) {
        console.log(`vitorch: using ${binaries}; it will need a libtorch at run time:\n${error.message}`);
        return null;
      }
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
