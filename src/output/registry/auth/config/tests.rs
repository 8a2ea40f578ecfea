use std::os::unix::fs::PermissionsExt;

use super::*;

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn config(json: &str) -> DockerConfig {
    serde_json::from_str(json).unwrap()
}

#[test]
fn config_dir_prefers_docker_config_over_home() {
    assert_eq!(
        config_dir(Some("/cfg".into()), Some("/home/u".into())),
        Some(PathBuf::from("/cfg"))
    );
    assert_eq!(
        config_dir(None, Some("/home/u".into())),
        Some(PathBuf::from("/home/u/.docker"))
    );
    assert_eq!(
        config_dir(Some("".into()), Some("/home/u".into())),
        Some(PathBuf::from("/home/u/.docker"))
    );
    assert_eq!(config_dir(None, None), None);
}

#[test]
fn auths_entries_give_basic_or_identity_token() {
    let c = config(&format!(
        r#"{{"auths": {{
            "https://index.docker.io/v1/": {{"auth": "{hub}"}},
            "registry.example:5000": {{"auth": "{reg}", "identitytoken": "refresh-me"}},
            "https://legacy.example/v1/": {{"auth": "{legacy}"}},
            "plain.example": {{"username": "u", "password": "p"}},
            "empty.example": {{}}
        }}, "HttpHeaders": {{"User-Agent": "x"}}}}"#,
        hub = b64("hubuser:hub:pass"),
        reg = b64("reguser:ignored"),
        legacy = b64("old:secret"),
    ));
    let path = Path::new("/cfg/config.json");
    assert_eq!(
        c.file_credentials(path, "https://index.docker.io/v1/")
            .unwrap(),
        Credentials::Basic {
            username: "hubuser".into(),
            password: "hub:pass".into()
        }
    );
    assert_eq!(
        c.file_credentials(path, "registry.example:5000").unwrap(),
        Credentials::IdentityToken {
            username: "reguser".into(),
            token: "refresh-me".into()
        }
    );
    // A key stored as a URL matches its hostname, as in the CLI's file store.
    assert_eq!(
        c.file_credentials(path, "legacy.example").unwrap(),
        Credentials::Basic {
            username: "old".into(),
            password: "secret".into()
        }
    );
    assert_eq!(
        c.file_credentials(path, "plain.example").unwrap(),
        Credentials::Basic {
            username: "u".into(),
            password: "p".into()
        }
    );
    assert_eq!(
        c.file_credentials(path, "empty.example").unwrap(),
        Credentials::Anonymous
    );
    assert_eq!(
        c.file_credentials(path, "other.example").unwrap(),
        Credentials::Anonymous
    );
    // Another port is another registry.
    assert_eq!(
        c.file_credentials(path, "registry.example:5001").unwrap(),
        Credentials::Anonymous
    );
}

#[test]
fn a_bad_auth_field_is_an_error_naming_the_file_and_key() {
    let c = config(&format!(
        r#"{{"auths": {{"a.example": {{"auth": "%%%"}}, "b.example": {{"auth": "{}"}}}}}}"#,
        b64("no-colon")
    ));
    for key in ["a.example", "b.example"] {
        let error = c
            .file_credentials(Path::new("/cfg/config.json"), key)
            .unwrap_err()
            .to_string();
        assert!(error.contains("/cfg/config.json"), "{error}");
        assert!(error.contains(key), "{error}");
    }
}

#[test]
fn cred_helpers_win_over_creds_store() {
    let c = config(
        r#"{"credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud", "https://index.docker.io/v1/": "hub"}}"#,
    );
    assert_eq!(c.helper_for("gcr.io"), Some("gcloud"));
    assert_eq!(c.helper_for("https://index.docker.io/v1/"), Some("hub"));
    assert_eq!(c.helper_for("other.example"), Some("desktop"));
    assert_eq!(config(r#"{"credsStore": ""}"#).helper_for("x"), None);
    assert_eq!(config("{}").helper_for("x"), None);
}

#[test]
fn convert_to_hostname_strips_scheme_and_path() {
    assert_eq!(
        convert_to_hostname("https://index.docker.io/v1/"),
        "index.docker.io"
    );
    assert_eq!(convert_to_hostname("http://h:5000/v2/"), "h:5000");
    assert_eq!(convert_to_hostname("h:5000"), "h:5000");
}

fn write_helper(dir: &Path, name: &str, body: &str) {
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn helpers_are_run_with_the_server_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    // Answers with what it read, so the test sees the server URL it was given.
    write_helper(
        dir.path(),
        "echo",
        r#"[ "$1" = get ] || exit 9; read -r server; printf '{"ServerURL":"%s","Username":"user-%s","Secret":"s3cret"}' "$server" "$server""#,
    );
    write_helper(
        dir.path(),
        "token",
        r#"echo '{"Username":"<token>","Secret":"refresh"}'"#,
    );
    write_helper(
        dir.path(),
        "missing",
        "echo 'credentials not found in native keychain'; exit 1",
    );
    write_helper(
        dir.path(),
        "broken",
        "echo 'the keychain is locked' >&2; exit 1",
    );
    write_helper(dir.path(), "garbage", "echo 'not json'");
    let path_var = dir.path().as_os_str();

    assert_eq!(
        run_helper("echo", "reg.example:5000", Some(path_var)).unwrap(),
        Credentials::Basic {
            username: "user-reg.example:5000".into(),
            password: "s3cret".into()
        }
    );
    assert_eq!(
        run_helper("token", "x", Some(path_var)).unwrap(),
        Credentials::IdentityToken {
            username: String::new(),
            token: "refresh".into()
        }
    );
    assert_eq!(
        run_helper("missing", "x", Some(path_var)).unwrap(),
        Credentials::Anonymous
    );
    let broken = run_helper("broken", "x", Some(path_var))
        .unwrap_err()
        .to_string();
    assert!(broken.contains("docker-credential-broken"), "{broken}");
    assert!(broken.contains("the keychain is locked"), "{broken}");
    let garbage = run_helper("garbage", "x", Some(path_var))
        .unwrap_err()
        .to_string();
    assert!(garbage.contains("not the expected JSON"), "{garbage}");
    let absent = run_helper("absent", "x", Some(path_var))
        .unwrap_err()
        .to_string();
    assert!(absent.contains("not on PATH"), "{absent}");
}

#[test]
fn credentials_for_reads_the_config_dir_and_uses_helpers() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        credentials_for(Some(dir.path()), "a.example", None)
            .unwrap()
            .0,
        Credentials::Anonymous,
        "a missing config.json is no credentials"
    );
    write_helper(
        dir.path(),
        "fixed",
        r#"echo '{"Username":"h","Secret":"hp"}'"#,
    );
    std::fs::write(
        dir.path().join("config.json"),
        format!(
            r#"{{"auths": {{"a.example": {{"auth": "{}"}}, "b.example": {{"auth": "{}"}}}},
                "credHelpers": {{"b.example": "fixed"}}}}"#,
            b64("fa:fp"),
            b64("ignored:ignored")
        ),
    )
    .unwrap();
    let (credentials, source) =
        credentials_for(Some(dir.path()), "a.example", Some(dir.path().as_os_str())).unwrap();
    assert_eq!(
        credentials,
        Credentials::Basic {
            username: "fa".into(),
            password: "fp".into()
        }
    );
    assert_eq!(
        source,
        CredentialSource::ConfigFile(dir.path().join("config.json"))
    );
    let (credentials, source) =
        credentials_for(Some(dir.path()), "b.example", Some(dir.path().as_os_str())).unwrap();
    assert_eq!(
        credentials,
        Credentials::Basic {
            username: "h".into(),
            password: "hp".into()
        }
    );
    assert_eq!(source, CredentialSource::Helper("fixed".into()));

    std::fs::write(dir.path().join("config.json"), "{not json").unwrap();
    let error = credentials_for(Some(dir.path()), "a.example", None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("is not valid JSON"), "{error}");
}

#[test]
fn debug_output_hides_secrets() {
    let shown = format!(
        "{:?} {:?}",
        Credentials::Basic {
            username: "u".into(),
            password: "hunter2".into()
        },
        Credentials::IdentityToken {
            username: "u".into(),
            token: "tok3n".into()
        }
    );
    assert!(
        !shown.contains("hunter2") && !shown.contains("tok3n"),
        "{shown}"
    );
}
