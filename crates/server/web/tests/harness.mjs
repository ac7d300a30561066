// What the browser tests share: required environment, named steps, the headless Chromium they
// drive, and a failure report that carries what the page logged.

import { chromium } from "playwright-core";

export const STEP_TIMEOUT_MS = 30_000;

export function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`browser test: environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
}

/** Runs one step; a timeout or error becomes a failure that names the step. */
export async function step(name, action) {
  try {
    return await action();
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new Error(`step "${name}" failed: ${reason}`);
  }
}

/**
 * Opens a page in headless Chromium, hands it to `body`, and exits 0 when `body` finished or 1
 * with the failed step and the page's log. The screenshot (env SCREENSHOT) is taken either way.
 */
export function runInBrowser(body) {
  // What the page logged, shown on failure: a broken script shows up here first.
  const pageLog = [];
  const screenshot = process.env.SCREENSHOT;
  const run = async () => {
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      headless: true,
    });
    let page;
    try {
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.setDefaultTimeout(STEP_TIMEOUT_MS);
      page.on("console", (message) => pageLog.push(`console.${message.type()}: ${message.text()}`));
      page.on("pageerror", (error) => pageLog.push(`page error: ${error.message}`));
      page.on("requestfailed", (request) =>
        pageLog.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText ?? ""}`),
      );
      await body(page);
      if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    } catch (error) {
      if (screenshot && page) await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
      throw error;
    } finally {
      await browser.close();
    }
  };
  run().then(
    () => {
      console.log("browser test: ok");
    },
    (error) => {
      console.error(`browser test: ${error instanceof Error ? error.message : String(error)}`);
      if (pageLog.length > 0) console.error(`page log:\n  ${pageLog.join("\n  ")}`);
      process.exit(1);
    },
  );
}

/** Opens the page with the token in the address and checks the page took it from there. */
export async function openWithToken(page, baseUrl, token) {
  await step("open the page", () => page.goto(`${baseUrl}/#token=${encodeURIComponent(token)}`));
  await step("the token is taken from the address", async () => {
    await page.waitForFunction(() => !window.location.hash.includes("token="));
    if (await page.locator("#token-form").isVisible()) {
      throw new Error("the token form is shown although the address carried a token");
    }
  });
}

/** Fails when the page shows the error banner or an error notice in `conversation`. */
export async function expectNoError(page, conversation = "#conversation") {
  const banner = page.locator("#error-banner");
  if (await banner.isVisible()) {
    throw new Error(`the error banner says: ${(await banner.innerText()).trim()}`);
  }
  const errors = await page.locator(`${conversation} .notice-error`).allInnerTexts();
  if (errors.length > 0) throw new Error(`error notices: ${errors.join(" | ")}`);
}
