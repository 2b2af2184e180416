#!/usr/bin/env node
// Lists the addon's C++ sources (every native/**/*.cc), so that CMakeLists.txt and binding.gyp build the same files
// without either keeping a list that the other forgets to update. Paths are relative to the package root.
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
const sources = listSources(path.join(root, 'native')).map((file) => path.relative(root, file).split(path.sep).join('/'));
console.log(sources.join(process.argv.includes('--cmake') ? ';' : '\n'));
