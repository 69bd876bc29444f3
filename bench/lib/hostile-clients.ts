// The hostile side of bench/flood.ts, in a process of its own: node hostile-clients.ts KIND PORT N CA_PEM
// (KIND: bodies | silent | churn, see bench/flood.ts). Prints "ready" once the connections are open and then
// holds them until killed.
import { silentTls, stalledBody, type HostileConnection } from '../../test/helpers/hostile.ts';

const [kind, portArg, nArg, ca] = process.argv.slice(2);
const port = Number(portArg);
const n = Number(nArg);
const MiB = 1024 * 1024;
const held: HostileConnection[] = [];

if (kind === 'bodies') {
  held.push(...(await Promise.all(Array.from({ length: n }, () => stalledBody(port, ca!, 3 * MiB, 3 * MiB - 64 * 1024)))));
} else if (kind === 'silent') {
  held.push(...(await Promise.all(Array.from({ length: n }, () => silentTls(port, ca!)))));
} else if (kind === 'churn') {
  const slot = async () => {
    for (;;) {
      const c = await stalledBody(port, ca!, 3 * MiB, 64 * 1024);
      await c.closed;
      c.socket.destroy();
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  for (let i = 0; i < n; i++) void slot();
} else {
  console.error(`unknown kind ${kind}`);
  process.exit(2);
}
console.log('ready');
setInterval(() => {}, 60_000);
