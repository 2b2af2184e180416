// A TCP port on the loopback interface that nothing listens on, for a server the benchmark starts.
import * as net from 'net';

/** Asks the kernel for an unused port by binding port 0, then releases it for the server to take. Another process
 *  could take it in between; the server then fails to start and says so, which the caller reports. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
