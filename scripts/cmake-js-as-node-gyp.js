#!/usr/bin/env node
// prebuildify drives node-gyp (`node-gyp rebuild --target=V --devdir=D --release [--arch=A]`); vitorch's main build
// is cmake-js. This stands in for node-gyp so that prebuildify runs cmake-js with the same target and arch, then
// packs build/Release/vitorch.node as usual.
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');

const options = Object.fromEntries(process.argv.slice(2)
  .filter((arg) => arg.startsWith('--') && arg.includes('='))
  .map((arg) => arg.slice(2).split('=')));
const args = [require.resolve('cmake-js/bin/cmake-js'), 'rebuild'];
if (options.target) args.push('--runtime-version', options.target);
if (options.arch) args.push('--arch', options.arch);
if (process.argv.includes('--debug')) args.push('--debug');
const build = spawnSync(process.execPath, args, { cwd: path.join(__dirname, '..'), stdio: 'inherit' });
process.exit(build.status === null ? 1 : build.status);
