#!/usr/bin/env node
// Does every package in package-lock.json run on every Node version that our package.json's engines admits?
// For each package whose engines.node rejects part of our range it prints the package and exits 1; an optional
// package (a platform build of sharp, say) is only reported: npm skips it where it does not fit. Run by .ci/run
// after npm ci (semver comes from node_modules); `node .ci/check-engines.js [RANGE] [NODE_VERSION...]` checks another
// range, and lists the packages that reject each Node version given (26.12.1, say).
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const semver = require(require.resolve('semver', { paths: [root] }));
const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
const args = process.argv.slice(2);
const versions = args.filter((arg) => semver.valid(arg));
const ours = args.find((arg) => !semver.valid(arg)) || lock.packages[''].engines.node;

// semver.subset compares one comparator set at a time, so it does not see ">=20.17" inside "^20 || >=21"; this is
// exact for releases: it tries every version at which either range can change its answer, and the release just
// above each (a range's answer is constant between two such versions).
function admitsAll(theirs) {
  if (semver.subset(ours, theirs)) return true;
  const points = new Set(['0.0.0']);
  for (const range of [ours, theirs]) {
    for (const set of new semver.Range(range).set) {
      for (const comparator of set) {
        if (comparator.value === '') continue; // '*'
        const { major, minor, patch } = comparator.semver;
        const release = `${major}.${minor}.${patch}`;
        points.add(release);
        points.add(semver.inc(release, 'patch'));
      }
    }
  }
  return [...points].every((v) => !semver.satisfies(v, ours) || semver.satisfies(v, theirs));
}

let failures = 0;
let checked = 0;
for (const [location, pkg] of Object.entries(lock.packages)) {
  const theirs = location && pkg.engines && !Array.isArray(pkg.engines) && pkg.engines.node;
  if (!theirs) continue;
  checked++;
  const name = `${location.replace(/^.*node_modules\//, '')}@${pkg.version}`;
  const rejects = versions.filter((v) => !semver.satisfies(v, theirs));
  if (rejects.length) console.log(`${name} (engines.node ${theirs}) rejects Node ${rejects.join(', ')}`);
  if (admitsAll(theirs)) continue;
  const where = [pkg.os, pkg.cpu].filter(Boolean).map((x) => x.join('/')).join(' ');
  if (pkg.optional) {
    console.log(`note: optional ${name}${where ? ` (for ${where})` : ''}: engines.node ${theirs} does not admit all ` +
      `of ${ours}; npm skips it where it does not fit`);
  } else {
    failures++;
    console.log(`${name}: engines.node ${theirs} does not admit all of ${ours}`);
  }
}
console.log(`engines: ${checked} packages in package-lock.json declare engines.node; ` +
  `${failures} reject part of ${ours}`);
process.exit(failures ? 1 : 0);
