#!/usr/bin/env node
// Lists the addon's C++ sources (every native/**/*.cc but the loader's, native/loader/, the core's unit tests and
// fuzz targets, native/tests/ and native/fuzz/, and the NCCL plugin, native/nccl/, which only CMake builds) for binding.gyp, so that it builds what CMakeLists.txt (which globs
// the same pattern) builds, with no list to keep up to date. CMake builds them as two targets, the Node-free core
// library and the addon that links it; node-gyp builds the same files as one. Paths are relative to the package
// root. `node scripts/sources.js loader` lists the loader's.
'use strict';
const fs = require('fs');
const path = require('path');

function listSources(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return listSources(full);
    return entry.name.endsWith('.cc') ? [full] : [];
  }).sort();
}

const root = path.join(__dirname, '..');
const loader = path.join(root, 'native', 'loader');
const notInAddon = ['loader', 'tests', 'fuzz', 'nccl'].map((folder) => path.join(root, 'native', folder) + path.sep);
const wanted = process.argv[2] === 'loader'
  ? listSources(loader)
  : listSources(path.join(root, 'native')).filter((file) => !notInAddon.some((folder) => file.startsWith(folder)));
const sources = wanted.map((file) => path.relative(root, file).split(path.sep).join('/'));
console.log(sources.join('\n'));
