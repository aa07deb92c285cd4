import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** The layering rule: only src/extension/ may talk to VS Code; everything else is plain Node or browser. */
export const vscodeImportBan = {
  paths: [{ name: 'vscode', message: "Only src/extension/ may import 'vscode': the core must run headless." }],
};

/** The store rule: only src/store/ holds the database; everyone else goes through its entry, store.ts. */
export const storeImportBan = {
  paths: [
    {
      name: 'better-sqlite3',
      message: 'Only src/store/ may use the database: add a Store method (src/store/store.ts) instead.',
    },
  ],
  patterns: [
    {
      regex: '(^|/)store/(?!store\\.ts$)',
      message: 'Outside src/store/, use the store through its entry, src/store/store.ts, not its internals.',
    },
  ],
};

/** One no-restricted-imports entry for several bans: a later config's entry would replace an earlier one's. */
const restrictImports = (...bans) => ({
  'no-restricted-imports': [
    'error',
    { paths: bans.flatMap((b) => b.paths ?? []), patterns: bans.flatMap((b) => b.patterns ?? []) },
  ],
});

/**
 * Tests that may reach the database: the store's own, and those that build or inspect files from outside
 * the product (hostile files, killed processes, the editor's end-to-end runs).
 */
const storeInsiders = ['src/store/**', 'test/unit/store/**', 'test/unit/hostile/**', 'test/integration/**', 'test/e2e/**'];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'out/',
      'dist-vsix/',
      '.cache/',
      '.test-output/',
      'tools/*/node_modules/',
      'test/fixtures/',
      'examples/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  { files: ['webview/**'], languageOptions: { globals: { ...globals.browser } } },
  {
    files: ['src/**', 'webview/**'],
    ignores: ['src/extension/**', ...storeInsiders],
    rules: restrictImports(vscodeImportBan, storeImportBan),
  },
  { files: ['src/store/**'], rules: restrictImports(vscodeImportBan) },
  {
    files: ['src/extension/**', 'test/**', 'bench/**', 'scripts/**'],
    ignores: storeInsiders,
    rules: restrictImports(storeImportBan),
  },
);
