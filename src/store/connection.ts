import type Database from 'better-sqlite3';
import type { Store } from './store.ts';

/**
 * The store's SQLite connection, for src/store's own tests: they check the schema and stage states (a crash
 * mid-write, a backdated row) the product never produces. The lint rule keeps it from everyone else.
 */
export function connectionOf(store: Store): Database.Database {
  return store['db'];
}
