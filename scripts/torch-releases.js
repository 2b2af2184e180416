// The torch releases the npm package carries a prebuilt addon for: one per minor release, built from its newest
// patch release, which serves every patch release of that minor (npm run check:releases loads it on each of them).
// The primary release (tools/requirements.txt's pin) is the one the build, the tests and CI use.
'use strict';

/** Minor release -> its patch releases on PyPI, oldest first; the last one is what the prebuilt is built from. */
const TORCH_RELEASES = {
  '2.9': ['2.9.0', '2.9.1'],
  '2.10': ['2.10.0'],
  '2.11': ['2.11.0'],
  '2.12': ['2.12.0', '2.12.1'],
  '2.13': ['2.13.0'],
  '2.14': ['2.14.0', '2.14.1'],
  '2.15': ['2.15.0'],
};

/** The newest patch release of each minor release, oldest minor first: what npm run prebuild:all builds from. */
function buildReleases() {
  return Object.values(TORCH_RELEASES).map((patches) => patches[patches.length - 1]);
}

/** Every patch release, with the minor release whose prebuilt serves it. */
function checkedReleases() {
  return Object.entries(TORCH_RELEASES).flatMap(([minor, patches]) => patches.map((version) => ({ minor, version })));
}

/** Where the release tools keep torch wheels, unpacked libtorch folders, builds and Python environments: outside
 *  the checkout (a torch with its CUDA libraries is several GB), in one folder that can be deleted whole. */
function releaseCache() {
  const path = require('path');
  const os = require('os');
  return process.env.VITORCH_RELEASE_CACHE || path.join(os.homedir(), '.cache', 'vitorch', 'releases');
}

module.exports = { TORCH_RELEASES, buildReleases, checkedReleases, releaseCache };
