//! The task graph of a run: tasks, their dependencies and their states. Pure bookkeeping; the
//! scheduler decides when tasks run.

use std::collections::HashMap;

use code_mesh_protocol::{AgentOutcome, TaskId, TaskInfo, TaskState};

/// A task as the Coordinator asks for it, before it has an id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewTask {
    /// A name other tasks of the same batch use in `depends_on` (optional).
    pub label: Option<String>,
    pub description: String,
    /// The profile that does it.
    pub agent: String,
    /// Labels of tasks of the same batch, or ids (`task_N`) of tasks added earlier.
    pub depends_on: Vec<String>,
}

/// Why a batch of tasks was refused; nothing of the batch was added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error(
        "task `{task}` depends on `{dependency}`, which is neither a task of this batch nor an existing task id; name an earlier task's id (task_N) or a label of this batch"
    )]
    UnknownDependency { task: String, dependency: String },
    #[error(
        "the dependencies form a cycle ({}); a task cannot wait, directly or not, for itself, so drop one of these dependencies",
        cycle.join(" -> ")
    )]
    Cycle { cycle: Vec<String> },
    #[error("the label `{label}` names two tasks of this batch; give each task its own label")]
    DuplicateLabel { label: String },
    #[error(
        "this batch would bring the run to {requested} tasks, more than its limit of {limit}; finish with the results you have or delegate fewer, larger tasks"
    )]
    TooManyTasks { requested: usize, limit: usize },
}

#[derive(Clone, Debug)]
struct Entry {
    info: TaskInfo,
    state: TaskState,
    outcome: Option<AgentOutcome>,
    failure: Option<String>,
}

/// Tasks in creation order; `task_N` is the N-th task added.
#[derive(Clone, Debug)]
pub struct TaskGraph {
    tasks: Vec<Entry>,
    limit: usize,
}

impl TaskGraph {
    /// An empty graph that refuses to grow beyond `limit` tasks.
    pub fn new(limit: usize) -> Self {
        TaskGraph {
            tasks: Vec::new(),
            limit,
        }
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    fn index(&self, id: &TaskId) -> Option<usize> {
        let number: usize = id.0.strip_prefix("task_")?.parse().ok()?;
        (1..=self.tasks.len()).contains(&number).then(|| number - 1)
    }

    /// Adds a batch whole or not at all: dependencies are resolved (labels of the batch, then
    /// existing ids), cycles and unknown names refused. Tasks are numbered in an order where
    /// each comes after its dependencies, otherwise in the batch's order.
    pub fn add_batch(&mut self, batch: Vec<NewTask>) -> Result<Vec<TaskId>, GraphError> {
        let requested = self.tasks.len() + batch.len();
        if requested > self.limit {
            return Err(GraphError::TooManyTasks {
                requested,
                limit: self.limit,
            });
        }
        let name = |i: usize, task: &NewTask| {
            task.label
                .clone()
                .unwrap_or_else(|| format!("#{} of the batch", i + 1))
        };
        let mut labels: HashMap<&str, usize> = HashMap::new();
        for (i, task) in batch.iter().enumerate() {
            if let Some(label) = &task.label
                && labels.insert(label.as_str(), i).is_some()
            {
                return Err(GraphError::DuplicateLabel {
                    label: label.clone(),
                });
            }
        }
        // Each dependency is either a batch index or an existing task id.
        enum Dep {
            Batch(usize),
            Existing(TaskId),
        }
        let mut deps: Vec<Vec<Dep>> = Vec::with_capacity(batch.len());
        for (i, task) in batch.iter().enumerate() {
            let mut resolved = Vec::new();
            for dependency in &task.depends_on {
                if let Some(&j) = labels.get(dependency.as_str()) {
                    resolved.push(Dep::Batch(j));
                } else if self.index(&TaskId(dependency.clone())).is_some() {
                    resolved.push(Dep::Existing(TaskId(dependency.clone())));
                } else {
                    return Err(GraphError::UnknownDependency {
                        task: name(i, task),
                        dependency: dependency.clone(),
                    });
                }
            }
            deps.push(resolved);
        }
        // Depth-first topological order; a grey node met again closes a cycle.
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            White,
            Grey,
            Black,
        }
        fn visit(
            i: usize,
            deps: &[Vec<Dep>],
            marks: &mut [Mark],
            path: &mut Vec<usize>,
            order: &mut Vec<usize>,
        ) -> Result<(), Vec<usize>> {
            match marks[i] {
                Mark::Black => return Ok(()),
                Mark::Grey => {
                    let start = path.iter().position(|&p| p == i).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(i);
                    return Err(cycle);
                }
                Mark::White => {}
            }
            marks[i] = Mark::Grey;
            path.push(i);
            for dep in &deps[i] {
                if let Dep::Batch(j) = dep {
                    visit(*j, deps, marks, path, order)?;
                }
            }
            path.pop();
            marks[i] = Mark::Black;
            order.push(i);
            Ok(())
        }
        let mut marks = vec![Mark::White; batch.len()];
        let mut order = Vec::with_capacity(batch.len());
        for i in 0..batch.len() {
            let mut path = Vec::new();
            if let Err(cycle) = visit(i, &deps, &mut marks, &mut path, &mut order) {
                return Err(GraphError::Cycle {
                    cycle: cycle.into_iter().map(|j| name(j, &batch[j])).collect(),
                });
            }
        }
        let first = self.tasks.len();
        let mut ids: Vec<Option<TaskId>> = vec![None; batch.len()];
        for (position, &i) in order.iter().enumerate() {
            ids[i] = Some(TaskId(format!("task_{}", first + position + 1)));
        }
        let ids: Vec<TaskId> = ids.into_iter().flatten().collect();
        for &i in &order {
            let task = &batch[i];
            let dependencies = deps[i]
                .iter()
                .map(|dep| match dep {
                    Dep::Batch(j) => ids[*j].clone(),
                    Dep::Existing(id) => id.clone(),
                })
                .collect();
            self.tasks.push(Entry {
                info: TaskInfo {
                    id: ids[i].clone(),
                    description: task.description.clone(),
                    agent: task.agent.clone(),
                    dependencies,
                },
                state: TaskState::Waiting,
                outcome: None,
                failure: None,
            });
        }
        Ok(ids)
    }

    pub fn info(&self, id: &TaskId) -> Option<&TaskInfo> {
        self.index(id).map(|i| &self.tasks[i].info)
    }

    pub fn state(&self, id: &TaskId) -> Option<TaskState> {
        self.index(id).map(|i| self.tasks[i].state)
    }

    /// The outcome of a task that is done.
    pub fn outcome(&self, id: &TaskId) -> Option<&AgentOutcome> {
        self.index(id).and_then(|i| self.tasks[i].outcome.as_ref())
    }

    /// Why a task failed or was cancelled.
    pub fn failure(&self, id: &TaskId) -> Option<&str> {
        self.index(id)
            .and_then(|i| self.tasks[i].failure.as_deref())
    }

    /// Every task with its state, in creation order.
    pub fn tasks(&self) -> impl Iterator<Item = (&TaskInfo, TaskState)> {
        self.tasks.iter().map(|entry| (&entry.info, entry.state))
    }

    /// Waiting tasks whose dependencies are all done, in creation order.
    pub fn ready(&self) -> Vec<TaskId> {
        self.tasks
            .iter()
            .filter(|entry| entry.state == TaskState::Waiting)
            .filter(|entry| {
                entry
                    .info
                    .dependencies
                    .iter()
                    .all(|dep| self.state(dep) == Some(TaskState::Done))
            })
            .map(|entry| entry.info.id.clone())
            .collect()
    }

    /// Marks a waiting task running.
    pub fn start(&mut self, id: &TaskId) {
        if let Some(i) = self.index(id) {
            self.tasks[i].state = TaskState::Running;
        }
    }

    pub fn complete(&mut self, id: &TaskId, outcome: AgentOutcome) {
        if let Some(i) = self.index(id) {
            self.tasks[i].state = TaskState::Done;
            self.tasks[i].outcome = Some(outcome);
        }
    }

    /// Marks a task failed (or cancelled) and fails every waiting task that depends on it,
    /// directly or not. Returns those dependents with their reasons, in creation order.
    pub fn fail(&mut self, id: &TaskId, state: TaskState, reason: String) -> Vec<(TaskId, String)> {
        if let Some(i) = self.index(id) {
            self.tasks[i].state = state;
            self.tasks[i].failure = Some(reason);
        }
        self.fail_blocked()
    }

    /// Fails every waiting task one of whose dependencies failed or was cancelled, until none
    /// is left; returns them with their reasons.
    pub fn fail_blocked(&mut self) -> Vec<(TaskId, String)> {
        let mut failed = Vec::new();
        loop {
            let mut changed = false;
            for i in 0..self.tasks.len() {
                if self.tasks[i].state != TaskState::Waiting {
                    continue;
                }
                let blocker = self.tasks[i].info.dependencies.iter().find_map(|dep| {
                    let j = self.index(dep)?;
                    let entry = &self.tasks[j];
                    matches!(entry.state, TaskState::Failed | TaskState::Cancelled).then(|| {
                        format!(
                            "dependency {dep} failed: {}",
                            entry.failure.as_deref().unwrap_or("no reason given")
                        )
                    })
                });
                if let Some(reason) = blocker {
                    self.tasks[i].state = TaskState::Failed;
                    self.tasks[i].failure = Some(reason.clone());
                    failed.push((self.tasks[i].info.id.clone(), reason));
                    changed = true;
                }
            }
            if !changed {
                return failed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn task(label: &str, agent: &str, deps: &[&str]) -> NewTask {
        NewTask {
            label: Some(label.into()),
            description: format!("do {label}"),
            agent: agent.into(),
            depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    fn ids(names: &[&str]) -> Vec<TaskId> {
        names.iter().map(|n| TaskId((*n).into())).collect()
    }

    fn outcome(text: &str) -> AgentOutcome {
        AgentOutcome {
            summary: text.into(),
            usage: Default::default(),
        }
    }

    fn diamond() -> TaskGraph {
        let mut graph = TaskGraph::new(50);
        graph
            .add_batch(vec![
                task("a", "architect", &[]),
                task("b", "coder", &["a"]),
                task("c", "tester", &["a"]),
                task("d", "reviewer", &["b", "c"]),
            ])
            .unwrap();
        graph
    }

    #[test]
    fn a_diamond_becomes_ready_layer_by_layer_in_creation_order() {
        let mut graph = diamond();
        assert_eq!(graph.ready(), ids(&["task_1"]));
        graph.start(&TaskId("task_1".into()));
        assert_eq!(graph.ready(), Vec::<TaskId>::new());
        graph.complete(&TaskId("task_1".into()), outcome("designed"));
        assert_eq!(graph.ready(), ids(&["task_2", "task_3"]));
        graph.start(&TaskId("task_2".into()));
        graph.start(&TaskId("task_3".into()));
        graph.complete(&TaskId("task_2".into()), outcome("coded"));
        assert_eq!(graph.ready(), Vec::<TaskId>::new());
        graph.complete(&TaskId("task_3".into()), outcome("tested"));
        assert_eq!(graph.ready(), ids(&["task_4"]));
        assert_eq!(
            graph.info(&TaskId("task_4".into())).unwrap().dependencies,
            ids(&["task_2", "task_3"])
        );
    }

    #[test]
    fn tasks_are_numbered_after_their_dependencies_even_when_listed_before() {
        let mut graph = TaskGraph::new(50);
        let added = graph
            .add_batch(vec![
                task("late", "coder", &["early"]),
                task("early", "architect", &[]),
            ])
            .unwrap();
        assert_eq!(added, ids(&["task_2", "task_1"]));
        assert_eq!(
            graph.info(&TaskId("task_1".into())).unwrap().agent,
            "architect"
        );
        assert_eq!(graph.ready(), ids(&["task_1"]));
    }

    #[test]
    fn a_cycle_is_refused_and_nothing_of_the_batch_is_added() {
        let mut graph = diamond();
        let err = graph
            .add_batch(vec![
                task("x", "coder", &["z"]),
                task("y", "coder", &["x"]),
                task("z", "coder", &["y", "task_1"]),
            ])
            .unwrap_err();
        assert_eq!(
            err,
            GraphError::Cycle {
                cycle: vec!["x".into(), "z".into(), "y".into(), "x".into()]
            }
        );
        assert!(err.to_string().contains("x -> z -> y -> x"), "{err}");
        assert_eq!(graph.len(), 4);
        let err = graph
            .add_batch(vec![task("self", "coder", &["self"])])
            .unwrap_err();
        assert!(matches!(err, GraphError::Cycle { .. }), "{err}");
    }

    #[test]
    fn unknown_dependencies_and_duplicate_labels_are_refused() {
        let mut graph = diamond();
        let err = graph
            .add_batch(vec![task("e", "coder", &["task_9"])])
            .unwrap_err();
        assert_eq!(
            err,
            GraphError::UnknownDependency {
                task: "e".into(),
                dependency: "task_9".into()
            }
        );
        let err = graph
            .add_batch(vec![task("e", "coder", &[]), task("e", "coder", &[])])
            .unwrap_err();
        assert_eq!(err, GraphError::DuplicateLabel { label: "e".into() });
        // An existing id is a valid dependency.
        let added = graph
            .add_batch(vec![task("e", "coder", &["task_4"])])
            .unwrap();
        assert_eq!(added, ids(&["task_5"]));
    }

    #[test]
    fn a_failure_fails_every_dependent_transitively_with_the_reason() {
        let mut graph = diamond();
        graph
            .add_batch(vec![task("e", "documenter", &["task_4"])])
            .unwrap();
        graph.complete(&TaskId("task_1".into()), outcome("designed"));
        let failed = graph.fail(
            &TaskId("task_2".into()),
            TaskState::Failed,
            "timed out after 5s".into(),
        );
        assert_eq!(
            failed,
            vec![
                (
                    TaskId("task_4".into()),
                    "dependency task_2 failed: timed out after 5s".to_owned()
                ),
                (
                    TaskId("task_5".into()),
                    "dependency task_4 failed: dependency task_2 failed: timed out after 5s"
                        .to_owned()
                ),
            ]
        );
        // The sibling is unaffected and still ready.
        assert_eq!(graph.ready(), ids(&["task_3"]));
        assert_eq!(
            graph.state(&TaskId("task_5".into())),
            Some(TaskState::Failed)
        );
        // A task added later on top of a failed one fails at once.
        graph
            .add_batch(vec![task("f", "coder", &["task_2"])])
            .unwrap();
        assert_eq!(
            graph.fail_blocked(),
            vec![(
                TaskId("task_6".into()),
                "dependency task_2 failed: timed out after 5s".to_owned()
            )]
        );
    }

    #[test]
    fn the_task_limit_is_enforced_per_run() {
        let mut graph = TaskGraph::new(5);
        graph
            .add_batch(vec![task("a", "coder", &[]), task("b", "coder", &[])])
            .unwrap();
        let err = graph
            .add_batch(
                (0..4)
                    .map(|i| task(&format!("t{i}"), "coder", &[]))
                    .collect(),
            )
            .unwrap_err();
        assert_eq!(
            err,
            GraphError::TooManyTasks {
                requested: 6,
                limit: 5
            }
        );
        assert_eq!(graph.len(), 2);
    }
}
