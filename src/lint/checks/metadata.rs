//! Checks on image metadata: WORKDIR, EXPOSE, MAINTAINER, HEALTHCHECK, ENV/ARG.

use super::all_steps;
use crate::lint::instruction::Instruction;
use crate::lint::model::Analysis;
use crate::lint::rules::Hits;
use crate::lint::shell::commands;

pub fn relative_workdir(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        let instruction = step.instruction;
        let path = instruction
            .args
            .text
            .trim()
            .trim_matches(|c| c == '"' || c == '\'');
        let windows_drive = path.as_bytes().get(1) == Some(&b':');
        if instruction.is("WORKDIR")
            && !path.starts_with('/')
            && !path.starts_with('$')
            && !windows_drive
        {
            hits.with(instruction.line, instruction, path.to_string());
        }
    }
}

/// Why an EXPOSE item is wrong, if it is.
fn expose_problem(item: &str) -> Option<String> {
    if item.contains('$') {
        return None;
    }
    let (ports, protocol) = item.split_once('/').unwrap_or((item, "tcp"));
    if !["tcp", "udp", "sctp"].contains(&protocol.to_ascii_lowercase().as_str()) {
        return Some(format!("{item}: unknown protocol {protocol:?}"));
    }
    if ports.contains(':') {
        return Some(format!("{item} publishes a host port"));
    }
    let valid = |port: &str| port.parse::<u16>().is_ok_and(|port| port > 0);
    let in_range = match ports.split_once('-') {
        Some((low, high)) => valid(low) && valid(high),
        None => valid(ports),
    };
    (!in_range).then(|| format!("{item} is not a port between 1 and 65535"))
}

pub fn bad_expose(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        if !step.instruction.is("EXPOSE") {
            continue;
        }
        for word in commands(&step.instruction.args)
            .iter()
            .flat_map(|command| &command.words)
        {
            if let Some(problem) = expose_problem(&word.text) {
                hits.with(word.line, step.instruction, problem);
            }
        }
    }
}

pub fn maintainer(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        if step.instruction.is("MAINTAINER") {
            hits.at(step.instruction.line, step.instruction);
        }
    }
}

pub fn missing_healthcheck(analysis: &Analysis, hits: &mut Hits) {
    let has = |keyword: &str| {
        analysis
            .final_chain()
            .any(|stage| stage.steps.iter().any(|step| step.instruction.is(keyword)))
    };
    if has("EXPOSE") && !has("HEALTHCHECK") {
        let from = analysis.final_stage().from;
        hits.at(from.line, from);
    }
}

const SECRET_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
    "ACCESS_KEY",
    "CREDENTIAL",
];

/// Names that point at a secret instead of holding it.
const REFERENCE_SUFFIXES: &[&str] = &["_FILE", "_PATH", "_DIR"];

fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|word| upper.contains(word))
        && !REFERENCE_SUFFIXES
            .iter()
            .any(|suffix| upper.ends_with(suffix))
}

/// The variable names an ENV or ARG defines, with their lines.
fn defined_names(instruction: &Instruction) -> Vec<(String, usize)> {
    let words: Vec<_> = commands(&instruction.args)
        .into_iter()
        .flat_map(|command| command.words)
        .collect();
    let legacy_env =
        instruction.is("ENV") && words.first().is_some_and(|word| !word.text.contains('='));
    if legacy_env {
        // `ENV NAME value with spaces`
        return words
            .first()
            .map(|word| (word.text.clone(), word.line))
            .into_iter()
            .collect();
    }
    words
        .iter()
        .map(|word| {
            (
                word.text.split('=').next().unwrap_or_default().to_string(),
                word.line,
            )
        })
        .collect()
}

pub fn secret_in_env(analysis: &Analysis, hits: &mut Hits) {
    let steps = all_steps(analysis).map(|(_, step)| step.instruction);
    for instruction in analysis.global_args.iter().copied().chain(steps) {
        if !instruction.is("ENV") && !instruction.is("ARG") {
            continue;
        }
        for (name, line) in defined_names(instruction) {
            if is_secret_name(&name) {
                hits.with(line, instruction, name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_accepts_ports_ranges_and_protocols() {
        assert_eq!(expose_problem("80"), None);
        assert_eq!(expose_problem("53/UDP"), None);
        assert_eq!(expose_problem("8000-8010/tcp"), None);
        assert_eq!(expose_problem("${PORT}"), None);
        assert!(expose_problem("8080:80").unwrap().contains("host port"));
        assert!(expose_problem("70000").is_some());
        assert!(expose_problem("0").is_some());
        assert!(expose_problem("80/http").is_some());
    }

    #[test]
    fn secret_names_skip_file_references() {
        assert!(is_secret_name("DB_PASSWORD"));
        assert!(is_secret_name("github_token"));
        assert!(!is_secret_name("DB_PASSWORD_FILE"));
        assert!(!is_secret_name("APP_HOME"));
    }
}
