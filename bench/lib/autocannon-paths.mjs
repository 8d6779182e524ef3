// autocannon (programmatic) with a random path per request, for bench/lib/autocannon.ts:
//   node autocannon-paths.mjs <origin> <connections> <seconds> <paths.json>
// prints the result as JSON (the same object `autocannon --json` prints).
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const [origin, connections, seconds, pathsFile] = process.argv.slice(2);
const paths = JSON.parse(readFileSync(pathsFile, 'utf8'));
const result = await autocannon({
  url: origin,
  connections: Number(connections),
  duration: Number(seconds),
  requests: [
    {
      setupRequest: (request) => ({ ...request, path: paths[Math.floor(Math.random() * paths.length)] }),
    },
  ],
});
process.stdout.write(JSON.stringify(result));
