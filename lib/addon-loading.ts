// Loads the native addon onto the libtorch found at run time. An addon names its libtorch libraries without saying
// where they are; its loader, libvitorch_loader.so beside it, needs no libtorch. The npm package carries one prebuilt
// addon per torch minor release (prebuilds/linux-x64/torch-2.15/vitorch.node, ...: npm run prebuild:all); a local
// build (build/Release/vitorch.node, found by node-gyp-build) comes before them. The steps:
//   1. lib/libtorch-locator.ts finds libtorch (LIBTORCH, else the torch package of $PYTHON or python3);
//   2. the addon is chosen: the local build, else the prebuilt of the libtorch's minor release;
//   3. its loader joins the process's global symbol scope (RTLD_GLOBAL) and says what the addon was built against,
//      and a libtorch of another minor release or C++ ABI is refused;
//   4. the loader loads libtorch's CPU libraries with RTLD_GLOBAL, so the addon's references bind to them, then its
//      CUDA libraries where they load (where they do not, vitorch runs on the CPU and says why in cudaProblem);
//   5. the addon itself loads.
// Nothing here needs the addon loaded, so `vitorch doctor` and scripts/install.js can ask before loading it.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  checkLibtorchFits,
  LibtorchBuild,
  LibtorchError,
  LibtorchLocation,
  locateLibtorch,
  minorRelease,
  whereFound,
} from './libtorch-locator';

export const LOADER_FILE = 'libvitorch_loader.so';
export const ADDON_FILE = 'vitorch.node';

interface Loader {
  openGlobal(file: string): void;
  builtAgainst: LibtorchBuild;
}

export interface AddonFiles {
  /** The addon: a local build, else the prebuilt for this platform and the libtorch's minor release. */
  addon: string;
  loader: string;
  /** 'local' for build/ (npm run build:native, or npm install where no prebuilt fits), 'prebuilt' for prebuilds/. */
  kind: 'local' | 'prebuilt';
}

// lib/ runs from source under ts-jest and from dist/lib once compiled: find the package root either way.
export function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`vitorch: no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

/** The folder of this platform's prebuilt addons: one subfolder per torch minor release, torch-<major>.<minor>. */
export function prebuildsDir(root: string = packageRoot()): string {
  return path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
}

/** The folder the prebuilt addon for a libtorch version's minor release lives in (it may not exist). */
export function prebuiltDirFor(version: string, root: string = packageRoot()): string {
  return path.join(prebuildsDir(root), `torch-${minorRelease(version)}`);
}

/** The torch minor releases this package has prebuilt addons for, oldest first ('2.9', ..., '2.15'). */
export function prebuiltReleases(root: string = packageRoot()): string[] {
  const dir = prebuildsDir(root);
  if (!fs.existsSync(dir)) return [];
  const releases = fs
    .readdirSync(dir)
    .map((name) => /^torch-(\d+\.\d+)$/.exec(name)?.[1])
    .filter((release): release is string => release !== undefined)
    .filter((release) => fs.existsSync(path.join(dir, `torch-${release}`, ADDON_FILE)));
  const key = (release: string) => release.split('.').map(Number);
  return releases.sort((a, b) => key(a)[0] - key(b)[0] || key(a)[1] - key(b)[1]);
}

/** The local build node-gyp-build finds in build/ (Release, else Debug), or null. PREBUILDS_ONLY=1 (node-gyp-build's
 *  own switch) skips it, so that a checkout can run its prebuilt addons. */
export function localBuild(root: string = packageRoot()): AddonFiles | null {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- node-gyp-build ships no types
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  let addon: string;
  try {
    addon = nodeGypBuild.resolve(root);
  } catch {
    return null; // no build, and (by this package's layout) no prebuilt directly under prebuilds/<platform>/
  }
  if (!addon.startsWith(path.join(root, 'build') + path.sep)) return null;
  return { addon, loader: requireLoaderBeside(addon), kind: 'local' };
}

function requireLoaderBeside(addon: string): string {
  const loader = path.join(path.dirname(addon), LOADER_FILE);
  if (!fs.existsSync(loader)) {
    throw new LibtorchError(
      `the vitorch addon at ${addon} has no ${LOADER_FILE} beside it (a build from before ` +
        'vitorch found libtorch at run time?): rebuild it with npm rebuild vitorch',
      'unfit',
    );
  }
  return loader;
}

/** The torch release asked for in messages before a libtorch is found: the newest one there is a binary for. */
export function wantedRelease(root: string = packageRoot(), local: AddonFiles | null = localBuild(root)): string {
  if (local !== null) return addonBuild(local).torchVersion;
  const releases = prebuiltReleases(root);
  return releases.length > 0 ? releases[releases.length - 1] : 'see tools/requirements.txt';
}

/** Picks the addon for the libtorch found: the local build when there is one, else the prebuilt of its minor
 *  release; throws LibtorchError naming the releases there are binaries for when there is none. */
export function findAddon(
  libtorch: LibtorchLocation,
  root: string = packageRoot(),
  local: AddonFiles | null = localBuild(root),
): AddonFiles {
  if (local !== null) return local;
  const dir = prebuiltDirFor(libtorch.version, root);
  const addon = path.join(dir, ADDON_FILE);
  if (!fs.existsSync(addon)) {
    const releases = prebuiltReleases(root);
    const build =
      '  - build vitorch against the libtorch found: VITORCH_FORCE_BUILD=1 npm rebuild vitorch ' +
      '(needs cmake and a C++ compiler, a few minutes)';
    if (releases.length === 0) {
      throw new LibtorchError(
        `vitorch has no prebuilt addon for ${process.platform}-${process.arch} (a checkout ` +
          `before its first build, or a platform without binaries) and no local build; the libtorch found at ` +
          `${whereFound(libtorch)} is ${libtorch.version}:\n${build}`,
        'unfit',
      );
    }
    throw new LibtorchError(
      `vitorch has prebuilt addons for ${process.platform}-${process.arch} for torch ` +
        `${releases.join(', ')}, but the libtorch found at ${whereFound(libtorch)} is ${libtorch.version}. Either:\n` +
        `  - pip install "torch==${releases[releases.length - 1]}.*"   (or any release listed above), or\n${build}`,
      'unfit',
    );
  }
  return { addon, loader: requireLoaderBeside(addon), kind: 'prebuilt' };
}

const loaders = new Map<string, Loader>();

function openLoader(file: string): Loader {
  let loader = loaders.get(file);
  if (loader === undefined) {
    const module = { exports: {} as Loader };
    process.dlopen(module, file, os.constants.dlopen.RTLD_NOW | os.constants.dlopen.RTLD_GLOBAL);
    loader = module.exports;
    loaders.set(file, loader);
  }
  return loader;
}

/** What the addon was built against, read from its loader (which needs no libtorch). */
export function addonBuild(files: AddonFiles): LibtorchBuild {
  return openLoader(files.loader).builtAgainst;
}

export interface ResolvedAddon {
  files: AddonFiles;
  build: LibtorchBuild;
  libtorch: LibtorchLocation;
}

/** Finds libtorch and the addon for it, and checks that they fit; throws LibtorchError with the way out when not. */
export function resolveAddon(env: NodeJS.ProcessEnv = process.env, root: string = packageRoot()): ResolvedAddon {
  // node-gyp-build looks for the local build once; both steps take its answer.
  const local = localBuild(root);
  const libtorch = locateLibtorch(wantedRelease(root, local), env);
  const files = findAddon(libtorch, root, local);
  const build = addonBuild(files);
  checkLibtorchFits(libtorch, build);
  return { files, build, libtorch };
}

/** The libraries to load before the addon, dependencies first. libtorch.so is left out: in a CUDA build it needs
 *  libtorch_cuda.so, and the addon links only libtorch_cpu.so and libc10.so. */
const CPU_LIBRARIES = ['libc10.so', 'libtorch_cpu.so'];
/** Loading libtorch_cuda.so registers libtorch's CUDA kernels and hooks (the addon refers to none of its symbols);
 *  it brings libc10_cuda.so and CUDA's own libraries (cuBLAS, cuDNN, NCCL, ...) with it. */
const CUDA_LIBRARY = 'libtorch_cuda.so';

/** The shared library dlerror() says could not be found, if that is what it says. */
export function missingLibrary(reason: string): string | null {
  return /([^\s:/]+\.so[.\d]*): cannot open shared object file/.exec(reason)?.[1] ?? null;
}

export interface LoadedAddon extends ResolvedAddon {
  native: unknown;
  /** Why libtorch's CUDA libraries did not load although it has them (CUDA is then off), or null. */
  cudaProblem: string | null;
}

export function loadAddon(): LoadedAddon {
  const resolved = resolveAddon();
  const { files, libtorch } = resolved;
  const loader = openLoader(files.loader);
  for (const name of CPU_LIBRARIES) {
    try {
      loader.openGlobal(path.join(libtorch.libDir, name));
    } catch (error) {
      const reason = (error as Error).message;
      const missing = missingLibrary(reason);
      const wayOut = missing === null ? '' : `\n${missing} is missing: ${wayOutForMissing(missing, libtorch)}`;
      throw new LibtorchError(
        `vitorch could not load libtorch ${libtorch.version} found at ${libtorch.root}: ` + `${reason}${wayOut}`,
        'unfit',
      );
    }
  }
  let cudaProblem: string | null = null;
  const cudaLibrary = path.join(libtorch.libDir, CUDA_LIBRARY);
  if (libtorch.hasCuda) {
    try {
      loader.openGlobal(cudaLibrary);
    } catch (error) {
      const reason = (error as Error).message;
      const missing = missingLibrary(reason);
      cudaProblem =
        missing === null
          ? reason.replace(/^could not load /, `${CUDA_LIBRARY} did not load: `)
          : `${missing} (needed by ${CUDA_LIBRARY}) was not found, so CUDA is off and vitorch runs on the CPU`;
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the addon's path is known only now
  return { ...resolved, native: require(files.addon), cudaProblem };
}

// The PyPI wheels' CUDA libraries come from nvidia-* pip packages: cudart, cupti, cublas, cudnn, nccl, nvrtc, ...
const CUDA_LIBRARY_NAME = /^lib(cu|nv|nccl)/;

function wayOutForMissing(missing: string, libtorch: LibtorchLocation): string {
  const release = libtorch.version.split('+')[0];
  if (!CUDA_LIBRARY_NAME.test(missing)) {
    return (
      'the dynamic linker found it neither beside libtorch nor on the system; reinstall torch ' +
      `(pip install --force-reinstall "torch==${release}"), or point LIBTORCH at a complete libtorch folder`
    );
  }
  const installWithDependencies =
    libtorch.foundBy === 'python'
      ? `reinstall torch with its dependencies: ${libtorch.python} -m pip install --force-reinstall "torch==${release}" ` +
        '(a torch installed with --no-deps lacks the nvidia-* packages that hold them), or'
      : `for a torch package's folder, install torch with its dependencies (pip install "torch==${release}", not ` +
        '--no-deps): the nvidia-* packages beside it hold them, or';
  return [
    `the PyPI wheel's libtorch_cpu.so needs CUDA's runtime (${missing}) even on a CPU. Either:`,
    `  - ${installWithDependencies}`,
    '  - download a CPU libtorch archive (C++/Java, Linux, CPU) from https://pytorch.org/get-started/locally/ and set ' +
      'LIBTORCH=/path/to/libtorch',
  ].join('\n');
}
