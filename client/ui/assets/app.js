// zgvault's web app. Plain JavaScript, no framework, no build step: every page is built
// with DOM calls and textContent (never parsed as markup), so nothing a file, a node or the
// chain says can become markup. It talks only to the local server that served it.
"use strict";

const $ = (sel) => document.querySelector(sel);
const main = () => $("#main");

// ---------- small helpers ----------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

function field(labelText, input, hint) {
  const id = input.id || nextId("f");
  input.id = id;
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  return h("div", {}, h("label", { for: id }, labelText), hintEl, input);
}

function announce(text) {
  const live = $("#live");
  live.textContent = "";
  setTimeout(() => { live.textContent = text; }, 50);
}

function page(title, ...children) {
  const m = main();
  m.replaceChildren(h("h1", { tabindex: "-1" }, title), ...children);
  document.title = `${title} · zgvault`;
  m.querySelector("h1").focus();
}

function errorBox(err) {
  return h("p", { class: "error", role: "alert" }, err.error || String(err));
}

// Block explorers of the public 0G networks, by chain id (the devnet has none). Links
// are navigations the user chooses; the page itself never loads anything from them.
const EXPLORERS = { 16602: "https://chainscan-galileo.0g.ai", 16661: "https://chainscan.0g.ai" };

// A transaction hash, linked to the network's explorer when it has one.
function txView(hash, text) {
  const base = EXPLORERS[session.chainId];
  if (!hash || !base) return h("span", { class: "mono", title: hash || "" }, text || hash || "—");
  return h("a", { href: `${base}/tx/${hash}`, class: "mono", target: "_blank", rel: "noopener noreferrer", title: hash }, text || hash);
}

const short = (hex) => (hex && hex.length > 18 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex || "");

function bytes(n) {
  n = Number(n);
  if (!Number.isFinite(n)) return "?";
  const u = ["bytes", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

// Wei as 0G with four decimals (BigInt: balances exceed a double's precision).
function balance(wei) {
  try {
    const w = BigInt(wei);
    const unit = 10n ** 18n;
    const frac = ((w % unit) * 10000n) / unit;
    return `${w / unit}.${frac.toString().padStart(4, "0")} 0G`;
  } catch { return `${wei} wei`; }
}

function when(unix) {
  return unix ? new Date(Number(unix) * 1000).toLocaleString() : "—";
}

// Remembered on this device only: names of files put here (the registry never sees
// them), files others shared, the Ask history.
const store = {
  get(key, fallback) {
    try { return JSON.parse(localStorage.getItem(`zgvault.${key}`)) ?? fallback; } catch { return fallback; }
  },
  set(key, value) { localStorage.setItem(`zgvault.${key}`, JSON.stringify(value)); },
};
const fileNotes = () => store.get("files", {});
function noteFile(fileId, note) {
  const all = fileNotes();
  all[fileId.toLowerCase()] = { ...(all[fileId.toLowerCase()] || {}), ...note };
  store.set("files", all);
}

// ---------- the API ----------

async function api(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let data;
  try { data = text ? JSON.parse(text) : {}; } catch { data = { error: text, kind: "failed" }; }
  if (!r.ok) {
    const err = { status: r.status, ...(typeof data === "object" ? data : { error: text }) };
    if (err.kind === "locked") { session.unlocked = false; route(); }
    throw err;
  }
  return data;
}

// Follows an operation until it ends; works again after a reload (ops live on the server).
function watchOp(id, onUpdate) {
  return new Promise((resolve) => {
    const es = new EventSource(`/api/ops/${id}/events`);
    es.addEventListener("op", (ev) => {
      const snap = JSON.parse(ev.data);
      onUpdate(snap);
      if (snap.state !== "running") { es.close(); resolve(snap); }
    });
    es.onerror = () => {
      // The stream broke (server stopped, or the op is gone): show the last known state.
      es.close();
      api("GET", `/api/ops/${id}`).then((snap) => { onUpdate(snap); resolve(snap); })
        .catch((e) => { onUpdate({ id, state: "failed", error: e, stage: "" }); resolve(null); });
    };
  });
}

function progressView(label) {
  const bar = h("progress", { max: "1", value: "0", "aria-label": `${label} progress` });
  const stage = h("p", { class: "stage" }, "starting");
  const out = h("div", { class: "result" });
  const update = (snap) => {
    stage.textContent = snap.state === "running"
      ? `${snap.stage}${snap.total ? ` — ${Math.floor((100 * snap.done) / snap.total)}%` : ""}`
      : snap.state === "done" ? "done" : "failed";
    if (snap.state === "done") { bar.max = 1; bar.value = 1; }
    else if (snap.state === "failed") { bar.max = 1; bar.value = 0; }
    else if (snap.total) { bar.max = snap.total; bar.value = snap.done; }
    else bar.removeAttribute("value");
  };
  return { el: h("div", {}, stage, bar, out), update, out };
}

function confirmDialog(title, does, doesNot, okText, danger) {
  const dlg = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-body").replaceChildren(
    h("p", {}, h("strong", {}, "What it does: "), does),
    h("p", {}, h("strong", {}, "What it does not do: "), doesNot),
  );
  const ok = $("#confirm-ok");
  ok.textContent = okText;
  ok.className = danger ? "danger" : "primary";
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.returnValue = "cancel";
    dlg.showModal();
  });
}

// ---------- session ----------

const session = { unlocked: false, address: null, network: null, identity: null, askInstalled: false };

async function loadSession() {
  Object.assign(session, await api("GET", "/api/session"));
}

function renderWho() {
  const who = $("#who");
  $("#nav").hidden = !session.unlocked;
  if (!session.unlocked) { who.replaceChildren(); return; }
  who.replaceChildren(
    h("span", {}, `Signed in as `, h("span", { class: "mono", title: session.address }, short(session.address)), ` on ${session.network}`),
    h("button", { type: "button", onclick: async () => { await api("POST", "/api/identity/lock"); session.unlocked = false; route(); announce("Locked"); } }, "Lock"),
  );
}

function startPage() {
  const id = session.identity || {};
  if (id.keystoreExists) {
    const pass = h("input", { type: "password", autocomplete: "current-password", required: true });
    const msg = h("div", {});
    const form = h("form", {
      onsubmit: async (e) => {
        e.preventDefault();
        msg.replaceChildren(h("p", { class: "stage" }, "Unlocking (this takes a few seconds)…"));
        try {
          await api("POST", "/api/identity/unlock", { passphrase: pass.value });
          pass.value = "";
          await loadSession();
          location.hash = "#/files";
          route();
          announce("Unlocked");
        } catch (err) { msg.replaceChildren(errorBox(err)); pass.focus(); }
      },
    }, field("Passphrase", pass, "The passphrase of your zgvault key on this computer. It is used once to unlock the key and never stored."),
    h("div", { class: "buttons" }, h("button", { class: "primary", type: "submit" }, "Unlock")), msg);
    page("Unlock your key", h("p", {}, "Your key is in ", h("span", { class: "mono" }, id.keystore), "."), form);
    pass.focus();
    return;
  }
  const pass = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: "8" });
  const again = h("input", { type: "password", autocomplete: "new-password", required: true });
  const key = h("input", { type: "password", autocomplete: "off", placeholder: "0x… (leave empty for a new key)" });
  const msg = h("div", {});
  const form = h("form", {
    onsubmit: async (e) => {
      e.preventDefault();
      if (pass.value !== again.value) { msg.replaceChildren(errorBox({ error: "The two passphrases differ: type the same one twice." })); again.focus(); return; }
      msg.replaceChildren(h("p", { class: "stage" }, "Creating your key (this takes a few seconds)…"));
      try {
        const r = await api("POST", "/api/identity/create", { passphrase: pass.value, importKey: key.value || null });
        pass.value = again.value = key.value = "";
        await loadSession();
        location.hash = "#/upload";
        route();
        announce(`Identity ready: ${r.address}`);
      } catch (err) { msg.replaceChildren(errorBox(err)); }
    },
  },
  field("Passphrase", pass, "At least 8 characters. It protects your key on this computer; zgvault cannot recover it for you."),
  field("Passphrase again", again),
  field("Existing private key (optional)", key, "To use an account you already have, paste its private key; otherwise a new one is made."),
  h("div", { class: "buttons" }, h("button", { class: "primary", type: "submit" }, "Create my identity")), msg);
  page("Welcome to zgvault",
    h("p", {}, "Your files are encrypted on this computer before they leave it. Only people you allow can get the key to read them."),
    h("p", {}, `Your key will be kept, encrypted with your passphrase, in ${id.keystore || "your zgvault folder"} (network: ${id.network}).`),
    form);
  pass.focus();
}

// ---------- upload ----------

const CUSTODY = [
  ["threshold", "Key network (recommended)", "Your file's key is locked so that several independent key nodes must agree before anyone gets it; no single node can read or leak it."],
  ["custodial", "Custodial vault", "One vault service keeps your file's key in a hardware security module and hands it only to allowed readers. Simpler, but you trust that one operator."],
  ["shamir", "Split among the key nodes (Shamir)", "Your file's key is split into shares, one per key node; enough of them together can rebuild it. Lets you shred the key later."],
];

function whoMayRead() {
  const name = nextId("who");
  const opt = (value, label, hint, more, checked) => {
    const id = nextId("r");
    const input = h("input", { type: "radio", name, value, id, checked });
    return h("div", { class: "choice" }, input, h("label", { for: id }, label, h("p", { class: "hint" }, hint)), more ? h("div", { class: "more" }, more) : null);
  };
  const addrs = h("textarea", { "aria-label": "Addresses, one per line" });
  const nft = h("input", { type: "text", "aria-label": "NFT collection contract address", placeholder: "0x… collection contract" });
  const erc20 = h("input", { type: "text", "aria-label": "ERC-20 token contract address", placeholder: "0x… token contract" });
  const erc20min = h("input", { type: "text", "aria-label": "Minimum ERC-20 balance (base units)", placeholder: "minimum balance, base units" });
  const e1155 = h("input", { type: "text", "aria-label": "ERC-1155 contract address", placeholder: "0x… contract" });
  const e1155id = h("input", { type: "text", "aria-label": "ERC-1155 token id", placeholder: "token id" });
  const e1155min = h("input", { type: "text", "aria-label": "Minimum ERC-1155 balance", placeholder: "minimum balance" });
  const until = h("input", { type: "date" });
  const fs = h("fieldset", {}, h("legend", {}, "Who may read"),
    opt("me", "Only me", "Nobody else gets the key until you share the file.", null, true),
    opt("pass", "People I give a pass to", "You hand out access passes one by one (My files → Share), and can revoke them."),
    opt("allow", "These addresses", "Exactly these accounts.", addrs),
    opt("erc721", "Holders of an NFT collection", "Anyone holding at least one NFT of this collection.", nft),
    opt("erc20", "Holders of an ERC-20 balance", "Anyone holding at least this much of the token.", [erc20, erc20min]),
    opt("erc1155", "Holders of an ERC-1155 token", "Anyone holding at least this many of this token id.", [e1155, e1155id, e1155min]),
    field("Readable by others until (optional)", until, "After this day only you can get the key. Leave empty for no end."));
  fs.gates = () => {
    const v = fs.querySelector(`input[name=${name}]:checked`).value;
    switch (v) {
      case "me": return [];
      case "pass": return ["pass"];
      case "allow": {
        const list = addrs.value.split(/[\s,]+/).filter(Boolean);
        if (!list.length) throw new Error("Add at least one address, or pick another choice.");
        return [`allow:${list.join(",")}`];
      }
      case "erc721": return [`erc721:${nft.value.trim()}`];
      case "erc20": return [`erc20:${erc20.value.trim()}:${erc20min.value.trim() || "1"}`];
      case "erc1155": return [`erc1155:${e1155.value.trim()}:${e1155id.value.trim()}:${e1155min.value.trim() || "1"}`];
      default: return [];
    }
  };
  fs.notAfter = () => (until.value ? Math.floor(Date.parse(`${until.value}T23:59:59Z`) / 1000) : 0);
  return fs;
}

function custodyChoice(name, current, moving) {
  // A key cannot be moved into Shamir custody (Shamir makes its own key at upload).
  const modes = moving ? CUSTODY.filter(([v]) => v !== "shamir" || current === "shamir") : CUSTODY;
  return h("fieldset", {}, h("legend", {}, "Who keeps the key"),
    modes.map(([value, label, hint]) => {
      const id = nextId("c");
      return h("div", { class: "choice" }, h("input", { type: "radio", name, value, id, checked: value === (current || "threshold") }),
        h("label", { for: id }, label, h("p", { class: "hint" }, hint)));
    }));
}

function putCard(title) {
  const p = progressView(title);
  const card = h("div", { class: "card" }, h("h3", {}, title), p.el);
  return { card, p };
}

function showPutResult(p, snap) {
  if (snap.state === "done" && snap.result) {
    const r = snap.result;
    if (!fileNotes()[r.fileId.toLowerCase()]) {
      noteFile(r.fileId, { name: snap.title, tx: r.registerTx || null, uploadTx: r.uploadTx || null, date: snap.started });
    }
    p.out.replaceChildren(h("dl", { class: "facts" },
      h("dt", {}, "File"), h("dd", {}, h("a", { href: `#/files/${r.fileId}`, class: "mono" }, r.fileId)),
      h("dt", {}, "rootHash"), h("dd", { class: "mono", "data-roothash": r.rootHash }, r.rootHash),
      h("dt", {}, "0G upload tx"), h("dd", {}, r.uploadTx ? txView(r.uploadTx) : "none needed (already on 0G)"),
      h("dt", {}, "Registration tx"), h("dd", {}, r.registerTx ? txView(r.registerTx) : "registered earlier"),
      h("dt", {}, "Key kept by"), h("dd", {}, r.custody)));
    announce(`${snap.title} is stored and protected`);
  } else if (snap.state === "failed") {
    p.out.replaceChildren(errorBox(snap.error || {}));
    announce(`${snap.title} failed`);
  }
}

function uploadPage() {
  const list = h("div", { "aria-label": "Uploads" });
  const who = whoMayRead();
  const cname = nextId("custody");
  const cust = custodyChoice(cname);
  const input = h("input", { type: "file", multiple: true, id: "files-input" });
  const drop = h("div", { class: "drop" },
    h("p", {}, "Drop files here (CSV, JSON, anything), or"),
    h("label", { for: "files-input" }, "choose files"), input);
  const msg = h("div", {});
  const send = (files) => {
    let gates;
    try { gates = who.gates(); } catch (e) { msg.replaceChildren(errorBox({ error: e.message })); return; }
    msg.replaceChildren();
    const custody = cust.querySelector(`input[name=${cname}]:checked`).value;
    const notAfter = who.notAfter();
    for (const file of files) {
      const { card, p } = putCard(file.name);
      list.prepend(card);
      const q = new URLSearchParams({ name: file.name, size: String(file.size), custody, notAfter: String(notAfter) });
      for (const g of gates) q.append("gate", g);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `/api/put?${q}`);
      xhr.upload.onprogress = (e) => p.update({ state: "running", stage: "sending to zgvault on this computer", done: e.loaded, total: e.total });
      xhr.onload = () => {
        let r = {};
        try { r = JSON.parse(xhr.responseText); } catch { /* shown below */ }
        if (xhr.status !== 200 || !r.op) { p.update({ state: "failed" }); p.out.replaceChildren(errorBox(r)); return; }
        watchOp(r.op, (snap) => { p.update(snap); showPutResult(p, snap); });
      };
      xhr.onerror = () => { p.update({ state: "failed" }); p.out.replaceChildren(errorBox({ error: "The local zgvault server did not answer: is it still running?" })); };
      xhr.send(file);
      announce(`Uploading ${file.name}`);
    }
  };
  input.addEventListener("change", () => { if (input.files.length) send([...input.files]); input.value = ""; });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files.length) send([...e.dataTransfer.files]); });
  page("Upload files",
    h("p", {}, "Each file is encrypted here, on this computer, with a fresh key; only the encrypted copy goes to 0G Storage."),
    who, cust, drop, msg, h("h2", {}, "Progress"), list);
  // Uploads of this run, also those started before a reload.
  api("GET", "/api/ops").then((ops) => {
    for (const snap of ops.filter((o) => o.kind === "put").reverse()) {
      const { card, p } = putCard(snap.title);
      list.append(card);
      p.update(snap);
      showPutResult(p, snap);
      if (snap.state === "running") watchOp(snap.id, (s) => { p.update(s); showPutResult(p, s); });
    }
  }).catch(() => {});
}

// ---------- my files ----------

function describePolicy(policy) {
  const any = (policy && policy.anyOf) || [];
  if (!any.length) return "only you (and addresses you added)";
  return any.map((clause) => clause.map((c) => {
    if (c.pass) return "holders of a pass for this file";
    if (c.erc721) return c.id ? `holders of NFT #${c.id} of ${short(c.erc721)}` : `holders of an NFT of ${short(c.erc721)}`;
    if (c.erc20) return `holders of ≥ ${c.min} of token ${short(c.erc20)}`;
    if (c.erc1155) return `holders of ≥ ${c.min} of token #${c.id} of ${short(c.erc1155)}`;
    if (c.notBefore) return `from ${when(c.notBefore)}`;
    if (c.notAfter) return `until ${when(c.notAfter)}`;
    return "a condition this app does not know";
  }).join(" and ")).join("; or ");
}

async function filesPage() {
  const body = h("tbody", {});
  const table = h("div", { class: "table-wrap" }, h("table", { class: "stack" },
    h("caption", { class: "visually-hidden" }, "Your files"),
    h("thead", {}, h("tr", {}, ["Name", "Size", "Registered", "Key kept by", "Who may read", "rootHash", "Registration tx", ""].map((t) => h("th", { scope: "col" }, t)))),
    body));
  const status = h("p", { class: "stage" }, "Reading your files from the chain…");
  page("My files", status, table);
  try {
    const files = await api("GET", "/api/files");
    status.textContent = files.length ? `${files.length} file(s)` : "No files yet: upload one.";
    const notes = fileNotes();
    for (const f of files) {
      const note = notes[f.fileId.toLowerCase()] || {};
      const policyCell = h("td", { "data-label": "Who may read" }, "…");
      const dateCell = h("td", { "data-label": "Registered" }, note.date ? when(note.date) : `block ${f.block ?? "?"}`);
      body.append(h("tr", { "data-file": f.fileId },
        h("td", { "data-label": "Name" }, note.name || h("span", { class: "hint" }, "(name not kept on this device)")),
        h("td", { "data-label": "Size" }, bytes(f.size)),
        dateCell,
        h("td", { "data-label": "Key kept by" }, f.custody === "bls" ? "key network" : f.custody),
        policyCell,
        h("td", { "data-label": "rootHash", class: "mono", title: f.rootHash }, short(f.rootHash)),
        h("td", { "data-label": "Registration tx" }, txView(note.tx, short(note.tx))),
        h("td", {}, h("a", { href: `#/files/${f.fileId}` }, "Open", h("span", { class: "visually-hidden" }, ` ${note.name || f.fileId}`)))));
      api("GET", `/api/files/${f.fileId}`).then((info) => {
        policyCell.textContent = `${describePolicy(info.policy)}; ${info.window}`;
      }).catch((e) => { policyCell.textContent = e.error || "?"; });
    }
  } catch (err) { status.replaceWith(errorBox(err)); }
}

function opButton(label, start, onDone, danger) {
  const p = progressView(label);
  p.el.hidden = true;
  const btn = h("button", { type: "button", class: danger ? "danger" : "primary", onclick: async () => {
    const ok = await start.confirm();
    if (!ok) return;
    btn.disabled = true;
    p.el.hidden = false;
    try {
      const r = await start.run();
      if (r && r.op) {
        const snap = await watchOp(r.op, p.update);
        onDone(snap, p);
      } else {
        p.update({ state: "done" });
        onDone({ state: "done", result: r }, p);
      }
    } catch (err) { p.update({ state: "failed" }); p.out.replaceChildren(errorBox(err)); }
    btn.disabled = false;
  } }, label);
  return h("div", {}, btn, p.el);
}

function resultLine(p, snap, text) {
  if (snap.state === "done") { p.out.replaceChildren(h("p", { class: "ok" }, text(snap.result || {}))); announce(text(snap.result || {})); }
  else p.out.replaceChildren(errorBox(snap.error || {}));
}

async function fileDetailPage(fileId) {
  page("File", h("p", { class: "stage" }, "Reading the record…"));
  let info;
  try { info = await api("GET", `/api/files/${fileId}`); } catch (err) { page("File", errorBox(err)); return; }
  const note = fileNotes()[fileId.toLowerCase()] || {};
  const mine = info.owner.toLowerCase() === (session.address || "").toLowerCase();
  const facts = h("dl", { class: "facts" },
    h("dt", {}, "Name"), h("dd", {}, note.name || "(not kept on this device)"),
    h("dt", {}, "File id"), h("dd", { class: "mono" }, fileId),
    h("dt", {}, "rootHash"), h("dd", { class: "mono" }, info.rootHash),
    h("dt", {}, "Size (encrypted)"), h("dd", {}, bytes(info.size)),
    h("dt", {}, "Registered"), h("dd", {}, `${note.date ? `${when(note.date)}, ` : ""}block ${info.registeredAt}`),
    h("dt", {}, "Key kept by"), h("dd", {}, info.scheme === "bls" ? "key network (threshold)" : info.scheme),
    h("dt", {}, "Who may read"), h("dd", {}, describePolicy(info.policy)),
    h("dt", {}, "Time window"), h("dd", {}, info.window),
    h("dt", {}, "Owner"), h("dd", { class: "mono" }, info.owner),
    h("dt", {}, "Registration tx"), h("dd", {}, txView(note.tx)));
  const children = [facts];
  if (!mine) {
    children.push(h("p", {}, "You are not the owner of this file; see ", h("a", { href: `#/shared/${fileId}` }, "Shared with me"), "."));
    page(note.name || "File", ...children);
    return;
  }
  // Share
  const to = h("input", { type: "text", placeholder: "0x… their address", autocomplete: "off" });
  const how = h("select", {}, h("option", { value: "pass" }, "give them a pass (revocable, transferable)"), h("option", { value: "allow" }, "add their address to the allow-list"));
  children.push(h("h2", {}, "Share"), field("Reader's address", to), field("How", how),
    opButton("Share", {
      confirm: () => confirmDialog("Share this file?", `${to.value} will be able to get the key and read the file, from the key holders, as long as the policy lets them.`, "It does not send them the file: they download it themselves with zgvault.", "Share"),
      run: () => api("POST", `/api/files/${fileId}/grant`, { to: to.value.trim(), how: how.value }),
    }, (snap, p) => resultLine(p, snap, (r) => `Shared with ${r.to} (${r.how === "pass" ? `pass #${r.tokenId ? BigInt(r.tokenId).toString() : "?"}` : "allow-list"}), tx ${r.tx}`)));
  // Revoke
  const from = h("input", { type: "text", placeholder: "0x… their address", autocomplete: "off" });
  children.push(h("h2", {}, "Revoke"), field("Reader's address", from),
    opButton("Revoke", {
      confirm: () => confirmDialog("Revoke access?", `Burns every pass given to ${from.value}, removes them from the allow-list and puts them on the deny list: the key holders stop releasing the key to them.`, "It does not delete copies they already downloaded or keys already released to them: revocation stops future releases only.", "Revoke", true),
      run: () => api("POST", `/api/files/${fileId}/revoke`, { from: from.value.trim(), deny: true }),
    }, (snap, p) => resultLine(p, snap, (r) => `Revoked ${r.from}: ${r.txs.length} transaction(s). ${r.canStillRead ? `They can still read: ${r.reason}` : "They can no longer get the key."}`), true));
  // Window
  const nb = h("input", { type: "date" });
  const na = h("input", { type: "date" });
  const toUnix = (v, end) => (v ? Math.floor(Date.parse(`${v}T${end ? "23:59:59" : "00:00:00"}Z`) / 1000) : 0);
  children.push(h("h2", {}, "Time window"), h("p", { class: "hint" }, `Now: ${info.window}. Empty fields remove that bound.`),
    field("Readable from (UTC day)", nb), field("Readable until (UTC day, inclusive)", na),
    opButton("Change the window", {
      confirm: () => confirmDialog("Change the time window?", "Other readers get the key only inside the new window (checked by the key holders at each request).", "It does not affect you (the owner), and it does not take back keys already released inside the old window.", "Change"),
      run: () => api("POST", `/api/files/${fileId}/window`, { notBefore: toUnix(nb.value, false), notAfter: toUnix(na.value, true) }),
    }, (snap, p) => resultLine(p, snap, (r) => (r.unchanged ? "The window already was that one." : `Window changed, tx ${r.tx}`))));
  // Custody
  const cname = nextId("move");
  const current = info.scheme === "bls" ? "threshold" : info.scheme;
  const cust = custodyChoice(cname, current, true);
  children.push(h("h2", {}, "Move the key"), cust,
    opButton("Move the key", {
      confirm: () => { const to = cust.querySelector(`input[name=${cname}]:checked`).value; return confirmDialog(`Move the key to ${to}?`, "Gets the key back, protects it with the new keeper, checks that the new keeper returns the same key, and only then asks the old keeper to delete it.", "It does not re-upload or re-encrypt the file, and does not change who may read it. Moving into Shamir needs a new upload.", "Move"); },
      run: () => api("POST", `/api/files/${fileId}/custody`, { to: cust.querySelector(`input[name=${cname}]:checked`).value }),
    }, (snap, p) => resultLine(p, snap, (r) => (r.unchanged ? `Already kept by ${r.to}.` : `The key is now kept by ${r.to}.`))));
  // Shred
  if (info.scheme !== "bls") {
    children.push(h("h2", {}, "Shred the key"),
      opButton("Shred", {
        confirm: () => confirmDialog("Shred the key?", "Every holder of this file's key deletes it: nobody, you included, can get the key from them again.", "Copies of the key already released to readers stay released, and the encrypted file stays on 0G (unreadable without the key).", "Shred", true),
        run: () => api("POST", `/api/files/${fileId}/shred`),
      }, (snap, p) => resultLine(p, snap, (r) => (r.complete ? "Every holder deleted the key." : "Not every holder answered: try again."), true), true));
  } else {
    children.push(h("h2", {}, "Shred the key"), h("p", { class: "hint" }, "A file kept by the key network has no stored key to shred: move it to the custodial vault first if you want to be able to shred it."));
  }
  page(note.name || "File", ...children);
}

// ---------- shared with me ----------

function refusalView(fileId, info, err) {
  const reason = (info && info.you && info.you.reason) || (err && err.error) || "refused";
  let what = "Ask the owner to share it with you again.";
  if (/revoked/.test(reason)) what = "The owner revoked your access. Only they can give it back: ask them to share the file with you again.";
  else if (/ended|notAfter/.test(reason)) what = "The file's reading window has ended. Ask the owner to extend it.";
  else if (/not readable yet|notBefore/.test(reason)) what = "The file's reading window has not opened yet. Try again later, or ask the owner.";
  else if (/policy|pass|allow/.test(reason)) what = "You have no pass (or token) that this file accepts. Ask the owner for a pass.";
  return h("div", { class: "refusal", role: "alert", "data-refusal": "1" },
    h("h2", {}, "You cannot read this file"),
    h("p", {}, h("strong", {}, "Why: "), reason),
    h("p", {}, h("strong", {}, "What to do: "), what),
    info ? h("p", {}, "Owner: ", h("span", { class: "mono" }, info.owner)) : null,
    h("p", { class: "hint" }, "Nothing was downloaded. The file's access rules on the chain say no, and the key holders enforce the same rules."));
}

async function sharedPage(openId) {
  const known = store.get("shared", []);
  const idIn = h("input", { type: "text", placeholder: "0x… file id the owner sent you", autocomplete: "off", value: openId || "" });
  const box = h("div", {});
  const open = async (fileId) => {
    fileId = fileId.trim();
    if (!known.includes(fileId)) { known.unshift(fileId); store.set("shared", known.slice(0, 100)); }
    box.replaceChildren(h("p", { class: "stage" }, "Checking your access…"));
    let info;
    try { info = await api("GET", `/api/files/${fileId}`); } catch (err) { box.replaceChildren(errorBox(err)); return; }
    const head = h("dl", { class: "facts" },
      h("dt", {}, "File id"), h("dd", { class: "mono" }, fileId),
      h("dt", {}, "Owner"), h("dd", { class: "mono" }, info.owner),
      h("dt", {}, "Size (encrypted)"), h("dd", {}, bytes(info.size)),
      h("dt", {}, "Time window"), h("dd", {}, info.window));
    if (!info.you.canRead) { box.replaceChildren(head, refusalView(fileId, info)); announce("Access refused"); return; }
    const p = progressView("Download");
    p.el.hidden = true;
    const btn = h("button", { type: "button", class: "primary", onclick: async () => {
      btn.disabled = true; p.el.hidden = false;
      try {
        const r = await api("POST", `/api/files/${fileId}/get`);
        const snap = await watchOp(r.op, p.update);
        if (snap && snap.state === "done") {
          const name = snap.result.name || "download";
          const link = h("a", { href: `/api/ops/${snap.id}/file`, download: name, class: "button", "data-download": "1" }, `Save ${name}`);
          p.out.replaceChildren(h("p", { class: "ok" }, `Decrypted here (${bytes(snap.result.size)}), verified against rootHash ${short(snap.result.rootHash)}.`), link);
          link.click();
          announce(`${name} decrypted`);
        } else if (snap && snap.error && snap.error.kind === "access_denied") {
          const again = await api("GET", `/api/files/${fileId}`).catch(() => null);
          p.out.replaceChildren(refusalView(fileId, again, snap.error));
        } else if (snap) { p.out.replaceChildren(errorBox(snap.error || {})); }
      } catch (err) { p.out.replaceChildren(err.kind === "access_denied" ? refusalView(fileId, null, err) : errorBox(err)); }
      btn.disabled = false;
    } }, "Download and decrypt");
    box.replaceChildren(head, h("p", { class: "ok" }, `You can read it: ${info.you.reason}.`), btn, p.el);
  };
  const form = h("form", { onsubmit: (e) => { e.preventDefault(); open(idIn.value); } },
    field("File id", idIn, "The owner gives you this id when they share a file."),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Open")));
  const recent = known.length ? h("ul", {}, known.map((id) => h("li", {}, h("a", { href: `#/shared/${id}`, class: "mono" }, id)))) : h("p", { class: "hint" }, "Files you open here are remembered on this device.");
  page("Shared with me", form, box, h("h2", {}, "Opened before"), recent);
  if (openId) open(openId);
}

// ---------- ask ----------

async function askPage() {
  const history = store.get("ask", []);
  const chat = h("div", { class: "chat", "aria-live": "polite" });
  const show = (turn) => {
    chat.append(h("p", { class: "q" }, `You: ${turn.q}`));
    if (turn.error) { chat.append(h("p", { class: "error" }, turn.error)); return; }
    chat.append(h("p", { class: "a" }, turn.a.text));
    if (turn.a.citations.length) {
      chat.append(h("ol", {}, turn.a.citations.map((c) => h("li", {},
        h("a", { href: `#/files/${c.fileId}` }, `${c.name}, ${c.locator}`), `: “${c.excerpt}”`))));
    }
  };
  history.forEach(show);
  const pick = h("fieldset", {}, h("legend", {}, "Files to ask about"));
  const q = h("textarea", {});
  const msg = h("div", {});
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    const files = [...pick.querySelectorAll("input:checked")].map((i) => i.value);
    if (!files.length) { msg.replaceChildren(errorBox({ error: "Pick at least one file." })); return; }
    msg.replaceChildren(h("p", { class: "stage" }, "Thinking, on this computer…"));
    const turn = { q: q.value };
    try { turn.a = await api("POST", "/api/ask", { files, question: q.value }); } catch (err) { turn.error = err.error || String(err); }
    msg.replaceChildren();
    if (!turn.error) { history.push(turn); store.set("ask", history.slice(-200)); }
    show(turn);
  } }, pick, field("Question", q), h("div", { class: "buttons" }, h("button", { class: "primary", type: "submit" }, "Ask")), msg);
  const intro = session.askInstalled
    ? h("p", {}, "Answers come from a model running on this computer; your files and questions stay here. The history is kept on this device only.")
    : h("p", { class: "refusal", role: "note", "data-rag": "missing" }, "Local RAG is not installed in this build of zgvault, so questions cannot be answered. Nothing is sent anywhere.");
  page("Ask your files", intro, form, h("h2", {}, "Conversation"), chat);
  try {
    const files = await api("GET", "/api/files");
    const notes = fileNotes();
    const all = [...files.map((f) => f.fileId), ...store.get("shared", [])];
    for (const id of [...new Set(all)]) {
      const fid = nextId("ask");
      pick.append(h("div", { class: "choice" }, h("input", { type: "checkbox", id: fid, value: id }), h("label", { for: fid }, (notes[id.toLowerCase()] || {}).name || short(id))));
    }
  } catch (err) { pick.append(errorBox(err)); }
}

// ---------- network ----------

async function networkPage() {
  page("Network", h("p", { class: "stage" }, "Asking the chain, the storage nodes and the key nodes…"));
  let s;
  try { s = await api("GET", "/api/status"); } catch (err) { page("Network", errorBox(err)); return; }
  const health = (ok) => h("span", { class: `pill ${ok ? "ok" : "bad"}` }, ok ? "healthy" : "down");
  const rows = (head, items) => h("div", { class: "table-wrap" }, h("table", { class: "stack" },
    h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, items)));
  page("Network",
    h("h2", {}, "Chain"),
    h("dl", { class: "facts" },
      h("dt", {}, "Network"), h("dd", {}, s.network),
      h("dt", {}, "RPC"), h("dd", { class: "mono" }, s.rpcUrl),
      h("dt", {}, "Chain id"), h("dd", {}, String(s.chainId)),
      h("dt", {}, "Block"), h("dd", {}, String(s.block)),
      h("dt", {}, "Your account"), h("dd", { class: "mono" }, s.account),
      h("dt", {}, "Balance"), h("dd", {}, balance(s.balanceWei))),
    h("h2", {}, "0G storage nodes"),
    s.storageError ? errorBox({ error: s.storageError }) : rows(["URL", "Health", "Detail"], s.storageNodes.map((n) => h("tr", {},
      h("td", { "data-label": "URL", class: "mono" }, n.url), h("td", { "data-label": "Health" }, health(n.ok)), h("td", { "data-label": "Detail", class: "mono" }, n.detail)))),
    h("h2", {}, `Key network${s.epoch != null ? ` — epoch ${s.epoch}, ${s.threshold} of ${s.keyNodes.length} needed` : ""}`),
    s.keyNetworkError ? errorBox({ error: s.keyNetworkError }) : rows(["Node", "Health", "Address"], s.keyNodes.map((n) => h("tr", {},
      h("td", { "data-label": "Node" }, `#${n.index}`), h("td", { "data-label": "Health" }, health(n.healthy), " ", n.detail), h("td", { "data-label": "Address", class: "mono" }, n.http || n.p2p || "—")))),
    h("h2", {}, "Custodial vault"),
    s.vault ? h("dl", { class: "facts" },
      h("dt", {}, "URL"), h("dd", { class: "mono" }, s.vault.http || "—"),
      h("dt", {}, "Health"), h("dd", {}, health(s.vault.healthy), " ", s.vault.detail),
      h("dt", {}, "Its key"), h("dd", {}, s.vault.keyTrusted ? `trusted: ${s.vault.key}` : `not trusted: ${s.vault.key}`))
      : h("p", {}, "This network has no custodial vault configured."));
}

// ---------- routing ----------

function route() {
  renderWho();
  if (!session.unlocked) { startPage(); return; }
  const [, pageName, arg] = (location.hash || "#/files").split("/");
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === `#/${pageName}`) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  switch (pageName) {
    case "upload": uploadPage(); break;
    case "files": if (arg) fileDetailPage(arg); else filesPage(); break;
    case "shared": sharedPage(arg); break;
    case "ask": askPage(); break;
    case "network": networkPage(); break;
    default: filesPage();
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", async () => {
  try { await loadSession(); route(); } catch (err) { page("zgvault", errorBox(err)); }
});
