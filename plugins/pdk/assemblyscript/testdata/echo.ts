// echo: a test plugin for the AssemblyScript kit. It fails every
// conflict with a reason that spells out what the kit decoded: the
// scalars, and one value from each document, so that a Go test can
// compare the kit's reading with the host's.
import { register, Conflict, Decision, Description } from "../index";
export { accord_abi_version, accord_alloc, accord_resolve, accord_configure, accord_describe } from "../index";

register(
  new Description("echo", "1.0.0", "echoes the conflict", ["base", "mine", "theirs", "conflicts"]),
  (c: Conflict): Decision => {
    let r = c.kind + "|" + c.op + "|" + c.db + "|" + c.id + "|" + c.attempt.toString() + "|" +
      c.elapsed_ms.toString() + "|" + (c.base_missing ? "missing" : "present");
    const base = c.base;
    const mine = c.mine;
    const theirs = c.theirs;
    const conflicts = c.conflicts;
    r += "|base " + (base == null ? "null" : base.keys.length.toString() + " keys");
    if (mine == null) {
      r += "|mine null";
    } else {
      const n = mine.getInteger("n");
      r += "|mine n=" + (n == null ? "none" : n.valueOf().toString());
    }
    if (theirs == null) {
      r += "|theirs null";
    } else {
      const s = theirs.getString("s");
      r += "|theirs s=" + (s == null ? "none" : s.valueOf());
    }
    r += "|conflicts " + (conflicts == null ? "null" : conflicts.valueOf().length.toString());
    return Decision.fail(r);
  },
);
