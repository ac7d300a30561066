// The JSON shapes of the HTTP API, as the Rust protocol crate serialises them. Only the fields
// the page reads are listed; the server may send more.

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens?: number;
  cache_write_tokens?: number;
  reasoning_tokens?: number;
  cost_usd?: number | null;
}

export interface SessionInfo {
  id: string;
  cwd: string;
  workspace: string;
  title: string;
  model: string;
  created_at: number;
  updated_at: number;
  message_count: number;
  last_event_seq: number;
  usage: Usage;
  parent_id?: string;
  agent?: string;
}

export interface SessionView {
  session: SessionInfo;
  live: boolean;
  running: boolean;
  pending_permissions: ServerEvent[];
}

export type Part =
  | { type: "text"; text: string }
  | { type: "reasoning"; text: string; redacted?: boolean }
  | { type: "tool_call"; call_id: string; name: string; arguments: string }
  | { type: "tool_result"; call_id: string; name: string; output: string; is_error?: boolean };

export interface Message {
  seq: number;
  role: "user" | "assistant" | "tool";
  parts: Part[];
  model?: string;
  interrupted?: boolean;
  created_at: number;
}

export interface AgentInfo {
  id: string;
  /** The profile's name; the contract also calls it `agent_type`. */
  profile?: string;
  agent_type?: string;
  parent?: string | null;
  session_id?: string;
  model: string;
  task?: string | null;
}

export interface AgentNode {
  info: AgentInfo;
  succeeded: boolean | null;
  usage?: Usage;
}

export interface TaskNode {
  info: { id: string; description: string; agent?: string; title?: string };
  state: string;
  agents: string[];
  failure: string | null;
}

export interface RunAgents {
  agents: AgentNode[];
  tasks: TaskNode[];
}

/** An event: `seq`, `session_id`, `at` and `type`, plus the fields of its kind. */
export interface ServerEvent {
  seq: number;
  session_id: string;
  at: number;
  type: string;
  [field: string]: unknown;
}

export type Decision = "allow_once" | "allow_always" | "deny";

/** The body of an `application/problem+json` answer. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  hint?: string;
}
