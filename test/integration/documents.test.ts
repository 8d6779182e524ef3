import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import type { Address, PublicClient } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentPath } from '../../core/catalog/documents/store.ts';
import { buildDocumentTree, verifyDocumentProof } from '../../core/catalog/documents/tree.ts';
import { anchorDocuments, createPortfolio as createChainPortfolio } from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients } from '../../core/chain/clients.ts';
import { deployStack } from '../../core/chain/deploy.ts';
import { buildApp } from '../../server/app.ts';
import { type AnvilInstance, startAnvil } from '../helpers/anvil.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { allowlist, apiKeyHeaders, type Headers, signIn } from '../helpers/auth.ts';

const MAX_BYTES = 4096;
const TX_HASH = `0x${'ab'.repeat(32)}`;

let t: TestApp;
let dataDir: string;
let issuer: Headers;
let otherIssuer: Headers;
let admin: Headers;
let servicer: Headers;
let investor: Headers;
let strangerInvestor: Headers;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'npl-documents-'));
  t = await createTestApp({ overrides: { DATA_DIR: dataDir, DOCUMENT_MAX_BYTES: MAX_BYTES } });
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'acme');
  otherIssuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'globex');
  admin = await apiKeyHeaders(t.db.prisma, 'admin', 'platform');
  servicer = await apiKeyHeaders(t.db.prisma, 'servicer', 'acme');
  const signedIn = await signIn(t);
  await allowlist(t.db.prisma, signedIn.address);
  investor = signedIn.headers;
  strangerInvestor = (await signIn(t)).headers;
});

afterAll(async () => {
  await t?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const bytes = (n: number) => randomBytes(n);

type Part = { name: string; data: Buffer | string; filename?: string; contentType?: string };

/** A multipart/form-data body; parts with a filename are files. */
function multipart(parts: Part[]) {
  const boundary = `----npl${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    head += '\r\n';
    if (p.filename !== undefined) head += `Content-Type: ${p.contentType ?? 'application/pdf'}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`), Buffer.from(p.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

function upload(
  portfolioId: string,
  data: Buffer | string,
  options: { headers?: Partial<Headers>; filename?: string; field?: string; contentType?: string } = {},
) {
  const body = multipart([
    {
      name: options.field ?? 'file',
      data,
      filename: options.filename ?? 'report.pdf',
      contentType: options.contentType,
    },
  ]);
  return t.app.inject({
    method: 'POST',
    url: `/v1/portfolios/${portfolioId}/documents`,
    headers: { ...issuer, ...options.headers, 'content-type': body.contentType },
    payload: body.payload,
  });
}

function verifyFile(data: Buffer | string, parts?: Part[]) {
  const body = multipart(parts ?? [{ name: 'file', data, filename: 'check.pdf' }]);
  return t.app.inject({
    method: 'POST',
    url: '/v1/documents/verify',
    headers: { 'content-type': body.contentType },
    payload: body.payload,
  });
}

async function createPortfolio(headers: Headers = issuer): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/portfolios',
    headers,
    payload: {
      name: 'Data room test',
      assetClass: 'mixed',
      jurisdiction: 'IT',
      currency: 'EUR',
      askingPrice: '1000000000',
      servicerAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      fees: { servicerBps: 100, protocolBps: 0 },
      tranches: [{ name: 'Residual', symbol: 'RES', face: '1000000000' }],
    },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

/** What the publish job would record: status, the document root of the current data room, its tx. */
async function simulatePublish(portfolioId: string, root?: string) {
  const docs = await t.db.prisma.document.findMany({ where: { portfolioId }, select: { sha256: true } });
  await t.db.prisma.portfolio.update({
    where: { id: portfolioId },
    data: {
      status: 'published',
      documentRoot: root ?? buildDocumentTree(docs.map((d) => d.sha256)).root,
      documentRootTxHash: TX_HASH,
      publishedAt: new Date(),
    },
  });
}

/** Every file under DATA_DIR (relative paths), temp files included. */
async function filesOnDisk(): Promise<string[]> {
  const entries = await readdir(dataDir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dataDir, join(e.parentPath, e.name)))
    .sort();
}

type Snapshot = { rows: number; files: string[]; audit: number };
const snapshot = async (): Promise<Snapshot> => ({
  rows: await t.db.prisma.document.count(),
  files: await filesOnDisk(),
  audit: await t.db.prisma.auditLog.count(),
});

/** The answer has the API error shape and nothing was stored (no row, no file, no temp file). */
async function expectRejected(
  res: { statusCode: number; json: () => unknown; body: string },
  before: Snapshot,
  statusCode: number,
  code: string,
) {
  expect(res.statusCode, res.body).toBe(statusCode);
  expect(res.json()).toMatchObject({ statusCode, code, message: expect.any(String) });
  const after = await snapshot();
  expect(after.rows).toBe(before.rows);
  expect(after.files).toEqual(before.files);
  expect(after.files.some((f) => f.includes('.tmp/'))).toBe(false);
  return res.json() as { details?: unknown };
}

describe('POST /v1/portfolios/:id/documents', () => {
  it('stores the bytes under their SHA-256 and answers 201 with the document', async () => {
    const id = await createPortfolio();
    const data = bytes(1000);
    const res = await upload(id, data, { filename: 'valuation report.pdf', contentType: 'application/pdf' });
    expect(res.statusCode, res.body).toBe(201);
    const doc = res.json();
    expect(doc).toEqual({
      id: expect.any(String),
      portfolioId: id,
      fileName: 'valuation report.pdf',
      contentType: 'application/pdf',
      size: 1000,
      sha256: sha256(data),
      createdAt: expect.any(String),
    });
    expect(await readFile(documentPath(dataDir, sha256(data)))).toEqual(data);
    const row = await t.db.prisma.document.findUniqueOrThrow({ where: { id: doc.id } });
    expect(row).toMatchObject({ portfolioId: id, sha256: sha256(data), size: 1000n });
    const audit = await t.db.prisma.auditLog.findFirstOrThrow({
      where: { action: 'POST /v1/portfolios/:id/documents', resourceId: doc.id },
    });
    expect(audit).toMatchObject({ resourceType: 'document', statusCode: 201, actorRole: 'issuer' });
    expect(audit.details).toMatchObject({ portfolioId: id, sha256: sha256(data), created: true });
  });

  it('stores a file exactly at the size limit', async () => {
    const id = await createPortfolio();
    const data = bytes(MAX_BYTES);
    const res = await upload(id, data);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().size).toBe(MAX_BYTES);
    expect(await readFile(documentPath(dataDir, sha256(data)))).toEqual(data);
  });

  it('answers 200 with the existing document when the same bytes are uploaded again (one row, one file)', async () => {
    const id = await createPortfolio();
    const data = bytes(777);
    const first = await upload(id, data, { filename: 'a.pdf' });
    expect(first.statusCode).toBe(201);
    const before = await filesOnDisk();
    const again = await upload(id, data, { filename: 'renamed.pdf' });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toEqual(first.json());
    expect(await t.db.prisma.document.count({ where: { portfolioId: id } })).toBe(1);
    expect(await filesOnDisk()).toEqual(before);
    expect(before.filter((f) => f.endsWith(sha256(data)))).toHaveLength(1);
  });

  it('keeps one file on disk for the same bytes in two portfolios, with a row in each', async () => {
    const [a, b] = [await createPortfolio(), await createPortfolio()];
    const data = bytes(500);
    const ra = await upload(a, data);
    const rb = await upload(b, data);
    expect([ra.statusCode, rb.statusCode]).toEqual([201, 201]);
    expect(rb.json().id).not.toBe(ra.json().id);
    expect(await t.db.prisma.document.count({ where: { sha256: sha256(data) } })).toBe(2);
    expect((await filesOnDisk()).filter((f) => f.endsWith(sha256(data)))).toHaveLength(1);
  });

  it('creates one row when the same bytes are uploaded concurrently', async () => {
    const id = await createPortfolio();
    const data = bytes(2000);
    const answers = await Promise.all([upload(id, data), upload(id, data), upload(id, data)]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 200, 201]);
    expect(new Set(answers.map((r) => r.json().id)).size).toBe(1);
    expect(await t.db.prisma.document.count({ where: { portfolioId: id } })).toBe(1);
  });

  it('lets an admin upload to any portfolio', async () => {
    const id = await createPortfolio();
    const res = await upload(id, bytes(10), { headers: admin });
    expect(res.statusCode, res.body).toBe(201);
  });

  it('keeps only the last path segment of the file name', async () => {
    const id = await createPortfolio();
    const res = await upload(id, bytes(10), { filename: '..\\..\\etc/passwd' });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().fileName).toBe('passwd');
  });

  describe('bad input: API error shape, nothing stored', () => {
    it('an empty file answers 422 naming the field', async () => {
      const id = await createPortfolio();
      const before = await snapshot();
      const body = await expectRejected(await upload(id, ''), before, 422, 'VALIDATION_FAILED');
      expect(body.details).toEqual([{ path: 'body.file', message: expect.any(String) }]);
    });

    it('a file one byte over the limit answers 413', async () => {
      const id = await createPortfolio();
      const before = await snapshot();
      await expectRejected(await upload(id, bytes(MAX_BYTES + 1)), before, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('a streamed upload without a length is cut off at the limit over HTTP: 413 while the client still sends', async () => {
      const id = await createPortfolio();
      const before = await snapshot();
      const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
      const boundary = 'npl-stream-boundary';
      const { status, body, sent } = await new Promise<{ status: number; body: string; sent: number }>(
        (resolve, reject) => {
          let sent = 0;
          let answered = false;
          const req = httpRequest(
            `${address}/v1/portfolios/${id}/documents`,
            {
              method: 'POST',
              headers: {
                ...issuer,
                'content-type': `multipart/form-data; boundary=${boundary}`,
                'transfer-encoding': 'chunked',
              },
            },
            (res) => {
              answered = true;
              let text = '';
              res.on('data', (c) => {
                text += c;
              });
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, sent }));
            },
          );
          req.on('error', (error) => (answered ? undefined : reject(error)));
          req.write(
            `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n` +
              'Content-Type: application/octet-stream\r\n\r\n',
          );
          const chunk = bytes(1024);
          const startedAt = Date.now();
          // never ends the body on its own: only an answer given while the client still sends stops it
          const pump = () => {
            if (answered) return;
            if (Date.now() - startedAt > 20_000) {
              req.destroy();
              reject(new Error(`no answer after ${sent} bytes`));
              return;
            }
            sent += chunk.length;
            req.write(chunk);
            setTimeout(pump, 1);
          };
          pump();
        },
      );
      expect(status, body).toBe(413);
      expect(JSON.parse(body)).toMatchObject({ statusCode: 413, code: 'PAYLOAD_TOO_LARGE' });
      expect(sent).toBeGreaterThan(MAX_BYTES);
      await expectRejected(
        { statusCode: 413, json: () => JSON.parse(body), body },
        before,
        413,
        'PAYLOAD_TOO_LARGE',
      );
    });

    it('a body declared far over the limit answers 413 without reading it', async () => {
      const id = await createPortfolio();
      const before = await snapshot();
      await expectRejected(await upload(id, bytes(MAX_BYTES * 40)), before, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('an unknown portfolio answers 404', async () => {
      const before = await snapshot();
      await expectRejected(await upload(crypto.randomUUID(), bytes(10)), before, 404, 'NOT_FOUND');
      await expectRejected(await upload('not-a-uuid', bytes(10)), before, 404, 'NOT_FOUND');
    });

    it("another issuer's portfolio answers 403", async () => {
      const id = await createPortfolio(otherIssuer);
      const before = await snapshot();
      await expectRejected(await upload(id, bytes(10)), before, 403, 'FORBIDDEN');
    });

    it('no key answers 401, a servicer key or an investor session 403', async () => {
      const id = await createPortfolio();
      const before = await snapshot();
      const body = multipart([{ name: 'file', data: bytes(10), filename: 'x.pdf' }]);
      const anonymous = await t.app.inject({
        method: 'POST',
        url: `/v1/portfolios/${id}/documents`,
        headers: { 'content-type': body.contentType },
        payload: body.payload,
      });
      await expectRejected(anonymous, before, 401, 'UNAUTHORIZED');
      await expectRejected(await upload(id, bytes(10), { headers: servicer }), before, 403, 'FORBIDDEN');
      await expectRejected(await upload(id, bytes(10), { headers: investor }), before, 403, 'FORBIDDEN');
    });

    it('a wrong key answers 401', async () => {
      const id = await createPortfolio();
      const before = await snapshot();
      const res = await upload(id, bytes(10), { headers: { authorization: 'Bearer npl_wrong' } });
      await expectRejected(res, before, 401, 'UNAUTHORIZED');
    });

    it('an upload after publish answers 409 (the data room is frozen)', async () => {
      const id = await createPortfolio();
      expect((await upload(id, bytes(10))).statusCode).toBe(201);
      await simulatePublish(id);
      const before = await snapshot();
      await expectRejected(await upload(id, bytes(20)), before, 409, 'CONFLICT');
      await t.db.prisma.portfolio.update({ where: { id }, data: { status: 'publishing' } });
      await expectRejected(await upload(id, bytes(20)), before, 409, 'CONFLICT');
    });

    it('a publish that lands while the bytes are being stored answers 409 and removes the new file', async () => {
      const id = await createPortfolio();
      const before = await snapshot();
      const data = bytes(900);
      // the publish holds the portfolio row while the upload streams, then commits the new status
      const publisher = await t.db.pool.connect();
      try {
        await publisher.query('BEGIN');
        await publisher.query('SELECT 1 FROM portfolio WHERE id = $1 FOR UPDATE', [id]);
        const pending = upload(id, data);
        const deadline = Date.now() + 10_000;
        while (!(await filesOnDisk()).some((f) => f.endsWith(sha256(data)))) {
          if (Date.now() > deadline) throw new Error('the upload never stored its bytes');
          await new Promise((r) => setTimeout(r, 10));
        }
        await publisher.query("UPDATE portfolio SET status = 'publishing' WHERE id = $1", [id]);
        await publisher.query('COMMIT');
        await expectRejected(await pending, before, 409, 'CONFLICT');
      } finally {
        publisher.release();
      }
    });

    it('a form without the `file` field answers 400 naming it', async () => {
      const id = await createPortfolio();
      const before = await snapshot();
      const res = await upload(id, bytes(10), { field: 'attachment' });
      const body = await expectRejected(res, before, 400, 'VALIDATION_FAILED');
      expect(body.details).toEqual([{ path: 'body.file', message: expect.any(String) }]);
      const onlyFields = multipart([{ name: 'note', data: 'hello' }]);
      const res2 = await t.app.inject({
        method: 'POST',
        url: `/v1/portfolios/${id}/documents`,
        headers: { ...issuer, 'content-type': onlyFields.contentType },
        payload: onlyFields.payload,
      });
      await expectRejected(res2, before, 400, 'VALIDATION_FAILED');
    });

    it('a body that is not multipart answers 415', async () => {
      const id = await createPortfolio();
      const before = await snapshot();
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/portfolios/${id}/documents`,
        headers: issuer,
        payload: { file: 'hello' },
      });
      await expectRejected(res, before, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });
  });
});

describe('GET /v1/portfolios/:id/documents', () => {
  let id: string;
  let uploaded: { id: string; sha256: string }[];

  beforeAll(async () => {
    id = await createPortfolio();
    uploaded = [];
    for (let i = 0; i < 5; i++) {
      const res = await upload(id, bytes(100 + i), { filename: `doc-${i}.pdf` });
      expect(res.statusCode).toBe(201);
      uploaded.push(res.json());
    }
  });

  it('pages through the data room with each document and its SHA-256', async () => {
    const seen: { id: string; sha256: string; fileName: string }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/portfolios/${id}/documents?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await t.app.inject({ method: 'GET', url, headers: investor });
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen.map((d) => d.id)).toEqual(uploaded.map((d) => d.id));
    expect(seen.map((d) => d.sha256)).toEqual(uploaded.map((d) => d.sha256));
    expect(seen.map((d) => d.fileName)).toEqual([
      'doc-0.pdf',
      'doc-1.pdf',
      'doc-2.pdf',
      'doc-3.pdf',
      'doc-4.pdf',
    ]);
  });

  it('is readable by the owning issuer and admins', async () => {
    for (const headers of [issuer, admin]) {
      const res = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${id}/documents`, headers });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().items).toHaveLength(5);
    }
  });

  it('refuses anonymous callers (401), investors not allowlisted and other issuers (403)', async () => {
    const url = `/v1/portfolios/${id}/documents`;
    const anonymous = await t.app.inject({ method: 'GET', url });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
    const stranger = await t.app.inject({ method: 'GET', url, headers: strangerInvestor });
    expect(stranger.json()).toMatchObject({ statusCode: 403, code: 'NOT_ALLOWLISTED' });
    const other = await t.app.inject({ method: 'GET', url, headers: otherIssuer });
    expect(other.json()).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' });
  });

  it('answers 404 for an unknown portfolio and 400 for a bad cursor', async () => {
    const unknown = await t.app.inject({
      method: 'GET',
      url: `/v1/portfolios/${crypto.randomUUID()}/documents`,
      headers: investor,
    });
    expect(unknown.json()).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
    const bad = await t.app.inject({
      method: 'GET',
      url: `/v1/portfolios/${id}/documents?cursor=garbage`,
      headers: investor,
    });
    expect(bad.json()).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
  });
});

describe('GET /v1/documents/:id/proof', () => {
  let id: string;
  let docs: { id: string; sha256: string }[];

  beforeAll(async () => {
    id = await createPortfolio();
    docs = [];
    for (let i = 0; i < 3; i++) docs.push((await upload(id, bytes(64 + i))).json());
  });

  const proofOf = (documentId: string, headers: Partial<Headers> = investor) =>
    t.app.inject({ method: 'GET', url: `/v1/documents/${documentId}/proof`, headers });

  it('answers 409 before the portfolio is published', async () => {
    const res = await proofOf(docs[0].id);
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json()).toMatchObject({
      statusCode: 409,
      code: 'CONFLICT',
      message: expect.stringMatching(/anchored/),
    });
  });

  it('answers a proof that verifies against the anchored root once published', async () => {
    await simulatePublish(id);
    const { documentRoot } = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
    for (const doc of docs) {
      const res = await proofOf(doc.id);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({
        sha256: doc.sha256,
        leaf: `0x${doc.sha256}`,
        root: documentRoot,
        anchoredTx: TX_HASH,
      });
      expect(StandardMerkleTree.verify(body.root, ['bytes32'], [`0x${doc.sha256}`], body.proof)).toBe(true);
      expect(verifyDocumentProof(documentRoot as string, doc.sha256, body.proof)).toBe(true);
    }
  });

  it('answers 500 without details when the data room no longer matches the anchored root', async () => {
    const other = await createPortfolio();
    const doc = (await upload(other, bytes(30))).json();
    await simulatePublish(other, buildDocumentTree([sha256('something else')]).root);
    const res = await proofOf(doc.id);
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ statusCode: 500, code: 'INTERNAL', message: 'Internal server error' });
  });

  it('answers 404 for unknown ids, 401 without sign-in, 403 for an investor not allowlisted', async () => {
    expect((await proofOf(crypto.randomUUID())).json()).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
    expect((await proofOf('nope')).json()).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
    expect((await proofOf(docs[0].id, {})).json()).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
    expect((await proofOf(docs[0].id, strangerInvestor)).json()).toMatchObject({
      statusCode: 403,
      code: 'NOT_ALLOWLISTED',
    });
  });
});

describe('POST /v1/documents/verify', () => {
  it('answers found: false for bytes in no data room, and stores nothing', async () => {
    const before = await snapshot();
    const data = bytes(300);
    const res = await verifyFile(data);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      sha256: sha256(data),
      size: 300,
      found: false,
      documents: [],
      anchored: false,
    });
    const after = await snapshot();
    expect(after.files).toEqual(before.files);
    expect(after.rows).toBe(before.rows);
  });

  it('finds a document of a draft data room, not anchored', async () => {
    const id = await createPortfolio();
    const data = bytes(301);
    const doc = (await upload(id, data, { filename: 'draft.pdf' })).json();
    const before = await filesOnDisk();
    const res = await verifyFile(data);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      sha256: sha256(data),
      size: 301,
      found: true,
      documents: [{ id: doc.id, portfolioId: id, fileName: 'draft.pdf', anchored: false }],
      anchored: false,
    });
    expect(await filesOnDisk()).toEqual(before);
  });

  it('reports the anchored root, a proof that verifies and the anchoring transaction once published', async () => {
    const id = await createPortfolio();
    const data = bytes(302);
    const doc = (await upload(id, data)).json();
    await upload(id, bytes(303));
    await simulatePublish(id);
    const { documentRoot } = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
    const res = await verifyFile(data);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      sha256: sha256(data),
      found: true,
      anchored: true,
      portfolioId: id,
      root: documentRoot,
      anchoredTx: TX_HASH,
      documents: [{ id: doc.id, portfolioId: id, anchored: true }],
    });
    expect(body.onChainRoot).toBeUndefined();
    expect(StandardMerkleTree.verify(body.root, ['bytes32'], [`0x${sha256(data)}`], body.proof)).toBe(true);
  });

  it('is not anchored when the stored root does not match the data room', async () => {
    const id = await createPortfolio();
    const data = bytes(304);
    await upload(id, data);
    await simulatePublish(id, buildDocumentTree([sha256('tampered')]).root);
    const body = (await verifyFile(data)).json();
    expect(body).toMatchObject({ found: true, anchored: false });
    expect(body.root).toBeUndefined();
  });

  it('rejects an empty file (422), a file over the limit (413) and a form without `file` (400)', async () => {
    const before = await snapshot();
    await expectRejected(await verifyFile(''), before, 422, 'VALIDATION_FAILED');
    await expectRejected(await verifyFile(bytes(MAX_BYTES + 1)), before, 413, 'PAYLOAD_TOO_LARGE');
    const noFile = await verifyFile('', [{ name: 'other', data: 'x', filename: 'x.pdf' }]);
    await expectRejected(noFile, before, 400, 'VALIDATION_FAILED');
  });
});

describe('POST /v1/documents/verify with a chain configured', () => {
  let anvil: AnvilInstance;
  let platform: ChainClients;
  let chainApp: Awaited<ReturnType<typeof buildApp>>;
  let portfolioAddress: Address;
  let id: string;
  const data = bytes(1234);

  beforeAll(async () => {
    anvil = await startAnvil();
    const [a0, , a2, , , , a6] = anvil.accounts;
    platform = createChainClients({ rpcUrl: anvil.rpcUrl, privateKey: a0.privateKey, pollingInterval: 20 });
    const stack = await deployStack(platform, {
      treasury: a6.address,
      timelockDelay: 5,
      marketplaceFeeBps: 25,
    });
    id = await createPortfolio();
    await upload(id, data);
    await upload(id, bytes(99));
    const docs = await t.db.prisma.document.findMany({
      where: { portfolioId: id },
      select: { sha256: true },
    });
    const root = buildDocumentTree(docs.map((d) => d.sha256)).root;
    const now = (await platform.publicClient.getBlock()).timestamp;
    const created = await createChainPortfolio(platform, {
      factory: stack.portfolioFactory,
      payToken: stack.testStablecoin as Address,
      registry: stack.complianceRegistry,
      servicer: a2.address,
      offeringEnd: now + 86_400n,
      documentRoot: root,
      loanTapeHash: `0x${sha256('tape')}`,
      tranches: [{ name: 'Residual', symbol: 'RES', face: 1_000_000n, couponBps: 0, priceBps: 10_000 }],
    });
    portfolioAddress = created.portfolio;
    await simulatePublish(id);
    await t.db.prisma.portfolio.update({
      where: { id },
      data: { portfolioAddress, documentRootTxHash: created.txHash, chainId: anvil.chainId },
    });
    chainApp = await buildApp({
      config: t.config,
      db: t.db,
      redis: t.redis,
      chain: platform.publicClient as unknown as PublicClient,
    });
    await chainApp.ready();
  }, 120_000);

  afterAll(async () => {
    await chainApp?.close();
    await anvil?.stop();
  });

  const verifyOnChain = async () => {
    const body = multipart([{ name: 'file', data, filename: 'check.pdf' }]);
    const res = await chainApp.inject({
      method: 'POST',
      url: '/v1/documents/verify',
      headers: { 'content-type': body.contentType },
      payload: body.payload,
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };

  it('reads the root from Portfolio.documents() and reports that it matches', async () => {
    const { documentRoot } = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
    const body = await verifyOnChain();
    expect(body).toMatchObject({
      found: true,
      anchored: true,
      portfolioId: id,
      root: documentRoot,
      onChainRoot: documentRoot,
      onChainRootMatches: true,
    });
    expect(StandardMerkleTree.verify(body.onChainRoot, ['bytes32'], [`0x${sha256(data)}`], body.proof)).toBe(
      true,
    );
  });

  it('is not anchored when the on-chain root has moved on', async () => {
    const other = buildDocumentTree([sha256('another data room')]).root;
    await anchorDocuments(platform, {
      portfolio: portfolioAddress,
      documentRoot: other,
      loanTapeHash: other,
    });
    const body = await verifyOnChain();
    expect(body).toMatchObject({
      found: true,
      anchored: false,
      onChainRoot: other,
      onChainRootMatches: false,
    });
  });
});

describe('OpenAPI', () => {
  it('documents the data-room routes, multipart uploads and the proof shape', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const spec = res.json();
    expect(Object.keys(spec.paths['/v1/portfolios/{id}/documents']).sort()).toEqual(['get', 'post']);
    expect(Object.keys(spec.paths['/v1/portfolios/{id}/documents'].post.requestBody.content)).toEqual([
      'multipart/form-data',
    ]);
    expect(spec.paths['/v1/documents/{id}/proof'].get.responses).toHaveProperty('409');
    expect(spec.paths['/v1/documents/verify'].post.responses).toHaveProperty('413');
    expect(spec.components.schemas.DocumentProof.required).toEqual(
      expect.arrayContaining(['sha256', 'root', 'proof', 'anchoredTx']),
    );
  });
});
