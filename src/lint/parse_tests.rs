use super::*;
use crate::lint::instruction::Form;

fn keywords_and_lines(file: &Dockerfile) -> Vec<(&str, usize)> {
    file.instructions
        .iter()
        .map(|instruction| (instruction.keyword.as_str(), instruction.line))
        .collect()
}

#[test]
fn continuations_skip_comments_and_blank_lines_and_keep_start_lines() {
    let file = parse(
        "FROM debian:12\n\nRUN apt-get update && \\\n    # a comment inside\n\n    apt-get install -y curl\nCMD [\"curl\"]\n",
    )
    .unwrap();
    assert_eq!(
        keywords_and_lines(&file),
        [("FROM", 1), ("RUN", 3), ("CMD", 7)]
    );
    let run = &file.instructions[1];
    assert_eq!(
        run.args.text,
        "apt-get update &&     apt-get install -y curl"
    );
    let install = run.args.text.find("apt-get install").unwrap();
    assert_eq!(run.args.line_at(install), 6);
    assert_eq!(file.instructions[2].form, Form::Exec(vec!["curl".into()]));
}

#[test]
fn escape_directive_switches_to_backtick() {
    let text = "# escape=`\n# syntax=docker/dockerfile:1\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN dir C:\\ `\n    && echo done\nWORKDIR C:\\app\n";
    let file = parse(text).unwrap();
    assert_eq!(file.directives.escape, '`');
    assert_eq!(
        file.directives.syntax.as_deref(),
        Some("docker/dockerfile:1")
    );
    assert_eq!(
        keywords_and_lines(&file),
        [("FROM", 3), ("RUN", 4), ("WORKDIR", 6)]
    );
    assert_eq!(file.instructions[1].args.text, "dir C:\\     && echo done");
}

#[test]
fn directives_stop_at_the_first_other_line() {
    let file = parse("# check=skip=all\n\n# escape=`\nFROM a:1\nRUN x \\\n  y\n").unwrap();
    assert_eq!(file.directives.check.as_deref(), Some("skip=all"));
    assert_eq!(file.directives.escape, '\\');
    assert_eq!(file.instructions[1].args.text, "x   y");
}

#[test]
fn heredocs_attach_bodies_in_order() {
    let text = "FROM a:1\nRUN <<EOF bash\n  set -e\n  echo hi\nEOF\nCOPY <<-'CONF' <<\"TWO\" /etc/\n\tkey=$value\n\tCONF\nsecond\nTWO\nUSER app\n";
    let file = parse(text).unwrap();
    assert_eq!(
        keywords_and_lines(&file),
        [("FROM", 1), ("RUN", 2), ("COPY", 6), ("USER", 11)]
    );
    let run = &file.instructions[1];
    assert_eq!(run.heredocs.len(), 1);
    assert_eq!(run.heredocs[0].body.text, "  set -e\n  echo hi\n");
    assert_eq!(
        run.heredocs[0]
            .body
            .line_at(run.heredocs[0].body.text.find("echo").unwrap()),
        4
    );
    let copy = &file.instructions[2];
    let delimiters: Vec<_> = copy
        .heredocs
        .iter()
        .map(|h| (h.delimiter.as_str(), h.strip_tabs, h.quoted))
        .collect();
    assert_eq!(delimiters, [("CONF", true, true), ("TWO", false, true)]);
    assert_eq!(copy.heredocs[0].body.text, "key=$value\n");
}

#[test]
fn here_strings_and_quoted_markers_are_not_heredocs() {
    let file = parse("FROM a:1\nRUN cat <<< 'x' && echo \"<<EOF\"\nUSER app\n").unwrap();
    assert!(file.instructions[1].heredocs.is_empty());
    assert_eq!(file.instructions.len(), 3);
}

#[test]
fn flags_are_split_from_arguments() {
    let text = "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nRUN --mount=type=cache,target=/root/.cache/go-build \\\n    --network=none go build ./...\nCOPY --from=build --chown=app:app /out /usr/local/bin/\n";
    let file = parse(text).unwrap();
    let from = &file.instructions[0];
    assert_eq!(from.flag("platform"), Some("$BUILDPLATFORM"));
    assert_eq!(from.arg_list(), ["golang:1.22", "AS", "build"]);
    let run = &file.instructions[1];
    assert_eq!(
        run.flags
            .iter()
            .map(|f| (f.name.as_str(), f.line))
            .collect::<Vec<_>>(),
        [("mount", 2), ("network", 3)]
    );
    assert!(run.caches("/root/.cache/go-build/x"));
    assert_eq!(run.args.text, "go build ./...");
    let copy = &file.instructions[2];
    assert_eq!(copy.flag("from"), Some("build"));
    assert_eq!(copy.flag("chown"), Some("app:app"));
}

#[test]
fn exec_form_needs_valid_json() {
    let file =
        parse("FROM a:1\nCMD ['app']\nENTRYPOINT [\"app\", \"--x\"]\nCMD app --x\n").unwrap();
    assert_eq!(file.instructions[1].form, Form::BrokenExec);
    assert_eq!(
        file.instructions[2].form,
        Form::Exec(vec!["app".into(), "--x".into()])
    );
    assert_eq!(file.instructions[3].form, Form::Shell);
}

#[test]
fn onbuild_carries_its_trigger() {
    let file = parse("FROM a:1\nonbuild COPY . /app\n").unwrap();
    let onbuild = &file.instructions[1];
    assert_eq!(onbuild.keyword, "ONBUILD");
    let trigger = onbuild.trigger.as_ref().unwrap();
    assert_eq!((trigger.keyword.as_str(), trigger.line), ("COPY", 2));
    assert_eq!(trigger.arg_list(), [".", "/app"]);
}

#[test]
fn errors_name_the_line() {
    let unknown = parse("FROM a:1\n\nRUNN x\n").unwrap_err();
    assert_eq!(unknown.line, 3);
    assert!(unknown.message.contains("RUNN"));
    let open = parse("FROM a:1\nRUN <<EOF\necho\n").unwrap_err();
    assert_eq!(open.line, 2);
    assert!(open.message.contains("never closed"));
    assert_eq!(parse("FROM a:1\nONBUILD FROM b\n").unwrap_err().line, 2);
    assert_eq!(parse("FROM a:1\nRUN\n").unwrap_err().line, 2);
    assert_eq!(parse("# escape=x\nFROM a:1\n").unwrap_err().line, 1);
}

#[test]
fn crlf_line_endings_are_accepted() {
    let file = parse("FROM a:1\r\nRUN a \\\r\n  b\r\n").unwrap();
    assert_eq!(file.instructions[1].args.text, "a   b");
}
