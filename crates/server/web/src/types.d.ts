// The JSON shapes of the HTTP API. They are not written here: `api-schema.d.ts` is generated
// from the server's OpenAPI document (crates/server/openapi.json) by `npm run build`, so the
// page cannot drift from the protocol. These are short names for the schemas the page uses.

import type { components } from "./api-schema.js";

type Schemas = components["schemas"];

export type Usage = Schemas["Usage"];
export type SessionInfo = Schemas["SessionInfo"];
export type SessionView = Schemas["SessionView"];
export type Part = Schemas["Part"];
export type Message = Schemas["Message"];
export type AgentInfo = Schemas["AgentInfo"];
export type AgentNode = Schemas["AgentNode"];
export type TaskNode = Schemas["TaskNode"];
export type RunAgents = Schemas["RunAgents"];
export type Decision = Schemas["PermissionDecision"];
export type Accepted = Schemas["Accepted"];
export type ModelListing = Schemas["ModelListing"];
/** The body of an `application/problem+json` answer. */
export type Problem = Schemas["Problem"];

/** An event: `seq`, `session_id`, `at` and `type`, plus the fields of its kind. */
export type ServerEvent = Schemas["Event"];
/** The kinds of event, by their `type`. */
export type EventType = ServerEvent["type"];
/** The event of one kind. */
export type EventOf<K extends EventType> = Extract<ServerEvent, { type: K }>;

// Request bodies.
export type CreateSession = Schemas["CreateSession"];
export type ForkSession = Schemas["ForkSession"];
export type PostMessage = Schemas["PostMessage"];
export type PermissionAnswer = Schemas["PermissionAnswer"];
