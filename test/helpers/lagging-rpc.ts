/**
 * Test helper: a load-balanced RPC whose receipts lag its nonces, in front of a real anvil.
 *
 * A small HTTP proxy on 127.0.0.1 forwards every JSON-RPC call to the node as it is, except that
 * `eth_getTransactionReceipt` answers `null` (what a backend that has not seen the block yet says)
 * for `lagMs` after the proxy first saw the transaction's hash (sent through it or asked about).
 * Optionally, `eth_sendRawTransaction` is forwarded and then answered with a JSON-RPC error (one
 * backend took the transaction, the one that answered refused it).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Hex, keccak256 } from 'viem';

export type LaggingRpcOptions = {
  /** The node every call is forwarded to. */
  upstream: string;
  /** How long receipts answer null after a hash is first seen (ms); changeable later through `setLag`. */
  lagMs: number;
};

export type LaggingRpc = {
  rpcUrl: string;
  setLag: (ms: number) => void;
  /**
   * The next `count` `eth_sendRawTransaction` calls are forwarded to the node, then answered with a
   * JSON-RPC error with this message (as if the backend that answered had refused them).
   */
  refuseSendsAfterForwarding: (count: number, message: string) => void;
  /** How many receipt requests were answered null because of the lag. */
  nullReceipts: () => number;
  close: () => Promise<void>;
};

type RpcRequest = { jsonrpc: '2.0'; id: number | string | null; method: string; params?: unknown[] };

async function body(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startLaggingRpc(options: LaggingRpcOptions): Promise<LaggingRpc> {
  let lagMs = options.lagMs;
  let refusals: { count: number; message: string } = { count: 0, message: '' };
  let nulls = 0;
  const firstSeen = new Map<string, number>();
  const seen = (hash: string) => {
    const key = hash.toLowerCase();
    if (!firstSeen.has(key)) firstSeen.set(key, Date.now());
    return firstSeen.get(key) as number;
  };

  const forward = async (call: RpcRequest): Promise<unknown> => {
    const response = await fetch(options.upstream, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(call),
    });
    return response.json();
  };

  const handle = async (call: RpcRequest): Promise<unknown> => {
    if (call.method === 'eth_sendRawTransaction') {
      seen(keccak256((call.params?.[0] ?? '0x') as Hex));
      const answer = await forward(call);
      if (refusals.count > 0) {
        refusals = { ...refusals, count: refusals.count - 1 };
        return { jsonrpc: '2.0', id: call.id, error: { code: -32000, message: refusals.message } };
      }
      return answer;
    }
    if (call.method === 'eth_getTransactionReceipt') {
      const since = seen(String(call.params?.[0] ?? ''));
      if (Date.now() - since < lagMs) {
        nulls++;
        return { jsonrpc: '2.0', id: call.id, result: null };
      }
    }
    return forward(call);
  };

  const server: Server = createServer((request, response) => {
    void (async () => {
      try {
        const parsed = JSON.parse(await body(request)) as RpcRequest | RpcRequest[];
        const answer = Array.isArray(parsed) ? await Promise.all(parsed.map(handle)) : await handle(parsed);
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(answer));
      } catch (error) {
        response.writeHead(502, { 'content-type': 'text/plain' });
        response.end(String(error));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    rpcUrl: `http://127.0.0.1:${port}`,
    setLag: (ms) => {
      lagMs = ms;
    },
    refuseSendsAfterForwarding: (count, message) => {
      refusals = { count, message };
    },
    nullReceipts: () => nulls,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
