//! The schema registry's REST API against a real `fjord serve`: Confluent's
//! status codes, error codes and bodies, ids, deletes, references, config
//! and mode, and ids kept across restarts of the registry and the broker.

mod registry_support;

use registry_support::{assert_error, call, register, Serve};
use serde_json::{json, Value};

const V1: &str = r#"{"type":"record","name":"Bid","fields":[{"name":"item","type":"string"},{"name":"price","type":"double"}]}"#;
const V2: &str = r#"{"type":"record","name":"Bid","fields":[{"name":"item","type":"string"},{"name":"price","type":"double"},{"name":"bidder","type":"string","default":""}]}"#;
const V3_NO_DEFAULT: &str = r#"{"type":"record","name":"Bid","fields":[{"name":"item","type":"string"},{"name":"price","type":"double"},{"name":"qty","type":"int"}]}"#;

#[test]
fn subjects_versions_ids_and_confluent_error_codes() {
    let s = Serve::start();
    let u = s.url();

    // Registration: same schema -> same id, in any subject.
    assert_eq!(
        register(&u, "bids-value", V1, None),
        (200, json!({"id": 1}))
    );
    assert_eq!(
        register(&u, "bids-value", V1, None),
        (200, json!({"id": 1}))
    );
    // Layout differences do not make another schema.
    let spaced = V1.replace(',', " ,\n ");
    assert_eq!(
        register(&u, "bids-value", &spaced, None),
        (200, json!({"id": 1}))
    );
    assert_eq!(
        register(&u, "copy-value", V1, None),
        (200, json!({"id": 1}))
    );
    assert_eq!(
        register(&u, "bids-value", V2, None),
        (200, json!({"id": 2}))
    );

    // An incompatible schema: 409 with Confluent's reasons.
    let got = register(&u, "bids-value", V3_NO_DEFAULT, None);
    assert_error(&got, 409, 409);
    let msg = got.1["message"].as_str().unwrap();
    assert!(msg.contains("READER_FIELD_MISSING_DEFAULT_VALUE"), "{msg}");
    assert!(msg.contains("oldSchemaVersion: 2"), "{msg}");
    assert!(msg.contains("compatibility: 'BACKWARD'"), "{msg}");

    // The compatibility endpoint, plain and verbose.
    let body = json!({ "schema": V3_NO_DEFAULT });
    let got = call(
        "POST",
        &format!("{u}/compatibility/subjects/bids-value/versions/latest"),
        Some(&body),
    );
    assert_eq!(got, (200, json!({"is_compatible": false})));
    let got = call(
        "POST",
        &format!("{u}/compatibility/subjects/bids-value/versions/latest?verbose=true"),
        Some(&body),
    );
    assert_eq!(got.1["is_compatible"], false, "{got:?}");
    assert!(got.1["messages"]
        .to_string()
        .contains("READER_FIELD_MISSING_DEFAULT_VALUE"));
    let got = call(
        "POST",
        &format!("{u}/compatibility/subjects/bids-value/versions/1"),
        Some(&json!({ "schema": V2 })),
    );
    assert_eq!(got, (200, json!({"is_compatible": true})));

    // Reads.
    assert_eq!(
        call("GET", &format!("{u}/subjects"), None),
        (200, json!(["bids-value", "copy-value"]))
    );
    assert_eq!(
        call("GET", &format!("{u}/subjects?subjectPrefix=bids"), None),
        (200, json!(["bids-value"]))
    );
    assert_eq!(
        call("GET", &format!("{u}/subjects/bids-value/versions"), None),
        (200, json!([1, 2]))
    );
    let (code, latest) = call(
        "GET",
        &format!("{u}/subjects/bids-value/versions/latest"),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(latest["version"], 2);
    assert_eq!(latest["id"], 2);
    assert_eq!(latest["subject"], "bids-value");
    assert!(
        latest.get("schemaType").is_none(),
        "Avro omits schemaType: {latest}"
    );
    let schema: Value = serde_json::from_str(latest["schema"].as_str().unwrap()).unwrap();
    assert_eq!(schema["fields"][2]["name"], "bidder");
    let (code, raw) = call(
        "GET",
        &format!("{u}/subjects/bids-value/versions/1/schema"),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(raw["name"], "Bid", "{raw}");
    let (code, by_id) = call("GET", &format!("{u}/schemas/ids/1"), None);
    assert_eq!(code, 200);
    assert!(
        by_id["schema"].as_str().unwrap().contains("\"Bid\""),
        "{by_id}"
    );
    assert_eq!(
        call("GET", &format!("{u}/schemas/ids/1/subjects"), None),
        (200, json!(["bids-value", "copy-value"]))
    );
    assert_eq!(
        call("GET", &format!("{u}/schemas/ids/1/versions"), None),
        (
            200,
            json!([{"subject": "bids-value", "version": 1}, {"subject": "copy-value", "version": 1}])
        )
    );
    let (code, types) = call("GET", &format!("{u}/schemas/types"), None);
    assert_eq!(code, 200);
    let mut types: Vec<String> = serde_json::from_value(types).unwrap();
    types.sort();
    assert_eq!(types, ["AVRO", "JSON", "PROTOBUF"]);

    // Look-up of a schema under a subject.
    let got = call(
        "POST",
        &format!("{u}/subjects/bids-value"),
        Some(&json!({ "schema": V1 })),
    );
    assert_eq!(got.0, 200, "{got:?}");
    assert_eq!(
        (got.1["id"].clone(), got.1["version"].clone()),
        (json!(1), json!(1))
    );
    assert_error(
        &call(
            "POST",
            &format!("{u}/subjects/bids-value"),
            Some(&json!({ "schema": V3_NO_DEFAULT })),
        ),
        404,
        40403,
    );
    assert_error(
        &call(
            "POST",
            &format!("{u}/subjects/nope"),
            Some(&json!({ "schema": V1 })),
        ),
        404,
        40401,
    );

    // Errors on bad input.
    assert_error(
        &call("GET", &format!("{u}/subjects/nope/versions"), None),
        404,
        40401,
    );
    assert_error(
        &call("GET", &format!("{u}/subjects/nope/versions/1"), None),
        404,
        40401,
    );
    assert_error(
        &call("GET", &format!("{u}/subjects/bids-value/versions/9"), None),
        404,
        40402,
    );
    for bad in ["0", "-2", "abc", "1.5"] {
        assert_error(
            &call(
                "GET",
                &format!("{u}/subjects/bids-value/versions/{bad}"),
                None,
            ),
            422,
            42202,
        );
    }
    assert_error(
        &call("GET", &format!("{u}/schemas/ids/99"), None),
        404,
        40403,
    );
    assert_error(
        &register(&u, "bad-value", "{\"type\": \"recrd\"}", None),
        422,
        42201,
    );
    assert_error(&register(&u, "bad-value", "not json", None), 422, 42201);
    assert_error(&register(&u, "bad-value", "{}", Some("XML")), 422, 42201);
    assert_error(&call("GET", &format!("{u}/no/such/route"), None), 404, 404);
    assert_error(
        &call("DELETE", &format!("{u}/schemas/types"), None),
        405,
        405,
    );

    // Config: global and per subject.
    assert_eq!(
        call("GET", &format!("{u}/config"), None),
        (200, json!({"compatibilityLevel": "BACKWARD"}))
    );
    assert_error(
        &call("GET", &format!("{u}/config/bids-value"), None),
        404,
        40408,
    );
    assert_eq!(
        call(
            "GET",
            &format!("{u}/config/bids-value?defaultToGlobal=true"),
            None
        ),
        (200, json!({"compatibilityLevel": "BACKWARD"}))
    );
    assert_error(
        &call(
            "PUT",
            &format!("{u}/config/bids-value"),
            Some(&json!({"compatibility": "SIDEWAYS"})),
        ),
        422,
        42203,
    );
    assert_eq!(
        call(
            "PUT",
            &format!("{u}/config/bids-value"),
            Some(&json!({"compatibility": "NONE"}))
        ),
        (200, json!({"compatibility": "NONE"}))
    );
    assert_eq!(
        register(&u, "bids-value", V3_NO_DEFAULT, None),
        (200, json!({"id": 3}))
    );
    assert_eq!(
        call("DELETE", &format!("{u}/config/bids-value"), None),
        (200, json!({"compatibilityLevel": "NONE"}))
    );
    assert_error(
        &call("GET", &format!("{u}/config/bids-value"), None),
        404,
        40408,
    );

    // Mode: READONLY refuses writes; IMPORT registers given ids.
    assert_eq!(
        call("GET", &format!("{u}/mode"), None),
        (200, json!({"mode": "READWRITE"}))
    );
    assert_error(
        &call(
            "PUT",
            &format!("{u}/mode"),
            Some(&json!({"mode": "SOMETIMES"})),
        ),
        422,
        42204,
    );
    assert_eq!(
        call(
            "PUT",
            &format!("{u}/mode/copy-value"),
            Some(&json!({"mode": "READONLY"}))
        ),
        (200, json!({"mode": "READONLY"}))
    );
    assert_error(&register(&u, "copy-value", V2, None), 422, 42205);
    assert_eq!(
        call("DELETE", &format!("{u}/mode/copy-value"), None),
        (200, json!({"mode": "READONLY"}))
    );
    assert_error(
        &call(
            "POST",
            &format!("{u}/subjects/imp-value/versions"),
            Some(&json!({"schema": V1, "id": 50, "version": 3})),
        ),
        422,
        42205,
    );
    assert_eq!(
        call(
            "PUT",
            &format!("{u}/mode/imp-value"),
            Some(&json!({"mode": "IMPORT"}))
        ),
        (200, json!({"mode": "IMPORT"}))
    );
    let got = call(
        "POST",
        &format!("{u}/subjects/imp-value/versions"),
        Some(&json!({"schema": r#""string""#, "id": 50, "version": 3})),
    );
    assert_eq!(got, (200, json!({"id": 50})));
    let (_, v) = call("GET", &format!("{u}/subjects/imp-value/versions/3"), None);
    assert_eq!(
        (v["id"].clone(), v["version"].clone()),
        (json!(50), json!(3))
    );
    // An id in use by another schema cannot be imported over.
    assert_error(
        &call(
            "POST",
            &format!("{u}/subjects/imp-value/versions"),
            Some(&json!({"schema": r#""int""#, "id": 50, "version": 4})),
        ),
        422,
        42207,
    );
    call("DELETE", &format!("{u}/mode/imp-value"), None);
    // The next assigned id is past every imported one.
    assert_eq!(
        register(&u, "after-import", r#""long""#, None),
        (200, json!({"id": 51}))
    );
}

#[test]
fn deletes_and_references() {
    let s = Serve::start();
    let u = s.url();
    let address = r#"{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"city","type":"string"}]}"#;
    assert_eq!(
        register(&u, "address", address, None),
        (200, json!({"id": 1}))
    );
    let customer = r#"{"type":"record","name":"Customer","namespace":"shop","fields":[{"name":"home","type":"shop.Address"}]}"#;
    let body = json!({
        "schema": customer,
        "references": [{"name": "shop.Address", "subject": "address", "version": 1}]
    });
    let got = call(
        "POST",
        &format!("{u}/subjects/customer/versions"),
        Some(&body),
    );
    assert_eq!(got, (200, json!({"id": 2})));
    let (_, v) = call("GET", &format!("{u}/subjects/customer/versions/1"), None);
    assert_eq!(v["references"][0]["subject"], "address", "{v}");
    assert_eq!(
        call(
            "GET",
            &format!("{u}/subjects/address/versions/1/referencedby"),
            None
        ),
        (200, json!([2]))
    );
    // A reference to a version that does not exist is an invalid schema.
    let missing = json!({
        "schema": customer,
        "references": [{"name": "shop.Address", "subject": "address", "version": 7}]
    });
    assert_error(
        &call(
            "POST",
            &format!("{u}/subjects/other/versions"),
            Some(&missing),
        ),
        422,
        42201,
    );
    // A referenced version cannot be deleted.
    assert_error(
        &call("DELETE", &format!("{u}/subjects/address/versions/1"), None),
        422,
        42206,
    );
    assert_error(
        &call("DELETE", &format!("{u}/subjects/address"), None),
        422,
        42206,
    );

    // Soft, then permanent deletes, each with its own error when out of order.
    assert_error(
        &call(
            "DELETE",
            &format!("{u}/subjects/customer?permanent=true"),
            None,
        ),
        404,
        40405,
    );
    assert_eq!(
        call("DELETE", &format!("{u}/subjects/customer"), None),
        (200, json!([1]))
    );
    assert_error(
        &call("DELETE", &format!("{u}/subjects/customer"), None),
        404,
        40404,
    );
    assert_error(
        &call("GET", &format!("{u}/subjects/customer/versions"), None),
        404,
        40401,
    );
    assert_eq!(
        call(
            "GET",
            &format!("{u}/subjects/customer/versions?deleted=true"),
            None
        ),
        (200, json!([1]))
    );
    assert_eq!(
        call("GET", &format!("{u}/subjects"), None),
        (200, json!(["address"]))
    );
    assert_eq!(
        call("GET", &format!("{u}/subjects?deleted=true"), None),
        (200, json!(["address", "customer"]))
    );
    // The soft-deleted schema stays readable by id.
    assert_eq!(call("GET", &format!("{u}/schemas/ids/2"), None).0, 200);
    // Once nothing references it, address/1 can go.
    assert_eq!(
        call("DELETE", &format!("{u}/subjects/address/versions/1"), None),
        (200, json!(1))
    );
    assert_error(
        &call("DELETE", &format!("{u}/subjects/address/versions/1"), None),
        404,
        40406,
    );
    assert_error(
        &call("DELETE", &format!("{u}/subjects/nope/versions/1"), None),
        404,
        40401,
    );
    assert_eq!(
        call(
            "DELETE",
            &format!("{u}/subjects/address/versions/1?permanent=true"),
            None
        ),
        (200, json!(1))
    );
    assert_eq!(
        call(
            "DELETE",
            &format!("{u}/subjects/customer?permanent=true"),
            None
        ),
        (200, json!([1]))
    );
    assert_error(
        &call("GET", &format!("{u}/schemas/ids/2"), None),
        404,
        40403,
    );
    assert_eq!(
        call("GET", &format!("{u}/subjects?deleted=true"), None),
        (200, json!([]))
    );
    // Versions restart after a permanent delete; ids do not go back.
    assert_eq!(
        register(&u, "customer", r#""string""#, None),
        (200, json!({"id": 3}))
    );
    let (_, v) = call(
        "GET",
        &format!("{u}/subjects/customer/versions/latest"),
        None,
    );
    assert_eq!(v["version"], 1);
}

#[test]
fn ids_survive_registry_and_broker_restarts() {
    let mut s = Serve::start();
    let u = s.url();
    assert_eq!(register(&u, "a-value", V1, None), (200, json!({"id": 1})));
    assert_eq!(register(&u, "a-value", V2, None), (200, json!({"id": 2})));
    let json_schema = r#"{"type":"object","properties":{"n":{"type":"integer"}}}"#;
    assert_eq!(
        register(&u, "j-value", json_schema, Some("JSON")),
        (200, json!({"id": 3}))
    );
    call(
        "PUT",
        &format!("{u}/config/a-value"),
        Some(&json!({"compatibility": "FULL"})),
    );
    call("DELETE", &format!("{u}/subjects/j-value"), None);

    // A clean stop and a kill -9: both come back with the same state.
    for clean in [true, false] {
        if clean {
            s.proc.as_mut().unwrap().interrupt();
        } else {
            s.kill();
        }
        s.restart();
        assert_eq!(
            register(&u, "a-value", V1, None),
            (200, json!({"id": 1})),
            "{}",
            s.log()
        );
        assert_eq!(register(&u, "b-value", V2, None), (200, json!({"id": 2})));
        let (_, v) = call(
            "GET",
            &format!("{u}/subjects/a-value/versions/latest"),
            None,
        );
        assert_eq!(
            (v["id"].clone(), v["version"].clone()),
            (json!(2), json!(2))
        );
        let (code, j) = call("GET", &format!("{u}/schemas/ids/3"), None);
        assert_eq!((code, j["schemaType"].clone()), (200, json!("JSON")), "{j}");
        assert_eq!(
            call("GET", &format!("{u}/config/a-value"), None),
            (200, json!({"compatibilityLevel": "FULL"}))
        );
        assert_error(
            &call("GET", &format!("{u}/subjects/j-value/versions"), None),
            404,
            40401,
        );
    }
    // A new schema after the restarts takes the next id.
    assert_eq!(
        register(&u, "c-value", r#""bytes""#, None),
        (200, json!({"id": 4}))
    );
}
