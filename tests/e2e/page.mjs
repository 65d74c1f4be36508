// The lab's page, end to end, in headless Chromium: start `racelab serve`, watch the balances, turn
// the barrier on from the page, fire two transfers from its button, see the double-spend (alice red
// at -600, the counters, the race's timeline), switch to a safe strategy and see it hold; then drive
// the API page at /docs. Screenshots go to the artifacts folder.
//
//   node tests/e2e/page.mjs RACELAB_BINARY ARTIFACTS_DIR
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";

const [binary, artifacts] = process.argv.slice(2);
if (!binary || !artifacts) {
  console.error("usage: node page.mjs RACELAB_BINARY ARTIFACTS_DIR");
  process.exit(2);
}
let chromium;
try {
  ({ chromium } = createRequire(import.meta.url)("playwright-core"));
} catch {
  console.error("page.mjs: playwright-core is not installed in tests/e2e (scripts/install-deps installs it)");
  process.exit(1);
}
mkdirSync(artifacts, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), "racelab-e2e-"));

function startServer(name = "bank", extra = []) {
  const child = spawn(binary, ["serve", "--port", "0", "--db", "sqlite:" + join(dir, name + ".db"), ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("racelab serve did not start: " + out)), 10000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/listening on (http:\/\/[^ ]+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
    child.stderr.on("data", (chunk) => (out += chunk));
    child.on("exit", (code) => reject(new Error("racelab serve exited with " + code + ": " + out)));
  });
}

function check(condition, message) {
  if (!condition) throw new Error(message);
  console.log("ok - " + message);
}

const { child, url } = await startServer();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-extensions", "--no-first-run"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(e.message));
// Console errors count, except the network log of the 400 this test provokes on purpose.
let expect400 = false, expect401 = false;
page.on("console", (m) => {
  if (m.type() !== "error") return;
  if (expect400 && m.text().includes("status of 400")) return;
  if (expect401 && m.text().includes("status of 401")) return;
  pageErrors.push(m.text());
});
let failed = false;
try {
  await page.goto(url + "/");
  const alice = page.locator("#balance-alice");
  await alice.filter({ hasText: /^1000$/ }).waitFor({ timeout: 10000 });
  check(!(await alice.evaluate((e) => e.classList.contains("negative"))), "alice starts at 1000, not red");
  check((await page.textContent("#balance-bob")) === "500" && (await page.textContent("#balance-charlie")) === "200",
        "bob 500 and charlie 200 are shown");

  // Force the race from the page: the barrier switch, then the fire button.
  await page.check("#barrier-enabled");
  await page.waitForFunction(async (u) => (await (await fetch(u + "/admin/settings")).json()).barrier_enabled, url);
  check(true, "the barrier switch reached the service");
  await page.fill("#fire-n", "2");
  await page.fill("#fire-amount", "800");
  await page.click("#fire-button");
  await page.locator("#fire-result").filter({ hasText: "double-spend" }).waitFor({ timeout: 15000 });
  await alice.filter({ hasText: /^-600$/ }).waitFor({ timeout: 5000 });
  check(await alice.evaluate((e) => e.classList.contains("negative")), "alice shows -600 in red after the double-spend");
  await page.locator("#double-spends").filter({ hasText: /^1$/ }).waitFor({ timeout: 5000 });
  check((await page.textContent("#race-hits")) === "1", "the race and double-spend counters show 1");
  await page.locator("#race-timeline table").waitFor({ timeout: 5000 });
  const timeline = await page.textContent("#race-timeline");
  check(timeline.includes("transfer.after_read") && timeline.includes("the race"),
        "the last race's timeline shows both transfers passing transfer.after_read");
  const columns = await page.locator("#race-timeline th").count();
  check(columns === 3, "the timeline has a time column and one column per transfer (" + columns + ")");
  await page.screenshot({ path: join(artifacts, "page-double-spend.png"), fullPage: true });

  // The fix, from the page: a safe strategy, reset, the same two transfers.
  await page.selectOption("#strategy", "pessimistic");
  await page.waitForFunction(async (u) => (await (await fetch(u + "/admin/settings")).json()).strategy === "pessimistic", url);
  await page.click("#reset-button");
  await alice.filter({ hasText: /^1000$/ }).waitFor({ timeout: 5000 });
  await page.click("#fire-button");
  await page.locator("#fire-result").filter({ hasText: "Fired 2" }).waitFor({ timeout: 15000 });
  const fired = await page.textContent("#fire-result");
  check(fired.includes("1 success") && fired.includes("1 failed_insufficient_funds") && !fired.includes("double-spend"),
        "pessimistic: one success, one refused, no double-spend (" + fired + ")");
  await alice.filter({ hasText: /^200$/ }).waitFor({ timeout: 5000 });
  check(!(await alice.evaluate((e) => e.classList.contains("negative"))), "alice ends at 200, not red");
  check((await page.textContent("#money-check")).includes("conserved"), "money is shown conserved");
  await page.screenshot({ path: join(artifacts, "page-fixed.png"), fullPage: true });

  // A fault from the page: the next COMMIT's answer is lost. The transfer answers an error (503)
  // although the money moved, which the balances then show.
  await page.selectOption("#fault-kind", "lost_after_commit");
  await page.click("#fault-button");
  await page.locator("#fault-result").filter({ hasText: "Armed: lost_after_commit at sql.commit" }).waitFor({ timeout: 5000 });
  await page.fill("#fire-n", "1");
  await page.fill("#fire-amount", "100");
  await page.click("#fire-button");
  await page.locator("#fire-result").filter({ hasText: "Fired 1" }).waitFor({ timeout: 15000 });
  const lost = await page.textContent("#fire-result");
  check(lost.includes("1 error"), "a lost COMMIT answers an error (" + lost + ")");
  await alice.filter({ hasText: /^100$/ }).waitFor({ timeout: 5000 });
  check(true, "the money moved all the same: alice 200 -> 100");
  await page.click("#fault-clear");
  await page.locator("#fault-result").filter({ hasText: "No fault armed." }).waitFor({ timeout: 5000 });
  check(true, "the fault is cleared from the page");

  // The API page: an operation opened and sent, a bad input refused with a message naming it.
  await page.goto(url + "/docs");
  const account = page.locator('details[data-op="get /accounts/{id}"]');
  await account.waitFor({ timeout: 5000 });
  await account.locator("summary").click();
  await account.locator("button").click();
  await account.locator(".status").filter({ hasText: "200" }).waitFor({ timeout: 5000 });
  check((await account.locator("pre").textContent()).includes('"alice"'), "/docs: GET /accounts/{id} answers alice");
  const transfer = page.locator('details[data-op="post /transfer"]');
  await transfer.locator("summary").click();
  await transfer.locator("textarea").fill('{"from_account":"alice","to_account":"bob","amount":-5}');
  expect400 = true;
  await transfer.locator("button").click();
  await transfer.locator(".status").filter({ hasText: "400" }).waitFor({ timeout: 5000 });
  check((await transfer.locator("pre").textContent()).includes("'amount' must be positive"),
        "/docs: a negative amount is refused, and the error names it");
  const operations = await page.locator("details.op").count();
  check(operations >= 20, "/docs lists every operation (" + operations + ")");
  await page.screenshot({ path: join(artifacts, "docs.png"), fullPage: true });
  check(pageErrors.length === 0, "no script errors on the pages" + (pageErrors.length ? ": " + pageErrors.join("; ") : ""));

  // With --admin-token the page asks for the token on the first 401, then the switch goes through.
  const guarded = await startServer("guarded", ["--admin-token", "s3cret"]);
  try {
    const asked = [];
    page.once("dialog", async (d) => { asked.push(d.message()); await d.accept("s3cret"); });
    expect401 = true;
    await page.goto(guarded.url + "/");
    await page.locator("#balance-alice").filter({ hasText: /^1000$/ }).waitFor({ timeout: 10000 });
    await page.check("#barrier-enabled");
    const settings = async () => (await fetch(guarded.url + "/admin/settings", {
      headers: { Authorization: "Bearer s3cret" } })).json();
    for (let i = 0; i < 50 && !(await settings()).barrier_enabled; i++) await page.waitForTimeout(100);
    check(asked.length === 1 && asked[0].includes("admin token"), "the page asked for the admin token once");
    check((await settings()).barrier_enabled, "with the token given, the barrier switch reached the service");
    check((await fetch(guarded.url + "/admin/settings")).status === 401, "without the token the admin API refuses");
  } finally {
    guarded.child.kill("SIGTERM");
  }
} catch (e) {
  failed = true;
  console.error("not ok - " + e.message);
  await page.screenshot({ path: join(artifacts, "failure.png"), fullPage: true }).catch(() => {});
  if (pageErrors.length) console.error("script errors: " + pageErrors.join("; "));
} finally {
  await browser.close();
  child.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}
console.log(failed ? "FAILED (screenshot: " + join(artifacts, "failure.png") + ")" : "screenshots in " + artifacts);
process.exit(failed ? 1 : 0);
