#!/usr/bin/env node
// Builds the console into <outDir>: type-checks with tsc, bundles src/main.ts and src/styles.css with esbuild
// under content-hashed names in ui/, and writes index.html pointing at them. Usage: node build.mjs <outDir>
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(process.argv[2] ?? path.join(here, 'dist'));

const tsc = spawnSync(process.execPath, [path.join(here, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', here], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('MAAS-CONSOLE: type errors (above) in src/Maas.Console');
  process.exit(1);
}

fs.rmSync(outDir, { recursive: true, force: true });
let result;
try {
result = await esbuild.build({
  entryPoints: { app: path.join(here, 'src/main.ts'), style: path.join(here, 'src/styles.css') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  outdir: path.join(outDir, 'ui'),
  entryNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});
} catch {
  console.error('MAAS-CONSOLE: the bundler failed (errors above) in src/Maas.Console');
  process.exit(1);
}

const outputs = Object.keys(result.metafile.outputs).map((file) => path.relative(outDir, path.resolve(file)).split(path.sep).join('/'));
const script = outputs.find((f) => /^ui\/app-.*\.js$/.test(f));
const style = outputs.find((f) => /^ui\/style-.*\.css$/.test(f));
if (!script || !style) {
  console.error(`MAAS-CONSOLE: bundle outputs not found in ${outputs.join(', ')}`);
  process.exit(1);
}

const page = fs.readFileSync(path.join(here, 'static/index.html'), 'utf8')
  .replace('{{script}}', '/' + script)
  .replace('{{style}}', '/' + style);
fs.writeFileSync(path.join(outDir, 'index.html'), page);
for (const file of fs.readdirSync(path.join(here, 'static'))) {
  if (file !== 'index.html') fs.copyFileSync(path.join(here, 'static', file), path.join(outDir, 'ui', file));
}
console.log(`console built: ${outputs.join(', ')}`);
