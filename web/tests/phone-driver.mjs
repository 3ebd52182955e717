// Drives the test phone page in Debian's Chromium over the DevTools
// protocol (playwright-core, no browser download), for the Rust browser
// tests: `node phone-driver.mjs PAGE_URL MIC_WAV`, then one command a line
// on standard input, one JSON answer a line on standard output:
//   state                    -> {"state": "..."}
//   call                     -> clicks Call, answers once connected
//   press KEYS               -> clicks each key on the page's keypad
//   wait STATE SECONDS       -> answers once the page's state is STATE
//   result                   -> the page's state, transfer, events, meters
//   screenshot PATH          -> saves the page as a PNG
//   console URL              -> opens the operator console in a second page
//                               of the same browser, watching its calls table
//   console-code SECONDS     -> the last one-time code among the demo's sent
//                               texts on the console: {"code": "NNNNNN"}
//   console-call SECONDS     -> once the console shows a finished call: what
//                               it shows of it (console-read.mjs `finished`),
//                               and the stages it showed while live
//   quit
import { launchChromium } from './browser.mjs';
import readline from 'node:readline';
import { callRows, finished, lastSmsCode, openConsole } from './console-read.mjs';

const [url, wav] = process.argv.slice(2);
if (!url || !wav) {
  console.error('usage: phone-driver.mjs PAGE_URL MIC_WAV');
  process.exit(2);
}

const browser = await launchChromium([
  '--autoplay-policy=no-user-gesture-required',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  `--use-file-for-fake-audio-capture=${wav}`,
]);

const page = await browser.newPage();
page.on('console', (m) => console.error(`page: ${m.text()}`));
page.on('pageerror', (e) => console.error(`page error: ${e}`));

const answer = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const pageState = () => page.$eval('#state', (e) => e.dataset.state);

async function waitState(states, seconds) {
  const wanted = states.split(',');
  await page.waitForFunction(
    (w) => w.includes(document.getElementById('state').dataset.state),
    wanted,
    { timeout: seconds * 1000, polling: 100 },
  );
  return pageState();
}

async function result() {
  return page.evaluate(() => ({
    state: document.getElementById('state').dataset.state,
    transfer: window.phone.transfer,
    events: window.phone.events,
    demo: document.getElementById('demo-account')?.textContent ?? null,
    line_peak: Number(document.getElementById('line-level').dataset.peak || 0),
    mic_peak: Number(document.getElementById('mic-level').dataset.peak || 0),
  }));
}

// The console page, once opened, and what it showed while the call was live.
let consolePage = null;
const consoleSeen = { sawLive: false, liveStages: [], errors: [] };

async function watchConsole() {
  while (consolePage) {
    try {
      for (const r of (await callRows(consolePage)).filter((r) => r.live)) {
        consoleSeen.sawLive = true;
        if (!consoleSeen.liveStages.includes(r.stage)) consoleSeen.liveStages.push(r.stage);
      }
    } catch {
      // The page is between renders or closing: look again.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function consoleUntil(read, seconds) {
  if (!consolePage) throw new Error('no console page: send "console URL" first');
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const found = await read();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`the console did not show it within ${seconds} s`);
    await consolePage.waitForTimeout(200);
  }
}

try {
  await page.goto(url);
  await waitState('ready', 20);
  answer({ state: await pageState() });
} catch (e) {
  answer({ error: `page did not get ready: ${e.message}`, result: await result().catch(() => null) });
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const [command, ...args] = line.trim().split(/\s+/);
  try {
    if (command === 'state') {
      answer({ state: await pageState() });
    } else if (command === 'call') {
      await page.click('#call');
      answer({ state: await waitState('connected,ended,failed', 30) });
    } else if (command === 'press') {
      for (const key of args.join('')) {
        const id = key === '*' ? 'star' : key === '#' ? 'hash' : key;
        await page.click(`#key-${id}`);
        await page.waitForTimeout(300);
      }
      answer({ pressed: args.join('') });
    } else if (command === 'wait') {
      answer({ state: await waitState(args[0], Number(args[1] || 30)) });
    } else if (command === 'result') {
      answer(await result());
    } else if (command === 'screenshot') {
      await page.screenshot({ path: args[0], fullPage: true });
      answer({ saved: args[0] });
    } else if (command === 'console') {
      const opened = await openConsole(browser, args[0]);
      consolePage = opened.page;
      consoleSeen.errors = opened.errors;
      watchConsole();
      answer({ console: 'ready' });
    } else if (command === 'console-code') {
      const code = await consoleUntil(() => lastSmsCode(consolePage), Number(args[0] || 60));
      answer({ code });
    } else if (command === 'console-call') {
      const done = await consoleUntil(async () => finished(await callRows(consolePage)), Number(args[0] || 30));
      answer({ ...done, sawLive: consoleSeen.sawLive, liveStages: consoleSeen.liveStages, pageErrors: consoleSeen.errors });
    } else if (command === 'quit') {
      break;
    } else {
      answer({ error: `unknown command ${command}` });
    }
  } catch (e) {
    answer({ error: e.message, result: await result().catch(() => null) });
  }
}
consolePage = null;
await browser.close();
