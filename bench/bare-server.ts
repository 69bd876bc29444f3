// The floor for the admission benchmark: a bare node:https server with the webhook's TLS settings that
// reads the whole body, JSON.parses it (the same ~10 KB review), and answers a fixed allowed
// AdmissionReview echoing the uid. No framework, no validation, no decision, no logs, no metrics.
// BARE_PAD=N pads the answer with N bytes (600 makes it as long as the webhook's patched answer), to
// price the larger response on its own.
//
//   node bench/bare-server.ts PORT CERT_FILE KEY_FILE
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [portArg, certFile, keyFile] = process.argv.slice(2);
if (!portArg || !certFile || !keyFile) {
  process.stderr.write('usage: node bench/bare-server.ts PORT CERT_FILE KEY_FILE\n');
  process.exit(2);
}

const server = createServer(
  { cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2', keepAliveTimeout: 120_000, headersTimeout: 30_000, requestTimeout: 30_000 },
  (req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let uid = '';
      try {
        uid = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: { uid?: string } }).request?.uid ?? '');
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":"bad json"}\n');
        return;
      }
      const out = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":${JSON.stringify(uid)},"allowed":true${process.env['BARE_PAD'] ? `,"pad":"${'x'.repeat(Number(process.env['BARE_PAD']))}"` : ''}}}`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  },
);
server.listen(Number(portArg), '127.0.0.1', () => process.stdout.write(`bare server listening on ${portArg}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
