// eslint for the console (`npm run lint`, also run by scripts/test.sh):
// eslint's and typescript-eslint's recommended rules, and React's hooks
// rules (react-hooks recommended: the rules of hooks, exhaustive deps and
// the compiler's checks).
import js from '@eslint/js';
import globals from 'globals';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'src/api/schema.d.ts'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  reactHooks.configs.flat.recommended,
  {
    languageOptions: { globals: { ...globals.browser } },
  },
);
