import { describe, expect, it } from 'vitest';
import {
  anchorVerdict,
  cleanContentType,
  cleanFileName,
  storedRoot,
} from '../../core/catalog/documents/rules.ts';
import { buildDocumentTree } from '../../core/catalog/documents/tree.ts';
import {
  acceptsDocuments,
  assertDataRoomAnchored,
  assertDataRoomOpen,
  assertPublishable,
  assertTapeEditable,
  type PortfolioStatus,
} from '../../core/catalog/rules.ts';
import { BaseError } from '../../core/platform/errors/index.ts';

/** The BaseError `run` throws (fails the test when it throws nothing or something else). */
function thrown(run: () => void): BaseError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BaseError);
    return error as BaseError;
  }
  throw new Error('expected a BaseError');
}

const statuses: PortfolioStatus[] = ['draft', 'publishing', 'published'];
const sha = (c: string) => c.repeat(64);

describe('assertPublishable', () => {
  const draft = { status: 'draft' as const, tapeSha256: sha('a'), trancheCount: 2 };

  it('passes a draft with a loan tape and tranches', () => {
    expect(() => assertPublishable(draft)).not.toThrow();
  });

  it('refuses a portfolio published or being published (409)', () => {
    expect(thrown(() => assertPublishable({ ...draft, status: 'published' }))).toMatchObject({
      statusCode: 409,
      code: 'CONFLICT',
      message: 'Portfolio is already published',
    });
    expect(thrown(() => assertPublishable({ ...draft, status: 'publishing' })).message).toMatch(
      /being published; poll its publish job/,
    );
  });

  it('names what a draft misses: the loan tape first, then the tranches', () => {
    expect(thrown(() => assertPublishable({ ...draft, tapeSha256: null, trancheCount: 0 }))).toMatchObject({
      statusCode: 409,
      details: { missing: ['loanTape', 'tranches'] },
      message: expect.stringMatching(/^Upload the loan tape first/),
    });
    expect(thrown(() => assertPublishable({ ...draft, trancheCount: 0 }))).toMatchObject({
      details: { missing: ['tranches'] },
      message: 'The portfolio has no tranches',
    });
  });
});

describe('the data room and the loan tape change only in draft', () => {
  it.each(statuses)('%s', (status) => {
    const open = status === 'draft';
    expect(acceptsDocuments(status)).toBe(open);
    if (open) {
      expect(() => assertDataRoomOpen(status)).not.toThrow();
      expect(() => assertTapeEditable(status)).not.toThrow();
    } else {
      expect(thrown(() => assertDataRoomOpen(status))).toMatchObject({
        statusCode: 409,
        message: `Portfolio is ${status}; the data room is frozen once its root is anchored on-chain`,
      });
      expect(thrown(() => assertTapeEditable(status))).toMatchObject({
        statusCode: 409,
        message: `Portfolio is ${status}; the loan tape can only change in draft`,
      });
    }
  });
});

describe('assertDataRoomAnchored', () => {
  it('passes a published portfolio with a root', () => {
    expect(() =>
      assertDataRoomAnchored({ id: 'p', status: 'published', documentRoot: sha('b') }),
    ).not.toThrow();
  });

  it('refuses a portfolio not published, or published without a root (409 with its status)', () => {
    for (const portfolio of [
      { id: 'p', status: 'draft' as const, documentRoot: sha('b') },
      { id: 'p', status: 'publishing' as const, documentRoot: null },
      { id: 'p', status: 'published' as const, documentRoot: null },
    ]) {
      expect(thrown(() => assertDataRoomAnchored(portfolio))).toMatchObject({
        statusCode: 409,
        details: { portfolioId: 'p', status: portfolio.status },
      });
    }
  });
});

describe('anchorVerdict', () => {
  const tree = buildDocumentTree([sha('1'), sha('2'), sha('3')]);

  it('is anchored when published and the recomputed root equals the stored one (with or without 0x)', () => {
    for (const documentRoot of [tree.root, tree.root.slice(2), tree.root.toUpperCase().replace('0X', '0x')]) {
      expect(anchorVerdict({ status: 'published', documentRoot }, tree.root)).toEqual({
        anchored: true,
        root: tree.root,
        mismatch: false,
      });
    }
  });

  it('is a mismatch when the data room hashes to another root', () => {
    const other = buildDocumentTree([sha('1'), sha('2')]).root;
    expect(anchorVerdict({ status: 'published', documentRoot: tree.root }, other)).toEqual({
      anchored: false,
      root: tree.root,
      mismatch: true,
    });
  });

  it('is neither before publish, nor with a stored root that is not a bytes32', () => {
    expect(anchorVerdict({ status: 'draft', documentRoot: tree.root }, tree.root)).toEqual({
      anchored: false,
      root: tree.root,
      mismatch: false,
    });
    expect(anchorVerdict({ status: 'published', documentRoot: 'not a root' }, tree.root)).toEqual({
      anchored: false,
      root: null,
      mismatch: false,
    });
    expect(storedRoot(null)).toBeNull();
  });
});

describe('what a client names its upload', () => {
  it('keeps the last path segment of the file name, without control characters, at most 255 chars', () => {
    expect(cleanFileName('C:\\reports\\q1/valuation.pdf')).toBe('valuation.pdf');
    expect(cleanFileName(' a\u0000b\u001f\u007fc.txt ')).toBe('abc.txt');
    expect(cleanFileName(`${'x'.repeat(300)}.pdf`)).toHaveLength(255);
    expect(cleanFileName(undefined)).toBe('document');
    expect(cleanFileName('dir/')).toBe('document');
  });

  it('keeps a well-formed content type (lowercased), else application/octet-stream', () => {
    expect(cleanContentType(' Application/PDF ')).toBe('application/pdf');
    expect(cleanContentType('text/plain; charset=utf-8')).toBe('text/plain; charset=utf-8');
    expect(cleanContentType('not a type')).toBe('application/octet-stream');
    expect(cleanContentType(undefined)).toBe('application/octet-stream');
    expect(cleanContentType(`text/${'x'.repeat(300)}`)).toBe('application/octet-stream');
  });
});
