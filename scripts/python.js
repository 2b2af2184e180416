#!/usr/bin/env node
// Finds the Python interpreter that holds the test-time dependencies (tools/requirements.txt) and, when run as a
// script, runs it with the given arguments. Python is never needed at run time: only to locate the PyPI torch
// wheel's libtorch at build time, and to make reference outputs in tests and benchmarks.
'use strict';
const { spawnSync } = require('child_process');

// The interpreter's absolute path, so that a child process with another PATH (prebuildify puts Node's own folder
// first, which may hold a different python3) runs the same one.
function findPython() {
  const candidates = [process.env.PYTHON, 'python3', 'python'].filter(Boolean);
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['-c', 'import sys; print(sys.version_info[0], sys.executable)'], { encoding: 'utf8' });
    const [major, executable] = probe.status === 0 ? probe.stdout.trim().split(' ') : [];
    if (major === '3' && executable) return executable;
  }
  return null;
}

module.exports = { findPython };

if (require.main === module) {
  const python = findPython();
  if (!python) {
    console.error('vitorch: no Python 3 found (tried $PYTHON, python3, python)');
    process.exit(1);
  }
  const run = spawnSync(python, process.argv.slice(2), { stdio: 'inherit' });
  process.exit(run.status === null ? 1 : run.status);
}
