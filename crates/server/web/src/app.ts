// The page of `code-mesh serve`: wires the session list, the conversation, the prompt box and
// the agent tree to the HTTP API and the session's event stream.
//
// Stable hooks for browser tests (Playwright):
//   #token-form, #token-input         the token form (shown without a token or after a 401)
//   #error-banner                     one-line API errors, with the problem's hint
//   #new-session                      creates a session and opens it
//   #model-select, #strategy-select   the next new session's model and strategy (also used when
//     a prompt starts one); option value "" is "default": the field is left out and the server
//     uses its configured one. The models come from /api/models, the default-role one preselected
//   #session-list li[data-session-id] one per session, newest first; `.active` is the open one;
//     button[data-action=fork|delete] in each (delete asks confirm() first)
//   #conversation                     the open session's blocks:
//     .msg.msg-user, .msg.msg-assistant, details.thinking,
//     .tool-block[data-call-id][data-state=running|ok|failed] with .badge and .tool-output,
//     .diff with .diff-add / .diff-del / .diff-hunk lines,
//     .permission-card[data-request-id] with button[data-decision=allow_once|allow_always|deny]
//       and, once settled, .permission-decision; .notice-error / .notice-warning / .notice-info
//   #prompt, #send, #stop              the prompt box; #stop is shown while a turn runs
//   #turn-status                      the "working" spinner while a turn runs
//   #usage                            tokens and cost of the open session
//   #connection[data-state]           the stream's state: connecting | open | closed
//   #agent-panel, #agent-tree         the agent tree, shown once the session has agents;
//     li.agent[data-agent-id][data-state][data-agent-session] > button.agent-open opens the
//     agent's conversation (`li.selected` while shown)
//   #agent-view-header, #agent-view-title, #back-to-run
//                                     shown while an agent's conversation is open
//   #agent-conversation               that conversation, read-only (the prompt box is disabled);
//                                     #conversation keeps the run's, hidden meanwhile

import { agentState, agentType, renderAgentTree } from "./agents.js";
import { Api, ApiError, storeToken, storedToken, takeTokenFromFragment } from "./api.js";
import { Conversation } from "./conversation.js";
import { byId, el, formatTokens, relativeTime } from "./dom.js";
import { SessionStream, type StreamState } from "./stream.js";
import type {
  AgentNode,
  CreateSession,
  Decision,
  EventType,
  ModelListing,
  RunAgents,
  ServerEvent,
  SessionInfo,
  Usage,
} from "./types.js";

const OPEN_SESSION_KEY = "code-mesh-open-session";
const AGENT_EVENTS = new Set<EventType>([
  "agent_spawned",
  "agent_terminated",
  "task_created",
  "task_started",
  "task_completed",
  "task_failed",
]);

/** An agent's conversation shown in place of the run's, which keeps streaming underneath. */
interface AgentView {
  agentId: string;
  sessionId: string;
  stream: SessionStream;
}

class App {
  private readonly api = new Api(() => storedToken());
  private readonly conversation: Conversation;
  private readonly agentConversation: Conversation;
  private agentView: AgentView | null = null;
  /** Bumped whenever the agent view opens or closes, so a late event of the last one is dropped. */
  private agentGeneration = 0;
  /** The run's agents as last fetched, for the agent view's header. */
  private agents: RunAgents | null = null;
  private sessions: SessionInfo[] = [];
  private currentId: string | null = null;
  private stream: SessionStream | null = null;
  private running = false;
  /** Bumped on every open, so a slow answer for a session left meanwhile is dropped. */
  private openGeneration = 0;
  private hasAgents = false;
  private agentTimer: number | undefined;
  private listTimer: number | undefined;

  private readonly el = {
    tokenOverlay: byId<HTMLElement>("token-overlay"),
    tokenForm: byId<HTMLFormElement>("token-form"),
    tokenInput: byId<HTMLInputElement>("token-input"),
    tokenMessage: byId<HTMLElement>("token-message"),
    errorBanner: byId<HTMLElement>("error-banner"),
    errorText: byId<HTMLElement>("error-text"),
    errorClose: byId<HTMLButtonElement>("error-close"),
    newSession: byId<HTMLButtonElement>("new-session"),
    modelSelect: byId<HTMLSelectElement>("model-select"),
    strategySelect: byId<HTMLSelectElement>("strategy-select"),
    sessionList: byId<HTMLUListElement>("session-list"),
    sessionTitle: byId<HTMLElement>("session-title"),
    connection: byId<HTMLElement>("connection"),
    usage: byId<HTMLElement>("usage"),
    conversation: byId<HTMLElement>("conversation"),
    emptyState: byId<HTMLElement>("empty-state"),
    turnStatus: byId<HTMLElement>("turn-status"),
    promptForm: byId<HTMLFormElement>("prompt-form"),
    prompt: byId<HTMLTextAreaElement>("prompt"),
    send: byId<HTMLButtonElement>("send"),
    stop: byId<HTMLButtonElement>("stop"),
    agentPanel: byId<HTMLElement>("agent-panel"),
    agentTree: byId<HTMLElement>("agent-tree"),
    agentConversation: byId<HTMLElement>("agent-conversation"),
    agentViewHeader: byId<HTMLElement>("agent-view-header"),
    agentViewTitle: byId<HTMLElement>("agent-view-title"),
    backToRun: byId<HTMLButtonElement>("back-to-run"),
  };

  constructor() {
    this.conversation = new Conversation(this.el.conversation, {
      decide: (requestId, decision) => this.decide(requestId, decision),
    });
    // An agent's questions are the run's: the run's session answers them.
    this.agentConversation = new Conversation(this.el.agentConversation, {
      decide: (requestId, decision) => this.decide(requestId, decision),
    });
    this.api.onUnauthorized = () => this.askForToken("The server did not accept the token. Paste the one `code-mesh serve` printed.");
    this.bind();
  }

  start(): void {
    takeTokenFromFragment();
    if (!storedToken()) {
      this.askForToken();
      return;
    }
    void this.connect();
  }

  private async connect(): Promise<void> {
    this.hideTokenForm();
    void this.loadModels();
    await this.loadSessions();
    const remembered = sessionStorage.getItem(OPEN_SESSION_KEY);
    if (remembered && !this.currentId && this.sessions.some((s) => s.id === remembered)) {
      await this.openSession(remembered);
    }
  }

  private bind(): void {
    this.el.tokenForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const token = this.el.tokenInput.value.trim();
      if (!token) return;
      storeToken(token);
      this.el.tokenInput.value = "";
      void this.connect();
    });
    this.el.errorClose.addEventListener("click", () => this.clearError());
    this.el.newSession.addEventListener("click", () => void this.newSession());
    this.el.promptForm.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.send();
    });
    this.el.prompt.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        void this.send();
      }
    });
    this.el.stop.addEventListener("click", () => void this.stopTurn());
    this.el.backToRun.addEventListener("click", () => this.closeAgentView());
    // Keeps "5 min ago" true without asking the server.
    window.setInterval(() => this.renderSessions(), 60_000);
  }

  // --- token and errors ---

  private askForToken(message?: string): void {
    storeToken(null);
    this.stream?.close();
    this.stream = null;
    this.agentView?.stream.close();
    this.el.tokenMessage.textContent = message ?? "Paste the token that `code-mesh serve` printed (the part after #token=).";
    this.el.tokenOverlay.hidden = false;
    this.el.tokenInput.focus();
  }

  private hideTokenForm(): void {
    this.el.tokenOverlay.hidden = true;
  }

  private showError(error: unknown): void {
    const line = error instanceof ApiError ? error.line : error instanceof Error ? error.message : String(error);
    this.el.errorText.textContent = line;
    this.el.errorBanner.hidden = false;
    if (error instanceof ApiError) this.el.errorBanner.dataset.code = error.code;
  }

  private clearError(): void {
    this.el.errorBanner.hidden = true;
    this.el.errorText.textContent = "";
    delete this.el.errorBanner.dataset.code;
  }

  /** Reports a failed call unless it was a 401, which the token form already answers. */
  private fail(error: unknown): void {
    if (error instanceof ApiError && error.status === 401) return;
    this.showError(error);
  }

  // --- new-session options ---

  /**
   * Fills the model picker. A failure leaves only "default" (the server's own choice still
   * works), so it is noted on the picker rather than raised as an error.
   */
  private async loadModels(): Promise<void> {
    const select = this.el.modelSelect;
    let models: ModelListing[];
    try {
      models = await this.api.models();
    } catch (error) {
      const line = error instanceof ApiError ? error.line : String(error);
      select.replaceChildren(new Option("default", ""));
      select.title = `The models could not be listed: ${line}`;
      return;
    }
    // A reconnect keeps what the user picked, if the server still offers it.
    const previous = select.value;
    const names = [...new Set(models.map((m) => m.model))];
    const preferred = models.find((m) => m.role === "default")?.model ?? "";
    select.replaceChildren(new Option("default", ""), ...names.map((name) => new Option(name, name)));
    select.value = previous && names.includes(previous) ? previous : preferred;
    select.title = "";
  }

  /** The new session's options; a field left at "default" is left out. */
  private newSessionOptions(): CreateSession {
    const options: CreateSession = {};
    const model = this.el.modelSelect.value;
    const strategy = this.el.strategySelect.value;
    if (model) options.model = model;
    if (strategy) options.strategy = strategy;
    return options;
  }

  // --- sessions ---

  private async loadSessions(): Promise<void> {
    try {
      const sessions = await this.api.listSessions();
      this.sessions = [...sessions].sort((a, b) => b.updated_at - a.updated_at);
      this.renderSessions();
    } catch (error) {
      this.fail(error);
    }
  }

  private scheduleListRefresh(): void {
    window.clearTimeout(this.listTimer);
    this.listTimer = window.setTimeout(() => void this.loadSessions(), 400);
  }

  private renderSessions(): void {
    const items = this.sessions.map((session) => {
      const li = el("li", session.id === this.currentId ? "session active" : "session");
      li.dataset.sessionId = session.id;
      const button = el("button", "session-open");
      button.type = "button";
      button.append(el("span", "session-title", session.title || "Untitled session"));
      const meta = el("span", "session-meta");
      meta.append(el("span", "session-model", session.model), el("span", "session-time", relativeTime(session.updated_at)));
      button.append(meta);
      if (session.id === this.currentId) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => void this.openSession(session.id));
      const actions = el("div", "session-actions");
      const title = session.title || "Untitled session";
      actions.append(
        this.sessionAction("fork", "Fork", `Copy “${title}” into a new session`, () => this.forkSession(session.id)),
        this.sessionAction("delete", "Delete", `Delete “${title}”`, () => this.deleteSession(session.id, title)),
      );
      li.append(button, actions);
      return li;
    });
    if (items.length === 0) items.push(el("li", "session-none", "No sessions yet"));
    this.el.sessionList.replaceChildren(...items);
    const current = this.sessions.find((s) => s.id === this.currentId);
    if (current) this.el.sessionTitle.textContent = current.title || "Untitled session";
  }

  private sessionAction(action: string, label: string, title: string, run: () => Promise<void>): HTMLButtonElement {
    const button = el("button", "session-action", label);
    button.type = "button";
    button.dataset.action = action;
    button.title = title;
    button.setAttribute("aria-label", title);
    button.addEventListener("click", () => {
      button.disabled = true;
      void run().finally(() => (button.disabled = false));
    });
    return button;
  }

  private async forkSession(id: string): Promise<void> {
    let forked: SessionInfo;
    try {
      forked = await this.api.forkSession(id);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.sessions = [forked, ...this.sessions.filter((s) => s.id !== forked.id)];
    await this.openSession(forked.id);
    this.scheduleListRefresh();
  }

  private async deleteSession(id: string, title: string): Promise<void> {
    if (!window.confirm(`Delete the session “${title}” and its history? This cannot be undone.`)) return;
    try {
      await this.api.deleteSession(id);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (id === this.currentId) this.closeSession();
    this.sessions = this.sessions.filter((s) => s.id !== id);
    this.renderSessions();
    await this.loadSessions();
  }

  /** Leaves the open session (it was deleted): no stream, no conversation, the empty state. */
  private closeSession(): void {
    this.openGeneration++;
    this.stream?.close();
    this.stream = null;
    this.closeAgentView();
    this.currentId = null;
    sessionStorage.removeItem(OPEN_SESSION_KEY);
    this.conversation.reset();
    this.hasAgents = false;
    this.agents = null;
    this.el.agentPanel.hidden = true;
    this.el.agentTree.replaceChildren();
    this.el.conversation.hidden = true;
    this.el.emptyState.hidden = false;
    this.el.sessionTitle.textContent = "";
    this.el.usage.textContent = "";
    this.showConnection("closed");
    this.setRunning(false);
  }

  private async newSession(): Promise<string | null> {
    try {
      const view = await this.api.createSession(this.newSessionOptions());
      this.sessions = [view.session, ...this.sessions.filter((s) => s.id !== view.session.id)];
      await this.openSession(view.session.id);
      return view.session.id;
    } catch (error) {
      this.fail(error);
      return null;
    }
  }

  private async openSession(id: string): Promise<void> {
    const generation = ++this.openGeneration;
    this.stream?.close();
    this.stream = null;
    this.closeAgentView();
    this.currentId = id;
    sessionStorage.setItem(OPEN_SESSION_KEY, id);
    this.conversation.reset();
    this.hasAgents = false;
    this.agents = null;
    this.el.agentPanel.hidden = true;
    this.el.agentTree.replaceChildren();
    this.el.emptyState.hidden = true;
    this.el.conversation.hidden = false;
    this.el.usage.textContent = "";
    this.setRunning(false);
    this.renderSessions();

    let view;
    try {
      view = await this.api.getSession(id);
    } catch (error) {
      if (generation !== this.openGeneration) return;
      this.fail(error);
      return;
    }
    if (generation !== this.openGeneration) return;
    this.el.sessionTitle.textContent = view.session.title || "Untitled session";
    this.showUsage(view.session.usage);
    this.setRunning(view.running);
    this.conversation.showPending(view.pending_permissions ?? []);

    this.stream = new SessionStream((after) => this.api.streamUrl(id, after), {
      onEvent: (event) => {
        if (generation === this.openGeneration) this.onEvent(event);
      },
      onState: (state) => {
        if (generation === this.openGeneration) this.showConnection(state);
      },
      onRefused: () => this.streamRefused(id, generation),
    });
    this.el.prompt.focus();
  }

  /** The server closed the stream for good: a bad token, a deleted session, or a restart. */
  private async streamRefused(id: string, generation: number): Promise<boolean> {
    if (generation !== this.openGeneration) return false;
    try {
      await this.api.getSession(id);
      return generation === this.openGeneration;
    } catch (error) {
      if (error instanceof ApiError && error.status === 0) return generation === this.openGeneration;
      this.fail(error);
      return false;
    }
  }

  private onEvent(event: ServerEvent): void {
    this.conversation.apply(event);
    switch (event.type) {
      case "turn_started":
        this.setRunning(true);
        break;
      case "turn_finished":
        this.setRunning(false);
        this.scheduleListRefresh();
        break;
      case "message_added": {
        const current = this.sessions.find((s) => s.id === this.currentId);
        if (current && !current.title) this.scheduleListRefresh();
        break;
      }
      case "usage_updated":
        this.showUsage(event.session_total ?? event.usage);
        break;
      default:
        if (AGENT_EVENTS.has(event.type)) {
          this.hasAgents = true;
          this.scheduleAgentRefresh();
        }
    }
  }

  private showConnection(state: StreamState): void {
    this.el.connection.dataset.state = state;
    this.el.connection.textContent = state === "open" ? "live" : state === "connecting" ? "connecting…" : "disconnected";
  }

  private showUsage(usage: Usage | undefined): void {
    if (!usage || (!usage.input_tokens && !usage.output_tokens && typeof usage.cost_usd !== "number")) return;
    const parts = [`in ${formatTokens(usage.input_tokens ?? 0)}`, `out ${formatTokens(usage.output_tokens ?? 0)}`];
    if (usage.cache_read_tokens) parts.push(`cached ${formatTokens(usage.cache_read_tokens)}`);
    if (typeof usage.cost_usd === "number") parts.push(`$${usage.cost_usd.toFixed(usage.cost_usd < 1 ? 4 : 2)}`);
    this.el.usage.textContent = parts.join(" · ");
  }

  private setRunning(running: boolean): void {
    this.running = running;
    this.el.stop.hidden = !running;
    this.el.turnStatus.hidden = !running;
    this.el.send.disabled = running || this.agentView !== null;
  }

  // --- agents ---

  private scheduleAgentRefresh(): void {
    window.clearTimeout(this.agentTimer);
    this.agentTimer = window.setTimeout(() => void this.loadAgents(), 300);
  }

  private async loadAgents(): Promise<void> {
    const id = this.currentId;
    if (!id || !this.hasAgents) return;
    const generation = this.openGeneration;
    try {
      const run = await this.api.agents(id);
      if (generation !== this.openGeneration) return;
      const any = (run.agents?.length ?? 0) > 0 || (run.tasks?.length ?? 0) > 0;
      this.el.agentPanel.hidden = !any;
      this.agents = run;
      this.renderAgents();
      this.showAgentHeader();
    } catch (error) {
      this.fail(error);
    }
  }

  private renderAgents(): void {
    if (!this.agents) return;
    renderAgentTree(this.el.agentTree, this.agents, {
      selectedSession: this.agentView?.sessionId ?? null,
      open: (agent) => this.openAgent(agent),
    });
  }

  /** Shows an agent's own conversation, read-only, while the run's keeps streaming unseen. */
  private openAgent(agent: AgentNode): void {
    const sessionId = agent.info.session_id;
    if (!sessionId || !this.currentId) return;
    // The agent that runs in the run's own session has no other conversation to show.
    if (sessionId === this.currentId) {
      this.closeAgentView();
      return;
    }
    if (this.agentView?.sessionId === sessionId) return;
    this.agentView?.stream.close();
    this.agentConversation.reset();
    const generation = ++this.agentGeneration;
    const stream = new SessionStream((after) => this.api.streamUrl(sessionId, after), {
      onEvent: (event) => {
        if (generation === this.agentGeneration) this.agentConversation.apply(event);
      },
      // The connection badge is the run's; the agent's stream rides along silently.
      onState: () => {},
      onRefused: () => this.agentStreamRefused(sessionId, generation),
    });
    this.agentView = { agentId: agent.info.id, sessionId, stream };
    this.el.conversation.hidden = true;
    this.el.agentConversation.hidden = false;
    this.el.agentViewHeader.hidden = false;
    this.el.prompt.disabled = true;
    this.el.send.disabled = true;
    this.showAgentHeader();
    this.renderAgents();
  }

  private async agentStreamRefused(sessionId: string, generation: number): Promise<boolean> {
    if (generation !== this.agentGeneration) return false;
    try {
      await this.api.getSession(sessionId);
      return generation === this.agentGeneration;
    } catch (error) {
      if (error instanceof ApiError && error.status === 0) return generation === this.agentGeneration;
      this.fail(error);
      return false;
    }
  }

  /** Back to the run's conversation, which streamed on while hidden. */
  private closeAgentView(): void {
    if (!this.agentView) return;
    this.agentGeneration++;
    this.agentView.stream.close();
    this.agentView = null;
    this.agentConversation.reset();
    this.el.agentConversation.hidden = true;
    this.el.agentViewHeader.hidden = true;
    this.el.agentViewTitle.textContent = "";
    this.el.conversation.hidden = this.currentId === null;
    this.el.prompt.disabled = false;
    this.el.send.disabled = this.running;
    this.conversation.scrollToEnd();
    this.renderAgents();
  }

  /** "agent_3 · coder · running", the state as the tree last had it. */
  private showAgentHeader(): void {
    const view = this.agentView;
    if (!view) return;
    const agent = this.agents?.agents?.find((a) => a.info.id === view.agentId);
    const parts = [view.agentId];
    if (agent) parts.push(agentType(agent), agentState(agent));
    this.el.agentViewTitle.textContent = parts.join(" · ");
    if (agent) this.el.agentViewHeader.dataset.state = agentState(agent);
  }

  // --- prompt, stop, permissions ---

  private async send(): Promise<void> {
    // An agent's session is driven by its run; the server would refuse the prompt (409).
    if (this.agentView) return;
    const text = this.el.prompt.value.trim();
    if (!text) return;
    const id = this.currentId ?? (await this.newSession());
    if (!id) return;
    this.el.send.disabled = true;
    try {
      await this.api.sendMessage(id, text);
      this.el.prompt.value = "";
      this.clearError();
      this.setRunning(true);
    } catch (error) {
      this.el.send.disabled = this.running;
      this.fail(error);
    }
  }

  private async stopTurn(): Promise<void> {
    if (!this.currentId) return;
    try {
      await this.api.abort(this.currentId);
    } catch (error) {
      this.fail(error);
    }
  }

  private async decide(requestId: string, decision: Decision): Promise<void> {
    if (!this.currentId) return;
    try {
      await this.api.decide(this.currentId, requestId, decision);
    } catch (error) {
      this.fail(error);
      throw error;
    }
  }
}

new App().start();
