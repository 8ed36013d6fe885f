// asretry is the retry resolver written in AssemblyScript: the example
// of the AssemblyScript kit (plugins/pdk/assemblyscript) and a twin of
// plugins/retry. It re-reads and re-applies at once, at most max_retries
// times (default 20, at most 1000; 0 or less never retries), then gives
// up. It reads no document. The conformance fixtures of retry
// (testdata/conflicts/retry-*.json) run through it too.
import { JSON } from "assemblyscript-json/assembly";
import { register, onConfigure, Conflict, Decision, Description, quoteGo } from "../pdk/assemblyscript";
export { accord_abi_version, accord_alloc, accord_resolve, accord_configure, accord_describe } from "../pdk/assemblyscript";

const DEFAULT_MAX_RETRIES: i32 = 20;
let maxRetries: i32 = DEFAULT_MAX_RETRIES;

register(
  new Description("asretry", "1.0.0", "re-reads and re-applies at once, at most max_retries times (AssemblyScript)", []),
  (c: Conflict): Decision => {
    if (c.attempt > maxRetries) {
      return Decision.fail("conflict on " + quoteGo(c.id) + ": giving up after " + maxRetries.toString() + " retries");
    }
    return Decision.retry(0, "retry " + c.attempt.toString() + " of " + maxRetries.toString());
  },
);

onConfigure((params: JSON.Obj): string | null => {
  const keys = params.keys;
  let n: i64 = DEFAULT_MAX_RETRIES;
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] != "max_retries") return "retry params: unknown field " + quoteGo(keys[i]);
    const v = params.getInteger("max_retries");
    if (v == null) return "retry params: max_retries is not an integer";
    n = v.valueOf();
  }
  if (n > 1000) return "retry params: max_retries " + n.toString() + " is more than 1000";
  maxRetries = n <= 0 ? 0 : <i32>n;
  return null;
});
