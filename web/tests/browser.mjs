// Debian's Chromium, headless, as every browser test starts it: no sandbox
// (the tests run as root), no GPU, and nothing that reaches the network on
// its own. `extraArgs` adds a test's own switches (a fake microphone).
import { chromium } from "playwright-core";

export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
}
