import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUniqueViolation } from '../../core/db/unique-violation.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

/** What Postgres and Prisma really throw on a duplicate key, recognised by the one check in core/db. */
describe('isUniqueViolation()', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterAll(async () => {
    await tdb?.drop();
  });

  const caught = async (run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (error) {
      return error;
    }
    throw new Error('expected the statement to fail');
  };

  it('recognises a duplicate key from the raw pool (SQLSTATE 23505) and from a Prisma model write (P2002)', async () => {
    await tdb.pool.query('CREATE TABLE probe (id int PRIMARY KEY, note text NOT NULL)');
    await tdb.pool.query(`INSERT INTO probe VALUES (1, 'a')`);
    expect(isUniqueViolation(await caught(() => tdb.pool.query(`INSERT INTO probe VALUES (1, 'b')`)))).toBe(
      true,
    );
    expect(isUniqueViolation(await caught(() => tdb.pool.query('INSERT INTO probe VALUES (2, NULL)')))).toBe(
      false,
    );

    const key = {
      name: 'probe',
      role: 'admin' as const,
      owner: 'probe',
      keyHash: 'f'.repeat(64),
      prefix: 'npl_probe',
    };
    await tdb.prisma.apiKey.create({ data: key });
    const duplicate = await caught(() => tdb.prisma.apiKey.create({ data: key }));
    expect(isUniqueViolation(duplicate)).toBe(true);
    expect(
      isUniqueViolation(
        await caught(() =>
          tdb.prisma.apiKey.delete({ where: { id: '00000000-0000-0000-0000-000000000000' } }),
        ),
      ),
    ).toBe(false);
  });
});
