#!/usr/bin/env node
// npm run check:releases: a release check (not a CI step) that every torch patch release scripts/torch-releases.js
// lists runs on the prebuilt addon of its minor release, which was built against that minor's newest patch release.
// For each release, one after another:
//   1. the prebuilt prebuilds/<platform>/torch-<minor>/vitorch.node must exist;
//   2. a Python environment <release cache>/venv/<version> gets `pip install torch==<version> numpy` with its
//      dependencies: the PyPI wheel's libtorch_cpu.so needs the CUDA runtime of the nvidia-* packages even on a CPU,
//      so this is the install a user has (about 5 GB; an existing one with that torch is reused);
//   3. the prebuilt's undefined dynamic symbols that its build libtorch defines (less the few libc/libstdc++ define
//      too) must be defined by this release's libtorch_cpu.so + libc10.so (what "patch releases share what the addon
//      uses" means for the dynamic linker);
//   4. tools/release_reference.py, run by the venv's Python, writes small seeded models, inputs and PyTorch's outputs;
//   5. scripts/release-probe.js, in a child Node process that finds the venv's torch (PYTHON=<venv python>, LIBTORCH
//      unset, PREBUILDS_ONLY=1), times loading vitorch, checks which addon and libtorch it took, and compares its
//      outputs with PyTorch's (tolerance: max |error| <= 1e-4 of the output's max |value|, as in the parity tests),
//      and its int8 outputs (model.quantize()) by their cosine with PyTorch's float32 ones (>= 0.99);
//   6. the venv is removed (each is ~5 GB), unless --keep is given.
// Then a Markdown table, the rows as JSON in bench/results/releases.json, and exit status 1 if any row failed.
//
//   node scripts/check-releases.js [--keep] [VERSION ...]     e.g. 2.9.0 2.15.0; every patch release by default
//     --keep   keep the venvs (about 5 GB each: name one or two releases with it)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { compiledLib } = require('./find-libtorch');
const { findPython } = require('./python');
const { TORCH_RELEASES, checkedReleases, releaseCache } = require('./torch-releases');

const root = path.join(__dirname, '..');
const PLATFORM = `${process.platform}-${process.arch}`;
const TOLERANCE = 1e-4;
// int8 (model.quantize()) against PyTorch's float32 output: a check that the release's oneDNN int8 kernels load and
// compute, not of int8's accuracy (test/int8.test.ts measures that); the small seeded models score above 0.999.
const INT8_MIN_COSINE = 0.99;
const RESULTS_FILE = path.join(root, 'bench', 'results', 'releases.json');
// The libraries the addon links from libtorch (lib/addon-loading.ts loads exactly these before it).
const LIBTORCH_LIBRARIES = ['libtorch_cpu.so', 'libc10.so'];
// Written into a venv once its install finished, so that an interrupted install is never taken for a usable one.
const VENV_COMPLETE = '.vitorch-complete';
const MINUTE_MS = 60 * 1000;

function log(version, message) {
  console.log(`check:releases: ${version}: ${message}`);
}

function secondsSince(started) {
  return `${Math.round((Date.now() - started) / 1000)} s`;
}

function parseArgs(argv) {
  const unknown = argv.filter((arg) => arg.startsWith('--') && arg !== '--keep');
  if (unknown.length > 0) throw new Error(`unknown option ${unknown.join(' ')} (usage: [--keep] [VERSION ...])`);
  return { keep: argv.includes('--keep'), versions: argv.filter((arg) => !arg.startsWith('--')) };
}

/** The releases to check: those named (in the order given), else every patch release listed. */
function releasesToCheck(named) {
  if (named.length === 0) return checkedReleases();
  return named.map((version) => {
    if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`${version} is not a release like 2.15.0`);
    return { minor: compiledLib('libtorch-locator').minorRelease(version), version };
  });
}

/** Runs a command to completion and returns its stdout; throws an Error ending with the tail of its stderr (the
 *  part that says what went wrong) when it fails. */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, {
    encoding: 'utf8', maxBuffer: 512 * 2 ** 20, stdio: ['ignore', 'pipe', 'pipe'], ...options,
  });
  if (result.error) throw new Error(`${path.basename(command)} ${args[0] ?? ''}: ${result.error.message}`);
  if (result.status !== 0) {
    const tail = `${result.stderr}\n${result.stdout}`.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${path.basename(command)} ${args.slice(0, 2).join(' ')} exited ${result.status ?? result.signal}: ${tail}`);
  }
  return result.stdout;
}

// ---- 1. the prebuilt ----

function prebuiltFor(minor) {
  const { ADDON_FILE, LOADER_FILE, prebuiltDirFor } = compiledLib('addon-loading');
  const dir = prebuiltDirFor(minor, root);
  const addon = path.join(dir, ADDON_FILE);
  const loader = path.join(dir, LOADER_FILE);
  if (!fs.existsSync(addon)) return null;
  const mib = (file) => (fs.existsSync(file) ? fs.statSync(file).size / 2 ** 20 : 0);
  return { dir, addon, loader, addonMiB: mib(addon), loaderMiB: mib(loader) };
}

// ---- 2. the release's Python environment ----

function venvDir(version) {
  return path.join(releaseCache(), 'venv', version);
}

/** The torch folder in a venv's site-packages, or null: read from disk, since importing torch takes seconds. */
function venvTorchDir(dir) {
  const libDir = path.join(dir, 'lib');
  if (!fs.existsSync(libDir)) return null;
  for (const pythonDir of fs.readdirSync(libDir).filter((name) => name.startsWith('python'))) {
    const torch = path.join(libDir, pythonDir, 'site-packages', 'torch');
    if (fs.existsSync(path.join(torch, 'version.py'))) return torch;
  }
  return null;
}

function torchVersionIn(torchDir) {
  const text = fs.readFileSync(path.join(torchDir, 'version.py'), 'utf8');
  return /^__version__\s*=\s*['"]([^'"]+)['"]/m.exec(text)?.[1] ?? null;
}

/** A venv holding torch==version and its dependencies: an existing complete one, else a fresh install. */
function ensureVenv(version) {
  const dir = venvDir(version);
  const python = path.join(dir, 'bin', 'python');
  const torch = venvTorchDir(dir);
  if (fs.existsSync(path.join(dir, VENV_COMPLETE)) && torch && torchVersionIn(torch)?.split('+')[0] === version) {
    log(version, `reusing ${dir}`);
    return { dir, python, torch };
  }
  const basePython = findPython();
  if (!basePython) throw new Error('no Python 3 to make a venv with (tried $PYTHON, python3, python)');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  log(version, `making ${dir} and installing torch==${version} numpy with dependencies (about 5 GB)`);
  const started = Date.now();
  run(basePython, ['-m', 'venv', dir], { timeout: 5 * MINUTE_MS });
  // --no-cache-dir: ten releases' wheels in pip's cache would be tens of GB, and each is installed once.
  run(python, ['-m', 'pip', 'install', '--quiet', '--no-cache-dir', `torch==${version}`, 'numpy'],
    { timeout: 60 * MINUTE_MS });
  const installed = venvTorchDir(dir);
  if (!installed) throw new Error(`pip install torch==${version} left no torch package in ${dir}`);
  fs.writeFileSync(path.join(dir, VENV_COMPLETE), `${version}\n`);
  log(version, `installed in ${secondsSince(started)}`);
  return { dir, python, torch: installed };
}

// ---- 3. symbols ----

/** A library's dynamic symbols, without their version suffixes (memcpy@GLIBC_2.14 -> memcpy), so that a symbol is
 *  matched by name. `which` is 'undefined' or 'defined'. Weak undefined references (w: __gmon_start__, TLS init
 *  hooks) are left out: the dynamic linker lets them stay unresolved, so no library has to define them. */
function dynamicSymbols(file, which) {
  const output = run('nm', ['-D', `--${which}-only`, file], { timeout: 5 * MINUTE_MS });
  const names = new Set();
  for (const line of output.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const [type, name] = fields.slice(-2);
    if (!name || (which === 'undefined' && type !== 'U')) continue;
    names.add(name.replace(/@.*$/, ''));
  }
  return names;
}

function definedByAll(files) {
  const names = new Set();
  for (const file of files) for (const name of dynamicSymbols(file, 'defined')) names.add(name);
  return names;
}

/** The unpacked libtorch of the patch release the minor's prebuilt was built from (npm run prebuild:all), or null. */
function buildLibDir(minor) {
  const patches = TORCH_RELEASES[minor];
  if (!patches) return null;
  const libDir = path.join(releaseCache(), 'libtorch', patches[patches.length - 1], 'torch', 'lib');
  return LIBTORCH_LIBRARIES.every((name) => fs.existsSync(path.join(libDir, name))) ? libDir : null;
}

/** Where the C and C++ runtimes live (what ldconfig knows of them): symbols they define are not libtorch's to provide. */
function systemLibraries() {
  const wanted = ['libstdc++.so.6', 'libc.so.6', 'libm.so.6', 'libgcc_s.so.1', 'ld-linux-x86-64.so.2'];
  const cache = run('ldconfig', ['-p']);
  return wanted.map((name) => new RegExp(`^\\s*${name.replace(/[.+]/g, '\\$&')} \\(.*x86-64.*\\) => (\\S+)$`, 'm')
    .exec(cache)?.[1]).filter(Boolean);
}

/** Checks that the release's libtorch defines the symbols the addon takes from libtorch: its undefined symbols that
 *  the build libtorch defines, less those the C/C++ runtimes define too (libtorch_cpu.so re-exports some of
 *  libstdc++'s; a release that stopped would still load). Without the unpacked build libtorch, they are the addon's
 *  undefined symbols that neither the runtimes, Node (N-API) nor the loader define. */
function checkSymbols(prebuilt, minor, venvTorch) {
  const undefinedInAddon = dynamicSymbols(prebuilt.addon, 'undefined');
  const releaseDefines = definedByAll(LIBTORCH_LIBRARIES.map((name) => path.join(venvTorch, 'lib', name)));
  const runtimes = definedByAll(systemLibraries());
  const buildLib = buildLibDir(minor);
  let wanted;
  let against;
  if (buildLib) {
    const buildDefines = definedByAll(LIBTORCH_LIBRARIES.map((name) => path.join(buildLib, name)));
    wanted = [...undefinedInAddon].filter((name) => buildDefines.has(name) && !runtimes.has(name));
    against = `the addon's undefined symbols that build libtorch ${path.basename(path.dirname(path.dirname(buildLib)))} ` +
      'defines (and libc/libstdc++ do not)';
  } else {
    const others = definedByAll([process.execPath, prebuilt.loader].filter((file) => fs.existsSync(file)));
    wanted = [...undefinedInAddon].filter((name) => !runtimes.has(name) && !others.has(name));
    against = 'no build libtorch unpacked: the addon\'s undefined symbols that libc/libstdc++/Node/the loader do not define';
  }
  const missing = wanted.filter((name) => !releaseDefines.has(name));
  return { checked: wanted.length, found: wanted.length - missing.length, missing, against };
}

// ---- 4. PyTorch's reference ----

function makeReference(python, dir) {
  run(python, [path.join(root, 'tools', 'release_reference.py'), '--out', dir], { timeout: 10 * MINUTE_MS });
  return JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8'));
}

// ---- 5. vitorch in a child process ----

function probeEnv(venvPython) {
  const env = { ...process.env, PREBUILDS_ONLY: '1', PYTHON: venvPython };
  delete env.LIBTORCH;
  return env;
}

/** Runs scripts/release-probe.js against the reference; returns what it wrote (with `error` when it failed). */
function runProbe(venvPython, referenceDir, resultFile) {
  const child = spawnSync(process.execPath, [path.join(__dirname, 'release-probe.js'), referenceDir, resultFile], {
    cwd: os.tmpdir(), env: probeEnv(venvPython), encoding: 'utf8', maxBuffer: 64 * 2 ** 20,
    stdio: ['ignore', 'pipe', 'pipe'], timeout: 10 * MINUTE_MS,
  });
  const result = fs.existsSync(resultFile) ? JSON.parse(fs.readFileSync(resultFile, 'utf8')) : {};
  if (child.status !== 0 && !result.error) {
    // It died without saying why (a crash inside libtorch, a timeout): its stderr is all there is.
    const tail = (child.stderr || '').trim().split('\n').slice(-3).join(' | ');
    result.error = `node release-probe.js ${child.error ? child.error.message : `exited ${child.status ?? child.signal}`}` +
      (tail ? `: ${tail}` : '');
  }
  return result;
}

// Paths compared through symlinks (a cache folder may be one); a path that does not exist stays as it is.
function realPath(file) {
  try {
    return fs.realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

/** What the probe saw that is wrong: another addon, another libtorch, outputs off or none. */
function probeProblems(probe, prebuilt, version, venv) {
  const problems = [];
  if (probe.error) problems.push(`load/forward failed: ${probe.error}`);
  if (probe.pytorchVersion && probe.pytorchVersion.split('+')[0] !== version) {
    problems.push(`the venv's PyTorch is ${probe.pytorchVersion}`);
  }
  if (probe.addonFiles) {
    if (probe.addonFiles.kind !== 'prebuilt') problems.push(`picked the ${probe.addonFiles.kind} addon`);
    if (realPath(probe.addonFiles.addon) !== realPath(prebuilt.addon)) {
      problems.push(`loaded ${path.relative(root, probe.addonFiles.addon)}, not ${path.relative(root, prebuilt.addon)}`);
    }
  }
  if (probe.libtorch) {
    if (probe.libtorch.version.split('+')[0] !== version) problems.push(`libtorch found is ${probe.libtorch.version}`);
    if (!realPath(probe.libtorch.root).startsWith(realPath(venv.dir) + path.sep)) {
      problems.push(`libtorch found at ${probe.libtorch.root}, outside the venv`);
    }
  }
  if (!probe.error && (probe.cases ?? []).length === 0) problems.push('no outputs were compared');
  for (const result of probe.cases ?? []) {
    if (!(result.maxAbsError <= TOLERANCE * result.scale)) {
      problems.push(`${result.name}: max |error| ${result.maxAbsError.toExponential(2)} > ${TOLERANCE} of scale ` +
        `${result.scale.toFixed(3)}`);
    }
    if (!(result.int8Cosine >= INT8_MIN_COSINE)) {
      problems.push(`${result.name}: int8 output's cosine with PyTorch's float32 ${result.int8Cosine} < ${INT8_MIN_COSINE}`);
    }
  }
  return problems;
}

// ---- one release ----

function emptyRow({ minor, version }) {
  return {
    release: version, minor, prebuilt: null, prebuiltMiB: null, loadMs: null, maxAbsError: null, relativeError: null,
    cases: [], symbols: null, addon: null, libtorch: null, pytorchVersion: null, cudaProblem: null, problems: [],
    ok: false,
  };
}

/** Steps 2-5 for a release whose prebuilt exists; every failure lands in row.problems. */
function checkWithVenv(row, prebuilt, keep) {
  const { release: version, minor } = row;
  let venv;
  try {
    venv = ensureVenv(version);
  } catch (error) {
    row.problems.push(`venv: ${error.message}`);
    // A half-made venv is gigabytes and would not be reused (it has no completion mark).
    if (!keep) fs.rmSync(venvDir(version), { recursive: true, force: true });
    return;
  }
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `vitorch-release-${version}-`));
  try {
    let started = Date.now();
    try {
      row.symbols = checkSymbols(prebuilt, minor, venv.torch);
      log(version, `symbols: ${row.symbols.found}/${row.symbols.checked} defined (checked: ${row.symbols.against}; ` +
        `${secondsSince(started)})`);
      if (row.symbols.missing.length > 0) row.problems.push(`${row.symbols.missing.length} symbols missing`);
    } catch (error) {
      row.problems.push(`symbols: ${error.message}`);
    }
    const referenceDir = path.join(scratch, 'reference');
    started = Date.now();
    makeReference(venv.python, referenceDir);
    log(version, `PyTorch reference written in ${secondsSince(started)}; loading vitorch in a child process`);
    started = Date.now();
    const probe = runProbe(venv.python, referenceDir, path.join(scratch, 'probe.json'));
    log(version, `vitorch probe done in ${secondsSince(started)}`);
    recordProbe(row, probe);
    row.problems.push(...probeProblems(probe, prebuilt, version, venv));
  } catch (error) {
    row.problems.push(error.message);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
    if (!keep) {
      const started = Date.now();
      fs.rmSync(venv.dir, { recursive: true, force: true });
      log(version, `removed ${venv.dir} in ${secondsSince(started)}`);
    }
  }
}

function recordProbe(row, probe) {
  row.loadMs = probe.loadMs ?? null;
  row.cudaProblem = probe.cudaProblem ?? null;
  row.libtorch = probe.libtorch ? { version: probe.libtorch.version, root: probe.libtorch.root } : null;
  row.addon = probe.addonFiles ?? null;
  row.pytorchVersion = probe.pytorchVersion ?? null;
  row.cases = probe.cases ?? [];
  if (row.cases.length > 0) {
    row.maxAbsError = Math.max(...row.cases.map((result) => result.maxAbsError));
    row.relativeError = Math.max(...row.cases.map((result) => result.maxAbsError / result.scale));
  }
}

function checkRelease(release, keep) {
  const row = emptyRow(release);
  log(release.version, `checking against the torch-${release.minor} prebuilt`);
  const prebuilt = prebuiltFor(release.minor);
  if (!prebuilt) {
    row.problems.push(`no prebuilt prebuilds/${PLATFORM}/torch-${release.minor}/vitorch.node`);
  } else {
    row.prebuilt = path.relative(root, prebuilt.addon);
    row.prebuiltMiB = { addon: prebuilt.addonMiB, loader: prebuilt.loaderMiB };
    checkWithVenv(row, prebuilt, keep);
  }
  row.ok = row.problems.length === 0;
  log(release.version, row.ok ? 'ok' : `FAILED: ${row.problems.join('; ')}`);
  return row;
}

// ---- the report ----

function symbolsCell(symbols) {
  if (!symbols) return '-';
  const count = `${symbols.found}/${symbols.checked}`;
  const fallback = symbols.against.startsWith('no build libtorch') ? ' (no build libtorch)' : '';
  if (symbols.missing.length === 0) return count + fallback;
  const shown = symbols.missing.slice(0, 3).map((name) => `\`${name}\``).join(', ');
  return `${count}${fallback}, missing ${shown}${symbols.missing.length > 3 ? ', ...' : ''}`;
}

function resultCell(row) {
  const cuda = row.cudaProblem ? ` (cudaProblem: ${row.cudaProblem})` : '';
  return (row.ok ? 'ok' : `**FAIL**: ${row.problems.join('; ')}`).replace(/\|/g, '\\|') + cuda;
}

function tableRow(row) {
  const size = row.prebuiltMiB;
  return [
    row.release,
    row.prebuilt ? `torch-${row.minor}` : 'missing',
    size ? `${(size.addon + size.loader).toFixed(1)} (${size.addon.toFixed(1)} + ${size.loader.toFixed(2)})` : '-',
    row.loadMs === null ? '-' : row.loadMs.toFixed(0),
    row.maxAbsError === null ? '-' : `${row.maxAbsError.toExponential(1)} (${row.relativeError.toExponential(1)} of scale)`,
    symbolsCell(row.symbols),
    resultCell(row),
  ];
}

function markdownTable(rows) {
  const header = ['release', 'prebuilt', 'prebuilt size (MiB, addon + loader)', 'load time (ms)',
    'max abs error (relative to scale)', 'symbols', 'result'];
  const lines = [header, header.map(() => '---'), ...rows.map(tableRow)];
  return lines.map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

function writeResults(rows) {
  fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  const results = { date: new Date().toISOString(), node: process.version, platform: PLATFORM, tolerance: TOLERANCE, rows };
  fs.writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
}

function main() {
  const { keep, versions } = parseArgs(process.argv.slice(2));
  const rows = releasesToCheck(versions).map((release) => checkRelease(release, keep));
  console.log(`\n${markdownTable(rows)}\n`);
  writeResults(rows);
  console.log(`check:releases: rows written to ${path.relative(root, RESULTS_FILE)}`);
  if (rows.some((row) => !row.ok)) process.exitCode = 1;
}

try {
  main();
} catch (error) {
  console.error(`check:releases: ${error.message}`);
  process.exitCode = 1;
}
