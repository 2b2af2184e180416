#!/usr/bin/env node
// npm run prebuild: the prebuilt addon for the libtorch found (LIBTORCH, else the torch package of $PYTHON or
// python3), in prebuilds/linux-x64/torch-<major>.<minor>/: the addon, which lib/addon-loading.ts picks when there is
// no local build and the libtorch found is of that minor release, and its loader, libvitorch_loader.so (copied by
// prebuildify with the other .so files beside the addon). Both are linked with no path to any libtorch: the loader
// finds one at run time, so the binary works on any machine with libtorch of its release. prebuildify does the
// building, packing and stripping; scripts/cmake-js-as-node-gyp.js lets it build with cmake-js. The addons of other
// releases already in prebuilds/ stay (npm run prebuild:all makes all of them).
//
//   node scripts/prebuild.js [--stage DIR] [--debug]
//     --stage DIR   build in DIR (a copy of the sources, made or refreshed here) instead of build/, so that a build
//                   against another libtorch leaves the checkout's own build alone (scripts/prebuild-all.js)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { findPython } = require('./python');
const { compiledLib, describe } = require('./find-libtorch');

const root = path.join(__dirname, '..');

function option(name) {
  const at = process.argv.indexOf(name);
  return at === -1 ? null : process.argv[at + 1];
}

// The sources a build needs, copied with their times (an unchanged file does not rebuild); node_modules and dist/
// (lib/ compiled, which scripts/find-libtorch.js asks) are linked.
function refreshStage(stage) {
  fs.mkdirSync(stage, { recursive: true });
  for (const entry of ['CMakeLists.txt', 'package.json', 'native', 'scripts', path.join('tools', 'requirements.txt')]) {
    fs.rmSync(path.join(stage, entry), { recursive: true, force: true });
    fs.cpSync(path.join(root, entry), path.join(stage, entry), { recursive: true, preserveTimestamps: true });
  }
  for (const entry of ['node_modules', 'dist']) {
    const link = path.join(stage, entry);
    fs.rmSync(link, { recursive: true, force: true });
    fs.symlinkSync(path.join(root, entry), link);
  }
}

function main() {
  const stage = option('--stage');
  const debug = process.argv.includes('--debug');
  const libtorch = describe();
  const buildRoot = stage === null ? root : path.resolve(stage);
  if (stage !== null) refreshStage(buildRoot);

  // prebuildify changes PATH; pin the Python that holds torch before it does.
  const env = { ...process.env, PYTHON: process.env.PYTHON || findPython() || '' };
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-prebuild-'));
  try {
    const prebuildify = require.resolve('prebuildify/bin.js');
    const shim = path.join(buildRoot, 'scripts', 'cmake-js-as-node-gyp.js');
    const args = [prebuildify, '--napi', '--strip', `--node-gyp=${shim}`, `--cwd=${buildRoot}`, `--out=${out}`];
    if (debug) args.push('--debug');
    const run = spawnSync(process.execPath, args, { cwd: buildRoot, stdio: 'inherit', env });
    // The local build stays what it was (the same file, unstripped), so that the tests and a debugger keep using it.
    const kept = path.join(buildRoot, 'build', 'vitorch.node.kept');
    if (fs.existsSync(kept)) fs.renameSync(kept, path.join(buildRoot, 'build', debug ? 'Debug' : 'Release', 'vitorch.node'));
    if (run.status !== 0) return run.status === null ? 1 : run.status;

    const built = path.join(out, 'prebuilds', `${process.platform}-${process.arch}`);
    // Where lib/addon-loading.ts looks for the prebuilt of this libtorch's minor release.
    const target = compiledLib('addon-loading').prebuiltDirFor(libtorch.version, root);
    fs.rmSync(target, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.cpSync(built, target, { recursive: true });
    // prebuildify names the addon after its tags (vitorch.node with --napi and no others); the loader expects that.
    if (!fs.existsSync(path.join(target, 'vitorch.node'))) {
      console.error(`prebuild: no vitorch.node among ${fs.readdirSync(target).join(', ')}`);
      return 1;
    }
    console.log(`prebuild: ${path.relative(root, target)} for libtorch ${libtorch.version} (${libtorch.root})`);
    return 0;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

process.exit(main());
