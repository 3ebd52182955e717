// The demo's console in Debian's Chromium (headless, playwright-core over
// the DevTools protocol, no browser download): the page shows the demo
// account and its passphrase; once a call is sent a code by the demo's SMS
// gateway, the code is read off the page and printed ({"code": "NNNN"}) for
// the test to give the caller; then the page must show that call verified
// by the SMS code and transferred.
//
//   node web/tests/console-demo.mjs <console URL> [timeout s]
//
// Lines out: "ready", {"code": …}, then one JSON report. Exit 0 when the
// page showed all of it.
import { launchChromium } from "./browser.mjs";
import { callRows, finished, lastSmsCode } from "./console-read.mjs";

const [url, timeoutArg] = process.argv.slice(2);
if (!url) {
  console.error("usage: console-demo.mjs <console URL> [timeout s]");
  process.exit(2);
}
const deadline = Date.now() + Number(timeoutArg || 150) * 1000;

const browser = await launchChromium();

const report = { demo: null, code: null, verified: false, transferred: false, outcome: null };
let code = 1;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector("#demo:not([hidden])", { timeout: 15000 });
  report.demo = {
    name: await page.textContent("#demo-name"),
    number: await page.textContent("#demo-number"),
    passphrase: await page.textContent("#demo-passphrase"),
  };
  console.log("ready");

  while (Date.now() < deadline && !report.code) {
    report.code = await lastSmsCode(page);
    if (!report.code) await page.waitForTimeout(250);
  }
  if (report.code) console.log(JSON.stringify({ code: report.code }));

  while (Date.now() < deadline) {
    const done = finished(await callRows(page));
    if (done) {
      report.verified = done.verified && done.verifiedBy === "sms code";
      report.transferred = done.transferred;
      report.outcome = done.outcome;
      break;
    }
    await page.waitForTimeout(250);
  }
  report.pageErrors = errors;
  code = report.code && report.verified && report.transferred && errors.length === 0 ? 0 : 1;
} catch (e) {
  report.error = String(e);
} finally {
  console.log(JSON.stringify(report));
  await browser.close();
}
process.exit(code);
