// The issue-16 scenario in a real browser (Debian's Chromium, headless, driven by
// playwright-core from tools/node_modules), against two running `zgvault-ui` servers on a
// live devnet. Started by client/ui/tests/browser.rs, which passes:
//
//   UI_A, UI_B     the session URLs (with token) of the owner's and the reader's servers
//   RPC_URL        the devnet chain (to fund the owner's brand-new account, as a faucet)
//   BOB_KEY        the reader's funded devnet key, imported through the UI
//   CSV            the file the owner uploads
//   OUT            where the reader's download is saved
//   SHOTS          where screenshots go (docs/ui/)
//   CHROMIUM       the browser executable
//
// Prints one JSON line with what the Rust side checks again ({fileId, rootHash, saved}).
import { createRequire } from "node:module";
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const toolsRequire = createRequire(join(process.cwd(), "tools", "package.json"));
const { chromium } = toolsRequire("playwright-core");

const A = env("UI_A"), B = env("UI_B"), SHOTS = env("SHOTS");
const PASS = "a long devnet passphrase";
const TIMEOUT = 180_000;
mkdirSync(SHOTS, { recursive: true });
const step = (s) => console.error(`browser: ${s}`);

const browser = await chromium.launch({ executablePath: env("CHROMIUM"), headless: true, args: ["--no-sandbox"] });
try {
  const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const ctxA = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const ctxB = await browser.newContext({ viewport: { width: 420, height: 860 }, acceptDownloads: true });
  const alice = await ctxA.newPage();
  const bob = await ctxB.newPage();
  alice.setDefaultTimeout(TIMEOUT);
  bob.setDefaultTimeout(TIMEOUT);

  step("a new user opens the URL and creates an identity");
  await alice.goto(A);
  assert.equal(new URL(alice.url()).search, "", "the token must be stripped from the address bar");
  await alice.getByRole("heading", { name: "Welcome to zgvault" }).waitFor();
  await shot(alice, "start");
  await alice.getByLabel("Passphrase", { exact: true }).fill(PASS);
  await alice.getByLabel("Passphrase again").fill(PASS);
  await alice.getByRole("button", { name: "Create my identity" }).click();
  await alice.getByRole("heading", { name: "Upload files" }).waitFor();
  const aliceAddr = await alice.locator("#who .mono").getAttribute("title");
  assert.match(aliceAddr, /^0x[0-9a-fA-F]{40}$/);

  // A brand-new account has no gas: the devnet's faucet (anvil_setBalance) funds it.
  const rpc = await fetch(env("RPC_URL"), {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "anvil_setBalance", params: [aliceAddr, "0x56BC75E2D63100000"] }),
  });
  assert.equal(rpc.status, 200);

  step("uploads a CSV, gated by a pass, and watches its progress");
  await alice.getByLabel("People I give a pass to").check();
  await alice.locator("#files-input").setInputFiles(env("CSV"));
  const card = alice.locator(".card").first();
  await card.locator("progress").waitFor();
  const root = card.locator("[data-roothash]");
  await root.waitFor();
  const rootHash = await root.getAttribute("data-roothash");
  const fileId = (await card.locator("a.mono").textContent()).trim();
  assert.match(rootHash, /^0x[0-9a-f]{64}$/);
  await shot(alice, "upload");

  step("the upload survives a reload: the operation is still listed, finished");
  await alice.reload();
  await alice.locator(`[data-roothash="${rootHash}"]`).waitFor();

  step("sees it in My files with its rootHash, reached with the keyboard");
  await alice.getByRole("link", { name: "Upload" }).focus();
  await alice.keyboard.press("Tab");
  await alice.keyboard.press("Enter");
  await alice.getByRole("heading", { name: "My files" }).waitFor();
  const row = alice.locator(`tr[data-file="${fileId}"]`);
  await row.waitFor();
  assert.equal(await row.locator("td[data-label=rootHash]").getAttribute("title"), rootHash);
  await row.getByText("csv").first().waitFor();
  await shot(alice, "my-files");

  step("locks, then unlocks with the passphrase (a wrong one is refused, saying so)");
  await alice.getByRole("button", { name: "Lock" }).click();
  await alice.getByRole("heading", { name: "Unlock your key" }).waitFor();
  await alice.getByLabel("Passphrase").fill("not the passphrase");
  await alice.getByRole("button", { name: "Unlock" }).click();
  await alice.getByText("this passphrase does not unlock the key").waitFor();
  await shot(alice, "unlock");
  await alice.getByLabel("Passphrase").fill(PASS);
  await alice.getByRole("button", { name: "Unlock" }).click();
  await alice.getByRole("heading", { name: "My files" }).waitFor();
  await alice.locator(`tr[data-file="${fileId}"]`).waitFor();

  step("a second user (own browser context and keystore) imports their key");
  await bob.goto(B);
  await bob.getByRole("heading", { name: "Welcome to zgvault" }).waitFor();
  await bob.getByLabel("Passphrase", { exact: true }).fill(PASS);
  await bob.getByLabel("Passphrase again").fill(PASS);
  await bob.getByLabel("Existing private key (optional)").fill(env("BOB_KEY"));
  await bob.getByRole("button", { name: "Create my identity" }).click();
  await bob.getByRole("heading", { name: "Upload files" }).waitFor();
  const bobAddr = await bob.locator("#who .mono").getAttribute("title");

  step("the owner shares the file with them");
  await alice.goto(`${new URL(A).origin}/#/files/${fileId}`);
  await alice.getByRole("heading", { name: "Share" }).waitFor();
  await alice.getByLabel("Reader's address").first().fill(bobAddr);
  await alice.getByRole("button", { name: "Share", exact: true }).click();
  const dialog = alice.locator("#confirm");
  await dialog.getByText("What it does not do").waitFor();
  await dialog.getByRole("button", { name: "Share" }).click();
  await alice.locator("main").getByText(`Shared with ${bobAddr}`).waitFor();
  await shot(alice, "file-detail");

  step("the reader downloads it, decrypted locally, byte-identical");
  await bob.goto(`${new URL(B).origin}/#/shared/${fileId}`);
  const download = bob.getByRole("button", { name: "Download and decrypt" });
  await download.waitFor();
  const [saved] = await Promise.all([bob.waitForEvent("download", { timeout: TIMEOUT }), download.click()]);
  const out = env("OUT");
  await saved.saveAs(out);
  assert.deepEqual(readFileSync(out), readFileSync(env("CSV")), "the download differs from the upload");
  await bob.getByText("Decrypted here").waitFor();
  await shot(bob, "shared-with-me");

  step("the owner revokes; the confirmation says what revocation does not do");
  await alice.getByLabel("Reader's address").nth(1).fill(bobAddr);
  await alice.getByRole("button", { name: "Revoke", exact: true }).click();
  await dialog.getByText("revocation stops future releases only").waitFor();
  // Escape cancels: nothing is sent.
  await alice.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
  assert.equal(await alice.locator("main").getByText(`Revoked ${bobAddr}`).count(), 0);
  await alice.getByRole("button", { name: "Revoke", exact: true }).click();
  await dialog.getByText("revocation stops future releases only").waitFor();
  await dialog.getByRole("button", { name: "Revoke" }).click();
  await alice.locator("main").getByText(`Revoked ${bobAddr}`).waitFor();

  step("the reader now sees a clear refusal saying why");
  await bob.goto(`${new URL(B).origin}/#/shared/${fileId}`);
  await bob.reload();
  const refusal = bob.locator("[data-refusal]");
  await refusal.waitFor();
  const text = await refusal.textContent();
  assert.match(text, /revoked/i, text);
  assert.match(text, /What to do/, text);
  await shot(bob, "refused");

  step("Ask says local RAG is not installed; Network shows the nodes and the epoch");
  await alice.goto(`${new URL(A).origin}/#/ask`);
  await alice.locator("[data-rag=missing]").waitFor();
  await shot(alice, "ask");
  await alice.goto(`${new URL(A).origin}/#/network`);
  await alice.getByRole("heading", { name: /Key network — epoch 1/ }).waitFor();
  await shot(alice, "network");

  step("the server refuses a request without the token, from a foreign Origin, with a wrong Host");
  const origin = new URL(A).origin;
  const stranger = await browser.newContext();
  const noToken = await stranger.request.get(`${origin}/api/files`);
  assert.equal(noToken.status(), 401);
  await stranger.close();
  const cookies = await ctxA.cookies(origin);
  const cookie = cookies.map((c) => `${c.name}=${c.value}`).join("; ");
  const api = ctxA.request;
  const foreign = await api.post(`${origin}/api/identity/lock`, { headers: { Origin: "http://evil.example", Cookie: cookie } });
  assert.equal(foreign.status(), 403);
  const rebound = await api.get(`${origin}/api/files`, { headers: { Host: `evil.example:${new URL(A).port}`, Cookie: cookie } });
  assert.equal(rebound.status(), 421);
  // Still signed in: the refused lock did nothing.
  const still = await api.get(`${origin}/api/session`);
  assert.equal((await still.json()).unlocked, true);

  console.log(JSON.stringify({ fileId, rootHash, saved: out, alice: aliceAddr, bob: bobAddr }));
} finally {
  await browser.close();
}
