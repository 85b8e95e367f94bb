//! `/batch`: sub-requests already routed by the server, run as one store call
//! so they share a commit. Without `transaction` each succeeds or fails alone; with it, all
//! commit or none does.

use basalt_core::{ClassName, ParseError, ParseResult};
use serde_json::{Map, Value};

use crate::find::GetParams;
use crate::objects::PreparedWrite;
use crate::{Caller, Engine};

/// The method of a routed sub-request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchMethod {
    Get,
    Post,
    Put,
    Delete,
}

/// One routed sub-request on `/classes/:className[/:objectId]`.
#[derive(Clone, Debug)]
pub struct BatchItem {
    pub method: BatchMethod,
    pub class_name: String,
    pub object_id: Option<String>,
    pub body: Map<String, Value>,
}

enum Step {
    Failed(ParseError),
    Write(Box<PreparedWrite>),
    Read(BatchItem),
}

impl Engine {
    /// Runs the sub-requests and returns each one's response or error, in order.
    ///
    /// # Errors
    /// With `transaction`, the first failure fails the whole batch (nothing is kept).
    pub async fn run_batch(
        &self,
        caller: &Caller,
        items: Vec<BatchItem>,
        transaction: bool,
    ) -> ParseResult<Vec<ParseResult<Value>>> {
        // A sub-request's bad class name is its own error (103), not the batch's.
        let classes: std::collections::BTreeSet<ClassName> =
            items.iter().filter_map(|item| ClassName::parse(&item.class_name).ok()).collect();
        for class_name in &classes {
            self.refresh_if_stale(class_name).await?;
        }
        let mut steps = Vec::with_capacity(items.len());
        for item in items {
            let class_name = ClassName::parse(&item.class_name);
            let prepared = match (item.method, &item.object_id, class_name) {
                (BatchMethod::Post | BatchMethod::Put | BatchMethod::Delete, _, Err(error)) => Err(error),
                (BatchMethod::Post, None, Ok(class_name)) => self.prepare_create(caller, &class_name, &item.body).await,
                (BatchMethod::Put, Some(object_id), Ok(class_name)) => {
                    self.prepare_update(caller, &class_name, object_id, &item.body).await
                }
                (BatchMethod::Delete, Some(object_id), Ok(class_name)) => {
                    self.prepare_delete(caller, &class_name, object_id).await
                }
                _ => {
                    steps.push(Step::Read(item));
                    continue;
                }
            };
            match prepared {
                Ok(prepared) => steps.push(Step::Write(Box::new(prepared))),
                Err(error) if transaction => return Err(error),
                Err(error) => steps.push(Step::Failed(error)),
            }
        }
        let ops: Vec<_> = steps
            .iter()
            .filter_map(|step| match step {
                Step::Write(prepared) => Some(prepared.op.clone()),
                _ => None,
            })
            .collect();
        let mut outcomes = if ops.is_empty() {
            Vec::new()
        } else {
            self.write_ops(self.schemas().snapshot(), ops, transaction).await.map_err(ParseError::from)?
        }
        .into_iter();
        let mut responses = Vec::with_capacity(steps.len());
        for step in steps {
            let response = match step {
                Step::Failed(error) => Err(error),
                Step::Write(prepared) => match outcomes.next() {
                    Some(Ok(outcome)) => {
                        self.publish_outcome(&prepared.op, &outcome).await;
                        self.after_write(caller, &prepared, &outcome).await;
                        self.send_pending_mail(&prepared).await;
                        Ok(Value::Object(self.write_response(&prepared, outcome)))
                    }
                    Some(Err(error)) => Err(ParseError::from(error)),
                    None => Err(ParseError::internal("the store returned too few outcomes")),
                },
                Step::Read(item) => self.run_batch_read(caller, item).await,
            };
            responses.push(response);
        }
        Ok(responses)
    }

    async fn run_batch_read(&self, caller: &Caller, item: BatchItem) -> ParseResult<Value> {
        let class_name = ClassName::parse(&item.class_name)?;
        match (item.method, item.object_id) {
            (BatchMethod::Get, Some(object_id)) => {
                let params = GetParams::from_params(&item.body)?;
                self.get_object(caller, &class_name, &object_id, &params).await
            }
            (BatchMethod::Get, None) => {
                let params = self.find_params(&item.body)?;
                let found = self.find_objects(caller, &class_name, &params).await?;
                let mut response = Map::new();
                response.insert("results".into(), Value::Array(found.results));
                if let Some(count) = found.count {
                    response.insert("count".into(), Value::from(count));
                }
                Ok(Value::Object(response))
            }
            _ => Err(ParseError::invalid_json("cannot route batch request")),
        }
    }
}
