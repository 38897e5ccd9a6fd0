// The bench plumbing: tables come out as `deno fmt` leaves them (so a bench run keeps
// `deno task check` green), and writeSection replaces only its own marked section.
import assert from "node:assert/strict";
import { quantile, table, writeSection } from "../bench/report.ts";

Deno.test("report: a bench table is already formatted and a section is replaced in place", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/doc.md`;
  const body = table(["method", "ms", "ratio ≤ 1"], [["tome", 12.5, 0.93], ["sadtm-dm", 9, "—"]]);
  await Deno.writeTextFile(
    path,
    "# Doc\n\nprose before\n\n<!-- bench:x -->\nold\n<!-- /bench:x -->\n\nafter\n",
  );
  await writeSection(path, "x", body);
  const written = await Deno.readTextFile(path);
  assert.ok(written.startsWith("# Doc\n\nprose before\n\n<!-- bench:x -->\n\n| method "), written);
  assert.ok(written.includes("\n| sadtm-dm | 9    | —         |\n\n<!-- /bench:x -->\n\nafter\n"));
  assert.doesNotMatch(written, /\nold\n/);
  const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "--check", path] }).output();
  assert.equal(fmt.code, 0, new TextDecoder().decode(fmt.stderr));
  await writeSection(path, "y", table(["a"], [[1]]));
  const appended = "after\n\n<!-- bench:y -->\n\n| a   |\n| --- |\n| 1   |\n\n<!-- /bench:y -->\n";
  assert.ok((await Deno.readTextFile(path)).endsWith(appended));
  assert.throws(() => table(["a", "b"], [[1]]), /a row has 1 cells, the header 2/);
  assert.equal(quantile([5, 1, 3, 2, 4], 0.5), 3);
  await Deno.remove(dir, { recursive: true });
});
