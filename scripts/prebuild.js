#!/usr/bin/env node
// npm run prebuild: the prebuilt binary the npm package carries, in prebuildify's layout: prebuilds/linux-x64/ holds
// the addon (which node-gyp-build loads when there is no local build) and its loader, libvitorch_loader.so (copied
// by prebuildify with the other .so files beside the addon). Both are linked with no path to any libtorch: the
// loader finds one at run time (lib/addon-loading.ts), so the binary works on any machine with libtorch of its
// release. prebuildify does the packing and stripping; scripts/cmake-js-as-node-gyp.js lets it build with cmake-js.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { findPython } = require('./python');

const root = path.join(__dirname, '..');
const prebuildify = require.resolve('prebuildify/bin.js');
const shim = path.join(__dirname, 'cmake-js-as-node-gyp.js');
// prebuildify changes PATH; pin the Python that holds torch before it does.
const env = { ...process.env, PYTHON: process.env.PYTHON || findPython() || '' };
fs.rmSync(path.join(root, 'prebuilds', `${process.platform}-${process.arch}`), { recursive: true, force: true });
const run = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', `--node-gyp=${shim}`], { cwd: root, stdio: 'inherit', env });
// The local build stays what it was (the same file, unstripped), so that the tests and a debugger keep using it.
const kept = path.join(root, 'build', 'vitorch.node.kept');
const flavour = process.argv.includes('--debug') ? 'Debug' : 'Release';
if (fs.existsSync(kept)) fs.renameSync(kept, path.join(root, 'build', flavour, 'vitorch.node'));
process.exit(run.status === null ? 1 : run.status);
