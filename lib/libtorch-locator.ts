// Finds the libtorch vitorch runs on, without loading it: its folder, version, C++ ABI and whether it has CUDA.
// The order is the README's (How libtorch is found):
//   1. LIBTORCH: a libtorch folder (an unpacked archive from pytorch.org, or a torch package's own folder);
//   2. the `torch` package of $PYTHON, or of python3 when PYTHON is unset: located with importlib's find_spec,
//      which reads sys.path but does not import torch (importing it takes seconds and loads every CUDA library);
//   3. otherwise a LibtorchError that says how to get one.
// The build (scripts/find-libtorch.js) and the loading of the addon (lib/binding.ts) both use this file, so the two
// agree on which libtorch is meant. It requires nothing native: `vitorch doctor` uses it when the addon cannot load.
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';

/** libtorch is missing ('not-found'), or is not one the addon can run on ('unfit': another release or C++ ABI,
 *  or no version recorded). The message says how to fix it. */
export class LibtorchError extends Error {
  constructor(
    message: string,
    readonly kind: 'not-found' | 'unfit',
  ) {
    super(message);
    this.name = 'LibtorchError';
  }
}

export interface LibtorchLocation {
  /** The folder holding lib/ (and include/ in archives and wheels). */
  root: string;
  libDir: string;
  /** As libtorch records it: '2.15.0+cu132' for a PyPI CUDA wheel, '2.15.0+cpu' for a CPU archive. */
  version: string;
  /** The libstdc++ ABI libtorch was compiled with (_GLIBCXX_USE_CXX11_ABI), or null where it records none. */
  cxx11Abi: '0' | '1' | null;
  /** Whether its CUDA libraries are present (a GPU is another question: see cuda.isAvailable()). */
  hasCuda: boolean;
  /** How it was found: 'LIBTORCH' or 'python'. */
  foundBy: 'LIBTORCH' | 'python';
  /** The Python interpreter whose torch package this is (foundBy 'python'). */
  python?: string;
}

/** What an addon was built against, as its loader records it (native/loader/libtorch_loader.cc). */
export interface LibtorchBuild {
  torchVersion: string;
  cxx11Abi: '0' | '1';
}

const LIBRARY_CHECKED = 'libtorch_cpu.so';

/** How to get a libtorch, for messages: `version` is the one wanted (the build's, the newest prebuilt's minor
 *  release, or the pinned one). */
export function howToGetLibtorch(version: string): string {
  const release = releaseOf(version);
  const requirement = /^\d+\.\d+$/.test(release) ? `"torch==${release}.*"` : `torch==${release}`;
  return [
    `  - pip install ${requirement}   (vitorch finds the torch package of $PYTHON, or of python3), or`,
    `  - download libtorch ${release} (C++/Java, Linux) from https://pytorch.org/get-started/locally/, unpack it and`,
    '    set LIBTORCH=/path/to/libtorch',
  ].join('\n');
}

/** The release without its local part: '2.15.0+cu132' -> '2.15.0'. CPU and CUDA builds of one release share the C++
 *  API the addon calls, so either serves an addon built against the other. */
export function releaseOf(version: string): string {
  return version.split('+')[0];
}

/** The minor release: '2.14.1+cu130' -> '2.14'. An addon serves every patch release of the minor release it was
 *  built against: they share the C++ API and the exported symbols it uses (npm run check:releases checks both for
 *  the patch releases the prebuilt addons cover). */
export function minorRelease(version: string): string {
  return releaseOf(version).split('.').slice(0, 2).join('.');
}

/** Reads the version libtorch records: torch/version.py in a Python package, build-version in an archive. */
export function readLibtorchVersion(root: string): string | null {
  const wheelVersion = path.join(root, 'version.py');
  if (fs.existsSync(wheelVersion)) {
    const match = /^__version__\s*=\s*['"]([^'"]+)['"]/m.exec(fs.readFileSync(wheelVersion, 'utf8'));
    if (match) return match[1];
  }
  const archiveVersion = path.join(root, 'build-version');
  if (fs.existsSync(archiveVersion)) return fs.readFileSync(archiveVersion, 'utf8').trim() || null;
  return null;
}

/** libtorch records the libstdc++ ABI it was built with in its CMake config; code linked to it must use the same
 *  one, or std::string in its API silently means another type. */
export function readCxx11Abi(root: string): '0' | '1' | null {
  const config = path.join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake');
  if (!fs.existsSync(config)) return null;
  const match = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(fs.readFileSync(config, 'utf8'));
  return match ? (match[1] as '0' | '1') : null;
}

function describeRoot(
  root: string,
  foundBy: LibtorchLocation['foundBy'],
  origin: string,
  wanted: string,
  python?: string,
): LibtorchLocation {
  const libDir = path.join(root, 'lib');
  if (!fs.existsSync(path.join(libDir, LIBRARY_CHECKED))) {
    throw new LibtorchError(
      `${origin} is not a libtorch: ${path.join(libDir, LIBRARY_CHECKED)} does not exist. ` +
        `Get libtorch ${releaseOf(wanted)}:\n${howToGetLibtorch(wanted)}`,
      'not-found',
    );
  }
  const version = readLibtorchVersion(root);
  if (version === null) {
    throw new LibtorchError(
      `${origin} records no version (neither ${path.join(root, 'version.py')} nor ` +
        `${path.join(root, 'build-version')} exists), so vitorch cannot tell whether it fits. Get libtorch ` +
        `${releaseOf(wanted)}:\n${howToGetLibtorch(wanted)}`,
      'unfit',
    );
  }
  return {
    root,
    libDir,
    version,
    cxx11Abi: readCxx11Abi(root),
    hasCuda: fs.existsSync(path.join(libDir, 'libtorch_cuda.so')),
    foundBy,
    ...(python === undefined ? {} : { python }),
  };
}

// Prints the interpreter and the torch package's folder (empty when there is none). The script's own folder is
// left out of sys.path so that a folder named torch where vitorch happens to run is not taken for the package.
const FIND_TORCH = [
  'import importlib.util, os, sys',
  'sys.path = [p for p in sys.path if p not in ("", os.getcwd())]',
  's = importlib.util.find_spec("torch")',
  'print(sys.executable)',
  'print(os.path.dirname(s.origin) if s and s.origin else "")',
].join('\n');

function fromPython(python: string, named: string, wanted: string): LibtorchLocation {
  const probe = spawnSync(python, ['-c', FIND_TORCH], { encoding: 'utf8', timeout: 30000 });
  if (probe.error || probe.status !== 0) {
    const why = probe.error ? probe.error.message : (probe.stderr.trim().split('\n').pop() ?? `exit ${probe.status}`);
    throw new LibtorchError(
      `libtorch not found: LIBTORCH is not set and ${named} could not be run (${why}). ` +
        `Get libtorch ${releaseOf(wanted)}:\n${howToGetLibtorch(wanted)}`,
      'not-found',
    );
  }
  const [executable, root] = probe.stdout.split('\n').map((line) => line.trim());
  if (!root) {
    throw new LibtorchError(
      `libtorch not found: LIBTORCH is not set and ${named} (${executable}) has no torch ` +
        `package. Get libtorch ${releaseOf(wanted)}:\n${howToGetLibtorch(wanted)}`,
      'not-found',
    );
  }
  return describeRoot(root, 'python', `the torch package of ${named} (${root})`, wanted, executable);
}

/** Finds libtorch (see the top of this file). `wanted` is the version asked for in messages: the build's at run
 *  time, the pinned one at build time. Throws LibtorchError. */
export function locateLibtorch(wanted: string, env: NodeJS.ProcessEnv = process.env): LibtorchLocation {
  if (env.LIBTORCH) {
    const root = path.resolve(env.LIBTORCH);
    return describeRoot(root, 'LIBTORCH', `LIBTORCH=${env.LIBTORCH}`, wanted);
  }
  if (env.PYTHON) return fromPython(env.PYTHON, `PYTHON=${env.PYTHON}`, wanted);
  return fromPython('python3', 'python3', wanted);
}

/** Where a libtorch was found, for messages: its folder and how it was found. */
export function whereFound(found: LibtorchLocation): string {
  return `${found.root} (${found.foundBy === 'LIBTORCH' ? 'from LIBTORCH' : `the torch package of ${found.python}`})`;
}

/** Refuses a libtorch the addon cannot run on: another release (its C++ API and symbols differ) or another C++ ABI
 *  (the addon would not even load). The message names both and the ways out. */
export function checkLibtorchFits(found: LibtorchLocation, build: LibtorchBuild): void {
  const where = whereFound(found);
  const rebuild =
    `or build vitorch against the libtorch found: VITORCH_FORCE_BUILD=1 npm rebuild vitorch ` +
    '(needs cmake and a C++ compiler)';
  if (minorRelease(found.version) !== minorRelease(build.torchVersion)) {
    throw new LibtorchError(
      `vitorch's addon was built against libtorch ${releaseOf(build.torchVersion)}, but the ` +
        `libtorch found at ${where} is ${found.version}. Use libtorch ${minorRelease(build.torchVersion)} (any patch ` +
        `release):\n${howToGetLibtorch(minorRelease(build.torchVersion))}\n  - ${rebuild}`,
      'unfit',
    );
  }
  if (found.cxx11Abi !== null && found.cxx11Abi !== build.cxx11Abi) {
    const abiName = (abi: string) => (abi === '1' ? 'the C++11 ABI (cxx11 ABI)' : 'the pre-C++11 ABI');
    throw new LibtorchError(
      `vitorch's addon was built for a libtorch compiled with ${abiName(build.cxx11Abi)}, but ` +
        `the libtorch found at ${where} uses ${abiName(found.cxx11Abi)} (_GLIBCXX_USE_CXX11_ABI=${found.cxx11Abi}). ` +
        `Use a libtorch ${releaseOf(build.torchVersion)} with ${abiName(build.cxx11Abi)} (the PyPI ` +
        `wheels of the releases vitorch has prebuilt addons for use the C++11 one), ${rebuild}`,
      'unfit',
    );
  }
}
