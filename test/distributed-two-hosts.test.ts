// Two "machines": two network namespaces joined by a veth pair, one rank in each, talking only through that link
// (each namespace has nothing else but its own loopback). The rendezvous goes to rank 0's address on the link, and
// GLOO_SOCKET_IFNAME puts Gloo on the veth device, as on a real cluster. The job's weights must equal those of the
// same job run on one machine's loopback, and the bytes counted on the link must cover the broadcast and the
// gradients. Creating namespaces needs CAP_NET_ADMIN (root here and in CI); elsewhere the test says why it skipped.
import { spawn, spawnSync } from 'child_process';
import * as path from 'path';
import { freePort } from '../lib/cli/train-launcher';

const RANK_SCRIPT = path.join(__dirname, 'distributed', 'two-hosts-rank.js');
const suffix = `${process.pid % 10000}`;
const namespaces = [`vt${suffix}a`, `vt${suffix}b`];
const devices = [`vt${suffix}a0`, `vt${suffix}b0`];
const addresses = ['10.231.0.1', '10.231.0.2'];

function ip(...args: string[]): boolean {
  return spawnSync('ip', args, { stdio: 'ignore' }).status === 0;
}

function makeLink(): boolean {
  if (!ip('netns', 'add', namespaces[0])) return false;
  return (
    ip('netns', 'add', namespaces[1]) &&
    ip('link', 'add', devices[0], 'type', 'veth', 'peer', 'name', devices[1]) &&
    [0, 1].every(
      (i) =>
        ip('link', 'set', devices[i], 'netns', namespaces[i]) &&
        ip('-n', namespaces[i], 'addr', 'add', `${addresses[i]}/24`, 'dev', devices[i]) &&
        ip('-n', namespaces[i], 'link', 'set', devices[i], 'up') &&
        ip('-n', namespaces[i], 'link', 'set', 'lo', 'up'),
    )
  );
}

const linked = makeLink();
afterAll(() => namespaces.forEach((ns) => ip('netns', 'del', ns)));

function runRank(rank: number, env: Record<string, string>, prefix: string[]): Promise<Record<string, number[]>> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = [...prefix, process.execPath, RANK_SCRIPT];
    const child = spawn(command, args, {
      env: { ...process.env, ...env, RANK: String(rank), WORLD_SIZE: '2', OMP_NUM_THREADS: '1' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`rank ${rank}: ${err}`))));
  });
}

function txBytes(i: number): number {
  const read = spawnSync(
    'ip',
    ['netns', 'exec', namespaces[i], 'cat', `/sys/class/net/${devices[i]}/statistics/tx_bytes`],
    {
      encoding: 'utf8',
    },
  );
  return Number(read.stdout.trim());
}

(linked ? test : test.skip)(
  `two ranks in two network namespaces train as on one machine${linked ? '' : ' [skipped: no network namespaces here]'}`,
  async () => {
    const port = String(await freePort());
    const onLoopback = await Promise.all(
      [0, 1].map((rank) => runRank(rank, { MASTER_ADDR: '127.0.0.1', MASTER_PORT: port }, [])),
    );
    const before = [txBytes(0), txBytes(1)];
    const apart = await Promise.all(
      [0, 1].map((rank) =>
        runRank(rank, { MASTER_ADDR: addresses[0], MASTER_PORT: '29500', GLOO_SOCKET_IFNAME: devices[rank] }, [
          'ip',
          'netns',
          'exec',
          namespaces[rank],
        ]),
      ),
    );
    const sent = [txBytes(0) - before[0], txBytes(1) - before[1]];
    const parameters = Object.values(apart[0]).reduce((n, values) => n + values.length, 0);
    // Rank 0 broadcasts every weight and both ranks all-reduce every gradient 4 times, in float32.
    expect(Math.min(...sent)).toBeGreaterThan(4 * parameters * 4);
    for (const [name, values] of Object.entries(onLoopback[0])) {
      // The ranks agree bit for bit, and so does the same job on loopback: the link changes nothing in the numbers.
      expect(apart[0][name]).toEqual(values);
      expect(apart[1][name]).toEqual(values);
      expect(onLoopback[1][name]).toEqual(values);
    }
  },
  60_000,
);
