#!/usr/bin/env node
// Computes 0G file roots with the official TypeScript SDK (@0gfoundation/0g-ts-sdk,
// installed into tools/node_modules by scripts/setup), offline, so the Rust client can be
// checked against it. Prints one JSON object per line.
//
//   node scripts/zg-sdk-root.mjs SIZE[:PATTERN[:SEED]][@FRAGMENT] ...
//   echo "1 257:xorshift:7 5000@1024" | node scripts/zg-sdk-root.mjs --stdin
//   node scripts/zg-sdk-root.mjs --file PATH [--fragment BYTES]
//
// PATTERN generates the bytes, the same way as the Rust tests (client/tests/common):
//   mod251   byte[i] = (i*31 + 7) % 251   (default; the pattern of the shared vectors)
//   zeros    all zero
//   xorshift little-endian words of xorshift32 (x ^= x<<13; x ^= x>>>17; x ^= x<<5),
//            state starting at SEED (0 means 0x9e3779b9)
// @FRAGMENT splits the data the way the SDK's Uploader.splitableUpload does (fragment size
// at least 256, rounded up to a power of two, AbstractFile.split) and prints one line per
// fragment.
//
// Env: ZGSDK_DIR, the folder holding node_modules/@0gfoundation/0g-ts-sdk (default tools/).
// Exit status 2 when the SDK is not installed: run scripts/setup.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sdkDir = process.env.ZGSDK_DIR ?? path.join(here, '..', 'tools');
const entry = path.join(sdkDir, 'node_modules/@0gfoundation/0g-ts-sdk/lib.esm/index.js');
if (!fs.existsSync(entry)) {
  console.error(`0G TypeScript SDK not found at ${entry}: run scripts/setup`);
  process.exit(2);
}
const sdk = await import(pathToFileURL(entry).href);
const sdkVersion = JSON.parse(
  fs.readFileSync(path.join(sdkDir, 'node_modules/@0gfoundation/0g-ts-sdk/package.json')),
).version;

function generate(size, pattern, seed) {
  const b = new Uint8Array(size);
  if (pattern === 'mod251') {
    for (let i = 0; i < size; i++) b[i] = (i * 31 + 7) % 251;
  } else if (pattern === 'xorshift') {
    let x = seed >>> 0 || 0x9e3779b9;
    for (let i = 0; i < size; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      for (let k = 0; k < 4 && i + k < size; k++) b[i + k] = (x >>> (8 * k)) & 0xff;
    }
  } else if (pattern !== 'zeros') {
    throw new Error(`unknown pattern ${pattern}`);
  }
  return b;
}

// Same normalisation as Uploader.splitableUpload (which needs a network, so it cannot be
// called offline): at least one chunk, then the next power of two.
function normalizeFragment(fragmentSize) {
  return sdk.nextPow2(Math.max(fragmentSize, sdk.DEFAULT_CHUNK_SIZE));
}

async function describe(file, extra) {
  const started = performance.now();
  const [tree, err] = await file.merkleTree();
  if (err) throw err;
  const [submission, subErr] = await file.createSubmission('0x');
  if (subErr) throw subErr;
  const ms = performance.now() - started;
  const nodes = submission.data.nodes.map((n) => ({ root: n.root, height: Number(n.height) }));
  return {
    ...extra,
    sdkVersion,
    rootHash: tree ? tree.rootHash() : null,
    length: Number(submission.data.length),
    numChunks: file.numChunks(),
    paddedChunks: file.paddedSize() / sdk.DEFAULT_CHUNK_SIZE,
    segmentsUploaded: file.numSegments(),
    segmentsInTree: file.numSegmentsPadded(),
    feeSectors: nodes.reduce((a, n) => a + 2 ** n.height, 0),
    nodes,
    ms: Math.round(ms),
  };
}

async function run(file, fragment, extra) {
  if (fragment === undefined || file.size() <= normalizeFragment(fragment)) {
    console.log(JSON.stringify(await describe(file, { ...extra, fragment: 0, offset: 0 })));
    return;
  }
  const step = normalizeFragment(fragment);
  const parts = file.split(step);
  for (let i = 0; i < parts.length; i++) {
    const line = await describe(parts[i], { ...extra, fragment: i, offset: i * step });
    console.log(JSON.stringify(line));
  }
}

const args = process.argv.slice(2);
if (args[0] === '--file') {
  const filePath = args[1];
  const fragment = args[2] === '--fragment' ? Number(args[3]) : undefined;
  const file = await sdk.ZgFile.fromFilePath(filePath);
  try {
    await run(file, fragment, { file: filePath, size: file.size() });
  } finally {
    await file.close();
  }
} else {
  const specs = args[0] === '--stdin' ? fs.readFileSync(0, 'utf8').split(/\s+/).filter(Boolean) : args;
  if (specs.length === 0) {
    console.error('usage: zg-sdk-root.mjs SIZE[:PATTERN[:SEED]][@FRAGMENT] ... | --stdin | --file PATH');
    process.exit(64);
  }
  for (const spec of specs) {
    const [body, frag] = spec.split('@');
    const [sizeStr, pattern = 'mod251', seedStr = '0'] = body.split(':');
    const size = Number(sizeStr);
    const seed = Number(seedStr);
    const data = generate(size, pattern, seed);
    await run(new sdk.MemData(data), frag === undefined ? undefined : Number(frag), { spec, size, pattern, seed });
  }
}
