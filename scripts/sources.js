#!/usr/bin/env node
// Lists the addon's C++ sources (every native/**/*.cc but the loader's, native/loader/) for binding.gyp, so that it
// builds what CMakeLists.txt (which globs the same pattern) builds, with no list to keep up to date. Paths are
// relative to the package root. `node scripts/sources.js loader` lists the loader's.
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
const wanted = process.argv[2] === 'loader'
  ? listSources(loader)
  : listSources(path.join(root, 'native')).filter((file) => !file.startsWith(loader + path.sep));
const sources = wanted.map((file) => path.relative(root, file).split(path.sep).join('/'));
console.log(sources.join('\n'));
