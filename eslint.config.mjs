// ESLint for the TypeScript in lib/, test/, bench/ and examples/ (`npm run lint`): ESLint's and typescript-eslint's
// recommended rules, with eslint-config-prettier switching off the rules about layout, which Prettier owns
// (.prettierrc.json). typescript-eslint stays below 8.56, whose eslint-visitor-keys 5 does not admit Node 22.12, the
// oldest Node package.json's engines admits (.ci/check-engines.js).
import comments from '@eslint-community/eslint-plugin-eslint-comments/configs';
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'prebuilds/', 'test/fixtures/', 'bench/results/'] },
  {
    files: ['lib/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended, comments.recommended, prettier],
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `_`-prefixed names are deliberately unused (a callback's leading parameters, a skipped array element).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      // Every eslint-disable comment says why, after `--`, beside it.
      '@eslint-community/eslint-comments/require-description': ['error', { ignore: ['eslint-enable'] }],
    },
  },
);
