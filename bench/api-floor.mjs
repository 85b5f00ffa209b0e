// The HTTP floor for `npm run bench -- api`: a bare fastify server answering the same request
// as romanad's `POST /address` (JSON in, a JSON address out) with no validation, no logging, no
// store. Run in its own process; prints `listening on <url>` when ready.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
let next = 0;
app.post('/address', async (req) => {
  const body = /** @type {{name: string, host: string, tenant: string, segment: string}} */ (
    req.body
  );
  const n = next++;
  return {
    name: body.name,
    ip: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
    host: body.host,
    tenant: body.tenant,
    segment: body.segment,
    network: 'pods',
    block: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 248}/29`,
  };
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening on ${url}\n`);
