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
 * declare it needs are null. The documents are kept as JSON text
 * (baseJSON, mineJSON, theirsJSON, conflictsJSON; "" for null) and parsed
 * with assemblyscript-json only when the plugin reads base, mine, theirs
 * or conflicts: a resolver that reads no document pays for none. */
export class Conflict {
  abi: i32 = 0;
  kind: string = "";
  op: string = "";
  db: string = "";
  id: string = "";
  attempt: i32 = 0;
  elapsed_ms: i64 = 0;
  base_missing: bool = false;
  baseJSON: string = "";
  mineJSON: string = "";
  theirsJSON: string = "";
  conflictsJSON: string = "";

  get base(): JSON.Obj | null {
    return parseObj(this.baseJSON);
  }
  get mine(): JSON.Obj | null {
    return parseObj(this.mineJSON);
  }
  get theirs(): JSON.Obj | null {
    return parseObj(this.theirsJSON);
  }
  get conflicts(): JSON.Arr | null {
    if (this.conflictsJSON.length == 0) return null;
    const v = JSON.parse(this.conflictsJSON);
    return v.isArr ? <JSON.Arr>v : null;
  }
}

function parseObj(text: string): JSON.Obj | null {
  if (text.length == 0) return null;
  const v = JSON.parse(text);
  return v.isObj ? <JSON.Obj>v : null;
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

// decodeConflict reads the conflict's top-level fields with a scanner of
// its own (the documents are only delimited, not parsed). It answers null
// for input that is not a JSON object or not ABI v1.
function decodeConflict(raw: Uint8Array): Conflict | null {
  const p = new Scanner(raw);
  const c = new Conflict();
  p.space();
  if (!p.eat(0x7b)) return null; // {
  p.space();
  if (p.eat(0x7d)) return null; // {}
  while (true) {
    p.space();
    const key = p.str();
    if (p.bad) return null;
    p.space();
    if (!p.eat(0x3a)) return null; // :
    p.space();
    if (key == "abi") c.abi = <i32>p.int();
    else if (key == "kind") c.kind = p.str();
    else if (key == "op") c.op = p.str();
    else if (key == "db") c.db = p.str();
    else if (key == "id") c.id = p.str();
    else if (key == "attempt") c.attempt = <i32>p.int();
    else if (key == "elapsed_ms") c.elapsed_ms = p.int();
    else if (key == "base_missing") c.base_missing = p.bool();
    else if (key == "base") c.baseJSON = p.raw();
    else if (key == "mine") c.mineJSON = p.raw();
    else if (key == "theirs") c.theirsJSON = p.raw();
    else if (key == "conflicts") c.conflictsJSON = p.raw();
    else p.skip();
    if (p.bad) return null;
    p.space();
    if (p.eat(0x7d)) break; // }
    if (!p.eat(0x2c)) return null; // ,
  }
  if (c.abi != ABI_VERSION) return null;
  return c;
}

// Scanner reads JSON from bytes; its first error sticks (bad).
class Scanner {
  pos: i32 = 0;
  bad: bool = false;
  constructor(public b: Uint8Array) {}

  peek(): i32 {
    return this.pos < this.b.length ? <i32>unchecked(this.b[this.pos]) : -1;
  }
  eat(c: i32): bool {
    if (this.peek() != c) return false;
    this.pos++;
    return true;
  }
  space(): void {
    while (true) {
      const c = this.peek();
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) return;
      this.pos++;
    }
  }
  fail(): void {
    this.bad = true;
    this.pos = this.b.length;
  }
  // str reads a string, escapes decoded.
  str(): string {
    if (!this.eat(0x22)) {
      this.fail();
      return "";
    }
    const start = this.pos;
    let plain = true;
    while (true) {
      const c = this.peek();
      if (c < 0) {
        this.fail();
        return "";
      }
      this.pos++;
      if (c == 0x22) break;
      if (c == 0x5c) {
        plain = false;
        this.pos++;
      }
    }
    const end = this.pos - 1;
    if (plain) return String.UTF8.decodeUnsafe(this.b.dataStart + <usize>start, <usize>(end - start));
    return unescape(this.b, start, end);
  }
  int(): i64 {
    let neg = false;
    if (this.eat(0x2d)) neg = true;
    let n: i64 = 0;
    let digits = 0;
    while (true) {
      const c = this.peek() - 0x30;
      if (c < 0 || c > 9) break;
      n = n * 10 + <i64>c;
      this.pos++;
      digits++;
    }
    if (digits == 0 || digits > 18) this.fail();
    return neg ? -n : n;
  }
  bool(): bool {
    if (this.word("true")) return true;
    if (!this.word("false")) this.fail();
    return false;
  }
  word(w: string): bool {
    if (this.pos + w.length > this.b.length) return false;
    for (let i = 0; i < w.length; i++) {
      if (<i32>unchecked(this.b[this.pos + i]) != w.charCodeAt(i)) return false;
    }
    this.pos += w.length;
    return true;
  }
  // raw skips a value and returns its text, "" for null.
  raw(): string {
    if (this.word("null")) return "";
    const start = this.pos;
    this.skip();
    return String.UTF8.decodeUnsafe(this.b.dataStart + <usize>start, <usize>(this.pos - start));
  }
  // skip skips one value of any kind.
  skip(): void {
    let depth = 0;
    do {
      this.space();
      const c = this.peek();
      if (c == 0x22) {
        this.str();
      } else if (c == 0x7b || c == 0x5b) {
        depth++;
        this.pos++;
      } else if (c == 0x7d || c == 0x5d) {
        depth--;
        this.pos++;
      } else if (c == 0x2c || c == 0x3a) {
        if (depth == 0) this.fail();
        this.pos++;
      } else if (c < 0) {
        this.fail();
      } else {
        // a number or a literal: up to the next delimiter
        while (true) {
          const d = this.peek();
          if (d < 0 || d == 0x2c || d == 0x7d || d == 0x5d || d == 0x20 || d == 0x0a || d == 0x0d || d == 0x09 || d == 0x3a) break;
          this.pos++;
        }
      }
      if (depth < 0) this.fail();
    } while (depth > 0 && !this.bad);
  }
}

// unescape decodes the JSON string b[start:end] (without its quotes).
function unescape(b: Uint8Array, start: i32, end: i32): string {
  let out = "";
  let run = start;
  let i = start;
  while (i < end) {
    if (<i32>b[i] != 0x5c) {
      i++;
      continue;
    }
    out += String.UTF8.decodeUnsafe(b.dataStart + <usize>run, <usize>(i - run));
    const e = <i32>b[i + 1];
    i += 2;
    if (e == 0x6e) out += "\n";
    else if (e == 0x74) out += "\t";
    else if (e == 0x72) out += "\r";
    else if (e == 0x62) out += "\b";
    else if (e == 0x66) out += "\f";
    else if (e == 0x75) {
      let u: i32 = 0;
      for (let k = 0; k < 4 && i < end; k++, i++) {
        const h = <i32>b[i];
        u = u * 16 + (h <= 0x39 ? h - 0x30 : (h | 0x20) - 0x57);
      }
      out += String.fromCharCode(u);
    } else out += String.fromCharCode(e);
    run = i;
  }
  return out + String.UTF8.decodeUnsafe(b.dataStart + <usize>run, <usize>(end - run));
}

function encodeDecision(d: Decision): string {
  let s = '{"action":' + quoteJSON(d.action);
  if (d.delay_ms != 0) s += ',"delay_ms":' + d.delay_ms.toString();
  if (d.doc.length > 0) s += ',"doc":' + d.doc;
  if (d.reason.length > 0) s += ',"reason":' + quoteJSON(d.reason);
  return s + "}";
}

const HEX = "0123456789abcdef";

/** plain reports whether s needs no escaping, in JSON or in Go: no quote,
 * backslash or control character. */
function plain(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c == 0x22 || c == 0x5c || c == 0x7f) return false;
  }
  return true;
}

/** quoteJSON encodes s as a JSON string. */
export function quoteJSON(s: string): string {
  if (plain(s)) return '"' + s + '"';
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
  if (plain(s)) return '"' + s + '"';
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
