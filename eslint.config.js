// ESLint flat config for the CNN Viz tab (frontend/: browser ES modules, no build step).
// Run by scripts/test.sh before pytest: npx --no-install eslint frontend
import js from "@eslint/js";
import globals from "globals";

// Text from the logs (run, layer, label and class names) goes into the page as text, never as markup.
const NO_MARKUP = [
  { selector: "MemberExpression[property.name=/^(innerHTML|outerHTML)$/]", message: "Build elements with dom.js's el() and textContent, never markup." },
  { selector: "CallExpression[callee.property.name=/^(insertAdjacentHTML|write|writeln)$/]", message: "Build elements with dom.js's el() and textContent, never markup." },
];

export default [
  { ignores: ["node_modules/", "tests/", "build/", "dist/", ".venv/"] },
  js.configs.recommended,
  {
    files: ["frontend/**/*.js"],
    languageOptions: { ecmaVersion: 2024, sourceType: "module", globals: globals.browser },
    rules: {
      "max-lines": ["error", { max: 300 }],
      "max-lines-per-function": ["error", { max: 60, skipBlankLines: true, skipComments: true }],
      "max-params": ["error", 6],
      complexity: ["error", 20],
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-new-func": "error",
      "no-restricted-syntax": ["error", ...NO_MARKUP],
      "no-var": "error",
      "prefer-const": "error",
      "object-shorthand": "error",
      "no-unused-vars": ["error", { args: "none" }],
    },
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { ecmaVersion: 2024, sourceType: "module" },
  },
];
