#!/usr/bin/env node
/**
 * (Re)create the project-local Jupyter kernelspec for the notebooks: `npm run kernel`.
 *
 * Writes `jupyter/kernels/channel-distill/kernel.json`, beside the launcher `start.cjs` stored there
 * (committed; it documents its tslab patches). Nothing is installed globally:
 * Jupyter finds the kernel when `JUPYTER_PATH` points at this project's `jupyter/` folder
 * (scripts/run-notebooks.ts sets it; for JupyterLab run `JUPYTER_PATH=$PWD/jupyter jupyter lab`).
 *
 * The kernel is tslab (TypeScript) from this project's node_modules, started with the working
 * directory at the project root, so every notebook imports the library as `./lib` (tslab only
 * compiles files under its working directory) and writes figures under `runs/`.
 *
 * Usage: node scripts/install-kernel.cjs [--check]   (--check: exit 1 if kernel.json is missing or stale, or
 * start.cjs is missing)
 */
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const kernelName = 'channel-distill';
const kernelDir = path.join(root, 'jupyter', 'kernels', kernelName);

const kernelJson = JSON.stringify({
  argv: ['node', '{resource_dir}/start.cjs', '{connection_file}'],
  display_name: 'TypeScript (channel-distill)',
  language: 'typescript',
  metadata: { debugger: false },
}, null, 2) + '\n';

function main() {
  const check = process.argv.includes('--check');
  const launcher = path.join(kernelDir, 'start.cjs');
  if (!fs.existsSync(launcher)) {
    console.error(`${path.relative(root, launcher)} is missing (it is committed: restore it with git checkout -- ${path.relative(root, launcher)})`);
    process.exit(1);
  }
  const jsonPath = path.join(kernelDir, 'kernel.json');
  if (check) {
    if (!fs.existsSync(jsonPath) || fs.readFileSync(jsonPath, 'utf8') !== kernelJson) {
      console.error(`kernelspec ${path.relative(root, jsonPath)} is missing or stale: run 'npm run kernel'`);
      process.exit(1);
    }
    return;
  }
  fs.writeFileSync(jsonPath, kernelJson);
  console.log(`kernelspec '${kernelName}' written to ${path.relative(root, kernelDir)}/ (kernel.json; the launcher start.cjs is committed)`);
  console.log(`use it with: JUPYTER_PATH=${path.join(root, 'jupyter')} jupyter lab   (or: npm run notebooks)`);
}

main();
