//! The bus itself: members and their inboxes, topics, questions waiting for answers.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use code_mesh_protocol::{AgentId, EventKind};
use tokio::sync::{Notify, oneshot};

use super::Timer;

/// Messages an inbox holds before senders are refused.
pub const INBOX_CAPACITY: usize = 256;

/// Receives every delivery as an `agent_message` event, for the run's event log.
pub type MeshObserver = Arc<dyn Fn(EventKind) + Send + Sync>;

/// A message waiting in an agent's inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxMessage {
    pub from: AgentId,
    /// The sender's profile name, so the reader knows who it is dealing with.
    pub from_profile: String,
    pub kind: MessageKind,
    pub text: String,
}

/// How a message reached the inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// Sent to this agent alone.
    Direct,
    /// Sent to every agent but the sender.
    Broadcast,
    /// Published on a topic this agent subscribes to.
    Topic(String),
    /// A question whose sender waits for an answer given with `reply` and this request id.
    Question(String),
}

impl fmt::Display for InboxMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sender = format!("{} ({})", self.from, self.from_profile);
        match &self.kind {
            MessageKind::Direct => write!(f, "[from {sender}] {}", self.text),
            MessageKind::Broadcast => write!(f, "[broadcast from {sender}] {}", self.text),
            MessageKind::Topic(topic) => write!(f, "[topic {topic} from {sender}] {}", self.text),
            MessageKind::Question(id) => write!(
                f,
                "[question {id} from {sender}] {} — answer with reply {{\"request_id\": \"{id}\", \"text\": …}}",
                self.text
            ),
        }
    }
}

/// An agent on the bus, as listed by [`MeshBus::members`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeshMember {
    pub id: AgentId,
    pub profile: String,
}

impl fmt::Display for MeshMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.id, self.profile)
    }
}

/// Why a mesh operation failed. Each message says what to do instead, since most reach the
/// model as a failed tool result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MeshError {
    #[error("no agent `{address}` is on the mesh; address one of: {known}")]
    UnknownAgent { address: String, known: String },
    #[error("`{address}` names several agents ({candidates}); address one of them by id")]
    AmbiguousAgent { address: String, candidates: String },
    #[error("agent `{0}` is not on the mesh (it left or was never registered)")]
    NotRegistered(AgentId),
    #[error("agent `{0}` is already on the mesh; give every agent its own id")]
    DuplicateAgent(AgentId),
    #[error("an agent cannot {action} itself; address another agent")]
    ToSelf { action: &'static str },
    #[error(
        "the inbox of {agent} is full ({capacity} unread messages), so the message was not \
         delivered; send it again after that agent has read its inbox"
    )]
    InboxFull { agent: String, capacity: usize },
    #[error(
        "the message reached {delivered} agent(s) but not {missed}, whose inbox is full \
         ({capacity} unread messages); send it to them again later"
    )]
    PartlyDelivered {
        delivered: usize,
        missed: String,
        capacity: usize,
    },
    #[error("a topic needs a name without spaces, such as `api`")]
    InvalidTopic,
    #[error(
        "{agent} did not answer question {request_id} within {waited}; carry on without the \
         answer or ask again"
    )]
    AskTimedOut {
        agent: String,
        request_id: String,
        waited: String,
    },
    #[error("{agent} left the mesh before answering question {request_id}; ask another agent")]
    AgentLeft { agent: String, request_id: String },
    #[error(
        "no question `{0}` is waiting for an answer (it was answered, timed out, or its asker \
         stopped waiting); there is nothing to reply to"
    )]
    UnknownQuestion(String),
    #[error(
        "question {request_id} was asked of {asked}, not of you; only that agent can answer it"
    )]
    NotYourQuestion { request_id: String, asked: String },
}

struct Member {
    profile: String,
    inbox: VecDeque<InboxMessage>,
    /// Woken on each delivery (and when the member leaves), for [`MeshBus::wait_for_message`].
    arrived: Arc<Notify>,
}

struct PendingAsk {
    asker: AgentId,
    asked: AgentId,
    /// "agent_2 (tester)", for errors after the agent left.
    asked_label: String,
    answer: oneshot::Sender<Result<String, MeshError>>,
}

#[derive(Default)]
struct State {
    members: BTreeMap<AgentId, Member>,
    topics: BTreeMap<String, BTreeSet<AgentId>>,
    pending: HashMap<String, PendingAsk>,
    questions_asked: u64,
}

impl State {
    fn label(&self, id: &AgentId) -> String {
        match self.members.get(id) {
            Some(member) => format!("{id} ({})", member.profile),
            None => id.to_string(),
        }
    }

    fn member(&self, id: &AgentId) -> Result<&Member, MeshError> {
        self.members
            .get(id)
            .ok_or_else(|| MeshError::NotRegistered(id.clone()))
    }

    fn known(&self) -> String {
        if self.members.is_empty() {
            return "(nobody is on the mesh)".into();
        }
        self.members
            .iter()
            .map(|(id, member)| format!("{id} ({})", member.profile))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// An agent by id, or by profile name when exactly one agent has that profile.
    fn resolve(&self, address: &str) -> Result<AgentId, MeshError> {
        let address = address.trim();
        let id = AgentId(address.to_owned());
        if self.members.contains_key(&id) {
            return Ok(id);
        }
        let matching: Vec<&AgentId> = self
            .members
            .iter()
            .filter(|(_, member)| member.profile == address)
            .map(|(id, _)| id)
            .collect();
        match matching.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(MeshError::UnknownAgent {
                address: address.to_owned(),
                known: self.known(),
            }),
            several => Err(MeshError::AmbiguousAgent {
                address: address.to_owned(),
                candidates: several
                    .iter()
                    .map(|id| id.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Puts a message into `to`'s inbox, or says whose inbox is full.
    fn deliver(
        &mut self,
        to: &AgentId,
        message: InboxMessage,
        capacity: usize,
    ) -> Result<(), MeshError> {
        let label = self.label(to);
        let member = self
            .members
            .get_mut(to)
            .ok_or_else(|| MeshError::NotRegistered(to.clone()))?;
        if member.inbox.len() >= capacity {
            return Err(MeshError::InboxFull {
                agent: label,
                capacity,
            });
        }
        member.inbox.push_back(message);
        member.arrived.notify_one();
        Ok(())
    }

    /// Delivers to several agents; those with a full inbox are skipped and named.
    fn deliver_all(
        &mut self,
        recipients: &[AgentId],
        message: &InboxMessage,
        capacity: usize,
    ) -> (Vec<AgentId>, Vec<String>) {
        let mut delivered = Vec::new();
        let mut missed = Vec::new();
        for to in recipients {
            match self.deliver(to, message.clone(), capacity) {
                Ok(()) => delivered.push(to.clone()),
                Err(_) => missed.push(self.label(to)),
            }
        }
        (delivered, missed)
    }
}

struct Inner {
    state: Mutex<State>,
    timer: Arc<dyn Timer>,
    observer: Option<MeshObserver>,
    capacity: usize,
}

/// The messaging layer of one run: agents register with an id and a profile name and talk
/// directly (`send`), to everyone (`broadcast`), by topic (`publish` to subscribers) or by
/// question and answer (`ask`/`reply`). Each agent has a bounded inbox; a full inbox is an
/// error for the sender, never a silent drop. Every delivery is reported to the observer as
/// an `agent_message` event. Cheap to clone; clones share the bus.
#[derive(Clone)]
pub struct MeshBus {
    inner: Arc<Inner>,
}

impl fmt::Debug for MeshBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeshBus")
            .field("members", &self.members())
            .field("capacity", &self.inner.capacity)
            .finish_non_exhaustive()
    }
}

/// Builds a [`MeshBus`].
pub struct MeshBusBuilder {
    timer: Arc<dyn Timer>,
    observer: Option<MeshObserver>,
    capacity: usize,
}

impl MeshBusBuilder {
    /// Messages each inbox holds before senders are refused (default [`INBOX_CAPACITY`]).
    pub fn inbox_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Called with an `agent_message` event for every delivery (outside the bus's lock).
    pub fn observer(mut self, observer: impl Fn(EventKind) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    pub fn build(self) -> MeshBus {
        MeshBus {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                timer: self.timer,
                observer: self.observer,
                capacity: self.capacity,
            }),
        }
    }
}

/// Removes a question from the pending table when its asker stops waiting, however it stops
/// (answer, timeout, or the asking call being dropped by a cancel).
struct PendingGuard<'a> {
    bus: &'a MeshBus,
    request_id: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.bus.lock().pending.remove(&self.request_id);
    }
}

impl MeshBus {
    /// A bus whose `ask` timeouts are measured by `timer`.
    pub fn builder(timer: Arc<dyn Timer>) -> MeshBusBuilder {
        MeshBusBuilder {
            timer,
            observer: None,
            capacity: INBOX_CAPACITY,
        }
    }

    /// A bus with the default inbox capacity and no observer.
    pub fn new(timer: Arc<dyn Timer>) -> Self {
        MeshBus::builder(timer).build()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn report(&self, from: &AgentId, to: Option<&AgentId>, topic: Option<&str>, text: String) {
        if let Some(observer) = &self.inner.observer {
            observer(EventKind::AgentMessage {
                from: from.clone(),
                to: to.cloned(),
                topic: topic.map(str::to_owned),
                text,
            });
        }
    }

    /// Puts an agent on the bus with an empty inbox.
    pub fn register(&self, id: AgentId, profile: impl Into<String>) -> Result<(), MeshError> {
        let mut state = self.lock();
        if state.members.contains_key(&id) {
            return Err(MeshError::DuplicateAgent(id));
        }
        state.members.insert(
            id,
            Member {
                profile: profile.into(),
                inbox: VecDeque::new(),
                arrived: Arc::new(Notify::new()),
            },
        );
        Ok(())
    }

    /// Takes an agent off the bus: its unread messages and subscriptions go, questions asked
    /// of it fail at once with [`MeshError::AgentLeft`], and its own questions are withdrawn.
    /// Returns false when it was not on the bus.
    pub fn unregister(&self, id: &AgentId) -> bool {
        let mut state = self.lock();
        let label = state.label(id);
        let Some(member) = state.members.remove(id) else {
            return false;
        };
        member.arrived.notify_one();
        for subscribers in state.topics.values_mut() {
            subscribers.remove(id);
        }
        state
            .topics
            .retain(|_, subscribers| !subscribers.is_empty());
        let affected: Vec<String> = state
            .pending
            .iter()
            .filter(|(_, ask)| &ask.asked == id || &ask.asker == id)
            .map(|(request_id, _)| request_id.clone())
            .collect();
        for request_id in affected {
            if let Some(ask) = state.pending.remove(&request_id)
                && &ask.asked == id
            {
                let _ = ask.answer.send(Err(MeshError::AgentLeft {
                    agent: label.clone(),
                    request_id,
                }));
            }
        }
        true
    }

    /// Everyone on the bus, ordered by id.
    pub fn members(&self) -> Vec<MeshMember> {
        self.lock()
            .members
            .iter()
            .map(|(id, member)| MeshMember {
                id: id.clone(),
                profile: member.profile.clone(),
            })
            .collect()
    }

    /// "agent_2 (tester)": how messages and errors name an agent.
    pub fn label(&self, id: &AgentId) -> String {
        self.lock().label(id)
    }

    /// The agent an address names: its id, or a profile name only one agent has.
    pub fn resolve(&self, address: &str) -> Result<AgentId, MeshError> {
        self.lock().resolve(address)
    }

    /// Sends `text` to one agent (by id or unique profile name); returns who got it.
    pub fn send(&self, from: &AgentId, to: &str, text: &str) -> Result<AgentId, MeshError> {
        let to = {
            let mut state = self.lock();
            let profile = state.member(from)?.profile.clone();
            let to = state.resolve(to)?;
            if &to == from {
                return Err(MeshError::ToSelf {
                    action: "send a message to",
                });
            }
            let message = InboxMessage {
                from: from.clone(),
                from_profile: profile,
                kind: MessageKind::Direct,
                text: text.to_owned(),
            };
            state.deliver(&to, message, self.inner.capacity)?;
            to
        };
        self.report(from, Some(&to), None, text.to_owned());
        Ok(to)
    }

    /// Sends `text` to every agent but the sender; returns who got it (maybe nobody). Agents
    /// with a full inbox are skipped and named in a [`MeshError::PartlyDelivered`].
    pub fn broadcast(&self, from: &AgentId, text: &str) -> Result<Vec<AgentId>, MeshError> {
        let (delivered, missed) = {
            let mut state = self.lock();
            let profile = state.member(from)?.profile.clone();
            let recipients: Vec<AgentId> = state
                .members
                .keys()
                .filter(|id| *id != from)
                .cloned()
                .collect();
            let message = InboxMessage {
                from: from.clone(),
                from_profile: profile,
                kind: MessageKind::Broadcast,
                text: text.to_owned(),
            };
            state.deliver_all(&recipients, &message, self.inner.capacity)
        };
        if !delivered.is_empty() {
            self.report(from, None, None, text.to_owned());
        }
        self.outcome(delivered, missed)
    }

    fn outcome(
        &self,
        delivered: Vec<AgentId>,
        missed: Vec<String>,
    ) -> Result<Vec<AgentId>, MeshError> {
        if missed.is_empty() {
            return Ok(delivered);
        }
        Err(MeshError::PartlyDelivered {
            delivered: delivered.len(),
            missed: missed.join(", "),
            capacity: self.inner.capacity,
        })
    }

    /// Subscribes an agent to a topic; false when it already was.
    pub fn subscribe(&self, agent: &AgentId, topic: &str) -> Result<bool, MeshError> {
        let topic = check_topic(topic)?;
        let mut state = self.lock();
        state.member(agent)?;
        Ok(state
            .topics
            .entry(topic.to_owned())
            .or_default()
            .insert(agent.clone()))
    }

    /// Ends a subscription; false when there was none.
    pub fn unsubscribe(&self, agent: &AgentId, topic: &str) -> Result<bool, MeshError> {
        let topic = check_topic(topic)?;
        let mut state = self.lock();
        state.member(agent)?;
        let removed = state
            .topics
            .get_mut(topic)
            .is_some_and(|subscribers| subscribers.remove(agent));
        state
            .topics
            .retain(|_, subscribers| !subscribers.is_empty());
        Ok(removed)
    }

    /// The topics an agent subscribes to.
    pub fn subscriptions(&self, agent: &AgentId) -> Vec<String> {
        self.lock()
            .topics
            .iter()
            .filter(|(_, subscribers)| subscribers.contains(agent))
            .map(|(topic, _)| topic.clone())
            .collect()
    }

    /// Sends `text` to the topic's subscribers but the sender; returns who got it (maybe
    /// nobody: a topic without subscribers keeps nothing).
    pub fn publish(
        &self,
        from: &AgentId,
        topic: &str,
        text: &str,
    ) -> Result<Vec<AgentId>, MeshError> {
        let topic = check_topic(topic)?;
        let (delivered, missed) = {
            let mut state = self.lock();
            let profile = state.member(from)?.profile.clone();
            let recipients: Vec<AgentId> = state
                .topics
                .get(topic)
                .map(|subscribers| {
                    subscribers
                        .iter()
                        .filter(|id| *id != from)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let message = InboxMessage {
                from: from.clone(),
                from_profile: profile,
                kind: MessageKind::Topic(topic.to_owned()),
                text: text.to_owned(),
            };
            state.deliver_all(&recipients, &message, self.inner.capacity)
        };
        if !delivered.is_empty() {
            self.report(from, None, Some(topic), text.to_owned());
        }
        self.outcome(delivered, missed)
    }

    /// Asks one agent a question and waits for its [`reply`](Self::reply). Fails when the
    /// agent does not answer within `timeout` (naming it), when it leaves the bus first, or
    /// when the address is unknown, ambiguous or the asker itself.
    pub async fn ask(
        &self,
        from: &AgentId,
        to: &str,
        question: &str,
        timeout: Duration,
    ) -> Result<Answer, MeshError> {
        let (request_id, asked, asked_label, answer) = {
            let mut state = self.lock();
            let profile = state.member(from)?.profile.clone();
            let asked = state.resolve(to)?;
            if &asked == from {
                return Err(MeshError::ToSelf { action: "ask" });
            }
            state.questions_asked += 1;
            let request_id = format!("q_{}", state.questions_asked);
            let message = InboxMessage {
                from: from.clone(),
                from_profile: profile,
                kind: MessageKind::Question(request_id.clone()),
                text: question.to_owned(),
            };
            state.deliver(&asked, message, self.inner.capacity)?;
            let (sender, answer) = oneshot::channel();
            let asked_label = state.label(&asked);
            state.pending.insert(
                request_id.clone(),
                PendingAsk {
                    asker: from.clone(),
                    asked: asked.clone(),
                    asked_label: asked_label.clone(),
                    answer: sender,
                },
            );
            (request_id, asked, asked_label, answer)
        };
        let _guard = PendingGuard {
            bus: self,
            request_id: request_id.clone(),
        };
        self.report(
            from,
            Some(&asked),
            None,
            format!("question {request_id}: {question}"),
        );
        let sleep = self.inner.timer.sleep(timeout);
        let text = tokio::select! {
            answer = answer => match answer {
                Ok(result) => result?,
                // The entry went without an answer: only a departure removes it so.
                Err(_) => {
                    return Err(MeshError::AgentLeft {
                        agent: asked_label,
                        request_id,
                    });
                }
            },
            () = sleep => {
                return Err(MeshError::AskTimedOut {
                    agent: asked_label,
                    request_id,
                    waited: describe(timeout),
                });
            }
        };
        Ok(Answer {
            request_id,
            from: asked,
            text,
        })
    }

    /// Answers a question `from` was asked; returns who asked it.
    pub fn reply(
        &self,
        from: &AgentId,
        request_id: &str,
        text: &str,
    ) -> Result<AgentId, MeshError> {
        let request_id = request_id.trim();
        let asker = {
            let mut state = self.lock();
            state.member(from)?;
            let Some(pending) = state.pending.get(request_id) else {
                return Err(MeshError::UnknownQuestion(request_id.to_owned()));
            };
            if &pending.asked != from {
                return Err(MeshError::NotYourQuestion {
                    request_id: request_id.to_owned(),
                    asked: pending.asked_label.clone(),
                });
            }
            let Some(pending) = state.pending.remove(request_id) else {
                return Err(MeshError::UnknownQuestion(request_id.to_owned()));
            };
            if pending.answer.send(Ok(text.to_owned())).is_err() {
                return Err(MeshError::UnknownQuestion(request_id.to_owned()));
            }
            pending.asker
        };
        self.report(
            from,
            Some(&asker),
            None,
            format!("answer to {request_id}: {text}"),
        );
        Ok(asker)
    }

    /// Takes every message waiting in the agent's inbox, oldest first.
    pub fn take_inbox(&self, agent: &AgentId) -> Result<Vec<InboxMessage>, MeshError> {
        let mut state = self.lock();
        let member = state
            .members
            .get_mut(agent)
            .ok_or_else(|| MeshError::NotRegistered(agent.clone()))?;
        Ok(member.inbox.drain(..).collect())
    }

    /// How many messages wait in the agent's inbox (0 when it is not on the bus).
    pub fn unread(&self, agent: &AgentId) -> usize {
        self.lock()
            .members
            .get(agent)
            .map_or(0, |member| member.inbox.len())
    }

    /// Returns once the agent's inbox holds a message (at once if it already does), e.g. to
    /// wake an idle agent with a new turn. Fails when the agent is not, or no longer, on the
    /// bus.
    pub async fn wait_for_message(&self, agent: &AgentId) -> Result<(), MeshError> {
        loop {
            let arrived = {
                let state = self.lock();
                let member = state.member(agent)?;
                if !member.inbox.is_empty() {
                    return Ok(());
                }
                member.arrived.clone()
            };
            // `notify_one` keeps a permit, so a delivery between the check and here counts.
            arrived.notified().await;
        }
    }

    /// The question ids waiting for an answer from `agent`, oldest first.
    pub fn questions_for(&self, agent: &AgentId) -> Vec<String> {
        let state = self.lock();
        let mut ids: Vec<(u64, String)> = state
            .pending
            .iter()
            .filter(|(_, ask)| &ask.asked == agent)
            .map(|(id, _)| {
                let number = id.strip_prefix("q_").and_then(|n| n.parse().ok());
                (number.unwrap_or(u64::MAX), id.clone())
            })
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }
}

/// The answer to an [`MeshBus::ask`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub request_id: String,
    /// The agent that answered.
    pub from: AgentId,
    pub text: String,
}

fn check_topic(topic: &str) -> Result<&str, MeshError> {
    let topic = topic.trim();
    if topic.is_empty() || topic.chars().any(char::is_whitespace) {
        return Err(MeshError::InvalidTopic);
    }
    Ok(topic)
}

/// "30 s", "1.5 s", "250 ms".
pub(crate) fn describe(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis} ms")
    } else if millis.is_multiple_of(1000) {
        format!("{} s", millis / 1000)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}
