// Which addon vitorch loads for the libtorch found: a local build first (unless PREBUILDS_ONLY=1, node-gyp-build's
// switch), else the prebuilt of the libtorch's minor release, whichever patch release it is; a libtorch outside the
// prebuilt releases is refused with the list and the ways out. Checked on package folders made here (empty files in
// the package's layout: choosing loads nothing). Loading a real prebuilt is test/packed-install.test.ts's part, and
// every release's is npm run check:releases's.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { findAddon, prebuiltReleases } from '../lib/addon-loading';
import { LibtorchError, LibtorchLocation } from '../lib/libtorch-locator';

const platform = `${process.platform}-${process.arch}`;
let scratch: string;
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-selection-'));
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A package folder with prebuilt addons for `releases` and, when asked, a local build. */
function packageWith(name: string, releases: string[], local = false): string {
  const root = path.join(scratch, name);
  const put = (folder: string) => {
    fs.mkdirSync(folder, { recursive: true });
    for (const file of ['vitorch.node', 'libvitorch_loader.so']) fs.writeFileSync(path.join(folder, file), '');
  };
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(path.join(root, 'package.json'), '{ "name": "vitorch" }');
  for (const release of releases) put(path.join(root, 'prebuilds', platform, `torch-${release}`));
  if (local) put(path.join(root, 'build', 'Release'));
  return root;
}

const libtorchOf = (version: string): LibtorchLocation => ({
  root: `/opt/torch-${version}`,
  libDir: `/opt/torch-${version}/lib`,
  version,
  cxx11Abi: null,
  hasCuda: true,
  foundBy: 'LIBTORCH',
});

const RELEASES = ['2.9', '2.10', '2.11', '2.12', '2.13', '2.14', '2.15'];

test('the prebuilt releases are listed oldest first, by number; a folder without an addon is not one', () => {
  const root = packageWith('listed', ['2.15', '2.9', '2.10']);
  fs.mkdirSync(path.join(root, 'prebuilds', platform, 'torch-2.16'));
  fs.mkdirSync(path.join(root, 'prebuilds', platform, 'notes'));
  expect(prebuiltReleases(root)).toEqual(['2.9', '2.10', '2.15']);
});

test.each([
  ['2.15.0+cu132', '2.15'],
  ['2.14.0+cu130', '2.14'],
  ['2.14.1+cu130', '2.14'],
  ['2.12.0+cu130', '2.12'],
  ['2.9.0+cu128', '2.9'],
  ['2.10.0+cpu', '2.10'],
])('libtorch %s gets the prebuilt of torch-%s', (version, release) => {
  const root = packageWith('all-releases', RELEASES);
  const files = findAddon(libtorchOf(version), root);
  expect(files).toEqual({
    addon: path.join(root, 'prebuilds', platform, `torch-${release}`, 'vitorch.node'),
    loader: path.join(root, 'prebuilds', platform, `torch-${release}`, 'libvitorch_loader.so'),
    kind: 'prebuilt',
  });
});

test.each(['2.16.0+cu132', '2.8.0+cu128', '3.0.0'])(
  'libtorch %s, outside the prebuilt releases, is refused with the list and the ways out',
  (version) => {
    const root = packageWith('all-releases', RELEASES);
    const refusal = () => findAddon(libtorchOf(version), root);
    expect(refusal).toThrow(LibtorchError);
    expect(refusal).toThrow(
      `vitorch has prebuilt addons for ${platform} for torch 2.9, 2.10, 2.11, 2.12, 2.13, 2.14, 2.15, ` +
        `but the libtorch found at /opt/torch-${version} (from LIBTORCH) is ${version}. Either:\n` +
        '  - pip install "torch==2.15.*"   (or any release listed above), or\n' +
        '  - build vitorch against the libtorch found: VITORCH_FORCE_BUILD=1 npm rebuild vitorch',
    );
  },
);

test('with no prebuilt and no local build (a fresh checkout), the refusal says so and how to build', () => {
  const root = packageWith('empty', []);
  expect(() => findAddon(libtorchOf('2.15.0+cu132'), root)).toThrow(
    `vitorch has no prebuilt addon for ${platform} (a ` +
      'checkout before its first build, or a platform without binaries) and no local build; the libtorch found at ' +
      '/opt/torch-2.15.0+cu132 (from LIBTORCH) is 2.15.0+cu132:\n  - build vitorch against the libtorch found: ' +
      'VITORCH_FORCE_BUILD=1 npm rebuild vitorch',
  );
});

test('a local build comes first; PREBUILDS_ONLY=1 skips it (node-gyp-build reads it when loaded: a child process)', () => {
  const root = packageWith('with-local-build', ['2.15'], true);
  const choose = (env: Record<string, string>) => {
    const code = `const { findAddon } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'lib', 'addon-loading'))});
      console.log(JSON.stringify(findAddon(${JSON.stringify(libtorchOf('2.15.0'))}, ${JSON.stringify(root)})));`;
    const result = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(result.stderr).toBe('');
    return JSON.parse(result.stdout);
  };
  expect(choose({})).toEqual({
    addon: path.join(root, 'build', 'Release', 'vitorch.node'),
    loader: path.join(root, 'build', 'Release', 'libvitorch_loader.so'),
    kind: 'local',
  });
  expect(choose({ PREBUILDS_ONLY: '1' })).toMatchObject({
    addon: path.join(root, 'prebuilds', platform, 'torch-2.15', 'vitorch.node'),
    kind: 'prebuilt',
  });
});
