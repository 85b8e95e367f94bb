//! Parse's installation rules: required fields, lower-casing, immutable fields, and the
//! de-duplication by installation id and device token.

use basalt_core::ErrorCode;
use serde_json::{Value, json};

use crate::test_support::{TestEngine, body, class, test_engine};
use crate::{Caller, FindParams};

const TOKEN: &str = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";

fn device(installation_id: Option<&str>) -> Caller {
    Caller { installation_id: installation_id.map(str::to_owned), ..Caller::default() }
}

async fn create(test: &TestEngine, caller: &Caller, value: Value) -> Result<(bool, String), basalt_core::ParseError> {
    let created = test.engine.create_object(caller, &class("_Installation"), &body(value)).await?;
    Ok((created.created, created.object_id))
}

/// Every installation row, as `(objectId, installationId, deviceToken)`, sorted.
async fn rows(test: &TestEngine) -> Vec<(String, Value, Value)> {
    let params = FindParams::from_params(&serde_json::Map::new(), 100, 1000).expect("params");
    let found = test.engine.find_objects(&Caller::master(), &class("_Installation"), &params).await.expect("find");
    let mut rows: Vec<_> = found
        .results
        .iter()
        .map(|row| {
            let field = |name: &str| row.get(name).cloned().unwrap_or(Value::Null);
            (field("objectId").as_str().unwrap_or_default().to_owned(), field("installationId"), field("deviceToken"))
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[tokio::test]
async fn a_create_needs_an_id_field_and_a_device_type() {
    let test = test_engine().await;
    let error = create(&test, &device(None), json!({"deviceType": "ios"})).await.unwrap_err();
    assert_eq!(
        (error.code, error.message.as_str()),
        (
            ErrorCode::MissingRequiredField,
            "at least one ID field (deviceToken, installationId) must be specified in this operation"
        )
    );
    let error = create(&test, &device(None), json!({"installationId": "a"})).await.unwrap_err();
    assert_eq!(
        (error.code, error.message.as_str()),
        (ErrorCode::MissingRequiredField, "deviceType must be specified in this operation")
    );
    // The installation id header counts as the id field (Parse compat: it is not stored); the
    // master key needs none.
    let (created, id) = create(&test, &device(Some("HEADER-ID")), json!({"deviceType": "android"})).await.unwrap();
    assert!(created);
    let (_, by_master) = create(&test, &Caller::master(), json!({"deviceType": "ios"})).await.unwrap();
    let mut expected = vec![(id, Value::Null, Value::Null), (by_master, Value::Null, Value::Null)];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(rows(&test).await, expected);
}

#[tokio::test]
async fn ids_are_lower_cased_and_a_second_create_updates_the_same_row() {
    let test = test_engine().await;
    let first = json!({"installationId": "ABC-1", "deviceType": "ios", "deviceToken": TOKEN, "badge": 1});
    let (created, id) = create(&test, &device(None), first).await.unwrap();
    assert!(created);
    assert_eq!(rows(&test).await, vec![(id.clone(), json!("abc-1"), json!(TOKEN.to_lowercase()))]);
    // Same installation id, no device type: the same row, updated (not a new one).
    let (created, again) = create(&test, &device(None), json!({"installationId": "abc-1", "badge": 5})).await.unwrap();
    assert_eq!((created, again.as_str()), (false, id.as_str()));
    assert_eq!(rows(&test).await.len(), 1);
    // A token that is not 64 characters long is kept as written.
    let (_, other) =
        create(&test, &device(None), json!({"installationId": "b", "deviceType": "android", "deviceToken": "FcM:Tok"}))
            .await
            .unwrap();
    assert!(rows(&test).await.contains(&(other, json!("b"), json!("FcM:Tok"))));
}

#[tokio::test]
async fn installation_id_and_device_type_never_change() {
    let test = test_engine().await;
    let (_, id) = create(&test, &device(None), json!({"installationId": "one", "deviceType": "ios"})).await.unwrap();
    let installations = class("_Installation");
    for (change, field) in
        [(json!({"installationId": "two"}), "installationId"), (json!({"deviceType": "android"}), "deviceType")]
    {
        let error = test.engine.update_object(&device(None), &installations, &id, &body(change)).await.unwrap_err();
        assert_eq!(
            (error.code, error.message),
            (ErrorCode::ChangedImmutableField, format!("{field} may not be changed in this operation"))
        );
    }
    // The same values, and the other fields, may be written.
    let same = json!({"installationId": "ONE", "deviceType": "ios", "channels": ["news"]});
    test.engine.update_object(&device(None), &installations, &id, &body(same)).await.expect("same ids");
    let missing = body(json!({"deviceType": "ios"}));
    let error = test.engine.update_object(&device(None), &installations, "missing", &missing).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::ObjectNotFound);
}

#[tokio::test]
async fn a_token_moves_to_the_device_that_claims_it() {
    let test = test_engine().await;
    let old = json!({"installationId": "old", "deviceType": "ios", "deviceToken": TOKEN});
    let (_, old_id) = create(&test, &device(None), old).await.unwrap();
    // A new device (another installation id) with the same token: the old row goes.
    let new = json!({"installationId": "new", "deviceType": "ios", "deviceToken": TOKEN});
    let (created, new_id) = create(&test, &device(None), new).await.unwrap();
    assert!(created);
    assert_ne!(old_id, new_id);
    assert_eq!(rows(&test).await, vec![(new_id.clone(), json!("new"), json!(TOKEN.to_lowercase()))]);

    // A row with the token and no installation id is merged into by the device's write.
    let test = test_engine().await;
    let (_, token_row) =
        create(&test, &device(None), json!({"deviceType": "ios", "deviceToken": TOKEN})).await.unwrap();
    let (_, device_row) =
        create(&test, &device(None), json!({"installationId": "dev", "deviceType": "ios"})).await.unwrap();
    let claim = json!({"installationId": "dev", "deviceToken": TOKEN});
    let (created, kept) = create(&test, &device(None), claim).await.unwrap();
    assert_eq!((created, kept.as_str()), (false, token_row.as_str()));
    assert_eq!(rows(&test).await, vec![(token_row, json!("dev"), json!(TOKEN.to_lowercase()))]);
    assert_ne!(device_row, kept);
}

#[tokio::test]
async fn a_token_several_devices_hold_needs_an_installation_id() {
    let test = test_engine().await;
    let installations = class("_Installation");
    let first = json!({"installationId": "a", "deviceType": "android", "deviceToken": "shared"});
    create(&test, &device(None), first).await.unwrap();
    // A token set on a row by objectId, without the installation id, leaves the other holder.
    let (_, second) =
        create(&test, &device(None), json!({"installationId": "b", "deviceType": "android"})).await.unwrap();
    let token = body(json!({"deviceToken": "shared"}));
    test.engine.update_object(&device(None), &installations, &second, &token).await.expect("token set");
    assert_eq!(rows(&test).await.len(), 2);
    let error =
        create(&test, &Caller::master(), json!({"deviceType": "android", "deviceToken": "shared"})).await.unwrap_err();
    assert_eq!(
        (error.code, error.message.as_str()),
        (
            ErrorCode::InvalidInstallationId,
            "Must specify installationId when deviceToken matches multiple Installation objects"
        )
    );
}

#[tokio::test]
async fn a_caller_the_class_refuses_cannot_get_rows_deleted_by_trying() {
    let test = test_engine().await;
    let held = json!({"installationId": "victim", "deviceType": "ios", "deviceToken": TOKEN});
    let (_, victim) = create(&test, &device(None), held).await.unwrap();
    // Creating and updating installations closed to clients.
    let closed = json!({"classLevelPermissions": {"create": {}, "update": {}, "get": {"*": true}}});
    let schemas = test.engine.update_schema(&Caller::master(), &class("_Installation"), &body(closed)).await;
    schemas.expect("class-level permissions set");
    // The token claimed by a new device would remove the victim's row; refused first.
    let claim = json!({"installationId": "attacker", "deviceType": "ios", "deviceToken": TOKEN});
    let error = create(&test, &device(None), claim).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::OperationForbidden);
    let update = body(json!({"deviceToken": TOKEN, "installationId": "attacker"}));
    let error = test.engine.update_object(&device(None), &class("_Installation"), &victim, &update).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::OperationForbidden);
    assert_eq!(rows(&test).await, vec![(victim, json!("victim"), json!(TOKEN.to_lowercase()))]);
}
