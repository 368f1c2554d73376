// The auction in a real browser: Debian's headless chromium, driven by
// playwright-core, places a bid through the page's form and sees it on the
// live dashboard, at a desktop size and at 390x844 (no horizontal scroll,
// every chart drawn).
//
//   FJORD_BIN=target/debug/fjord node --test tests/browser/
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { chromium } from "playwright-core";

const FJORD = process.env.FJORD_BIN || "target/debug/fjord";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const STRICT = process.env.FJORD_TEST_STRICT === "1";

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function waitFor(what, fn, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    try { if (await fn()) return; } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let dir, up, base, browser, registryUrl;
const skip = !existsSync(CHROMIUM) && !STRICT;

before(async () => {
  if (skip) return;
  assert.ok(existsSync(CHROMIUM), `no chromium at ${CHROMIUM}`);
  dir = mkdtempSync(join(tmpdir(), "fjord-browser-"));
  const [http, kafka, registry] = [await freePort(), await freePort(), await freePort()];
  base = `http://127.0.0.1:${http}`;
  // Without FJORD_BOOTSTRAP_SERVERS `up` embeds its own broker.
  const env = { ...process.env };
  delete env.FJORD_BOOTSTRAP_SERVERS;
  const log = openSync(join(dir, "up.log"), "w");
  up = spawn(FJORD, ["auction", "up", "--data-dir", dir, "--http-listen", `127.0.0.1:${http}`,
    "--broker-listen", `127.0.0.1:${kafka}`, "--registry-listen", `127.0.0.1:${registry}`],
    { stdio: ["ignore", log, log], env });
  registryUrl = `http://127.0.0.1:${registry}`;
  await waitFor("the website", async () => (await fetch(`${base}/api/items`)).ok);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  if (browser) await browser.close();
  if (up) up.kill("SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

for (const [label, viewport] of [["desktop", { width: 1280, height: 900 }], ["phone", { width: 390, height: 844 }]]) {
  test(`a bid placed on the page shows on the dashboard (${label})`, { skip }, async () => {
    const page = await browser.newPage({ viewport });
    await page.goto(base + "/");
    const items = await (await fetch(`${base}/api/items`)).json();
    const item = items.find((i) => i.item === "espresso-machine");
    const price = (item.highest ?? item.starting_price) + 7;
    const bidder = `browser-${label}`;
    const card = page.locator("#item-espresso-machine");
    await card.locator("input[name=name]").fill(bidder);
    await card.locator("input[name=price]").fill(String(price));
    await card.locator("button[type=submit]").click();
    await page.waitForLoadState();
    const notice = await page.locator("#notice").textContent();
    assert.match(notice, /bid added/);
    assert.match(notice, new RegExp(`highest bid now ${price}`));
    assert.ok(await noHorizontalScroll(page), "the items page scrolls sideways");

    const dash = await browser.newPage({ viewport });
    await dash.goto(base + "/dashboard");
    await dash.locator("#latest td", { hasText: bidder }).first().waitFor({ timeout: 30000 });
    await dash.locator("#live", { hasText: "live" }).waitFor({ timeout: 30000 });
    assert.ok(await noHorizontalScroll(dash), "the dashboard scrolls sideways");
    // The dead-letter tile counts the writers' dead-letter topic (bids-dlq):
    // nothing but bids was produced here, so it settles on 0, not "?".
    const dead = dash.locator("#dead-letters", { hasText: /^0$/ });
    await dead.waitFor({ timeout: 30000 });
    assert.ok(await dead.isVisible(), "the dead-letter count is not visible");
    // The stream statistics (`auction up` runs them): the item's minute
    // with its highest bid, and no late bids.
    await dash.locator("#minutes td", { hasText: "espresso-machine" }).first().waitFor({ timeout: 30000 });
    const minute = dash.locator("#minutes tr", { hasText: "espresso-machine" });
    await minute.locator("td", { hasText: new RegExp(`^${price}$`) }).waitFor({ timeout: 30000 });
    await dash.locator("#late-bids", { hasText: /^0$/ }).waitFor({ timeout: 30000 });
    // Every chart is drawn with a visible size.
    const sizes = await dash.$$eval("canvas", (cs) => cs.map((c) => [c.clientWidth, c.clientHeight]));
    assert.equal(sizes.length, 6);
    for (const [w, h] of sizes) assert.ok(w > 100 && h > 100, `chart too small: ${w}x${h}`);
    // FJORD_BROWSER_SHOTS=DIR keeps screenshots for a person to look at.
    if (process.env.FJORD_BROWSER_SHOTS) {
      await dash.screenshot({ path: join(process.env.FJORD_BROWSER_SHOTS, `dashboard-${label}.png`), fullPage: true });
      await page.screenshot({ path: join(process.env.FJORD_BROWSER_SHOTS, `items-${label}.png`), fullPage: true });
    }
    // The bids went through the embedded registry as Avro (bids-value).
    const subjects = await (await fetch(`${registryUrl}/subjects`)).json();
    assert.ok(subjects.includes("bids-value"), JSON.stringify(subjects));
    await page.close();
    await dash.close();
  });
}

function noHorizontalScroll(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);
}
