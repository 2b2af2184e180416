// Loads the native addon onto the libtorch found at run time. The addon (build/Release/vitorch.node, or
// prebuilds/linux-x64/vitorch.napi.node in the npm package) names its libtorch libraries without saying where they
// are; its loader, libvitorch_loader.so beside it, needs no libtorch. The steps:
//   1. the loader joins the process's global symbol scope (RTLD_GLOBAL) and says what the addon was built against;
//   2. lib/libtorch-locator.ts finds libtorch and refuses one of another release or C++ ABI;
//   3. the loader loads libtorch's libraries with RTLD_GLOBAL, so the addon's references bind to them;
//   4. the addon itself loads.
// Nothing here needs the addon loaded, so `vitorch doctor` and scripts/install.js can ask before loading it.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  checkLibtorchFits, LibtorchBuild, LibtorchError, LibtorchLocation, libtorchLibraries, locateLibtorch,
} from './libtorch-locator';

export const LOADER_FILE = 'libvitorch_loader.so';

interface Loader {
  openGlobal(file: string): void;
  builtAgainst: LibtorchBuild;
}

export interface AddonFiles {
  /** The addon node-gyp-build picked: a local build first, else the prebuilt for this platform. */
  addon: string;
  loader: string;
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

export function findAddon(root: string = packageRoot()): AddonFiles {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  const addon = nodeGypBuild.resolve(root);
  const loader = path.join(path.dirname(addon), LOADER_FILE);
  if (!fs.existsSync(loader)) {
    throw new LibtorchError(`the vitorch addon at ${addon} has no ${LOADER_FILE} beside it (a build from before ` +
      'vitorch found libtorch at run time?): rebuild it with npm rebuild vitorch', 'unfit');
  }
  return { addon, loader };
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
export function addonBuild(files: AddonFiles = findAddon()): LibtorchBuild {
  return openLoader(files.loader).builtAgainst;
}

/** Finds libtorch for this addon and checks that it fits; throws LibtorchError with the way out when not. */
export function libtorchForAddon(files: AddonFiles = findAddon(), env: NodeJS.ProcessEnv = process.env): LibtorchLocation {
  const build = addonBuild(files);
  const found = locateLibtorch(build.torchVersion, env);
  checkLibtorchFits(found, build);
  return found;
}

export interface LoadedAddon {
  native: unknown;
  files: AddonFiles;
  build: LibtorchBuild;
  libtorch: LibtorchLocation;
}

export function loadAddon(): LoadedAddon {
  const files = findAddon();
  const libtorch = libtorchForAddon(files);
  const loader = openLoader(files.loader);
  for (const library of libtorchLibraries(libtorch)) {
    try {
      loader.openGlobal(library);
    } catch (error) {
      throw new LibtorchError(`vitorch could not load libtorch ${libtorch.version} found at ${libtorch.root}: ` +
        `${(error as Error).message}`, 'unfit');
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return { native: require(files.addon), files, build: loader.builtAgainst, libtorch };
}
