// Drives the agent view of the page of `code-mesh serve` in headless Chromium: start a
// hierarchical session from the page with a model picked from the server's list, send a prompt, open the coder's conversation from the agent tree while
// it works and see its text stream in, go back to the run and see the run's final reply, with
// nothing shown twice.
//
// Environment:
//   BASE_URL            the server, e.g. http://127.0.0.1:4096 (required)
//   TOKEN               the API token (required)
//   DEFAULT_MODEL       the model the server's configuration names, preselected (required)
//   MODEL               another model it lists, picked for the new session (required)
//   PROMPT              the prompt to send (required)
//   AGENT_PROFILE       the profile of the agent whose conversation to open, e.g. coder (required)
//   EXPECT_AGENT_FIRST  a word early in that agent's reply (required)
//   EXPECT_AGENT_TEXT   the last word of that agent's reply (required)
//   EXPECT_FINAL        the run's final assistant text (required)
//   SCREENSHOT          where to save a screenshot at the end, or on failure (optional)
//   SCREENSHOT_AGENT    where to save a screenshot of the agent's conversation (optional)
//   CHROMIUM            the browser executable (default /usr/bin/chromium)
//
// Exits 0 when every step happened, 1 with a message naming the step that did not.

import { expectNoError, openWithToken, required, runInBrowser, step } from "./harness.mjs";

const baseUrl = required("BASE_URL").replace(/\/+$/, "");
const token = required("TOKEN");
const defaultModel = required("DEFAULT_MODEL");
const model = required("MODEL");
const prompt = required("PROMPT");
const profile = required("AGENT_PROFILE");
const agentFirst = required("EXPECT_AGENT_FIRST");
const agentText = required("EXPECT_AGENT_TEXT");
const expectFinal = required("EXPECT_FINAL");

runInBrowser(async (page) => {
  await openWithToken(page, baseUrl, token);

  await step(`the model picker lists ${model} and preselects ${defaultModel}`, async () => {
    const select = page.locator("#model-select");
    await select.locator(`option[value="${model}"]`).waitFor({ state: "attached" });
    await select.locator(`option[value="${defaultModel}"]`).waitFor({ state: "attached" });
    const first = await select.locator("option").first().evaluate((o) => [o.value, o.textContent]);
    if (first[0] !== "" || first[1] !== "default") throw new Error(`the first option is ${JSON.stringify(first)}`);
    const chosen = await select.inputValue();
    if (chosen !== defaultModel) throw new Error(`"${chosen}" is preselected`);
    const title = await select.getAttribute("title");
    if (title) throw new Error(`the picker notes a failure: ${title}`);
  });
  let sessionId = null;
  await step(`start a hierarchical session of ${model} from the page`, async () => {
    await page.selectOption("#model-select", model);
    await page.selectOption("#strategy-select", "hierarchical");
    await page.click("#new-session");
    const active = page.locator("#session-list li[data-session-id].active");
    await active.waitFor();
    sessionId = await active.getAttribute("data-session-id");
    const shown = (await active.locator(".session-model").innerText()).trim();
    if (shown !== model) throw new Error(`the new session's model is "${shown}"`);
    await page.locator('#connection[data-state="open"]').waitFor();
  });
  await step("type and send the prompt", async () => {
    await page.fill("#prompt", prompt);
    await page.click("#send");
  });

  const agent = page
    .locator("#agent-tree li.agent[data-agent-session]")
    .filter({ has: page.locator(":scope > button.agent-open .agent-type", { hasText: new RegExp(`^${profile}$`) }) });
  let agentSession = null;
  await step(`the ${profile} appears in the agent tree`, async () => {
    await agent.waitFor();
    agentSession = await agent.getAttribute("data-agent-session");
    if (!agentSession || agentSession === sessionId) {
      throw new Error(`the ${profile}'s node names session "${agentSession}"`);
    }
  });

  await step(`open the ${profile}'s conversation`, async () => {
    await agent.locator(":scope > button.agent-open").click();
    await page.locator("#agent-view-header").waitFor();
    await page.locator("#agent-conversation").waitFor();
    await page.locator("#conversation").waitFor({ state: "hidden" });
    await page.locator(`#agent-tree li.agent.selected[data-agent-session="${agentSession}"]`).waitFor();
    const title = (await page.locator("#agent-view-title").innerText()).trim();
    if (!new RegExp(`^\\S+ · ${profile} · (running|done)$`).test(title)) {
      throw new Error(`the header says "${title}"`);
    }
  });
  await step("the prompt box is disabled on an agent's conversation", async () => {
    if (!(await page.locator("#prompt").isDisabled())) throw new Error("#prompt is enabled");
    if (!(await page.locator("#send").isDisabled())) throw new Error("#send is enabled");
  });
  // Deltas are never stored: a block still streaming proves the agent's live events reach the view.
  await step(`the ${profile}'s text streams in while it works`, () =>
    page.locator("#agent-conversation .msg.msg-assistant .md.streaming", { hasText: agentFirst.trim() }).waitFor(),
  );
  await step(`the ${profile}'s text "${agentText}" arrives`, () =>
    page.locator("#agent-conversation .msg.msg-assistant", { hasText: agentText }).first().waitFor(),
  );
  await step(`the ${profile}'s reply is shown once`, async () => {
    const replies = await page.locator("#agent-conversation .msg.msg-assistant", { hasText: agentFirst }).count();
    if (replies !== 1) throw new Error(`it is shown ${replies} times`);
    const text = await page.locator("#agent-conversation").innerText();
    if (text.split(agentText).length - 1 !== 1) throw new Error(`"${agentText}" is shown more than once`);
  });
  await step(`the header turns to done once the ${profile} finishes`, () =>
    page.locator("#agent-view-title", { hasText: new RegExp(`· ${profile} · done$`) }).waitFor(),
  );
  await step("no error in the agent's conversation", () => expectNoError(page, "#agent-conversation"));
  if (process.env.SCREENSHOT_AGENT) await page.screenshot({ path: process.env.SCREENSHOT_AGENT, fullPage: true });

  await step("back to the run", async () => {
    await page.click("#back-to-run");
    await page.locator("#agent-view-header").waitFor({ state: "hidden" });
    await page.locator("#agent-conversation").waitFor({ state: "hidden" });
    await page.locator("#conversation").waitFor();
  });
  await step(`the run's final reply "${expectFinal}" appears`, () =>
    page.locator("#conversation .msg.msg-assistant", { hasText: expectFinal }).first().waitFor(),
  );
  await step("the turn finishes and the prompt box is back", async () => {
    await page.locator("#stop").waitFor({ state: "hidden" });
    await page.waitForFunction(() => {
      const prompt = document.querySelector("#prompt");
      const send = document.querySelector("#send");
      return prompt && send && !prompt.disabled && !send.disabled;
    });
  });
  await step("the run's conversation shows nothing twice", async () => {
    const prompts = await page.locator("#conversation .msg.msg-user").count();
    if (prompts !== 1) throw new Error(`${prompts} prompts are shown`);
    const finals = await page.locator("#conversation .msg.msg-assistant", { hasText: expectFinal }).count();
    if (finals !== 1) throw new Error(`the final reply is shown ${finals} times`);
    // The delegate tool's output may quote the agent; its streamed text must not join the run's.
    const agentInRun = await page.locator("#conversation .msg.msg-assistant", { hasText: agentText }).count();
    if (agentInRun !== 0) throw new Error(`the ${profile}'s text joined the run's replies`);
  });
  await step("no error is shown", () => expectNoError(page));
});
