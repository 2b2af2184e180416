#!/usr/bin/env node
// prebuildify drives node-gyp (`node-gyp rebuild --target=V --devdir=D --release [--arch=A]`); vitorch's main build
// is cmake-js. This stands in for node-gyp so that prebuildify runs cmake-js with the same target and arch. It
// builds incrementally in build/ (the build the tests use, ccache-backed), and keeps a copy of the addon there,
// because prebuildify moves build/Release/vitorch.node into prebuilds/ (scripts/prebuild.js puts the copy back).
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');
const options = Object.fromEntries(process.argv.slice(2)
  .filter((arg) => arg.startsWith('--') && arg.includes('='))
  .map((arg) => arg.slice(2).split('=')));
const args = [require.resolve('cmake-js/bin/cmake-js'), 'compile'];
if (options.target) args.push('--runtime-version', options.target);
if (options.arch) args.push('--arch', options.arch);
if (process.argv.includes('--debug')) args.push('--debug');
const build = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (build.status === 0) {
  const flavour = process.argv.includes('--debug') ? 'Debug' : 'Release';
  fs.copyFileSync(path.join(root, 'build', flavour, 'vitorch.node'), path.join(root, 'build', `vitorch.${flavour}.node.kept`));
}
process.exit(build.status === null ? 1 : build.status);
