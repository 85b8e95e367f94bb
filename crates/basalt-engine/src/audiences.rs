//! `/push_audiences` (master key): saved push audiences, rows of `_Audience` (`name`, `query` —
//! a `where` on installations written and stored as a JSON string, answered as an object —
//! `lastUsed`, `timesUsed`), as Parse Dashboard keeps them. A push naming an `audience_id` counts a use.

use basalt_core::{ClassName, ParseError, ParseResult, time};
use serde_json::{Map, Value, json};

use crate::{Caller, Created, Engine, FindParams, FindResult, GetParams};

fn audiences() -> ClassName {
    ClassName::system("_Audience")
}

/// The stored `query` (a JSON string) as the object it holds.
fn query_as_object(row: &mut Value) {
    if let Some(query) = row.get_mut("query")
        && let Some(parsed) = query.as_str().and_then(|text| serde_json::from_str::<Value>(text).ok())
    {
        *query = parsed;
    }
}

/// Checks that a written `query` is a JSON string holding an object (Parse compat: an object
/// is refused by the schema, 111).
fn check_query(body: &Map<String, Value>) -> ParseResult<()> {
    match body.get("query") {
        Some(Value::String(text)) if !serde_json::from_str::<Value>(text).is_ok_and(|query| query.is_object()) => {
            Err(ParseError::invalid_json("an audience's query must be a JSON object"))
        }
        _ => Ok(()),
    }
}

impl Engine {
    /// `GET /push_audiences`.
    ///
    /// # Errors
    /// Without the master key; as a find.
    pub async fn find_audiences(&self, caller: &Caller, params: &FindParams) -> ParseResult<FindResult> {
        caller.require_master()?;
        if self.schemas().get(&audiences()).is_none() {
            return Ok(FindResult::default());
        }
        let mut found = self.find_objects(caller, &audiences(), params).await?;
        found.results.iter_mut().for_each(query_as_object);
        Ok(found)
    }

    /// `GET /push_audiences/:id`.
    ///
    /// # Errors
    /// Without the master key; 101 when there is no such audience.
    pub async fn get_audience(&self, caller: &Caller, id: &str) -> ParseResult<Value> {
        caller.require_master()?;
        let mut row = self.get_object(caller, &audiences(), id, &GetParams::default()).await?;
        query_as_object(&mut row);
        Ok(row)
    }

    /// `POST /push_audiences`.
    ///
    /// # Errors
    /// Without the master key; 107 for a query that is not a JSON object.
    pub async fn create_audience(&self, caller: &Caller, body: &Map<String, Value>) -> ParseResult<Created> {
        caller.require_master()?;
        check_query(body)?;
        self.create_object(caller, &audiences(), body).await
    }

    /// `PUT /push_audiences/:id`.
    ///
    /// # Errors
    /// Without the master key; 101 when there is no such audience; 107 for a bad query.
    pub async fn update_audience(
        &self,
        caller: &Caller,
        id: &str,
        body: &Map<String, Value>,
    ) -> ParseResult<Map<String, Value>> {
        caller.require_master()?;
        check_query(body)?;
        self.update_object(caller, &audiences(), id, body).await
    }

    /// `DELETE /push_audiences/:id`.
    ///
    /// # Errors
    /// Without the master key; 101 when there is no such audience.
    pub async fn delete_audience(&self, caller: &Caller, id: &str) -> ParseResult<Map<String, Value>> {
        caller.require_master()?;
        self.delete_object(caller, &audiences(), id).await
    }

    /// A push was sent to this audience: its `lastUsed` and `timesUsed` move (a missing audience
    /// is only logged, as the push is queued already).
    pub(crate) async fn audience_used(&self, id: &str) {
        let used = json!({
            "lastUsed": {"__type": "Date", "iso": time::format_iso(self.now())},
            "timesUsed": {"__op": "Increment", "amount": 1},
        });
        let used = used.as_object().cloned().unwrap_or_default();
        if let Err(error) = self.update_object(&Caller::master(), &audiences(), id, &used).await {
            tracing::warn!(audience = id, %error, "a push named an audience that could not be updated");
        }
    }
}
