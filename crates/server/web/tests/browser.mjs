// Drives the page of `code-mesh serve` in headless Chromium: send a prompt, allow the edit the
// model asks for from its card (inside the call's tool block), see its diff, see the turn finish,
// then fork the session and delete the fork.
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

import { expectNoError, openWithToken, required, runInBrowser, step } from "./harness.mjs";

const baseUrl = required("BASE_URL").replace(/\/+$/, "");
const token = required("TOKEN");
const expectAdded = required("EXPECT_ADDED");
const expectFinal = required("EXPECT_FINAL");
const prompt = process.env.PROMPT || "Change the greeting in greeting.txt.";

runInBrowser(async (page) => {
  await openWithToken(page, baseUrl, token);

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
  await step("the card sits at the top of its tool block, opened", async () => {
    const callId = await card.getAttribute("data-call-id");
    if (!callId) throw new Error("the card names no call");
    const block = page.locator(`details.tool-block[data-call-id="${callId}"]`);
    await block.locator(":scope > .tool-body > .permission-card:first-child").waitFor();
    if (!(await block.evaluate((node) => node.open))) throw new Error("the tool block is closed");
  });
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
  await step("no error is shown", () => expectNoError(page));

  // Fork the finished session, see the copy open with the conversation, then delete the copy.
  const original = await page.locator("#session-list li.active").getAttribute("data-session-id");
  let forked = null;
  await step("fork the session", async () => {
    await page.locator(`#session-list li[data-session-id="${original}"] button[data-action="fork"]`).click();
    const active = page.locator(`#session-list li.active:not([data-session-id="${original}"])`);
    await active.waitFor();
    forked = await active.getAttribute("data-session-id");
    await page.locator("#conversation .msg.msg-user", { hasText: prompt }).first().waitFor();
    await page.locator("#conversation .msg.msg-assistant", { hasText: expectFinal }).first().waitFor();
    if ((await page.locator(`#session-list li[data-session-id="${original}"]`).count()) !== 1) {
      throw new Error("the original session left the list");
    }
  });
  await step("delete the fork, confirming", async () => {
    let asked = "";
    page.once("dialog", (dialog) => {
      asked = dialog.message();
      void dialog.accept();
    });
    await page.locator(`#session-list li[data-session-id="${forked}"] button[data-action="delete"]`).click();
    await page.locator(`#session-list li[data-session-id="${forked}"]`).waitFor({ state: "detached" });
    if (!asked.startsWith("Delete")) throw new Error(`no confirmation was asked (dialog: "${asked}")`);
    await page.locator("#empty-state").waitFor();
    await page.locator("#conversation").waitFor({ state: "hidden" });
    const status = await page.evaluate(
      async ([id, bearer]) =>
        (await fetch(`/api/sessions/${id}`, { headers: { Authorization: `Bearer ${bearer}` } })).status,
      [forked, token],
    );
    if (status !== 404) throw new Error(`the deleted session answers ${status}, not 404`);
    await page.locator(`#session-list li[data-session-id="${original}"]`).waitFor();
  });
  await step("no error is shown after fork and delete", () => expectNoError(page));
});
