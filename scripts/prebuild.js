#!/usr/bin/env node
// npm run prebuild: a prebuilt binary in prebuilds/<platform>-<arch>/ that node-gyp-build loads in place of a local
// build. prebuildify does the packing; scripts/cmake-js-as-node-gyp.js lets it build with cmake-js.
//
// The binary links libtorch by absolute RPATH (where libtorch was at build time), so it serves machines that have
// the same libtorch at the same place: CI images and containers built from one recipe.
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');
const { findPython } = require('./python');

const root = path.join(__dirname, '..');
const prebuildify = require.resolve('prebuildify/bin.js');
const shim = path.join(__dirname, 'cmake-js-as-node-gyp.js');
// prebuildify changes PATH; pin the Python that holds torch before it does.
const env = { ...process.env, PYTHON: process.env.PYTHON || findPython() || '' };
const run = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', `--node-gyp=${shim}`], { cwd: root, stdio: 'inherit', env });
process.exit(run.status === null ? 1 : run.status);
