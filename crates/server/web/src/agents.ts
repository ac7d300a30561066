// The agent tree of a multi-agent run: agents nested under the agent that started them, each
// with its type, model, state and the task it worked on. An agent with a session of its own
// opens that session's conversation when clicked.

import { el } from "./dom.js";
import type { AgentNode, RunAgents, TaskNode } from "./types.js";

export interface AgentTreeHooks {
  /** The agent whose conversation is shown, marked in the tree; null for none. */
  selectedSession: string | null;
  open(agent: AgentNode): void;
}

export type AgentState = "running" | "done" | "failed";

export function agentState(agent: AgentNode): AgentState {
  return agent.succeeded === null || agent.succeeded === undefined ? "running" : agent.succeeded ? "done" : "failed";
}

export function agentType(agent: AgentNode): string {
  return agent.info.profile ?? "agent";
}

export function renderAgentTree(container: HTMLElement, run: RunAgents, hooks: AgentTreeHooks): void {
  const agents = Array.isArray(run.agents) ? run.agents : [];
  const tasks = Array.isArray(run.tasks) ? run.tasks : [];
  const known = new Set(agents.map((agent) => agent.info.id));
  const children = new Map<string, AgentNode[]>();
  const roots: AgentNode[] = [];
  for (const agent of agents) {
    const parent = agent.info.parent;
    // An agent whose parent is not listed is shown at the top rather than lost.
    if (parent && known.has(parent) && parent !== agent.info.id) {
      const siblings = children.get(parent) ?? [];
      siblings.push(agent);
      children.set(parent, siblings);
    } else {
      roots.push(agent);
    }
  }

  const list = el("ul", "agent-list");
  const seen = new Set<string>();
  const build = (agent: AgentNode): HTMLLIElement => {
    seen.add(agent.info.id);
    const item = agentItem(agent, taskOf(agent, tasks), hooks);
    const kids = (children.get(agent.info.id) ?? []).filter((kid) => !seen.has(kid.info.id));
    if (kids.length > 0) {
      const sub = el("ul", "agent-list");
      for (const kid of kids) sub.append(build(kid));
      item.append(sub);
    }
    return item;
  };
  for (const root of roots) list.append(build(root));

  const waiting = tasks.filter((task) => task.agents.length === 0);
  const nodes: HTMLElement[] = [list];
  if (waiting.length > 0) {
    nodes.push(el("div", "agent-section", "Waiting tasks"));
    const ul = el("ul", "agent-list");
    for (const task of waiting) {
      const li = el("li", "agent-task-waiting");
      li.dataset.taskId = task.info.id;
      li.append(el("span", "agent-task", taskTitle(task)), el("span", `state state-${task.state}`, task.state));
      ul.append(li);
    }
    nodes.push(ul);
  }
  container.replaceChildren(...nodes);
}

function agentItem(agent: AgentNode, task: TaskNode | undefined, hooks: AgentTreeHooks): HTMLLIElement {
  const state = agentState(agent);
  const li = el("li", "agent");
  li.dataset.agentId = agent.info.id;
  li.dataset.state = state;
  const session = agent.info.session_id;
  // Only an agent with a session of its own has a conversation to open.
  const head = session ? el("button", "agent-head agent-open") : el("div", "agent-head");
  head.append(el("span", "agent-type", agentType(agent)), el("span", `state state-${state}`, state));
  if (session && head instanceof HTMLButtonElement) {
    li.dataset.agentSession = session;
    head.type = "button";
    head.title = `Show ${agent.info.id}'s conversation`;
    if (session === hooks.selectedSession) {
      li.classList.add("selected");
      head.setAttribute("aria-current", "true");
    }
    head.addEventListener("click", () => hooks.open(agent));
  }
  li.append(head);
  li.append(el("div", "agent-model", agent.info.model));
  if (task) {
    const line = el("div", "agent-task", taskTitle(task));
    line.title = task.info.description;
    if (task.failure) line.append(el("span", "agent-failure", ` — ${task.failure}`));
    li.append(line);
  }
  return li;
}

function taskOf(agent: AgentNode, tasks: TaskNode[]): TaskNode | undefined {
  return tasks.find((task) => task.agents.includes(agent.info.id));
}

function taskTitle(task: TaskNode): string {
  const text = task.info.description ?? task.info.id;
  const first = text.split("\n")[0] ?? text;
  return first.length > 90 ? `${first.slice(0, 89)}…` : first;
}
