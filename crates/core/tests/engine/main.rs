//! Engine tests: the real turn loop against an in-process scripted provider, test tools and
//! the in-memory store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_watch;
mod bus;
mod context;
mod learning;
mod mesh;
mod mesh_run;
mod orchestra;
mod permissions;
mod pipeline;
mod routed;
mod support;
mod swarm;
mod turn_loop;
