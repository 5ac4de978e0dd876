#!/usr/bin/env node
// Fetches one pinned native engine build from the npm registry (via `npm pack`, so npm's own
// registry configuration applies), extracts only the listed files, verifies their SHA-256 and
// installs them into the user cache folder. Re-running with a complete, verified cache does nothing.
//
// Usage: node fetch-native.mjs <engine> <cacheRoot> <platform>
// Prints exactly one "MAAS-NATIVE-ERROR: ..." line on failure and exits 1.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [engineName, cacheRoot, platform] = process.argv.slice(2);

function fail(message) {
  // One line, no semicolons: MSBuild turns it into the build's error message.
  console.log(`MAAS-NATIVE-ERROR: ${message.replaceAll(';', ',')}`);
  process.exit(1);
}

if (!engineName || !cacheRoot || !platform) fail('usage: fetch-native.mjs <engine> <cacheRoot> <platform>');

const manifest = JSON.parse(fs.readFileSync(path.join(here, 'engines.json'), 'utf8'));
const engine = manifest.engines[engineName];
if (!engine) fail(`unknown engine '${engineName}' (engines.json lists: ${Object.keys(manifest.engines).join(', ')})`);
const target = engine.platforms[platform];
const pinned = target && Object.values(target.files).every((h) => typeof h === 'string');
if (!pinned) {
  fail(`no pinned ${engineName} build for platform ${platform} - build or download one yourself and set MAAS_NATIVE_DIR to its folder`);
}

const pkg = target.package ?? engine.package;
const version = engine.version;
const installDir = path.join(cacheRoot, `${engineName}-${version}`, platform);

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

function cacheIsComplete() {
  for (const [entry, hash] of Object.entries(target.files)) {
    const file = path.join(installDir, path.basename(entry));
    if (!fs.existsSync(file)) return false;
    if (sha256(fs.readFileSync(file)) !== hash) return false;
  }
  return true;
}

if (cacheIsComplete()) process.exit(0);

// Reads a (gzip-decompressed) tar archive and returns the entries we want, by name.
function extractTarEntries(tar, wanted) {
  const found = new Map();
  let offset = 0;
  let longName = null;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start, len) => header.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '');
    let name = field(0, 100);
    const prefix = field(345, 155);
    if (prefix) name = `${prefix}/${name}`;
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 48);
    const body = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'L') { longName = body.toString('utf8').replace(/\0.*$/s, ''); continue; }
    if (longName) { name = longName; longName = null; }
    if ((type === '0' || type === '\0') && wanted.has(name)) found.set(name, Buffer.from(body));
  }
  return found;
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const probe = spawnSync(npm, ['--version'], { encoding: 'utf8', shell: process.platform === 'win32' });
if (probe.error || probe.status !== 0) {
  fail(`npm was not found on PATH: install Node.js with npm, or set MAAS_NATIVE_DIR to a folder holding the ${engineName} libraries`);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'maas-native-'));
try {
  console.log(`MAAS-NATIVE: fetching ${pkg}@${version} for ${platform} (one time; cached in ${installDir})`);
  const pack = spawnSync(npm, ['pack', `${pkg}@${version}`, '--pack-destination', work, '--silent'], {
    encoding: 'utf8',
    shell: process.platform === 'win32',
    maxBuffer: 64 * 1024 * 1024,
  });
  const tgzName = fs.readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (pack.status !== 0 || !tgzName) {
    const reason = (pack.stderr || '').split('\n').find((l) => /ERR|error/i.test(l)) ?? 'no tarball produced';
    fail(`'npm pack ${pkg}@${version}' failed (${reason.trim()}), check npm's registry access, or set MAAS_NATIVE_DIR`);
  }
  const tar = zlib.gunzipSync(fs.readFileSync(path.join(work, tgzName)));
  const wanted = new Set(Object.keys(target.files));
  const entries = extractTarEntries(tar, wanted);

  const staging = fs.mkdtempSync(path.join(ensureDir(cacheRoot), '.staging-'));
  for (const [entry, expected] of Object.entries(target.files)) {
    const data = entries.get(entry);
    if (!data) fail(`${pkg}@${version} has no file ${entry}; engines.json does not match the package`);
    const actual = sha256(data);
    if (actual !== expected) {
      fail(`checksum mismatch for ${entry} in ${pkg}@${version}: expected ${expected}, got ${actual} - the registry served a different build, so nothing was installed`);
    }
    fs.writeFileSync(path.join(staging, path.basename(entry)), data, { mode: 0o755 });
  }
  // Swap the verified folder into place in one rename so a reader never sees half a cache.
  fs.rmSync(installDir, { recursive: true, force: true });
  ensureDir(path.dirname(installDir));
  fs.renameSync(staging, installDir);
  console.log(`MAAS-NATIVE: ${engineName} ${version} installed and verified in ${installDir}`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

function ensureDir(dir) {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
