/**
 * A local `redis-server` for `npm start`: on a free port (or the one given), bound to 127.0.0.1, data
 * in `dataDir` with the append-only file on (so BullMQ queues survive a restart), in its own process
 * group (a terminal's Ctrl-C reaches only `npm start`, which then stops it after the worker closed).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { delimiter, join } from 'node:path';
import { getFreePort } from '../../core/chain/anvil.ts';
import { ConfigInvalidError } from '../../core/platform/errors/index.ts';

export type StartRedisOptions = {
  dataDir: string;
  port?: number;
  /** `redis-server` to run; default the first `redis-server` on PATH. */
  binary?: string;
  startTimeoutMs?: number;
  /** Environment whose PATH is searched; default `process.env`. */
  env?: Record<string, string | undefined>;
};

export type LocalRedis = {
  url: string;
  port: number;
  pid: number | undefined;
  /** SIGTERM (redis saves and exits), SIGKILL after 10 s. Safe to call twice. */
  stop: () => Promise<void>;
};

export const REDIS_INSTALL_HINT =
  'Redis is needed for the job queues and no `redis-server` was found on PATH. Install it ' +
  '(Debian/Ubuntu: `sudo apt-get install redis-server`; macOS: `brew install redis`) or point ' +
  'REDIS_URL at a running Redis (e.g. REDIS_URL=redis://127.0.0.1:6379).';

/** The first executable `redis-server` on PATH, or undefined. */
export async function findRedisServer(
  env: Record<string, string | undefined> = process.env,
): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, process.platform === 'win32' ? 'redis-server.exe' : 'redis-server');
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

export async function startRedis(options: StartRedisOptions): Promise<LocalRedis> {
  const binary = options.binary ?? (await findRedisServer(options.env));
  if (binary === undefined) {
    throw new ConfigInvalidError(REDIS_INSTALL_HINT, {
      retryable: false,
      details: [{ variable: 'REDIS_URL', message: 'not set, and no redis-server installed' }],
    });
  }
  await mkdir(options.dataDir, { recursive: true });
  const port = options.port ?? (await getFreePort());
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    options.dataDir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--save',
    '60 1',
    '--daemonize',
    'no',
    '--protected-mode',
    'yes',
    '--loglevel',
    'warning',
    // BullMQ needs keys never evicted
    '--maxmemory-policy',
    'noeviction',
  ];
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < 8192) stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (error) => {
      stderr += String(error);
      resolve(-1);
    });
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
  let ready = false;
  while (!ready) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`redis-server exited before answering: ${stderr.trim()}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server on port ${port} did not answer PING in time: ${stderr.trim()}`);
    }
    ready = await ping(port);
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: `redis://127.0.0.1:${port}`, port, pid: child.pid, stop };
}

/** True once a Redis on `port` answers PING with PONG (loading the AOF answers LOADING instead). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      answer += data.toString('utf8');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}
