//! The `exports` and `imports` maps of a `package.json`, read the way Node
//! matches them, except that every condition (`require`, `import`, `node`,
//! `default`, …) is taken: which one the app ends up using is not known here.

use serde_json::{Map, Value};

/// The targets `exports` gives `subpath` (`"."` for the package itself,
/// `"./sub"` for `pkg/sub`), as written (`./dist/sub.js`), sorted.
pub fn export_targets(exports: &Value, subpath: &str) -> Vec<String> {
    let mut targets = Vec::new();
    match exports {
        Value::Object(map) if map.keys().any(|key| key.starts_with('.')) => {
            if let Some((value, star)) = lookup(map, subpath) {
                collect(value, star, &mut targets);
            }
        }
        // A string, an array or a conditions object stands for `"."` alone.
        _ if subpath == "." => collect(exports, None, &mut targets),
        _ => {}
    }
    targets.sort();
    targets
}

/// The targets `imports` gives a `#name` specifier: `./file` paths or bare
/// specifiers of dependencies, sorted.
pub fn import_targets(imports: &Value, specifier: &str) -> Vec<String> {
    let mut targets = Vec::new();
    if let Some((value, star)) = imports.as_object().and_then(|map| lookup(map, specifier)) {
        collect(value, star, &mut targets);
    }
    targets.sort();
    targets
}

/// The entry for `key`: an exact match, else the `*` pattern with the
/// longest prefix (then the longest pattern: Node's order), with what its
/// `*` matched in `key`.
fn lookup<'v, 'k>(
    map: &'v Map<String, Value>,
    key: &'k str,
) -> Option<(&'v Value, Option<&'k str>)> {
    if let Some(value) = map.get(key).filter(|_| !key.contains('*')) {
        return Some((value, None));
    }
    let mut best: Option<(&str, &str, &Value)> = None;
    for (pattern, value) in map {
        let Some((prefix, suffix)) = pattern.split_once('*') else {
            continue;
        };
        let matches = !suffix.contains('*')
            && key.len() >= pattern.len()
            && key.starts_with(prefix)
            && key.ends_with(suffix);
        let better = best.is_none_or(|(known_prefix, known_pattern, _)| {
            (prefix.len(), pattern.len()) > (known_prefix.len(), known_pattern.len())
        });
        if matches && better {
            best = Some((prefix, pattern, value));
        }
    }
    let (prefix, pattern, value) = best?;
    let suffix_len = pattern.len() - prefix.len() - 1;
    Some((value, Some(&key[prefix.len()..key.len() - suffix_len])))
}

/// Every string under `value` (conditions and fallback arrays alike), with
/// `*` replaced by `star`.
fn collect(value: &Value, star: Option<&str>, targets: &mut Vec<String>) {
    match value {
        Value::String(target) => {
            let target = match star {
                Some(star) => target.replace('*', star),
                None => target.clone(),
            };
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        Value::Array(fallbacks) => fallbacks.iter().for_each(|v| collect(v, star, targets)),
        Value::Object(conditions) => conditions.values().for_each(|v| collect(v, star, targets)),
        // `null` excludes a subpath; numbers and booleans mean nothing here.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_string_or_conditions_object_exports_the_package_itself_only() {
        assert_eq!(export_targets(&json!("./main.js"), "."), ["./main.js"]);
        assert!(export_targets(&json!("./main.js"), "./sub").is_empty());
        let conditions = json!({
            "import": "./esm/index.mjs",
            "require": "./cjs/index.cjs",
            "node": {"import": "./node.mjs", "default": "./cjs/index.cjs"},
            "default": ["./fallback.js", "./second.js"]
        });
        assert_eq!(
            export_targets(&conditions, "."),
            [
                "./cjs/index.cjs",
                "./esm/index.mjs",
                "./fallback.js",
                "./node.mjs",
                "./second.js"
            ]
        );
    }

    #[test]
    fn subpaths_match_exactly_then_by_the_most_specific_pattern() {
        let exports = json!({
            ".": "./index.js",
            "./feature": {"require": "./feature.cjs", "import": "./feature.mjs"},
            "./*": "./dist/*.js",
            "./utils/*": "./dist/utils/*/index.js",
            "./utils/*.css": "./styles/*.css",
            "./internal/*": null,
            "./star*": "./literal-star.js"
        });
        assert_eq!(export_targets(&exports, "."), ["./index.js"]);
        assert_eq!(
            export_targets(&exports, "./feature"),
            ["./feature.cjs", "./feature.mjs"]
        );
        assert_eq!(export_targets(&exports, "./a/b"), ["./dist/a/b.js"]);
        assert_eq!(
            export_targets(&exports, "./utils/str"),
            ["./dist/utils/str/index.js"]
        );
        // Same prefix: the longer pattern wins.
        assert_eq!(
            export_targets(&exports, "./utils/x.css"),
            ["./styles/x.css"]
        );
        assert!(export_targets(&exports, "./internal/secret").is_empty());
        // `*` must match at least one character.
        assert_eq!(export_targets(&exports, "./star"), ["./dist/star.js"]);
        assert!(export_targets(&json!({"./a": "./a.js"}), "./b").is_empty());
    }

    #[test]
    fn imports_map_hash_names_to_files_or_dependencies() {
        let imports = json!({
            "#db": {"node": "./src/db.js", "default": "./src/db-browser.js"},
            "#util/*": "./src/util/*.js",
            "#dep": "some-dependency"
        });
        assert_eq!(
            import_targets(&imports, "#db"),
            ["./src/db-browser.js", "./src/db.js"]
        );
        assert_eq!(import_targets(&imports, "#util/str"), ["./src/util/str.js"]);
        assert_eq!(import_targets(&imports, "#dep"), ["some-dependency"]);
        assert!(import_targets(&imports, "#none").is_empty());
        assert!(import_targets(&json!("./x.js"), "#db").is_empty());
    }
}
