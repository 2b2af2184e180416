// The package as users get it, install scripts off and no compiler on PATH: test/packed/install.sh packs vitorch
// with its prebuilt binary, installs the tarball into a fresh project with `npm install --ignore-scripts`, requires
// it and compares a forward with PyTorch's output (test/packed/check.js). It packs dist/ as it is: npm test
// compiles it first (pretest).
import { spawnSync } from 'child_process';
import * as path from 'path';

test('npm pack, then npm install --ignore-scripts without a compiler: require and a forward match PyTorch', () => {
  const script = path.join(__dirname, 'packed', 'install.sh');
  const result = spawnSync('bash', [script], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${script} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  expect(result.stdout).toMatch(/npm install --ignore-scripts of vitorch-\S+\.tgz \(\d+ KiB\) took \d+ ms/);
  expect(result.stdout).toMatch(
    /small-b1: max \|error\| \S+ against PyTorch.*addon prebuilds\/linux-x64\/torch-\d+\.\d+\/vitorch\.node/,
  );
  expect(result.stdout).toMatch(/gRPC ServerMetadata answered vitorch \S+/);
  expect(result.stdout).toContain('npm rebuild vitorch kept the prebuilt');
  process.stdout.write(result.stdout);
});
