//! Protocol v1, the original TQueueSrv's, unchanged: every answer is a 200 whose
//! `task_id` is empty when the operation could not be done.

use crate::refusal::Failure;
use crate::store::{Refused, Token};
use appserver::Error;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// A form's fields, in the order sent: an object of strings, as the OpenAPI document says.
struct Fields(Map<String, Value>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs;

        impl<'de> Visitor<'de> for Pairs {
            type Value = Fields;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("form fields")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Map::new();
                while let Some((key, value)) = map.next_entry::<String, String>()? {
                    fields.insert(key, Value::String(value));
                }
                Ok(Fields(fields))
            }
        }

        deserializer.deserialize_map(Pairs)
    }
}

impl JsonSchema for Fields {
    fn schema_name() -> Cow<'static, str> {
        "Fields".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object", "additionalProperties": {"type": "string"}})
    }
}

/// The answer of `put`.
#[derive(Serialize, JsonSchema)]
struct Put {
    worker: String,
    task_id: String,
}

/// The answer of `get` and `done`.
#[derive(Serialize, JsonSchema)]
struct Task {
    worker: String,
    task_id: String,
    task: Arc<RawValue>,
}

/// `{}`, the task of an empty answer.
static NO_TASK: LazyLock<Arc<RawValue>> =
    LazyLock::new(|| RawValue::from_string("{}".to_owned()).expect("valid JSON").into());

/// What could not be done is an empty `task_id`; a store that fails is a 503.
fn refused(queue: String, refused: Refused) -> Result<Task, Failure> {
    match refused {
        Refused::Store(_) => Err(refused.into()),
        _ => Ok(Task { worker: queue, task_id: String::new(), task: Arc::clone(&NO_TASK) }),
    }
}

/// The routes of one queue, under its name: `/{queue}/...`.
#[appserver::scope(r"/(?P<queue>[A-Za-z0-9_.-]{1,64})")]
mod queue {
    use super::*;
    use crate::access::{Caller, Consume, Produce};
    use crate::queues::Queues;
    use appserver::{Form, State, route};

    /// Tasks waiting to be handed out.
    #[route(r"/qsize/")]
    async fn qsize(queue: String, queues: State<Queues>, _caller: Caller) -> Result<Value, Failure> {
        let stats = queues.stats(&queue).await?;
        Ok(json!({"worker": queue, "qsize": stats.ready}))
    }

    /// A task from the form's fields, all but `worker`.
    #[route(POST, r"/put/")]
    async fn put(
        queue: String,
        form: Form<Fields>,
        queues: State<Queues>,
        _caller: Caller<Produce>,
    ) -> Result<Put, Failure> {
        let fields: Map<String, Value> = form.0.0.into_iter().filter(|(key, _)| key != "worker").collect();
        let data = serde_json::value::to_raw_value(&fields).map_err(|e| Error::bad_request(e.to_string()))?;
        match queues.put(&queue, crate::store::Put::now(data)).await {
            Ok(id) => Ok(Put { worker: queue, task_id: id.to_string() }),
            Err(err) => refused(queue, err).map(|task| Put { worker: task.worker, task_id: task.task_id }),
        }
    }

    /// The next task, leased for the queue's lease time, with the `task_id` its put
    /// answered. HEAD is refused (405): it would lease a task no one receives.
    #[route(r"/get/", head = false)]
    async fn get(queue: String, queues: State<Queues>, _caller: Caller<Consume>) -> Result<Task, Failure> {
        match queues.lease(&queue, 1, None, Duration::ZERO).await {
            Ok(leased) => match leased.into_iter().next() {
                Some(leased) => Ok(Task { worker: queue, task_id: leased.id.to_string(), task: leased.data }),
                None => refused(queue, Refused::UnknownTask),
            },
            Err(err) => refused(queue, err),
        }
    }

    /// Finishes the current lease of the task `task_id` (a v2 lease token `<id>.<attempt>`
    /// finishes that lease only); a task not leased answers an empty `task_id`.
    #[route(r"/done/(?P<task_id>[^/]+)", head = false)]
    async fn done(
        queue: String,
        task_id: String,
        queues: State<Queues>,
        _caller: Caller<Consume>,
    ) -> Result<Task, Failure> {
        finish(&queues, queue, task_id).await
    }

    /// The same, with a trailing slash, as the original server's clients send it.
    #[route(r"/done/(?P<task_id>[^/]+)/", head = false)]
    async fn done_slash(
        queue: String,
        task_id: String,
        queues: State<Queues>,
        _caller: Caller<Consume>,
    ) -> Result<Task, Failure> {
        finish(&queues, queue, task_id).await
    }

    async fn finish(queues: &Queues, queue: String, task_id: String) -> Result<Task, Failure> {
        let Ok(token) = task_id.parse::<Token>() else { return refused(queue, Refused::UnknownTask) };
        match queues.done(&queue, token).await {
            Ok(data) => Ok(Task { worker: queue, task_id: token.id.to_string(), task: data }),
            Err(err) => refused(queue, err),
        }
    }
}
