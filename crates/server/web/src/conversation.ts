// Folds a session's events into the blocks of the conversation view: user bubbles, assistant
// text (streamed, then replaced by the finished message), thinking, tool calls with their
// output and diffs, permission cards and notices.
//
// Streamed deltas are not stored, so a replayed history has only the finished messages while a
// live turn has both: a finished message fills the blocks its deltas opened, or opens its own
// when there were none, so the same text is never shown twice.

import { el, formatDuration } from "./dom.js";
import { appendInline, renderMarkdown } from "./markdown.js";
import type { AgentInfo, Decision, EventOf, EventType, Message, Part, ServerEvent } from "./types.js";

export interface ConversationHooks {
  /** Sends a permission answer; a rejection is shown by the caller and re-enables the card. */
  decide(requestId: string, decision: Decision): Promise<void>;
}

interface ToolBlock {
  root: HTMLDetailsElement;
  badge: HTMLElement;
  duration: HTMLElement;
  output: HTMLElement;
  streamed: string;
  finished: boolean;
}

const DECISION_LABELS: Record<Decision, string> = {
  allow_once: "Allow once",
  allow_always: "Always allow (this session)",
  deny: "Deny",
};

const DECIDED_LABELS: Record<string, string> = {
  allow_once: "Allowed once",
  allow_always: "Always allowed in this session",
  deny: "Denied",
};

const SOURCE_LABELS: Record<string, string> = {
  policy: "by policy",
  auto_approve: "auto-approved",
  user: "by you",
  no_one_to_ask: "no one to ask",
};

export class Conversation {
  private tools = new Map<string, ToolBlock>();
  private cards = new Map<string, HTMLElement>();
  /** Assistant text blocks opened by deltas and not yet filled by their finished message. */
  private pendingText: HTMLElement[] = [];
  private pendingThinking: HTMLDetailsElement[] = [];
  /** The blocks deltas currently append to; a tool call ends them. */
  private currentText: HTMLElement | null = null;
  private currentThinking: HTMLDetailsElement | null = null;
  /** Seq of the last stored event applied, so a replay after a reconnect adds nothing twice. */
  private lastStoredSeq = 0;

  constructor(
    private readonly root: HTMLElement,
    private readonly hooks: ConversationHooks,
  ) {}

  reset(): void {
    this.root.replaceChildren();
    this.tools.clear();
    this.cards.clear();
    this.pendingText = [];
    this.pendingThinking = [];
    this.currentText = null;
    this.currentThinking = null;
    this.lastStoredSeq = 0;
  }

  apply(event: ServerEvent): void {
    const transient = TRANSIENT.has(event.type);
    if (!transient) {
      if (event.seq <= this.lastStoredSeq) return;
      this.lastStoredSeq = event.seq;
    }
    const stick = this.nearBottom();
    switch (event.type) {
      case "message_added":
        this.messageAdded(event.message);
        break;
      case "text_delta":
        this.textDelta(str(event.delta));
        break;
      case "reasoning_delta":
        this.reasoningDelta(str(event.delta));
        break;
      case "tool_call_started":
        this.toolStarted(str(event.call_id), str(event.name), str(event.arguments));
        break;
      case "tool_output_delta":
        this.toolDelta(str(event.call_id), str(event.delta));
        break;
      case "tool_call_finished":
        this.toolFinished(
          str(event.call_id),
          str(event.name),
          str(event.output),
          event.is_error === true,
          typeof event.duration_ms === "number" ? event.duration_ms : null,
        );
        break;
      case "permission_requested":
        this.permissionRequested(event);
        break;
      case "permission_decided":
        this.permissionDecided(event);
        break;
      case "error":
        this.notice("error", `Error: ${str(event.message)}`, optStr(event.hint), str(event.code));
        break;
      case "warning":
        this.notice("warning", str(event.message));
        break;
      case "provider_retry":
        this.notice(
          "warning",
          `${str(event.provider)}: ${str(event.message)} — retrying (attempt ${String(event.attempt)})`,
        );
        break;
      case "provider_failover":
        this.notice("warning", `${str(event.from)} failed (${str(event.message)}); switched to ${str(event.to)}`);
        break;
      case "context_compacted":
        this.notice(
          "info",
          `Context ${str(event.mode)}: ${String(event.tokens_before)} → ${String(event.tokens_after)} tokens`,
        );
        break;
      case "session_forked":
        this.notice("info", `Forked from ${str(event.parent_id)}`);
        break;
      case "agent_spawned": {
        const agent: Partial<AgentInfo> = event.agent ?? {};
        this.notice("info", `Agent ${agent.id ?? "?"} (${agent.profile ?? "agent"}) started on ${agent.model ?? "?"}`);
        break;
      }
      case "agent_terminated":
        this.notice(event.succeeded === false ? "warning" : "info", `Agent ${str(event.agent)} ${event.succeeded === false ? "failed" : "finished"}`);
        break;
      case "task_failed":
        this.notice("warning", `Task ${str(event.task)} failed: ${str(event.reason)}`);
        break;
      case "turn_finished":
        this.endStreaming();
        if (event.reason === "cancelled") this.notice("info", "Turn cancelled");
        else if (event.reason === "max_turns") this.notice("warning", "The turn used all its model requests before finishing");
        break;
      default:
        break;
    }
    if (stick) this.scrollToEnd();
  }

  /** Shows the cards of requests still waiting for an answer (from GET /api/sessions/{id}). */
  showPending(events: ServerEvent[]): void {
    for (const event of events) if (event.type === "permission_requested") this.permissionRequested(event);
    this.scrollToEnd();
  }

  scrollToEnd(): void {
    this.root.scrollTop = this.root.scrollHeight;
  }

  private nearBottom(): boolean {
    return this.root.scrollHeight - this.root.scrollTop - this.root.clientHeight < 80;
  }

  private append(node: HTMLElement, before?: HTMLElement | null): void {
    if (before && before.parentElement === this.root) this.root.insertBefore(node, before);
    else this.root.append(node);
  }

  // --- messages and streamed text ---

  private messageAdded(message: Message | undefined): void {
    if (!message || !Array.isArray(message.parts)) return;
    if (message.role === "user") {
      this.endStreaming();
      const text = textOf(message.parts);
      const block = el("div", "msg msg-user");
      block.dataset.seq = String(message.seq);
      block.append(el("div", "bubble", text));
      this.append(block);
    } else if (message.role === "assistant") {
      this.assistantMessage(message);
    } else if (message.role === "tool") {
      for (const part of message.parts) {
        if (part.type === "tool_result") {
          const block = this.tools.get(part.call_id);
          if (!block || !block.finished) this.toolFinished(part.call_id, part.name, part.output, part.is_error === true, null);
        }
      }
    }
  }

  private assistantMessage(message: Message): void {
    // A history without tool events (a fork's copied messages) still shows its tool calls.
    let firstTool: HTMLElement | null = null;
    for (const part of message.parts) {
      if (part.type !== "tool_call") continue;
      const existing = this.tools.get(part.call_id);
      if (existing) firstTool ??= existing.root;
    }

    const thinking = message.parts
      .filter((part): part is Extract<Part, { type: "reasoning" }> => part.type === "reasoning")
      .map((part) => part.text)
      .filter((text) => text.trim() !== "")
      .join("\n\n");
    const [firstThinking, ...extraThinking] = this.pendingThinking;
    if (firstThinking) {
      if (thinking) setThinkingText(firstThinking, thinking);
      extraThinking.forEach((node) => node.remove());
    } else if (thinking) {
      const block = thinkingBlock();
      setThinkingText(block, thinking);
      this.append(block, firstTool);
    }

    const text = textOf(message.parts);
    const [firstText, ...extraText] = this.pendingText;
    if (firstText) {
      fillAssistant(firstText, text || firstText.textContent || "", message.interrupted === true);
      extraText.forEach((node) => node.closest(".msg")?.remove());
    } else if (text.trim() !== "") {
      const body = assistantBlock();
      fillAssistant(body, text, message.interrupted === true);
      this.append(body.parentElement as HTMLElement, firstTool);
    }
    this.pendingText = [];
    this.pendingThinking = [];
    this.currentText = null;
    this.currentThinking = null;

    for (const part of message.parts) {
      if (part.type === "tool_call" && !this.tools.has(part.call_id)) {
        this.toolStarted(part.call_id, part.name, part.arguments);
      }
    }
  }

  private textDelta(delta: string): void {
    if (!delta) return;
    if (!this.currentText) {
      const body = assistantBlock();
      body.classList.add("streaming");
      this.append(body.parentElement as HTMLElement);
      this.currentText = body;
      this.pendingText.push(body);
    }
    this.currentText.append(document.createTextNode(delta));
  }

  private reasoningDelta(delta: string): void {
    if (!delta) return;
    if (!this.currentThinking) {
      const block = thinkingBlock();
      this.append(block);
      this.currentThinking = block;
      this.pendingThinking.push(block);
    }
    this.currentThinking.querySelector(".thinking-text")?.append(document.createTextNode(delta));
  }

  /** A turn's end (or a new prompt) leaves no block waiting for more deltas. */
  private endStreaming(): void {
    for (const body of this.pendingText) {
      fillAssistant(body, body.textContent ?? "", false);
    }
    this.pendingText = [];
    this.pendingThinking = [];
    this.currentText = null;
    this.currentThinking = null;
  }

  // --- tools ---

  private toolStarted(callId: string, name: string, args: string): ToolBlock {
    const existing = this.tools.get(callId);
    if (existing) return existing;
    // Text that follows the call belongs to a new block, below it.
    this.currentText = null;
    this.currentThinking = null;

    const root = el("details", "tool-block");
    root.dataset.callId = callId;
    root.dataset.state = "running";
    const summary = el("summary", "tool-summary");
    summary.append(el("span", "tool-name", name || "tool"));
    const brief = argumentSummary(args);
    if (brief) summary.append(el("code", "tool-arg", brief));
    const badge = el("span", "badge badge-running", "running");
    const duration = el("span", "tool-duration");
    summary.append(badge, duration);
    root.append(summary);

    const body = el("div", "tool-body");
    const pretty = prettyArguments(args);
    if (pretty) {
      body.append(el("div", "tool-label", "Arguments"));
      body.append(el("pre", "tool-args", pretty));
    }
    const output = el("div", "tool-output-wrap");
    body.append(output);
    root.append(body);
    this.append(root);

    const block: ToolBlock = { root, badge, duration, output, streamed: "", finished: false };
    this.tools.set(callId, block);
    // A question asked before its call was seen (a pending card shown on open) joins the call.
    for (const card of this.cards.values()) {
      if (card.dataset.callId === callId && !card.dataset.decided) this.placeCard(card);
    }
    return block;
  }

  private toolDelta(callId: string, delta: string): void {
    const block = this.tools.get(callId) ?? this.toolStarted(callId, "tool", "");
    if (block.finished) return;
    block.streamed += delta;
    let pre = block.output.querySelector<HTMLElement>("pre.tool-output");
    if (!pre) {
      pre = el("pre", "tool-output");
      block.output.replaceChildren(el("div", "tool-label", "Output"), pre);
    }
    pre.append(document.createTextNode(delta));
  }

  private toolFinished(callId: string, name: string, output: string, isError: boolean, durationMs: number | null): void {
    const block = this.tools.get(callId) ?? this.toolStarted(callId, name, "");
    block.finished = true;
    block.root.dataset.state = isError ? "failed" : "ok";
    block.badge.className = `badge ${isError ? "badge-failed" : "badge-ok"}`;
    block.badge.textContent = isError ? "failed" : "ok";
    block.duration.textContent = durationMs === null ? "" : formatDuration(durationMs);
    const rendered = renderOutput(output);
    block.output.replaceChildren(el("div", "tool-label", "Output"), rendered.node);
    if (rendered.isDiff || isError) block.root.open = true;
  }

  // --- permissions ---

  private permissionRequested(event: EventOf<"permission_requested">): void {
    const requestId = str(event.request_id);
    if (!requestId) return;
    const existing = this.cards.get(requestId);
    if (existing) {
      // A pending card shown before the replay moves to where the request happened.
      if (!existing.dataset.decided) this.placeCard(existing);
      return;
    }
    const card = el("div", "permission-card");
    card.dataset.requestId = requestId;
    card.dataset.callId = str(event.call_id);
    const question = el("p", "permission-question");
    question.append("Allow ", el("code", "inline-code", str(event.tool) || "tool"));
    const summary = str(event.summary);
    if (summary) {
      question.append(": ");
      appendInline(question, summary);
    }
    question.append("?");
    card.append(question);
    if (event.kind) card.dataset.kind = str(event.kind);

    const actions = el("div", "permission-actions");
    for (const decision of ["allow_once", "allow_always", "deny"] as const) {
      const button = el("button", `btn btn-${decision === "deny" ? "danger" : decision === "allow_once" ? "primary" : "secondary"}`, DECISION_LABELS[decision]);
      button.type = "button";
      button.dataset.decision = decision;
      button.addEventListener("click", () => {
        const buttons = actions.querySelectorAll("button");
        buttons.forEach((b) => (b.disabled = true));
        this.hooks.decide(requestId, decision).catch(() => {
          buttons.forEach((b) => (b.disabled = false));
        });
      });
      actions.append(button);
    }
    card.append(actions);
    this.cards.set(requestId, card);
    this.placeCard(card);
  }

  /** A card sits at the top of its tool call's block (opened) when there is one, else below. */
  private placeCard(card: HTMLElement): void {
    const block = this.tools.get(card.dataset.callId ?? "");
    const body = block?.root.querySelector<HTMLElement>(".tool-body");
    if (block && body) {
      body.prepend(card);
      block.root.open = true;
    } else {
      this.append(card);
    }
  }

  private permissionDecided(event: EventOf<"permission_decided">): void {
    const requestId = str(event.request_id);
    const decision = str(event.decision);
    const source = SOURCE_LABELS[str(event.source)] ?? str(event.source);
    const rule = optStr(event.rule);
    const card = this.cards.get(requestId);
    if (card) {
      card.dataset.decided = decision;
      card.classList.add(decision === "deny" ? "decided-deny" : "decided-allow");
      const result = el("div", "permission-decision", `${DECIDED_LABELS[decision] ?? decision}${source ? ` (${source})` : ""}`);
      if (rule) result.title = rule;
      card.querySelector(".permission-actions")?.replaceWith(result);
      return;
    }
    // Decided by policy without asking: note it on the tool call as an audit trail.
    const block = this.tools.get(str(event.call_id));
    if (block && decision === "deny") {
      block.root.querySelector(".tool-body")?.prepend(el("div", "tool-permission", `Denied ${source}${rule ? `: ${rule}` : ""}`));
    }
  }

  // --- notices ---

  private notice(kind: "error" | "warning" | "info", message: string, hint?: string, code?: string): void {
    if (kind === "error") {
      // Text after an error belongs to a new block, not to the one the error cut off.
      this.currentText = null;
      this.currentThinking = null;
    }
    const node = el("div", `notice notice-${kind}`);
    if (code) node.dataset.code = code;
    node.append(el("span", "notice-message", message));
    if (hint) {
      const hintNode = el("span", "notice-hint");
      appendInline(hintNode, hint);
      node.append(hintNode);
    }
    this.append(node);
  }
}

const TRANSIENT = new Set<EventType>(["text_delta", "reasoning_delta", "tool_output_delta"]);

function str(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined || value === null) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function optStr(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function textOf(parts: Part[]): string {
  return parts
    .filter((part): part is Extract<Part, { type: "text" }> => part.type === "text")
    .map((part) => part.text)
    .join("");
}

/** Returns the body element; its parent is the block to insert. */
function assistantBlock(): HTMLElement {
  const block = el("div", "msg msg-assistant");
  const body = el("div", "md");
  block.append(body);
  return body;
}

function fillAssistant(body: HTMLElement, text: string, interrupted: boolean): void {
  body.classList.remove("streaming");
  body.replaceChildren(renderMarkdown(text));
  if (interrupted) body.append(el("div", "interrupted", "(interrupted)"));
}

function thinkingBlock(): HTMLDetailsElement {
  const block = el("details", "thinking");
  block.append(el("summary", undefined, "Thinking"), el("div", "thinking-text"));
  return block;
}

function setThinkingText(block: HTMLDetailsElement, text: string): void {
  block.querySelector(".thinking-text")?.replaceChildren(document.createTextNode(text));
}

const SUMMARY_FIELDS = ["command", "cmd", "path", "file_path", "filePath", "pattern", "query", "url", "description", "task"];

/** The one argument that says what a call does: a command, a path, a pattern... */
export function argumentSummary(args: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    return clip(args.trim(), 80);
  }
  if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
    const record = parsed as Record<string, unknown>;
    for (const field of SUMMARY_FIELDS) {
      const value = record[field];
      if (typeof value === "string" && value.trim()) return clip(value.trim().split("\n")[0] ?? "", 80);
      if (Array.isArray(value) && value.every((v) => typeof v === "string")) return clip(value.join(" "), 80);
    }
    const first = Object.values(record).find((v) => typeof v === "string");
    return typeof first === "string" ? clip(first.split("\n")[0] ?? "", 80) : "";
  }
  return "";
}

function prettyArguments(args: string): string {
  if (!args.trim() || args.trim() === "{}") return "";
  try {
    return JSON.stringify(JSON.parse(args), null, 2);
  } catch {
    return args;
  }
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Tool output as text, or as a coloured diff when it holds a unified diff hunk. */
export function renderOutput(output: string): { node: HTMLElement; isDiff: boolean } {
  const lines = output.replace(/\r\n/g, "\n").replace(/\n$/, "").split("\n");
  const isDiff = lines.some((line) => line.startsWith("@@ "));
  if (!isDiff) return { node: el("pre", "tool-output", output), isDiff };
  const diff = el("pre", "tool-output diff");
  lines.forEach((line, index) => {
    let cls = "diff-line";
    const next = lines[index + 1] ?? "";
    const prev = lines[index - 1] ?? "";
    // A file header is the pair "--- a" / "+++ b"; a lone "---" line is a removed "--" line.
    if (line.startsWith("@@")) cls = "diff-hunk";
    else if ((line.startsWith("--- ") && next.startsWith("+++ ")) || (line.startsWith("+++ ") && prev.startsWith("--- "))) cls = "diff-file";
    else if (line.startsWith("+")) cls = "diff-add";
    else if (line.startsWith("-")) cls = "diff-del";
    diff.append(el("span", cls, `${line}\n`));
  });
  return { node: diff, isDiff };
}
