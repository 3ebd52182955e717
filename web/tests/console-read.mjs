// What the browser tests read off the operator console page (a playwright
// Page on /console/): its call rows and the demo's sent texts. Shared by
// console-call.mjs, console-demo.mjs and phone-driver.mjs.

// Every row of the calls table, live ones first, as the page marks them.
export async function callRows(page) {
  return page.$$eval("#call-rows tr[data-call-id]", (trs) =>
    trs.map((tr) => ({
      callId: tr.dataset.callId,
      live: tr.classList.contains("live"),
      stage: tr.dataset.stage,
      verified: tr.dataset.verified,
      transfer: tr.dataset.transfer,
      outcome: tr.dataset.outcome,
      verifiedText: tr.querySelector("td.verified")?.textContent ?? "",
      transferText: tr.querySelector("td.transfer")?.textContent ?? "",
      steps: Array.from(tr.querySelectorAll("td.steps span")).map((s) => s.textContent),
      text: tr.textContent,
    })));
}

// The first finished call the page shows, or null: whether it is verified
// and by what ("passphrase", "sms code"), and whether its transfer completed.
export function finished(rows) {
  const done = rows.find((r) => !r.live && r.outcome);
  if (!done) return null;
  const by = done.verifiedText.match(/verified \(([^)]+)\)/);
  return {
    verified: done.verified === "yes",
    verifiedBy: by ? by[1] : null,
    transferred: done.transfer === "completed",
    transferText: done.transferText,
    outcome: done.outcome,
    steps: done.steps,
    text: done.text,
  };
}

// The last one-time code among the demo's sent texts on the page, or null.
export async function lastSmsCode(page) {
  const texts = await page.$$eval("#demo-sms li:not(.empty)", (lis) => lis.map((li) => li.textContent));
  const found = texts.map((t) => t.match(/\b(\d{4,8})\b(?!.*\d)/)).filter(Boolean);
  return found.length ? found[found.length - 1][1] : null;
}

// Opens the console at `url` in `browser`, once its calls table has loaded.
export async function openConsole(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector("#call-rows tr", { timeout: 15000 });
  await page.waitForFunction(() => /Updated/.test(document.getElementById("status").textContent), null, { timeout: 15000 });
  return { page, errors };
}
