// The HTTP API client: every call sends the bearer token, and every failure becomes an
// `ApiError` whose message is one line a person can act on (the problem's hint included).

import type {
  Accepted,
  CreateSession,
  Decision,
  ForkSession,
  ModelListing,
  PermissionAnswer,
  PostMessage,
  Problem,
  RunAgents,
  SessionInfo,
  SessionView,
} from "./types.js";

const TOKEN_KEY = "code-mesh-token";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly hint: string | null | undefined;

  constructor(status: number, code: string, message: string, hint?: string | null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.hint = hint;
  }

  /** The message and the hint on one line, e.g. "No provider key — set ANTHROPIC_API_KEY". */
  get line(): string {
    return this.hint ? `${this.message} — ${this.hint}` : this.message;
  }
}

/** The token lives in sessionStorage so a reload keeps it but a new tab asks again. */
export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage can be disabled; the token then lasts as long as the page.
  }
}

/**
 * Takes `#token=...` out of the address: kept in storage, and dropped from the address bar so
 * it does not end up in the history or in a shared screenshot.
 */
export function takeTokenFromFragment(): string | null {
  const hash = location.hash.startsWith("#") ? location.hash.slice(1) : location.hash;
  const params = new URLSearchParams(hash);
  const token = params.get("token");
  if (token === null) return null;
  storeToken(token);
  history.replaceState(null, "", location.pathname + location.search);
  return token;
}

async function problemOf(response: Response): Promise<ApiError> {
  let problem: Partial<Problem> = {};
  const text = await response.text().catch(() => "");
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object") problem = parsed as Partial<Problem>;
  } catch {
    // Not JSON (a proxy's page, say): fall back to the status line below.
  }
  const code = problem.code ?? `http_${response.status}`;
  const message =
    problem.detail || problem.title || text.trim().slice(0, 200) || `${response.status} ${response.statusText}`;
  return new ApiError(response.status, code, message, problem.hint);
}

export class Api {
  /** Called when the server answers 401, so the page can ask for a token again. */
  onUnauthorized: () => void = () => {};

  constructor(private token: () => string | null) {}

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const token = this.token();
    if (token) headers["Authorization"] = `Bearer ${token}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response: Response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "network", `Cannot reach the server (${String(err)})`, "is `code-mesh serve` still running?");
    }
    if (!response.ok) {
      const error = await problemOf(response);
      if (response.status === 401) this.onUnauthorized();
      throw error;
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  listSessions(limit = 50): Promise<SessionInfo[]> {
    return this.request("GET", `/api/sessions?limit=${limit}`);
  }

  /** A field left out takes the server's configured value. */
  createSession(options: CreateSession = {}): Promise<SessionView> {
    return this.request("POST", "/api/sessions", options);
  }

  getSession(id: string): Promise<SessionView> {
    return this.request("GET", `/api/sessions/${encodeURIComponent(id)}`);
  }

  deleteSession(id: string): Promise<void> {
    return this.request("DELETE", `/api/sessions/${encodeURIComponent(id)}`);
  }

  /** The copy is a new session of its own; the answer is its info. */
  forkSession(id: string): Promise<SessionInfo> {
    return this.request("POST", `/api/sessions/${encodeURIComponent(id)}/fork`, {} satisfies ForkSession);
  }

  sendMessage(id: string, text: string): Promise<Accepted> {
    return this.request("POST", `/api/sessions/${encodeURIComponent(id)}/messages`, { text } satisfies PostMessage);
  }

  abort(id: string): Promise<unknown> {
    return this.request("POST", `/api/sessions/${encodeURIComponent(id)}/abort`);
  }

  decide(id: string, requestId: string, decision: Decision): Promise<void> {
    return this.request(
      "POST",
      `/api/sessions/${encodeURIComponent(id)}/permissions/${encodeURIComponent(requestId)}`,
      { decision } satisfies PermissionAnswer,
    );
  }

  /** The models this setup can use, as `code-mesh models --json` lists them. */
  models(): Promise<ModelListing[]> {
    return this.request("GET", "/api/models");
  }

  agents(id: string): Promise<RunAgents> {
    return this.request("GET", `/api/sessions/${encodeURIComponent(id)}/agents`);
  }

  /** The stream's address; EventSource cannot send headers, so the token rides in the query. */
  streamUrl(id: string, after: number): string {
    const params = new URLSearchParams({ after: String(after), token: this.token() ?? "" });
    return `/api/sessions/${encodeURIComponent(id)}/stream?${params.toString()}`;
  }
}
