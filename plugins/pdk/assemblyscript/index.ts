// The AssemblyScript kit for writing an Accord resolver plugin: the twin
// of the Go package plugins/pdk. A plugin registers one decision function
// (and optionally a function that takes its parameters) from its top-level
// code, and re-exports the ABI v1 functions implemented here:
//
//   import { register, Conflict, Decision, Description } from "accord-pdk";
//   export { accord_abi_version, accord_alloc, accord_resolve,
//            accord_configure, accord_describe } from "accord-pdk";
//
//   register(new Description("giveup", "1.0.0", "always fails", []),
//     (c: Conflict): Decision => Decision.fail("no"));
//
// Build it with asc (see docs/writing-resolvers.md, or `resolver build`):
//
//   asc index.ts --runtime incremental --use abort= -O3 --noAssert \
//     --disable reference-types,gc,simd -o plugin.wasm
//
// The module's top-level code runs when the host instantiates it (the
// start function), before any export is called. Documents arrive parsed
// with assemblyscript-json (JSON.Obj); a merged document is answered as
// JSON text.
import { JSON } from "assemblyscript-json/assembly";

/** The ABI version this kit speaks. */
export const ABI_VERSION: i32 = 1;

/** What accord_describe reports: the plugin's name, version, what it
 * does, and which documents it needs (a subset of "base", "mine",
 * "theirs", "conflicts"; an empty list for none). */
export class Description {
  constructor(
    public name: string,
    public version: string,
    public description: string,
    public needs: string[],
  ) {}
}

/** A conflict the host asks about (ABI v1). Documents the plugin did not
 * declare it needs are null. */
export class Conflict {
  abi: i32 = 0;
  kind: string = "";
  op: string = "";
  db: string = "";
  id: string = "";
  attempt: i32 = 0;
  elapsed_ms: i64 = 0;
  base: JSON.Obj | null = null;
  mine: JSON.Obj | null = null;
  theirs: JSON.Obj | null = null;
  conflicts: JSON.Arr | null = null;
  base_missing: bool = false;
}

/** A decision: action is "retry", "merge", "accept" or "fail"; doc is
 * the merged document as JSON text (merge only). */
export class Decision {
  action: string = "fail";
  delay_ms: i64 = 0;
  doc: string = "";
  reason: string = "";

  static retry(delayMS: i64, reason: string): Decision {
    const d = new Decision();
    d.action = "retry";
    d.delay_ms = delayMS;
    d.reason = reason;
    return d;
  }
  static fail(reason: string): Decision {
    const d = new Decision();
    d.action = "fail";
    d.reason = reason;
    return d;
  }
  static accept(reason: string): Decision {
    const d = new Decision();
    d.action = "accept";
    d.reason = reason;
    return d;
  }
  static merge(doc: string, reason: string): Decision {
    const d = new Decision();
    d.action = "merge";
    d.doc = doc;
    d.reason = reason;
    return d;
  }
}

let description: Description = new Description("", "", "", []);
let decide: ((c: Conflict) => Decision) | null = null;
let configure: ((params: JSON.Obj) => string | null) | null = null;

/** Makes fn the plugin's resolver and desc what accord_describe reports.
 * Call it once, from the module's top-level code. */
export function register(desc: Description, fn: (c: Conflict) => Decision): void {
  description = desc;
  decide = fn;
}

/** Sets the function that receives the plugin's parameters (a JSON
 * object, {} when there are none) before the instance decides anything.
 * It answers null to accept them, or an error message to refuse them (the
 * host then refuses to load the plugin). Without it, a plugin accepts no
 * parameters but an empty object or null. */
export function onConfigure(fn: (params: JSON.Obj) => string | null): void {
  configure = fn;
}

// The buffers shared with the host. Globals keep them reachable, so the
// garbage collector leaves them alone: input until the next accord_alloc,
// output until the next call.
let input: Uint8Array = new Uint8Array(1);
let output: ArrayBuffer = new ArrayBuffer(0);

export function accord_abi_version(): i32 {
  return ABI_VERSION;
}

export function accord_alloc(size: i32): i32 {
  if (size < 0) size = 0;
  if (input.length < size) input = new Uint8Array(size);
  return <i32>input.dataStart;
}

export function accord_resolve(ptr: i32, len: i32): i64 {
  let d: Decision;
  const fn = decide;
  if (fn == null) {
    d = Decision.fail("pdk: no resolver registered: call register from the module's top-level code");
  } else {
    const c = decodeConflict(view(ptr, len));
    if (c == null) {
      d = Decision.fail("pdk: invalid conflict");
    } else {
      d = fn(c);
    }
  }
  return put(encodeDecision(d));
}

export function accord_configure(ptr: i32, len: i32): i64 {
  const raw = view(ptr, len);
  let err: string | null = null;
  let params: JSON.Obj = new JSON.Obj();
  if (raw.length > 0) {
    const v = JSON.parse(raw);
    if (v.isObj) {
      params = <JSON.Obj>v;
    } else if (!v.isNull) {
      err = "parameters must be a JSON object";
    }
  }
  const fn = configure;
  if (err == null) {
    if (fn != null) {
      err = fn(params);
    } else if (params.keys.length > 0) {
      err = description.name + " takes no parameters";
    }
  }
  if (err == null) return put("{}");
  return put('{"error":' + quoteJSON(err) + "}");
}

export function accord_describe(): i64 {
  let s = '{"name":' + quoteJSON(description.name) +
    ',"version":' + quoteJSON(description.version) +
    ',"description":' + quoteJSON(description.description) + ',"needs":[';
  for (let i = 0; i < description.needs.length; i++) {
    if (i > 0) s += ",";
    s += quoteJSON(description.needs[i]);
  }
  return put(s + "]}");
}

/** view is the host's input, in the buffer accord_alloc returned. */
function view(ptr: i32, len: i32): Uint8Array {
  if (len <= 0 || <usize>ptr != input.dataStart || len > input.length) return new Uint8Array(0);
  return input.subarray(0, len);
}

/** put keeps s's UTF-8 bytes alive and packs their address and length. */
function put(s: string): i64 {
  output = String.UTF8.encode(s);
  return (<i64>changetype<usize>(output) << 32) | <i64>output.byteLength;
}

function decodeConflict(raw: Uint8Array): Conflict | null {
  if (raw.length == 0) return null;
  const v = JSON.parse(raw);
  if (!v.isObj) return null;
  const o = <JSON.Obj>v;
  const c = new Conflict();
  const abi = o.getInteger("abi");
  if (abi == null || abi.valueOf() != ABI_VERSION) return null;
  c.abi = <i32>abi.valueOf();
  c.kind = str(o, "kind");
  c.op = str(o, "op");
  c.db = str(o, "db");
  c.id = str(o, "id");
  const attempt = o.getInteger("attempt");
  if (attempt != null) c.attempt = <i32>attempt.valueOf();
  const elapsed = o.getInteger("elapsed_ms");
  if (elapsed != null) c.elapsed_ms = elapsed.valueOf();
  c.base = o.getObj("base");
  c.mine = o.getObj("mine");
  c.theirs = o.getObj("theirs");
  c.conflicts = o.getArr("conflicts");
  const missing = o.getBool("base_missing");
  if (missing != null) c.base_missing = missing.valueOf();
  return c;
}

function str(o: JSON.Obj, key: string): string {
  const s = o.getString(key);
  return s == null ? "" : s.valueOf();
}

function encodeDecision(d: Decision): string {
  let s = '{"action":' + quoteJSON(d.action);
  if (d.delay_ms != 0) s += ',"delay_ms":' + d.delay_ms.toString();
  if (d.doc.length > 0) s += ',"doc":' + d.doc;
  if (d.reason.length > 0) s += ',"reason":' + quoteJSON(d.reason);
  return s + "}";
}

const HEX = "0123456789abcdef";

/** quoteJSON encodes s as a JSON string. */
export function quoteJSON(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += "\\\\";
    else if (c == 0x0a) out += "\\n";
    else if (c == 0x0d) out += "\\r";
    else if (c == 0x09) out += "\\t";
    else if (c < 0x20) out += "\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15);
    else out += String.fromCharCode(c);
  }
  return out + '"';
}

/** quoteGo quotes s as Go's strconv.Quote does for ASCII text (the
 * native strategies' reasons quote document ids with it), so that an
 * AssemblyScript twin gives the same reasons. Other characters are kept
 * as they are. */
export function quoteGo(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += "\\\\";
    else if (c == 0x07) out += "\\a";
    else if (c == 0x08) out += "\\b";
    else if (c == 0x0c) out += "\\f";
    else if (c == 0x0a) out += "\\n";
    else if (c == 0x0d) out += "\\r";
    else if (c == 0x09) out += "\\t";
    else if (c == 0x0b) out += "\\v";
    else if (c < 0x20 || c == 0x7f) out += "\\x" + HEX.charAt(c >> 4) + HEX.charAt(c & 15);
    else out += String.fromCharCode(c);
  }
  return out + '"';
}
