// Opens the operator console in Debian's Chromium (headless, driven over the
// DevTools protocol by playwright-core; no browser download), says "ready"
// once the page shows its calls table, then waits for a call to appear live
// and to end verified and transferred. Prints one JSON line with what it
// saw, and takes a screenshot.
//
//   node web/tests/console-call.mjs <console URL> <screenshot.png> [timeout s]
//
// Exit 0 when the page showed the call live, then verified and transferred.
import { launchChromium } from "./browser.mjs";
import { callRows, finished, openConsole } from "./console-read.mjs";

const [url, screenshot, timeoutArg] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: console-call.mjs <console URL> <screenshot.png> [timeout s]");
  process.exit(2);
}
const timeoutMs = Number(timeoutArg || 120) * 1000;

const browser = await launchChromium();

let result = { sawLive: false, liveStages: [], verified: false, transferred: false, outcome: null, steps: [] };
let code = 1;
try {
  const { page, errors } = await openConsole(browser, url);
  console.log("ready");

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const rows = await callRows(page);
    for (const r of rows.filter((r) => r.live)) {
      result.sawLive = true;
      if (!result.liveStages.includes(r.stage)) result.liveStages.push(r.stage);
    }
    const done = finished(rows);
    if (done) {
      result.verified = done.verified && done.verifiedBy === "passphrase";
      result.transferred = done.transferred && /completed → authenticated as verified/.test(done.text);
      result.outcome = done.outcome;
      result.steps = done.steps;
      break;
    }
    await page.waitForTimeout(200);
  }
  // The audit table refreshes itself: the call's end row shows up.
  result.auditShowsCall = await page
    .waitForFunction(() => /call_ended/.test(document.getElementById("audit-rows").textContent), null, { timeout: 15000 })
    .then(() => true, () => false);
  // Let the next metrics poll draw the call in the charts before the picture.
  await page.waitForTimeout(5500);
  await page.screenshot({ path: screenshot, fullPage: true });
  result.pageErrors = errors;
  code = result.sawLive && result.verified && result.transferred && result.auditShowsCall && errors.length === 0 ? 0 : 1;
} catch (e) {
  result.error = String(e);
} finally {
  console.log(JSON.stringify(result));
  await browser.close();
}
process.exit(code);
