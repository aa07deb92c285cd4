import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** The layering rule: only src/extension/ may talk to VS Code; everything else is plain Node or browser. */
export const vscodeImportBan = {
  'no-restricted-imports': [
    'error',
    {
      paths: [{ name: 'vscode', message: "Only src/extension/ may import 'vscode': the core must run headless." }],
    },
  ],
};

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
  { files: ['src/**', 'webview/**'], ignores: ['src/extension/**'], rules: vscodeImportBan },
);
