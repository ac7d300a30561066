// Drives the page of `code-mesh serve` in headless Chromium: send a prompt, allow the edit the
// model asks for, see its diff, and see the turn finish.
//
// Environment:
//   BASE_URL      the server, e.g. http://127.0.0.1:4096 (required)
//   TOKEN         the API token (required)
//   PROMPT        the prompt to send (default: a fixed request to edit a file)
//   EXPECT_ADDED  text of an added diff line the edit must show (required)
//   EXPECT_FINAL  the final assistant text of the turn (required)
//   SCREENSHOT    where to save a screenshot of the page at the end, or on failure (optional)
//   CHROMIUM      the browser executable (default /usr/bin/chromium)
//
// Exits 0 when every step happened, 1 with a message naming the step that did not.

import { chromium } from "playwright-core";

const STEP_TIMEOUT_MS = 30_000;

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`browser test: environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
}

const baseUrl = required("BASE_URL").replace(/\/+$/, "");
const token = required("TOKEN");
const expectAdded = required("EXPECT_ADDED");
const expectFinal = required("EXPECT_FINAL");
const prompt = process.env.PROMPT || "Change the greeting in greeting.txt.";
const screenshot = process.env.SCREENSHOT;

// What the page logged, shown on failure: a broken script shows up here first.
const pageLog = [];

/** Runs one step; a timeout or error becomes a failure that names the step. */
async function step(name, action) {
  try {
    return await action();
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new Error(`step "${name}" failed: ${reason}`);
  }
}

async function main() {
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

    await step("open the page", () => page.goto(`${baseUrl}/#token=${encodeURIComponent(token)}`));
    await step("the token is taken from the address", async () => {
      await page.waitForFunction(() => !window.location.hash.includes("token="));
      if (await page.locator("#token-form").isVisible()) {
        throw new Error("the token form is shown although the address carried a token");
      }
    });

    await step("create a session", async () => {
      await page.click("#new-session");
      await page.locator("#session-list li[data-session-id].active").waitFor();
      await page.locator('#connection[data-state="open"]').waitFor();
    });
    await step("type and send the prompt", async () => {
      await page.fill("#prompt", prompt);
      await page.click("#send");
    });

    const card = page.locator(".permission-card[data-request-id]").first();
    await step("the permission card appears", () => card.waitFor());
    await step("allow once", async () => {
      await card.locator('button[data-decision="allow_once"]').click();
      await card.locator(".permission-decision").waitFor();
    });

    await step(`the diff shows the added line "${expectAdded}"`, () =>
      page.locator(".diff .diff-add", { hasText: expectAdded }).first().waitFor(),
    );
    await step(`the final reply "${expectFinal}" appears`, () =>
      page.locator(".msg.msg-assistant", { hasText: expectFinal }).first().waitFor(),
    );
    await step("the turn finishes", async () => {
      await page.locator("#stop").waitFor({ state: "hidden" });
      await page.locator("#turn-status").waitFor({ state: "hidden" });
      await page.waitForFunction(() => !document.querySelector("#send")?.disabled);
    });
    await step("no error is shown", async () => {
      const banner = page.locator("#error-banner");
      if (await banner.isVisible()) {
        throw new Error(`the error banner says: ${(await banner.innerText()).trim()}`);
      }
      const errors = await page.locator("#conversation .notice-error").allInnerTexts();
      if (errors.length > 0) throw new Error(`error notices: ${errors.join(" | ")}`);
    });
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  } catch (error) {
    if (screenshot && page) await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
    throw error;
  } finally {
    await browser.close();
  }
}

main().then(
  () => {
    console.log("browser test: ok");
  },
  (error) => {
    console.error(`browser test: ${error instanceof Error ? error.message : String(error)}`);
    if (pageLog.length > 0) console.error(`page log:\n  ${pageLog.join("\n  ")}`);
    process.exit(1);
  },
);
