// The HTTP API client: every call sends the bearer token, and every failure becomes an
// `ApiError` whose message is one line a person can act on (the problem's hint included).
const TOKEN_KEY = "code-mesh-token";
export class ApiError extends Error {
    status;
    code;
    hint;
    constructor(status, code, message, hint) {
        super(message);
        this.name = "ApiError";
        this.status = status;
        this.code = code;
        this.hint = hint;
    }
    /** The message and the hint on one line, e.g. "No provider key — set ANTHROPIC_API_KEY". */
    get line() {
        return this.hint ? `${this.message} — ${this.hint}` : this.message;
    }
}
/** The token lives in sessionStorage so a reload keeps it but a new tab asks again. */
export function storedToken() {
    try {
        return sessionStorage.getItem(TOKEN_KEY);
    }
    catch {
        return null;
    }
}
export function storeToken(token) {
    try {
        if (token)
            sessionStorage.setItem(TOKEN_KEY, token);
        else
            sessionStorage.removeItem(TOKEN_KEY);
    }
    catch {
        // Storage can be disabled; the token then lasts as long as the page.
    }
}
/**
 * Takes `#token=...` out of the address: kept in storage, and dropped from the address bar so
 * it does not end up in the history or in a shared screenshot.
 */
export function takeTokenFromFragment() {
    const hash = location.hash.startsWith("#") ? location.hash.slice(1) : location.hash;
    const params = new URLSearchParams(hash);
    const token = params.get("token");
    if (token === null)
        return null;
    storeToken(token);
    history.replaceState(null, "", location.pathname + location.search);
    return token;
}
async function problemOf(response) {
    let problem = {};
    const text = await response.text().catch(() => "");
    try {
        const parsed = JSON.parse(text);
        if (parsed && typeof parsed === "object")
            problem = parsed;
    }
    catch {
        // Not JSON (a proxy's page, say): fall back to the status line below.
    }
    const code = problem.code ?? `http_${response.status}`;
    const message = problem.detail || problem.title || text.trim().slice(0, 200) || `${response.status} ${response.statusText}`;
    return new ApiError(response.status, code, message, problem.hint);
}
export class Api {
    token;
    /** Called when the server answers 401, so the page can ask for a token again. */
    onUnauthorized = () => { };
    constructor(token) {
        this.token = token;
    }
    async request(method, path, body) {
        const headers = { Accept: "application/json" };
        const token = this.token();
        if (token)
            headers["Authorization"] = `Bearer ${token}`;
        const init = { method, headers };
        if (body !== undefined) {
            headers["Content-Type"] = "application/json";
            init.body = JSON.stringify(body);
        }
        let response;
        try {
            response = await fetch(path, init);
        }
        catch (err) {
            throw new ApiError(0, "network", `Cannot reach the server (${String(err)})`, "is `code-mesh serve` still running?");
        }
        if (!response.ok) {
            const error = await problemOf(response);
            if (response.status === 401)
                this.onUnauthorized();
            throw error;
        }
        if (response.status === 204)
            return undefined;
        const text = await response.text();
        return (text ? JSON.parse(text) : undefined);
    }
    listSessions(limit = 50) {
        return this.request("GET", `/api/sessions?limit=${limit}`);
    }
    /** A field left out takes the server's configured value. */
    createSession(options = {}) {
        return this.request("POST", "/api/sessions", options);
    }
    getSession(id) {
        return this.request("GET", `/api/sessions/${encodeURIComponent(id)}`);
    }
    deleteSession(id) {
        return this.request("DELETE", `/api/sessions/${encodeURIComponent(id)}`);
    }
    /** The copy is a new session of its own; the answer is its info. */
    forkSession(id) {
        return this.request("POST", `/api/sessions/${encodeURIComponent(id)}/fork`, {});
    }
    sendMessage(id, text) {
        return this.request("POST", `/api/sessions/${encodeURIComponent(id)}/messages`, { text });
    }
    abort(id) {
        return this.request("POST", `/api/sessions/${encodeURIComponent(id)}/abort`);
    }
    decide(id, requestId, decision) {
        return this.request("POST", `/api/sessions/${encodeURIComponent(id)}/permissions/${encodeURIComponent(requestId)}`, { decision });
    }
    /** The models this setup can use, as `code-mesh models --json` lists them. */
    models() {
        return this.request("GET", "/api/models");
    }
    agents(id) {
        return this.request("GET", `/api/sessions/${encodeURIComponent(id)}/agents`);
    }
    /** The stream's address; EventSource cannot send headers, so the token rides in the query. */
    streamUrl(id, after) {
        const params = new URLSearchParams({ after: String(after), token: this.token() ?? "" });
        return `/api/sessions/${encodeURIComponent(id)}/stream?${params.toString()}`;
    }
}
