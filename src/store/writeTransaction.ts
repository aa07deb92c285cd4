import type Database from 'better-sqlite3';

/**
 * Runs `fn` in a transaction that takes the write lock at BEGIN. A deferred transaction that reads first
 * and writes later cannot wait for another process's write (SQLite answers SQLITE_BUSY at once); an
 * immediate one waits up to busy_timeout instead.
 */
export function writeTransaction<A extends unknown[], R>(
  db: Database.Database,
  fn: (...args: A) => R,
): (...args: A) => R {
  const transaction = db.transaction(fn);
  return (...args: A) => transaction.immediate(...args);
}
