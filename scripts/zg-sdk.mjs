#!/usr/bin/env node
// Upload to and download from 0G Storage with the official TypeScript SDK
// (@0gfoundation/0g-ts-sdk, installed into tools/ by scripts/setup). The compatibility tests
// and the storage benchmark use it to check our dev node and client against the real thing.
//
//   node scripts/zg-sdk.mjs upload   --rpc URL --key 0xPRIVKEY --indexer URL --file PATH
//   node scripts/zg-sdk.mjs download --indexer URL --root 0xROOT --out PATH [--proof]
//   (either takes --timeout SECONDS, default 180)
//
// Prints one JSON line on stdout; the SDK's own chatter goes to stderr.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tools', 'package.json'));
let sdk, ethers;
try {
  sdk = require('@0gfoundation/0g-ts-sdk');
  ethers = require('ethers');
} catch (e) {
  console.error(`the official 0G SDK is not installed (${e.message}): run scripts/setup`);
  process.exit(3);
}

// Keep stdout for our one JSON line.
console.log = (...args) => console.error(...args);

function args(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[a.slice(2)] = true;
    else { out[a.slice(2)] = next; i++; }
  }
  return out;
}

function need(o, k) {
  if (o[k] === undefined || o[k] === true) throw new Error(`--${k} is required`);
  return o[k];
}

async function upload(o) {
  const provider = new ethers.JsonRpcProvider(need(o, 'rpc'));
  const signer = new ethers.Wallet(need(o, 'key'), provider);
  const indexer = new sdk.Indexer(need(o, 'indexer'));
  const file = await sdk.ZgFile.fromFilePath(need(o, 'file'));
  const started = process.hrtime.bigint();
  try {
    const [res, err] = await indexer.upload(file, need(o, 'rpc'), signer);
    if (err) throw err;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { rootHash: res.rootHash, txHash: res.txHash, txSeq: Number(res.txSeq), seconds };
  } finally {
    await file.close();
  }
}

async function download(o) {
  const indexer = new sdk.Indexer(need(o, 'indexer'));
  const started = process.hrtime.bigint();
  const err = await indexer.download(need(o, 'root'), need(o, 'out'), o.proof === true);
  if (err) throw err;
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

const [cmd, ...rest] = process.argv.slice(2);
try {
  const o = args(rest);
  // The SDK polls without a deadline (it waits for finality forever); we do not.
  const limit = Number(o.timeout ?? 180);
  setTimeout(() => {
    console.error(`zg-sdk: ${cmd} did not finish within ${limit} s`);
    process.exit(4);
  }, limit * 1000).unref();
  let out;
  if (cmd === 'upload') out = await upload(o);
  else if (cmd === 'download') out = await download(o);
  else throw new Error(`unknown command ${cmd ?? '(none)'}: use upload or download`);
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
} catch (e) {
  console.error(`zg-sdk: ${e?.stack ?? e}`);
  process.exit(1);
}
