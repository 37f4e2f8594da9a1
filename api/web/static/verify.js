// Reliquary web console: proofs checked by the reader's own browser.
//
// Everything here runs in the browser with its own cryptography (WebCrypto): SHA-256 for the
// RFC 9162 tree hashes and Ed25519 for the checkpoint signatures, against a verifier key the
// reader pins once (kept in localStorage). The server's answers are only inputs: a decision is
// "verified" when its canonical record hashes to a leaf that the inclusion proof places under
// the root of a checkpoint signed by the pinned key; a kept checkpoint is "extended" when the
// consistency proof links its root to the root of the current signed checkpoint. A checkpoint
// is "vouched for" by the witnesses of a witness policy the reader pins the same way (or, not
// pinned, the operator's own, named as trust on first use) whose cosignatures on it verify.
//
// Formats (docs/transparency.md, docs/reviewers.md):
// - verifier key: name+<8 hex key ID>+base64(0x01 || 32-byte Ed25519 public key), with
//   key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4] (c2sp.org/signed-note);
// - signed note: text ending in a newline, a blank line, lines "— name base64(keyID || sig)";
//   the signature covers the text up to and including its last newline before the blank line;
//   lines by keys the reader does not know are ignored (c2sp.org/signed-note, "Verifying");
// - cosignature (c2sp.org/tlog-cosignature v1): a witness's line on the checkpoint's note,
//   "— name base64(keyID || u64 big-endian timestamp || Ed25519 signature)", its key
//   name+<8 hex key ID>+base64(0x04 || 32-byte key) with key ID = SHA-256(name || 0x0A || 0x04
//   || key)[:4], the signature over "cosignature/v1\ntime <timestamp>\n" and the note's text;
// - witness policy: JSON {"mode": "advisory"|"required", "quorum": n, "witnesses": [{"name",
//   "url", "verifier_key"}]}, as GET /log/witnesses serves it (the mode may be left out:
//   advisory); the rule is projections/translog/witnessed.py's check_witnesses: every line by
//   a policy witness's key must verify, and a witness counts once;
// - checkpoint text: origin, decimal tree size, base64 root hash (c2sp.org/tlog-checkpoint);
// - leaf hash SHA-256(0x00 || record), node hash SHA-256(0x01 || left || right) (RFC 9162 2.1.1).
"use strict";

(function () {
  const KEY_STORE = "reliquary.pinned-key";
  const KEPT_STORE = "reliquary.kept-checkpoint";
  const POLICY_STORE = "reliquary.pinned-witness-policy";
  const encoder = new TextEncoder();

  const NOTE_KEY_TYPE = 0x01; // c2sp.org/signed-note: an Ed25519 note key
  const COSIGNER_KEY_TYPE = 0x04; // c2sp.org/tlog-cosignature: an Ed25519 cosignature/v1 key
  const KEY_ID_BYTES = 4;
  const ED25519_KEY_BYTES = 32;
  const ED25519_SIGNATURE_BYTES = 64;
  const TIMESTAMP_BYTES = 8; // tlog-cosignature: u64 big-endian seconds since 1970
  const MAX_TIMESTAMP = 2n ** 63n - 1n; // tlog-cosignature: "It MUST NOT exceed 2^63 - 1"
  const COSIGNATURE_HEADER = "cosignature/v1";
  // As checkpoint.MAX_SIGNATURES and witness_policy.MAX_POLICY_WITNESSES on the server.
  const MAX_SIGNATURE_LINES = 100;
  const MAX_POLICY_WITNESSES = 64;
  const MAX_POLICY_CHARACTERS = 256 * 1024;
  const WITNESS_MODES = ["advisory", "required"];

  class StepError extends Error {
    constructor(step, message) {
      super(message);
      this.step = step;
    }
  }

  // --- bytes ------------------------------------------------------------------------------------

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  function hex(bytes) {
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  function fromHex(text, what, step) {
    if (typeof text !== "string" || !/^(?:[0-9a-fA-F]{2})*$/.test(text)) {
      throw new StepError(step, `${what} is not hexadecimal`);
    }
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
    return out;
  }

  function fromBase64(text, what, step) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
      throw new StepError(step, `${what} is not base64`);
    }
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  }

  function same(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function short(bytes) {
    return hex(bytes).slice(0, 16) + "\u2026";
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  const leafHash = (record) => sha256(concat(Uint8Array.of(0), record));
  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

  // Sizes and indices may exceed 2^31, where JavaScript's bit operators stop working.
  const odd = (n) => n % 2 === 1;
  const half = (n) => Math.floor(n / 2);

  function powerOfTwo(n) {
    while (n > 1 && !odd(n)) n = half(n);
    return n === 1;
  }

  // --- keys and signed notes --------------------------------------------------------------------

  function cryptoMissing() {
    if (window.isSecureContext && window.crypto && crypto.subtle) return null;
    return (
      "this page was not served over HTTPS (or from this computer), so the browser withholds " +
      "its cryptography (WebCrypto); open the console over HTTPS to check proofs here"
    );
  }

  // A verifier key "name+<8 hex key ID>+base64(type || 32-byte Ed25519 key)", its key ID
  // checked: SHA-256(name || 0x0A || type || key)[:4]. `type` is 0x01 for a note key
  // (c2sp.org/signed-note), 0x04 for a witness's cosigner key (c2sp.org/tlog-cosignature).
  async function parseVerifierKey(text, type, step, what) {
    const trimmed = String(text).trim();
    const first = trimmed.indexOf("+");
    const second = trimmed.indexOf("+", first + 1);
    if (first <= 0 || second < 0) {
      throw new StepError(step, `${what} is not of the form name+keyid+base64`);
    }
    const name = trimmed.slice(0, first);
    const id = trimmed.slice(first + 1, second).toLowerCase();
    if (!/^[0-9a-f]{8}$/.test(id)) {
      throw new StepError(step, `the key ID of ${what} is not 8 hexadecimal digits`);
    }
    const raw = fromBase64(trimmed.slice(second + 1), `the public part of ${what}`, step);
    if (raw.length !== 1 + ED25519_KEY_BYTES || raw[0] !== type) {
      const kind = type === NOTE_KEY_TYPE ? "verifier key" : "cosigner key";
      throw new StepError(
        step,
        `${what} is not an Ed25519 ${kind} (0x0${type} and ${ED25519_KEY_BYTES} bytes)`
      );
    }
    const keyId = (await sha256(concat(encoder.encode(name), Uint8Array.of(0x0a), raw))).slice(0, 4);
    if (hex(keyId) !== id) {
      throw new StepError(
        step,
        `the key ID of ${what} does not match its name and public key: the key is corrupted`
      );
    }
    return { text: trimmed, name, id, keyId, publicKey: raw.slice(1), label: `${name}+${id}` };
  }

  async function parseKey(text) {
    const key = await parseVerifierKey(text, NOTE_KEY_TYPE, "key", "the pinned key");
    const fingerprint = hex(await sha256(key.publicKey)).match(/.{4}/g).join(" ");
    return { ...key, fingerprint };
  }

  function normaliseNote(text) {
    return String(text).replace(/\r\n?/g, "\n").trim() + "\n";
  }

  // A signed note's text (up to and including its last newline before the blank line) and its
  // signature lines, each as the name, the 4-byte key ID and the signature bytes after it.
  function splitNote(note, step, what) {
    const split = note.lastIndexOf("\n\n");
    if (split < 0) {
      throw new StepError(step, `${what} is not a signed note: no blank line before its signature`);
    }
    const text = note.slice(0, split + 1);
    const block = note.slice(split + 2);
    if (!block.endsWith("\n") || block.length < 2) {
      throw new StepError(step, `${what} has no signature line`);
    }
    const lines = [];
    for (const line of block.slice(0, -1).split("\n")) {
      if (!line.startsWith("\u2014 ")) {
        throw new StepError(step, `${what} has a line that is not a signature: ${line}`);
      }
      const rest = line.slice(2);
      const space = rest.indexOf(" ");
      if (space <= 0) throw new StepError(step, `${what} has a malformed signature line`);
      const name = rest.slice(0, space);
      const raw = fromBase64(rest.slice(space + 1), `a signature on ${what}`, step);
      // A key ID and at least one byte of signature (c2sp.org/signed-note, "Format").
      if (raw.length <= KEY_ID_BYTES) {
        throw new StepError(step, `a signature line on ${what} is too short to hold a key ID and a signature`);
      }
      lines.push({ name, keyId: raw.slice(0, KEY_ID_BYTES), signature: raw.slice(KEY_ID_BYTES) });
    }
    if (lines.length > MAX_SIGNATURE_LINES) {
      throw new StepError(step, `${what} has more than ${MAX_SIGNATURE_LINES} signature lines`);
    }
    return { text, lines };
  }

  // Whether `signature` is an Ed25519 signature of `message` by the 32-byte `publicKey`.
  async function ed25519Verifies(publicKey, signature, message, step) {
    try {
      const imported = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, [
        "verify",
      ]);
      return await crypto.subtle.verify({ name: "Ed25519" }, imported, signature, message);
    } catch (error) {
      throw new StepError(step, `this browser cannot check Ed25519 signatures (${error.message})`);
    }
  }

  // Verify a signed note by `key`; return its text. A note with no line by the pinned key fails
  // the "key" step (key mismatch); a line by the key that does not verify fails `step`. Lines by
  // other keys (the witnesses' cosignatures among them) are not judged here.
  async function openNote(note, key, step, what) {
    const { text, lines } = splitNote(note, step, what);
    const signers = [];
    let verified = 0;
    for (const line of lines) {
      if (line.name !== key.name || !same(line.keyId, key.keyId)) {
        signers.push(`${line.name}+${hex(line.keyId)}`);
        continue;
      }
      if (line.signature.length !== ED25519_SIGNATURE_BYTES) {
        throw new StepError(step, `the signature on ${what} by ${key.label} is not an Ed25519 signature`);
      }
      if (!(await ed25519Verifies(key.publicKey, line.signature, encoder.encode(text), step))) {
        throw new StepError(
          step,
          `the Ed25519 signature on ${what} by ${key.label} does not verify: the checkpoint ` +
            "was altered after it was signed, or was not signed by this key"
        );
      }
      verified += 1;
    }
    if (!verified) {
      throw new StepError(
        "key",
        `key mismatch: ${what} is signed by ${signers.join(", ") || "no key"}, not by the key ` +
          `you pinned (${key.label})`
      );
    }
    return text;
  }

  function parseCheckpoint(text, step, what) {
    const lines = text.slice(0, -1).split("\n");
    if (lines.length < 3) throw new StepError(step, `${what} does not have origin, size and root lines`);
    const [origin, sizeText, rootText] = lines;
    if (!/^(?:0|[1-9][0-9]{0,15})$/.test(sizeText)) {
      throw new StepError(step, `${what} has no valid tree size`);
    }
    const root = fromBase64(rootText, `the root hash of ${what}`, step);
    if (root.length !== 32) throw new StepError(step, `the root hash of ${what} is not 32 bytes`);
    return { origin, size: Number(sizeText), root };
  }

  // --- witnesses -------------------------------------------------------------------------------
  //
  // The reader's witness policy, and which of its witnesses vouch for a checkpoint: the rule of
  // projections/translog/witnessed.py (check_witnesses), written here from the same specs.

  // A witness policy's text, checked as the server checks one (witness_policy.py), each
  // witness's key parsed. The mode may be left out (a policy file has none): advisory.
  async function parsePolicy(text, step, what) {
    if (String(text).length > MAX_POLICY_CHARACTERS) {
      throw new StepError(step, `${what} is longer than ${MAX_POLICY_CHARACTERS} characters`);
    }
    let document;
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw new StepError(step, `${what} is not JSON`);
    }
    if (!isObject(document)) throw new StepError(step, `${what} is not a JSON object`);
    const extra = Object.keys(document).filter((k) => !["mode", "quorum", "witnesses"].includes(k));
    if (extra.length) {
      throw new StepError(step, `${what} has fields other than mode, quorum and witnesses: ${extra.join(", ")}`);
    }
    const mode = own(document, "mode") ? document.mode : "advisory";
    if (!WITNESS_MODES.includes(mode)) {
      throw new StepError(step, `the mode of ${what} is neither advisory nor required`);
    }
    const entries = document.witnesses;
    if (!Array.isArray(entries) || !entries.length || entries.length > MAX_POLICY_WITNESSES) {
      throw new StepError(step, `${what} does not list between 1 and ${MAX_POLICY_WITNESSES} witnesses`);
    }
    const witnesses = [];
    for (const entry of entries) {
      if (!isObject(entry) || typeof entry.name !== "string" || typeof entry.verifier_key !== "string") {
        throw new StepError(step, `a witness of ${what} has no name and verifier_key`);
      }
      const key = await parseVerifierKey(
        entry.verifier_key,
        COSIGNER_KEY_TYPE,
        step,
        `the verifier key of witness ${entry.name}`
      );
      if (key.name !== entry.name) {
        throw new StepError(step, `witness ${entry.name} of ${what} has a verifier key named ${key.name}`);
      }
      if (witnesses.some((w) => w.name === key.name)) {
        throw new StepError(step, `${what} lists witness ${key.name} twice`);
      }
      witnesses.push({ ...key, url: typeof entry.url === "string" ? entry.url : "" });
    }
    const quorum = document.quorum;
    if (!Number.isInteger(quorum) || quorum < 1 || quorum > witnesses.length) {
      throw new StepError(step, `the quorum of ${what} is not a whole number from 1 to ${witnesses.length}`);
    }
    return { mode, quorum, witnesses };
  }

  // The policy as kept in this browser (and shown): the served form, mode included.
  function policyText(policy) {
    const witnesses = policy.witnesses.map((w) => ({ name: w.name, url: w.url, verifier_key: w.text }));
    return JSON.stringify({ mode: policy.mode, quorum: policy.quorum, witnesses }, null, 2);
  }

  // Which witnesses of `policy` vouch for the signed note `note`: every line by a policy
  // witness's key (same name and key ID) must verify, or it is a problem naming the witness
  // (never a vouch); lines by other keys are ignored; a witness counts once.
  async function checkCosignatures(note, policy, step) {
    const { text, lines } = splitNote(note, step, "the checkpoint");
    const vouched = [];
    const problems = [];
    for (const witness of policy.witnesses) {
      const mine = lines.filter((line) => line.name === witness.name && same(line.keyId, witness.keyId));
      let latest = null;
      let problem = null;
      for (const line of mine) {
        if (line.signature.length !== TIMESTAMP_BYTES + ED25519_SIGNATURE_BYTES) {
          problem = "its cosignature line is not a timestamp and an Ed25519 signature";
          break;
        }
        const view = new DataView(line.signature.buffer, line.signature.byteOffset, TIMESTAMP_BYTES);
        const timestamp = view.getBigUint64(0);
        if (timestamp > MAX_TIMESTAMP) {
          problem = `its cosignature's time ${timestamp} exceeds 2^63 - 1`;
          break;
        }
        const message = encoder.encode(`${COSIGNATURE_HEADER}\ntime ${timestamp}\n${text}`);
        const signature = line.signature.slice(TIMESTAMP_BYTES);
        if (!(await ed25519Verifies(witness.publicKey, signature, message, step))) {
          problem =
            `its cosignature (time ${timestamp}) does not verify with its key ${witness.label}: ` +
            "the line was altered, or it cosigned another checkpoint";
          break;
        }
        if (latest === null || timestamp > latest) latest = timestamp;
      }
      if (problem) problems.push(`witness ${witness.name}: ${problem}`);
      else if (latest !== null) vouched.push({ name: witness.name, timestamp: latest });
    }
    const met = !problems.length && vouched.length >= policy.quorum;
    const who = vouched.map((v) => v.name).join(", ") || "no witness";
    const summary =
      `vouched by ${who} (${vouched.length} of ${policy.witnesses.length}; ` +
      `quorum ${policy.quorum} ${met ? "met" : "NOT met"})`;
    return { vouched, problems, met, summary };
  }

  // The policy to check against: the one pinned in this browser, else the one this site
  // serves (the operator's word: trust on first use), else none (null).
  async function witnessPolicy(step) {
    const pinned = storage(POLICY_STORE);
    if (pinned) {
      const policy = await parsePolicy(pinned, step, "the witness policy you pinned");
      return { policy, whose: `the ${policy.mode} witness policy you pinned`, pinned: true };
    }
    let response;
    try {
      response = await fetch("/log/witnesses", { cache: "no-store", credentials: "omit" });
    } catch (error) {
      return { unavailable: `could not fetch this site's witness policy: ${error.message}` };
    }
    if (response.status === 404) return null;
    if (!response.ok) {
      return { unavailable: `could not fetch this site's witness policy: HTTP ${response.status}` };
    }
    try {
      const policy = await parsePolicy(await response.text(), step, "this site's witness policy");
      return {
        policy,
        whose:
          `the operator's ${policy.mode} witness policy \u2014 trust on first use: this site's ` +
          "word about its own witnesses, not a policy you pinned (pin one on the verify page)",
        pinned: false,
      };
    } catch (error) {
      return { unavailable: error.message };
    }
  }

  // The "witnesses" step for a checkpoint note whose log signature has verified. Throws (the
  // step failed) when a policy witness's line does not verify, or when a required quorum is
  // not met; returns null (no policy: nothing said), or {summary} and, for an advisory quorum
  // not met or a policy that could not be read, a {warning}.
  async function checkWitnessStep(note, steps) {
    const step = "witnesses";
    const source = await witnessPolicy(step);
    if (source === null) {
      steps.set(
        step,
        "neutral",
        "no witness policy: none is pinned in this browser and this site serves none, so " +
          "nothing is said about witnesses"
      );
      return null;
    }
    if (source.unavailable) {
      const warning = `${source.unavailable}; no witness was checked`;
      steps.set(step, "warning", warning);
      return { warning, summary: "no witness checked" };
    }
    const verdict = await checkCosignatures(note, source.policy, step);
    if (verdict.problems.length) {
      throw new StepError(
        step,
        `${verdict.problems.join("; ")} (${verdict.summary}, under ${source.whose})`
      );
    }
    if (!verdict.met && source.policy.mode === "required") {
      throw new StepError(
        step,
        `the quorum is not met: ${verdict.summary}, and ${source.whose} requires a quorum`
      );
    }
    const summary = `${verdict.summary}, under ${source.whose}`;
    if (!verdict.met) {
      const warning = `the witnesses' quorum is not met: ${summary}`;
      steps.set(step, "warning", warning);
      return { warning, summary };
    }
    steps.set(step, "ok", summary);
    return { summary };
  }

  // --- RFC 9162 proofs --------------------------------------------------------------------------

  // 2.1.3.2: the root an audit path leads to from `leaf` at `index` in a tree of `size` leaves.
  async function rootFromInclusion(leaf, index, size, path) {
    if (index >= size) throw new StepError("path", `leaf ${index} is not in a tree of ${size}`);
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of path) {
      if (sn === 0) {
        throw new StepError("path", "the audit path is longer than a tree of this size needs");
      }
      if (odd(fn) || fn === sn) {
        r = await nodeHash(p, r);
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = half(fn);
      sn = half(sn);
    }
    if (sn !== 0) {
      throw new StepError("path", "the audit path is shorter than a tree of this size needs");
    }
    return r;
  }

  // 2.1.4.2: check that the tree (newSize, newRoot) extends (oldSize, oldRoot).
  async function checkConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
    const step = "consistency";
    if (oldSize === newSize) {
      if (proof.length || !same(oldRoot, newRoot)) {
        throw new StepError(step, "two different trees of the same size");
      }
      return;
    }
    if (!(oldSize > 0 && oldSize < newSize) || !proof.length) {
      throw new StepError(step, `no consistency proof from ${oldSize} to ${newSize} events`);
    }
    const path = powerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
    let fn = oldSize - 1;
    let sn = newSize - 1;
    while (odd(fn)) {
      fn = half(fn);
      sn = half(sn);
    }
    let fr = path[0];
    let sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) throw new StepError(step, "the consistency proof is longer than it can be");
      if (odd(fn) || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = half(fn);
      sn = half(sn);
    }
    if (sn !== 0) throw new StepError(step, "the consistency proof is shorter than it must be");
    if (!same(fr, oldRoot)) {
      throw new StepError(
        step,
        `the proof does not lead back to your kept root (it gives ${short(fr)}, you kept ` +
          `${short(oldRoot)}): the current log does not contain the tree you kept`
      );
    }
    if (!same(sr, newRoot)) {
      throw new StepError(
        step,
        `the proof does not lead to the current signed root (it gives ${short(sr)}, the ` +
          `checkpoint says ${short(newRoot)})`
      );
    }
  }

  // --- the record and what the page shows -------------------------------------------------------
  //
  // A leaf (format 2, docs/transparency.md) is the canonical JSON object {"leaf": 2, "model_id",
  // "sequence", "state", "topic", "version"}, its state the event's stored state with value
  // objects wrapped as {"_type_": name, "_data_": value}. `publicValue` and `recordFields` mirror
  // public_value and leaf_fields of projections/translog/leaves.py: the public form the page's
  // claims are written in. Every field the page shows is compared with the record; a field the
  // record does not carry is named as not checked.

  // uuid5 of the DNS namespace and "reliquary.models": a model's id is uuid5(this, NFC(name)).
  const MODEL_NAMESPACE = "20048aba-de6f-51a6-b7ba-2ed6a7fb245c";
  // Fields of the stored state that are not facts (leaves.py: _ENVELOPE and _NOT_A_FACT).
  const NOT_FACTS = new Set([
    "timestamp",
    "actor",
    "rationale",
    "evidence",
    "effective_at",
    "class_version",
    "disclosure",
    "originator_topic",
  ]);
  // The top-level claims compared below; any other one is not checked.
  const CLAIMS = new Set([
    "sequence",
    "model",
    "version",
    "type",
    "recorded_at",
    "effective_at",
    "actor",
    "rationale",
    "evidence",
    "disclosure",
    "facts",
  ]);
  const MOMENT =
    /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)$/;

  const own = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
  const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

  // A date-time with a zone as [whole seconds since 1970 UTC, nanoseconds], or null.
  function instant(text) {
    const m = typeof text === "string" ? MOMENT.exec(text) : null;
    if (!m) return null;
    let offset = 0;
    if (m[8] !== "Z") {
      const digits = m[8].slice(1).replace(":", "");
      const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0);
      offset = (m[8][0] === "-" ? -60 : 60) * minutes;
    }
    const utc = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
    return [utc / 1000 - offset, Number((m[7] || "").padEnd(9, "0"))];
  }

  // Python's isoformat() of a moment, in UTC with a Z (leaves.py: _utc_moment).
  function utcMoment(text) {
    text = String(text);
    if (text.endsWith("+00:00")) return text.slice(0, -6) + "Z";
    const at = instant(text);
    if (at === null) return text;
    const micro = Math.floor(at[1] / 1000);
    const whole = new Date(at[0] * 1000).toISOString().slice(0, 19);
    return whole + (micro ? "." + String(micro).padStart(6, "0") : "") + "Z";
  }

  function uuidText(data) {
    const digits = String(data).replace(/[{}-]/g, "").replace(/^urn:uuid:/i, "").toLowerCase();
    if (!/^[0-9a-f]{32}$/.test(digits)) return String(data);
    const at = [0, 8, 12, 16, 20, 32];
    return at.slice(1).map((end, i) => digits.slice(at[i], end)).join("-");
  }

  const UNWRAP = {
    datetime_iso: utcMoment,
    date_iso: String,
    uuid_hex: uuidText,
    decimal_str: String,
    actor: publicValue,
    evidence: publicValue,
    channel: publicValue,
    differing_file: publicValue,
    sealed: publicValue, // a private field: its commitment and subject, never its value
    file: (data) => {
      if (!Array.isArray(data) || data.length !== 3) {
        throw new StepError("leaf", "the record holds a file that is not [path, size, sha256]");
      }
      return { path: data[0], size: data[1], sha256: data[2] };
    },
  };

  // A stored JSON value in its public form: value objects unwrapped (leaves.py: public_value).
  function publicValue(value) {
    if (Array.isArray(value)) return value.map(publicValue);
    if (!isObject(value)) return value;
    const keys = Object.keys(value);
    if (keys.length === 2 && own(value, "_type_") && own(value, "_data_")) {
      if (typeof value._type_ !== "string" || !own(UNWRAP, value._type_)) {
        throw new StepError(
          "leaf",
          `the record holds a value of a type this page does not know: ${JSON.stringify(value._type_)}`
        );
      }
      return UNWRAP[value._type_](value._data_);
    }
    const out = Object.create(null); // a key "__proto__" stays a key
    for (const key of keys) out[key] = publicValue(value[key]);
    return out;
  }

  // The event's type from its topic (reliquary/WeightsPreserved/v1: WeightsPreserved).
  function eventType(topic) {
    const parts = String(topic).split("/");
    return parts.length === 3 && parts[0] === "reliquary" ? parts[1] : topic;
  }

  // A leaf in its public form (leaves.py: leaf_fields).
  function recordFields(parsed) {
    if (!isObject(parsed) || parsed.leaf !== 2 || !isObject(parsed.state)) {
      throw new StepError("leaf", "the record is not a leaf of format 2 (docs/transparency.md)");
    }
    const state = parsed.state;
    const facts = Object.create(null);
    for (const name of Object.keys(state).sort()) {
      if (!NOT_FACTS.has(name)) facts[name] = publicValue(state[name]);
    }
    const effective = state.effective_at;
    return {
      sequence: parsed.sequence,
      model_id: parsed.model_id,
      version: parsed.version,
      type: eventType(parsed.topic),
      recorded_at: publicValue(state.timestamp),
      effective_at: effective === undefined || effective === null ? null : publicValue(effective),
      actor: isObject(state.actor) ? publicValue(state.actor) : {},
      rationale: publicValue(state.rationale),
      evidence: publicValue(state.evidence),
      // The disclosure policy's version the event was sealed under; 1 before events kept it.
      disclosure: state.disclosure === undefined ? 1 : state.disclosure,
      facts,
    };
  }

  // Equal as JSON values, with lists and objects compared deeply and moments as instants.
  function sameValue(a, b) {
    if (typeof a === "string" && typeof b === "string") {
      if (a === b) return true;
      const x = instant(a);
      const y = instant(b);
      return x !== null && y !== null && x[0] === y[0] && x[1] === y[1];
    }
    if (Array.isArray(a) || Array.isArray(b)) {
      return (
        Array.isArray(a) &&
        Array.isArray(b) &&
        a.length === b.length &&
        a.every((item, i) => sameValue(item, b[i]))
      );
    }
    if (isObject(a) && isObject(b)) {
      const keys = Object.keys(a);
      return (
        keys.length === Object.keys(b).length &&
        keys.every((key) => own(b, key) && sameValue(a[key], b[key]))
      );
    }
    return a === b;
  }

  function shownJson(value) {
    const text = value === undefined ? "nothing" : JSON.stringify(value);
    return text.length > 600 ? text.slice(0, 600) + "\u2026" : text;
  }

  async function uuid5(namespace, name) {
    const bytes = concat(fromHex(namespace.replace(/-/g, ""), "a namespace", "leaf"), encoder.encode(name));
    const id = new Uint8Array(await crypto.subtle.digest("SHA-1", bytes)).slice(0, 16);
    id[6] = (id[6] & 0x0f) | 0x50;
    id[8] = (id[8] & 0x3f) | 0x80;
    return uuidText(hex(id));
  }

  // --- private values --------------------------------------------------------------------------
  //
  // A private field (docs/disclosure.md) is in the leaf only as {commitment, subject}. The page
  // shows it sealed, erased, or, to a reader allowed to open it, with its value and opening
  // (projections/records.py: opened_record). A sealed one is compared with the leaf like any
  // field; an opened one is also checked by recomputing its commitment here (domain/sealed.py:
  // commit): "sha256:" + hex(SHA-256(TAG || 0x00 || event type || 0x00 || field || 0x00 ||
  // opening || JCS(value))), where JCS of a string is its ECMAScript JSON.stringify (RFC 8785
  // 3.2.2.2) and the field is the dotted path from the event's state (rationale, requester,
  // actor.id, evidence.uri). That a value was erased the leaf cannot say: it is named as not
  // checked.

  const COMMITMENT_TAG = "reliquary/commitment/v1";
  const SEALED_KEYS = new Set(["commitment", "subject", "value", "opening", "erased"]);

  function isSealedClaim(value) {
    return (
      isObject(value) &&
      typeof value.commitment === "string" &&
      typeof value.subject === "string" &&
      Object.keys(value).every((key) => SEALED_KEYS.has(key))
    );
  }

  // A claim with each private value in its public form; what was shown opened or erased goes
  // to `found`. `path` is the field's path in the event's state, `label` its name on the page.
  function sealedClaims(value, path, label, found) {
    if (isSealedClaim(value)) {
      const field = path.join(".");
      if (own(value, "value") || own(value, "opening")) {
        found.opened.push({ field, label, value: value.value, opening: value.opening, commitment: value.commitment });
      } else if (value.erased === true) {
        found.erased.push(label);
      } else {
        found.sealed.push(label);
      }
      return { commitment: value.commitment, subject: value.subject };
    }
    if (Array.isArray(value)) {
      return value.map((item, i) => sealedClaims(item, path, `${label} ${i + 1}`, found));
    }
    if (!isObject(value)) return value;
    const out = Object.create(null);
    for (const key of Object.keys(value)) {
      out[key] = sealedClaims(value[key], [...path, key], label ? `${label} ${key}` : key, found);
    }
    return out;
  }

  // The page's claims in the leaf's public form, and the private values it shows opened or
  // erased. Facts are fields of the event's state itself; the others are named as they are.
  function publicClaims(shown) {
    const found = { opened: [], erased: [], sealed: [] };
    if (!isObject(shown)) return { claims: shown, found };
    const claims = Object.create(null);
    for (const name of Object.keys(shown)) {
      claims[name] =
        name === "facts"
          ? sealedClaims(shown.facts, [], "", found)
          : sealedClaims(shown[name], [name], name, found);
    }
    return { claims, found };
  }

  async function commitmentOf(eventType, item) {
    if (typeof item.value !== "string" || typeof item.opening !== "string") {
      throw new StepError("leaf", `this page shows ${item.label} opened without a value and an opening`);
    }
    const opening = fromHex(item.opening, `the opening of ${item.label}`, "leaf");
    if (opening.length !== 32) {
      throw new StepError("leaf", `the opening of ${item.label} is not 32 bytes`);
    }
    const zero = Uint8Array.of(0);
    const bytes = concat(
      encoder.encode(COMMITMENT_TAG),
      zero,
      encoder.encode(eventType),
      zero,
      encoder.encode(item.field),
      zero,
      opening,
      encoder.encode(JSON.stringify(item.value))
    );
    return "sha256:" + hex(await sha256(bytes));
  }

  // Each value shown opened must open the commitment the leaf holds for it (the comparison with
  // the record has already found the page's commitment to be the leaf's).
  async function checkOpenings(record, opened) {
    for (const item of opened) {
      const computed = await commitmentOf(record.type, item);
      if (computed !== item.commitment) {
        throw new StepError(
          "leaf",
          `the value this page shows for ${item.label} does not open its commitment in the ` +
            `record: with the opening shown it gives ${computed.slice(0, 23)}\u2026, the record ` +
            `holds ${String(item.commitment).slice(0, 23)}\u2026`
        );
      }
    }
    return opened.map((item) => item.label);
  }

  // Each field the page shows, compared with the record: the names of those checked and of
  // those the record does not carry. Throws, naming the field, at the first that differs.
  async function compareWithRecord(parsed, page) {
    const record = recordFields(parsed);
    const { claims: shown, found } = publicClaims(page);
    const checked = [];
    const unchecked = found.erased.map((label) => `that ${label} was erased`);
    const check = (field, says, shows) => {
      if (!sameValue(says, shows)) {
        throw new StepError(
          "leaf",
          `the record says ${field} ${shownJson(says)}, this page shows ${shownJson(shows)}`
        );
      }
      checked.push(field);
    };
    if (!isObject(shown)) throw new StepError("leaf", "this page states nothing to compare");
    for (const name of Object.keys(shown)) if (!CLAIMS.has(name)) unchecked.push(name);

    check("sequence", record.sequence, shown.sequence);
    const model = typeof shown.model === "string" ? shown.model : "";
    const id = await uuid5(MODEL_NAMESPACE, model.normalize("NFC"));
    if (!model || id !== record.model_id) {
      throw new StepError(
        "leaf",
        `the record says model_id ${shownJson(record.model_id)}, this page shows model ` +
          `${shownJson(shown.model)}, whose id is ${id}`
      );
    }
    checked.push("model");
    check("version", record.version, shown.version);
    check("type", record.type, shown.type);
    check("recorded_at", record.recorded_at, shown.recorded_at);
    check("effective_at", record.effective_at, shown.effective_at);
    const actor = isObject(shown.actor) ? shown.actor : {};
    check("actor", record.actor.id, actor.id);
    check("role", record.actor.role, actor.role);
    for (const name of Object.keys(actor)) {
      if (name === "id" || name === "role") continue;
      if (own(record.actor, name)) check(name, record.actor[name], actor[name]);
      else unchecked.push(`actor ${name}`);
    }
    check("rationale", record.rationale, shown.rationale);
    if (own(shown, "disclosure")) check("disclosure", record.disclosure, shown.disclosure);

    const evidence = Array.isArray(record.evidence) ? record.evidence : null;
    if (evidence === null || !Array.isArray(shown.evidence) || shown.evidence.length !== evidence.length) {
      check("evidence", record.evidence, shown.evidence); // throws: not the same list
    }
    evidence.forEach((item, i) => check(`evidence ${i + 1}`, item, shown.evidence[i]));

    const facts = isObject(shown.facts) ? shown.facts : {};
    for (const name of Object.keys(facts).sort()) {
      if (own(record.facts, name)) check(name, record.facts[name], facts[name]);
      else unchecked.push(name);
    }
    for (const name of Object.keys(record.facts)) {
      if (!own(facts, name)) {
        throw new StepError(
          "leaf",
          `the record says ${name} ${shownJson(record.facts[name])}, this page does not show it`
        );
      }
    }
    const opened = await checkOpenings(record, found.opened);
    return { checked, unchecked, opened, sealed: found.sealed };
  }

  // --- the page ---------------------------------------------------------------------------------

  function storage(name, value) {
    try {
      if (value === undefined) return window.localStorage.getItem(name);
      if (value === null) window.localStorage.removeItem(name);
      else window.localStorage.setItem(name, value);
    } catch (error) {
      return null; // storage disabled: nothing is kept
    }
    return null;
  }

  function keptCheckpoint() {
    try {
      const kept = JSON.parse(storage(KEPT_STORE) || "null");
      return kept && typeof kept.note === "string" ? kept : null;
    } catch (error) {
      return null;
    }
  }

  function keep(note, checkpoint) {
    const kept = keptCheckpoint();
    if (!kept || kept.origin !== checkpoint.origin || kept.size <= checkpoint.size) {
      storage(
        KEPT_STORE,
        JSON.stringify({ note, size: checkpoint.size, origin: checkpoint.origin, at: Date.now() })
      );
    }
  }

  // A step's state, marked in its text too (not by colour alone): "warning" is an advisory
  // witness quorum not met, "neutral" a step with nothing to check (no witness policy).
  const STATE_MARKS = {
    ok: "\u2714 ",
    failed: "\u2718 ",
    warning: "\u26a0 ",
    neutral: "",
    skipped: "",
    pending: "",
  };

  class Steps {
    constructor(section) {
      this.section = section;
      this.items = Array.from(section.querySelectorAll("[data-step]"));
      this.result = section.querySelector("[data-verify-result]");
    }

    reset() {
      for (const item of this.items) this.set(item.dataset.step, "pending", "checking\u2026");
      this.result.textContent = "Checking\u2026";
      this.result.className = "result";
    }

    set(step, state, text) {
      const item = this.items.find((each) => each.dataset.step === step);
      if (!item) return;
      item.dataset.state = state;
      item.querySelector(".step-status").textContent = STATE_MARKS[state] + text;
    }

    name(step) {
      const item = this.items.find((each) => each.dataset.step === step);
      return item ? item.querySelector(".step-name").textContent : step;
    }

    fail(error, fallbackStep) {
      const step = error instanceof StepError ? error.step : fallbackStep;
      let reached = false;
      for (const item of this.items) {
        if (item.dataset.step === step) {
          reached = true;
          this.set(step, "failed", error.message);
        } else if (reached || item.dataset.state === "pending") {
          this.set(item.dataset.step, "skipped", "not checked: an earlier step failed");
        }
      }
      this.result.className = "result failed";
      const stop = /[.\u2026]$/.test(error.message) ? "" : ".";
      this.result.textContent =
        `Not verified: the step \u201c${this.name(step)}\u201d failed: ${error.message}${stop}`;
      this.result.dataset.failedStep = step;
    }

    // A warning (an advisory witness quorum not met) comes first, and the result is not shown
    // as a pass ("warned", not "verified").
    succeed(message, warning) {
      this.result.className = warning ? "result warned" : "result verified";
      this.result.textContent = warning ? `Warning: ${warning}. ${message}` : message;
      delete this.result.dataset.failedStep;
    }
  }

  // What the result says of the witnesses: nothing without a policy; never "verified" of a
  // witness that was not checked (the summary names only those whose cosignature verified).
  function witnessSentence(witnessed, which = "") {
    if (!witnessed || witnessed.warning) return "";
    return ` Witnesses of the ${which}checkpoint: ${witnessed.summary}.`;
  }

  async function pinnedKey() {
    const missing = cryptoMissing();
    if (missing) throw new StepError("key", missing);
    const pinned = storage(KEY_STORE);
    if (!pinned) {
      throw new StepError("key", "no key is pinned in this browser: pin the ledger's verifier key first");
    }
    return parseKey(pinned);
  }

  async function fetched(url, step, what) {
    let response;
    try {
      response = await fetch(url, { cache: "no-store", credentials: "omit" });
    } catch (error) {
      throw new StepError(step, `could not fetch ${what}: ${error.message}`);
    }
    if (!response.ok) throw new StepError(step, `could not fetch ${what}: HTTP ${response.status}`);
    return response;
  }

  async function verifyDecision(section, steps) {
    const data = section.dataset;
    const sequence = Number(data.sequence);
    const shown = JSON.parse(section.querySelector("[data-claims]").textContent);
    steps.reset();
    let current = "key";
    try {
      const key = await pinnedKey();
      const [proofResponse, leafResponse] = await Promise.all([
        fetched(`/log/proof/inclusion?sequence=${sequence}`, "path", "the inclusion proof"),
        fetched(`/log/leaves/${sequence}`, "leaf", "the event's record"),
      ]);
      let proof;
      try {
        proof = JSON.parse(await proofResponse.text());
      } catch (error) {
        throw new StepError("path", "the inclusion proof is not valid JSON");
      }
      const record = new Uint8Array(await leafResponse.arrayBuffer());

      current = "signature";
      const note = normaliseNote(proof.checkpoint || "");
      const text = await openNote(note, key, "signature", "the checkpoint");
      steps.set("key", "ok", `${key.label}, fingerprint ${key.fingerprint.slice(0, 19)}\u2026`);
      const checkpoint = parseCheckpoint(text, "signature", "the checkpoint");
      steps.set(
        "signature",
        "ok",
        `${checkpoint.origin}, ${checkpoint.size} events, root ${short(checkpoint.root)}`
      );

      current = "witnesses";
      const witnessed = await checkWitnessStep(note, steps);

      current = "leaf";
      const leaf = await leafHash(record);
      if (data.leafHash && hex(leaf) !== data.leafHash) {
        throw new StepError(
          "leaf",
          `the record fetched hashes to ${short(leaf)}, not to the leaf hash this page shows ` +
            `(${data.leafHash.slice(0, 16)}\u2026)`
        );
      }
      let parsed;
      try {
        parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(record));
      } catch (error) {
        throw new StepError("leaf", "the record is not UTF-8 JSON");
      }
      if (parsed === null || typeof parsed !== "object" || parsed.sequence !== sequence) {
        throw new StepError("leaf", `the record fetched is not the record of decision #${sequence}`);
      }
      const { checked, unchecked, opened, sealed } = await compareWithRecord(parsed, shown);
      const fields = `${checked.length} field${checked.length === 1 ? "" : "s"} checked`;
      const values = (n) => `${n} private value${n === 1 ? "" : "s"}`;
      const openings =
        (opened.length
          ? `; ${values(opened.length)} in them opened, each commitment recomputed from the ` +
            `value and opening shown (${opened.join(", ")})`
          : "") +
        (sealed.length
          ? `; ${values(sealed.length)} shown sealed, as the commitment${sealed.length === 1 ? "" : "s"} ` +
            `in the record (${sealed.join(", ")})`
          : "");
      const notChecked = unchecked.length
        ? `; not checked, as the record does not carry them: ${unchecked.join(", ")}`
        : "";
      // "Exactly" only when every field the page shows was checked.
      const says = unchecked.length
        ? "the record says what this page shows in the fields checked"
        : "the record says exactly what this page shows";
      if (proof.leaf_hash !== undefined && proof.leaf_hash !== hex(leaf)) {
        throw new StepError("leaf", "the inclusion proof is for a different leaf than the record");
      }
      steps.set(
        "leaf",
        "ok",
        `SHA-256(0x00 || record) = ${short(leaf)}; ${says}: ` +
          `${fields} (${checked.join(", ")})${openings}${notChecked}`
      );
      const details = section.querySelector("[data-verify-record]");
      if (details) {
        details.hidden = false;
        details.querySelector("[data-verify-record-text]").textContent = JSON.stringify(parsed, null, 2);
      }

      current = "path";
      if (proof.leaf_index !== sequence) {
        throw new StepError("path", `the proof is for leaf ${proof.leaf_index}, not ${sequence}`);
      }
      if (proof.tree_size !== checkpoint.size) {
        throw new StepError(
          "path",
          `the proof is for a tree of ${proof.tree_size} events, the signed checkpoint has ${checkpoint.size}`
        );
      }
      if (!Array.isArray(proof.audit_path)) throw new StepError("path", "the proof has no audit path");
      const path = proof.audit_path.map((step) => {
        const bytes = fromHex(step, "an audit path hash", "path");
        if (bytes.length !== 32) throw new StepError("path", "an audit path hash is not 32 bytes");
        return bytes;
      });
      const root = await rootFromInclusion(leaf, sequence, checkpoint.size, path);
      if (!same(root, checkpoint.root)) {
        throw new StepError(
          "path",
          `the audit path leads to ${short(root)}, not to the signed root ${short(checkpoint.root)}`
        );
      }
      steps.set("path", "ok", `${path.length} hashes lead to the signed root`);
      keep(note, checkpoint);
      steps.succeed(
        `Verified by your browser: decision #${sequence} (${shown.model} version ${shown.version}, ` +
          `${shown.type}) is leaf ${sequence} of ${checkpoint.origin}, in the tree of ` +
          `${checkpoint.size} events whose root ${hex(checkpoint.root)} is signed by the key you ` +
          `pinned (${key.label}). ${says[0].toUpperCase()}${says.slice(1)}: ` +
          `${fields}${openings}${notChecked}.${witnessSentence(witnessed)}`,
        witnessed && witnessed.warning
      );
    } catch (error) {
      steps.fail(error, current);
    }
  }

  // --- some fields of several leaves (the public model page) --------------------------------
  //
  // A public page shows a few fields of each of several decisions (an essay's title and digest
  // from its draft, its approval, its disclaimer and date from its publication; the preserved
  // weights' digest), not each decision whole: `data-verify-leaves` holds the claims of each
  // leaf, and every field claimed must equal the leaf's (the fields the page does not show are
  // not judged). Each leaf must also be proven included in a checkpoint signed by the pinned key.

  const PARTIAL_CLAIMS = new Set(["sequence", "model", "version", "type", "recorded_at", "effective_at", "facts"]);

  // The claimed fields of one leaf, compared with its record: the names of those checked.
  async function compareSome(parsed, shown) {
    if (!isObject(shown)) throw new StepError("leaf", "this page states nothing to compare");
    const record = recordFields(parsed);
    const checked = [];
    const check = (field, says, shows) => {
      if (!sameValue(says, shows)) {
        throw new StepError("leaf", `the record says ${field} ${shownJson(says)}, this page shows ${shownJson(shows)}`);
      }
      checked.push(field);
    };
    for (const name of Object.keys(shown)) {
      if (!PARTIAL_CLAIMS.has(name)) throw new StepError("leaf", `this page claims ${name}, which no check compares`);
    }
    check("sequence", record.sequence, shown.sequence);
    const model = typeof shown.model === "string" ? shown.model : "";
    const id = await uuid5(MODEL_NAMESPACE, model.normalize("NFC"));
    if (!model || id !== record.model_id) {
      throw new StepError(
        "leaf",
        `the record says model_id ${shownJson(record.model_id)}, this page shows model ${shownJson(shown.model)}, whose id is ${id}`
      );
    }
    checked.push("model");
    for (const name of ["version", "type", "recorded_at", "effective_at"]) {
      if (own(shown, name)) check(name, record[name], shown[name]);
    }
    const facts = isObject(shown.facts) ? shown.facts : {};
    for (const name of Object.keys(facts).sort()) {
      if (!own(record.facts, name)) {
        throw new StepError("leaf", `the record has no ${name}, this page shows ${shownJson(facts[name])}`);
      }
      check(name, record.facts[name], facts[name]);
    }
    return checked;
  }

  async function verifyLeaves(section, steps) {
    steps.reset();
    let current = "key";
    try {
      let claims;
      try {
        claims = JSON.parse(section.querySelector("[data-claims]").textContent);
      } catch (error) {
        claims = null;
      }
      if (!Array.isArray(claims) || !claims.length) throw new StepError("key", "this page names no record to check");
      const key = await pinnedKey();
      // Each record and its proof, fetched at once; a leaf's step fails if either cannot be had.
      const fetchedAll = await Promise.all(
        claims.map(async (claim, i) => {
          const step = `leaf-${i}`;
          const sequence = claim.sequence;
          if (!Number.isSafeInteger(sequence) || sequence < 0) throw new StepError(step, "this page names no log sequence");
          const [proofResponse, leafResponse] = await Promise.all([
            fetched(`/log/proof/inclusion?sequence=${sequence}`, step, "the inclusion proof"),
            fetched(`/log/leaves/${sequence}`, step, "the event's record"),
          ]);
          let proof;
          try {
            proof = JSON.parse(await proofResponse.text());
          } catch (error) {
            throw new StepError(step, "the inclusion proof is not valid JSON");
          }
          return { claim, step, sequence, proof, record: new Uint8Array(await leafResponse.arrayBuffer()) };
        })
      );

      // The checkpoints the proofs are made against: one, unless one was signed between fetches.
      current = "signature";
      const checkpoints = new Map();
      for (const item of fetchedAll) {
        const note = normaliseNote(item.proof.checkpoint || "");
        if (!checkpoints.has(note)) {
          const text = await openNote(note, key, "signature", "the checkpoint");
          checkpoints.set(note, parseCheckpoint(text, "signature", "the checkpoint"));
        }
        item.note = note;
        item.checkpoint = checkpoints.get(note);
      }
      steps.set("key", "ok", `${key.label}, fingerprint ${key.fingerprint.slice(0, 19)}\u2026`);
      const newest = Array.from(checkpoints.entries()).sort((a, b) => b[1].size - a[1].size)[0];
      const [newestNote, checkpoint] = newest;
      steps.set("signature", "ok", `${checkpoint.origin}, ${checkpoint.size} events, root ${short(checkpoint.root)}`);

      current = "witnesses";
      let witnessed = null;
      for (const note of checkpoints.keys()) {
        const verdict = await checkWitnessStep(note, steps);
        if (note === newestNote) witnessed = verdict;
      }

      const said = [];
      for (const item of fetchedAll) {
        current = item.step;
        const leaf = await leafHash(item.record);
        let parsed;
        try {
          parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(item.record));
        } catch (error) {
          throw new StepError(item.step, "the record is not UTF-8 JSON");
        }
        if (!isObject(parsed) || parsed.sequence !== item.sequence) {
          throw new StepError(item.step, `the record fetched is not the record of decision #${item.sequence}`);
        }
        const { proof } = item;
        if (proof.leaf_hash !== undefined && proof.leaf_hash !== hex(leaf)) {
          throw new StepError(item.step, "the inclusion proof is for a different leaf than the record");
        }
        if (proof.leaf_index !== item.sequence) {
          throw new StepError(item.step, `the proof is for leaf ${proof.leaf_index}, not ${item.sequence}`);
        }
        if (proof.tree_size !== item.checkpoint.size) {
          throw new StepError(
            item.step,
            `the proof is for a tree of ${proof.tree_size} events, the signed checkpoint has ${item.checkpoint.size}`
          );
        }
        if (!Array.isArray(proof.audit_path)) throw new StepError(item.step, "the proof has no audit path");
        const path = proof.audit_path.map((hash) => {
          const bytes = fromHex(hash, "an audit path hash", item.step);
          if (bytes.length !== 32) throw new StepError(item.step, "an audit path hash is not 32 bytes");
          return bytes;
        });
        let root;
        try {
          root = await rootFromInclusion(leaf, item.sequence, item.checkpoint.size, path);
        } catch (error) {
          throw new StepError(item.step, error.message);
        }
        if (!same(root, item.checkpoint.root)) {
          throw new StepError(
            item.step,
            `the record (SHA-256 ${short(leaf)}) is not in the signed log: its audit path leads to ` +
              `${short(root)}, not to the signed root ${short(item.checkpoint.root)}`
          );
        }
        let checked;
        try {
          checked = await compareSome(parsed, item.claim);
        } catch (error) {
          throw new StepError(item.step, error.message);
        }
        const type = recordFields(parsed).type;
        steps.set(
          item.step,
          "ok",
          `leaf ${item.sequence} (${type}), SHA-256 ${short(leaf)}: ${path.length} hashes lead to ` +
            `the signed root, and the record says what this page shows (${checked.join(", ")})`
        );
        said.push(`#${item.sequence} (${type})`);
      }
      keep(newestNote, checkpoint);
      steps.succeed(
        `Verified by your browser: ${said.join(", ")} ${said.length === 1 ? "is a leaf" : "are leaves"} ` +
          `of ${checkpoint.origin}, in a tree whose root is signed by the key you pinned ` +
          `(${key.label}), and each record says what this page shows of it.` +
          witnessSentence(witnessed),
        witnessed && witnessed.warning
      );
    } catch (error) {
      steps.fail(error, current);
    }
  }

  async function verifyKept(section, steps, text) {
    steps.reset();
    let current = "key";
    try {
      const key = await pinnedKey();
      current = "kept";
      const keptNote = normaliseNote(text);
      const kept = parseCheckpoint(
        await openNote(keptNote, key, "kept", "your kept checkpoint"),
        "kept",
        "your kept checkpoint"
      );
      steps.set("kept", "ok", `${kept.origin}, ${kept.size} events, root ${short(kept.root)}`);

      current = "current";
      const response = await fetched("/log/checkpoint", "current", "the current checkpoint");
      const currentNote = normaliseNote(await response.text());
      const now = parseCheckpoint(
        await openNote(currentNote, key, "current", "the current checkpoint"),
        "current",
        "the current checkpoint"
      );
      steps.set("key", "ok", `${key.label}, fingerprint ${key.fingerprint.slice(0, 19)}\u2026`);
      steps.set("current", "ok", `${now.origin}, ${now.size} events, root ${short(now.root)}`);

      current = "witnesses";
      const witnessed = await checkWitnessStep(currentNote, steps);

      current = "consistency";
      if (kept.size > now.size) {
        throw new StepError(
          "consistency",
          `the log now has ${now.size} events, fewer than the ${kept.size} of your kept ` +
            "checkpoint: it was truncated or rewritten"
        );
      }
      if (kept.size === now.size) {
        if (!same(kept.root, now.root)) {
          throw new StepError(
            "consistency",
            "the current checkpoint and yours have the same size and different roots, both " +
              "signed: two histories. Keep both checkpoints and show them to other reviewers"
          );
        }
        steps.set("consistency", "ok", "no new events: the same tree");
      } else {
        const proofResponse = await fetched(
          `/log/proof/consistency?old=${kept.size}&new=${now.size}`,
          "consistency",
          "the consistency proof"
        );
        let proof;
        try {
          proof = JSON.parse(await proofResponse.text());
        } catch (error) {
          throw new StepError("consistency", "the consistency proof is not valid JSON");
        }
        if (proof.old_size !== kept.size || proof.new_size !== now.size) {
          throw new StepError(
            "consistency",
            `the proof is for ${proof.old_size} to ${proof.new_size} events, not ${kept.size} to ${now.size}`
          );
        }
        if (!Array.isArray(proof.path)) throw new StepError("consistency", "the proof has no path");
        const path = proof.path.map((step) => {
          const bytes = fromHex(step, "a consistency proof hash", "consistency");
          if (bytes.length !== 32) throw new StepError("consistency", "a proof hash is not 32 bytes");
          return bytes;
        });
        await checkConsistency(kept.size, now.size, kept.root, now.root, path);
        steps.set("consistency", "ok", `${path.length} hashes link your root to the current root`);
      }
      keep(currentNote, now);
      const origin = kept.origin === now.origin ? "" : ` (the log was ${kept.origin} then)`;
      steps.succeed(
        `Verified by your browser: the log ${now.origin} now has ${now.size} events and ` +
          `extends the ${kept.size} events of your kept checkpoint${origin}: nothing signed ` +
          "then was changed, removed or reordered. Both checkpoints are signed by the key you " +
          `pinned (${key.label}).${witnessSentence(witnessed, "current ")}`,
        witnessed && witnessed.warning
      );
    } catch (error) {
      steps.fail(error, current);
    }
  }

  // --- the pinned key ---------------------------------------------------------------------------

  async function showPinned(widget) {
    const status = widget.querySelector("[data-pin-status]");
    const form = widget.querySelector("[data-pin-form]");
    const missing = cryptoMissing();
    if (missing) {
      status.textContent = `Checking is not possible here: ${missing}.`;
      return;
    }
    const pinned = storage(KEY_STORE);
    if (!pinned) {
      status.textContent = "No key is pinned in this browser yet: pin the ledger's verifier key below.";
      form.open = true;
      return;
    }
    try {
      const key = await parseKey(pinned);
      status.replaceChildren(
        "Pinned: ",
        Object.assign(document.createElement("strong"), { textContent: key.name }),
        ", key ID ",
        Object.assign(document.createElement("code"), { textContent: key.id }),
        ", fingerprint ",
        Object.assign(document.createElement("code"), {
          textContent: key.fingerprint,
          className: "fingerprint",
        }),
        "."
      );
      status.dataset.pinned = key.label;
    } catch (error) {
      status.textContent = `The pinned key cannot be used: ${error.message}. Pin it again.`;
      form.open = true;
    }
  }

  function initPin(widget) {
    const input = widget.querySelector("[data-pin-input]");
    const message = widget.querySelector("[data-pin-message]");
    const refresh = () => {
      for (const each of document.querySelectorAll("[data-pin]")) showPinned(each);
    };
    widget.querySelector("[data-pin-save]").addEventListener("click", async () => {
      try {
        const missing = cryptoMissing();
        if (missing) throw new StepError("key", missing);
        const key = await parseKey(input.value);
        storage(KEY_STORE, key.text);
        message.textContent = `Pinned ${key.label}.`;
        refresh();
      } catch (error) {
        message.textContent = `Not pinned: ${error.message}.`;
      }
    });
    widget.querySelector("[data-pin-fetch]").addEventListener("click", async () => {
      try {
        const response = await fetch("/log/key", { cache: "no-store", credentials: "omit" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        input.value = (await response.text()).trim();
        const key = await parseKey(input.value);
        message.textContent =
          `Filled in this site's key (fingerprint ${key.fingerprint}). Compare it with the ` +
          "fingerprint from a channel you trust, then pin it.";
      } catch (error) {
        message.textContent = `Could not fetch this site's key: ${error.message}.`;
      }
    });
    widget.querySelector("[data-pin-forget]").addEventListener("click", () => {
      storage(KEY_STORE, null);
      message.textContent = "The pinned key is forgotten.";
      refresh();
    });
    showPinned(widget);
  }

  // --- the pinned witness policy ---------------------------------------------------------------

  async function showPinnedPolicy(widget) {
    const status = widget.querySelector("[data-policy-status]");
    const form = widget.querySelector("[data-policy-form]");
    const input = widget.querySelector("[data-policy-input]");
    delete status.dataset.pinned;
    const missing = cryptoMissing();
    if (missing) {
      status.textContent = `Checking is not possible here: ${missing}.`;
      return;
    }
    const pinned = storage(POLICY_STORE);
    if (!pinned) {
      status.textContent =
        "No witness policy is pinned in this browser: checks use the operator's own policy, " +
        "if this site serves one, as trust on first use. Pin one below to check against " +
        "witnesses you chose.";
      return;
    }
    try {
      const policy = await parsePolicy(pinned, "witnesses", "the pinned witness policy");
      status.replaceChildren(
        "Pinned: a quorum of ",
        Object.assign(document.createElement("strong"), { textContent: String(policy.quorum) }),
        ` of ${policy.witnesses.length} witness${policy.witnesses.length === 1 ? "" : "es"} (`,
        ...policy.witnesses.flatMap((w, i) => [
          i ? ", " : "",
          Object.assign(document.createElement("code"), { textContent: w.label }),
        ]),
        `), mode ${policy.mode}: ` +
          (policy.mode === "required"
            ? "a checkpoint without the quorum fails the check."
            : "a checkpoint without the quorum is a warning.")
      );
      status.dataset.pinned = `${policy.quorum}/${policy.witnesses.length} ${policy.mode}`;
      if (!input.value.trim()) input.value = policyText(policy);
    } catch (error) {
      status.textContent = `The pinned witness policy cannot be used: ${error.message}. Pin it again.`;
      form.open = true;
    }
  }

  function initPolicyPin(widget) {
    const input = widget.querySelector("[data-policy-input]");
    const message = widget.querySelector("[data-policy-message]");
    widget.querySelector("[data-policy-save]").addEventListener("click", async () => {
      try {
        const missing = cryptoMissing();
        if (missing) throw new StepError("witnesses", missing);
        const policy = await parsePolicy(input.value, "witnesses", "this witness policy");
        storage(POLICY_STORE, policyText(policy));
        input.value = policyText(policy);
        message.textContent =
          `Pinned a quorum of ${policy.quorum} of ${policy.witnesses.length} witnesses, mode ${policy.mode}.`;
      } catch (error) {
        message.textContent = `Not pinned: ${error.message}.`;
      }
      showPinnedPolicy(widget);
    });
    widget.querySelector("[data-policy-fetch]").addEventListener("click", async () => {
      try {
        const response = await fetch("/log/witnesses", { cache: "no-store", credentials: "omit" });
        if (response.status === 404) throw new Error("this site serves no witness policy");
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const policy = await parsePolicy(await response.text(), "witnesses", "this site's witness policy");
        input.value = policyText(policy);
        message.textContent =
          "Filled in the operator's policy \u2014 trust on first use: it is this site's word " +
          "about its own witnesses. Compare the witnesses' keys with ones from a channel you " +
          "trust (the witnesses' own publications), then pin it.";
      } catch (error) {
        message.textContent = `Could not fill in this site's witness policy: ${error.message}.`;
      }
    });
    widget.querySelector("[data-policy-forget]").addEventListener("click", () => {
      storage(POLICY_STORE, null);
      input.value = "";
      message.textContent = "The pinned witness policy is forgotten.";
      showPinnedPolicy(widget);
    });
    showPinnedPolicy(widget);
  }

  function initDecision(section) {
    const steps = new Steps(section);
    section
      .querySelector("[data-verify-run]")
      .addEventListener("click", () => verifyDecision(section, steps));
  }

  function initLeaves(section) {
    const steps = new Steps(section);
    section.querySelector("[data-verify-run]").addEventListener("click", () => verifyLeaves(section, steps));
  }

  function initKept(section) {
    const steps = new Steps(section);
    const input = section.querySelector("[data-kept-input]");
    const load = section.querySelector("[data-kept-load]");
    const hint = section.querySelector("[data-kept-hint]");
    const kept = keptCheckpoint();
    if (kept) {
      load.hidden = false;
      hint.hidden = false;
      hint.textContent =
        `This browser kept the checkpoint of ${kept.size} events of ${kept.origin} from an ` +
        "earlier check.";
      load.addEventListener("click", () => {
        input.value = kept.note;
        input.focus();
      });
    }
    if (input.value.trim()) verifyKept(section, steps, input.value);
  }

  function start() {
    for (const widget of document.querySelectorAll("[data-pin]")) initPin(widget);
    for (const widget of document.querySelectorAll("[data-witness-pin]")) initPolicyPin(widget);
    for (const section of document.querySelectorAll("[data-verify-decision]")) initDecision(section);
    for (const section of document.querySelectorAll("[data-verify-checkpoint]")) initKept(section);
    for (const section of document.querySelectorAll("[data-verify-leaves]")) initLeaves(section);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
