//! A checker for the subset of JSON Schema (draft 2020-12) that
//! docs/report.schema.json uses, hand-written rather than the `jsonschema`
//! crate: that one (with no default features) brings 75 crates and 2¼
//! minutes of build on CI's two cores, for one test.
//!
//! Every keyword the checker does not implement fails loudly, so the schema
//! cannot grow a keyword that would be silently ignored here. Annotations
//! (`title`, `description`, `$schema`, `$id`) are read as such.

use serde_json::Value;

const ANNOTATIONS: &[&str] = &["$schema", "$id", "title", "description", "$defs"];
const KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "propertyNames",
    "items",
    "minimum",
    "maximum",
    "oneOf",
    "anyOf",
];

/// Every way `value` breaks `schema`, each as `/json/pointer: what`; empty
/// when it conforms.
pub fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, value, "", &mut errors);
    errors
}

fn check(root: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        panic!("a schema at {at} is not an object: {schema}");
    };
    for key in schema.keys() {
        assert!(
            ANNOTATIONS.contains(&key.as_str()) || KEYWORDS.contains(&key.as_str()),
            "the schema uses `{key}`, which this checker does not implement"
        );
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = reference
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer))
            .unwrap_or_else(|| panic!("unresolvable $ref {reference}"));
        check(root, target, value, at, errors);
    }
    let mut fail_here = Vec::new();
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            other => panic!("bad type {other}"),
        };
        if !allowed.iter().any(|t| is_type(value, t)) {
            fail_here.push(format!(
                "expected {}, found {}",
                allowed.join(" or "),
                value
            ));
        }
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
        if !choices.contains(value) {
            fail_here.push(format!(
                "{value} is not one of {}",
                Value::from(choices.clone())
            ));
        }
    }
    if let Some(constant) = schema.get("const") {
        if constant != value {
            fail_here.push(format!("expected {constant}, found {value}"));
        }
    }
    if let Some(number) = value.as_f64() {
        if let Some(minimum) = schema.get("minimum").and_then(Value::as_f64) {
            if number < minimum {
                fail_here.push(format!("{number} is below {minimum}"));
            }
        }
        if let Some(maximum) = schema.get("maximum").and_then(Value::as_f64) {
            if number > maximum {
                fail_here.push(format!("{number} is above {maximum}"));
            }
        }
    }
    for what in fail_here {
        errors.push(format!("{}: {what}", display(at)));
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    errors.push(format!("{}: `{name}` is missing", display(at)));
                }
            }
        }
        for (name, item) in object {
            let here = format!("{at}/{name}");
            if let Some(names) = schema.get("propertyNames") {
                check(root, names, &Value::String(name.clone()), &here, errors);
            }
            match (
                properties.and_then(|p| p.get(name)),
                schema.get("additionalProperties"),
            ) {
                (Some(property), _) => check(root, property, item, &here, errors),
                (None, Some(Value::Bool(false))) => {
                    errors.push(format!("{}: `{name}` is not in the schema", display(at)))
                }
                (None, Some(Value::Bool(true))) | (None, None) => {}
                (None, Some(additional)) => check(root, additional, item, &here, errors),
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            check(root, items, item, &format!("{at}/{index}"), errors);
        }
    }
    if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
        let results: Vec<Vec<String>> = branches
            .iter()
            .map(|branch| {
                let mut branch_errors = Vec::new();
                check(root, branch, value, at, &mut branch_errors);
                branch_errors
            })
            .collect();
        let passing = results.iter().filter(|r| r.is_empty()).count();
        if passing != 1 {
            errors.push(format!(
                "{}: {passing} of the oneOf branches match, not one: {}",
                display(at),
                describe(&results)
            ));
        }
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        let results: Vec<Vec<String>> = branches
            .iter()
            .map(|branch| {
                let mut branch_errors = Vec::new();
                check(root, branch, value, at, &mut branch_errors);
                branch_errors
            })
            .collect();
        if results.iter().all(|r| !r.is_empty()) {
            errors.push(format!(
                "{}: no anyOf branch matches: {}",
                display(at),
                describe(&results)
            ));
        }
    }
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        // 2020-12: a number with a zero fractional part is an integer too
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        other => panic!("unknown type {other}"),
    }
}

fn display(at: &str) -> &str {
    if at.is_empty() {
        "(document)"
    } else {
        at
    }
}

fn describe(results: &[Vec<String>]) -> String {
    results
        .iter()
        .enumerate()
        .map(|(index, errors)| match errors.is_empty() {
            true => format!("[{index}] matches"),
            false => format!("[{index}] {}", errors.join("; ")),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// docs/report.schema.json, parsed.
pub fn report_schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/report.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("the schema is JSON")
}

/// Panics with every error unless `document` conforms to the report schema.
pub fn assert_valid_report(document: &Value) {
    let errors = validate(&report_schema(), document);
    assert!(
        errors.is_empty(),
        "the document does not match docs/report.schema.json:\n  {}\n{document:#}",
        errors.join("\n  ")
    );
}
