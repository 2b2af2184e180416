#!/usr/bin/env node
// prebuildify drives node-gyp (`node-gyp rebuild --target=V --devdir=D --release [--arch=A]`); vitorch's main build
// is cmake-js. This stands in for node-gyp so that prebuildify runs cmake-js with the same target and arch. It
// builds incrementally in build/ of the folder prebuildify runs it in (in the checkout, the build the tests use;
// ccache-backed). prebuildify then strips the built files in place and moves the addon out; a running process that
// has them loaded (a test run) would crash if their pages changed under it. So prebuildify gets fresh copies: the addon's own file is kept aside (for
// scripts/prebuild.js to put back) and the loader is replaced by a copy of itself.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

// prebuildify runs this in the folder it builds (--cwd): the checkout, or a staging copy of its sources
// (scripts/prebuild.js --stage) for a build against another libtorch.
const root = process.cwd();
const options = Object.fromEntries(process.argv.slice(2)
  .filter((arg) => arg.startsWith('--') && arg.includes('='))
  .map((arg) => arg.slice(2).split('=')));
const args = [require.resolve('cmake-js/bin/cmake-js'), 'compile'];
if (options.target) args.push('--runtime-version', options.target);
if (options.arch) args.push('--arch', options.arch);
if (process.argv.includes('--debug')) args.push('--debug');
const build = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (build.status === 0) {
  const output = path.join(root, 'build', process.argv.includes('--debug') ? 'Debug' : 'Release');
  const addon = path.join(output, 'vitorch.node');
  fs.renameSync(addon, path.join(root, 'build', 'vitorch.node.kept'));
  fs.copyFileSync(path.join(root, 'build', 'vitorch.node.kept'), addon);
  const loader = path.join(output, 'libvitorch_loader.so');
  fs.copyFileSync(loader, `${loader}.copy`);
  fs.renameSync(`${loader}.copy`, loader);
}
process.exit(build.status === null ? 1 : build.status);
