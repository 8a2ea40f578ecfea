//! Checks on what gets executed: CMD/ENTRYPOINT forms and RUN commands.

use super::all_steps;
use crate::lint::instruction::Form;
use crate::lint::model::Analysis;
use crate::lint::rules::Hits;

pub fn shell_form_command(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        let instruction = step.instruction;
        if (instruction.is("CMD") || instruction.is("ENTRYPOINT"))
            && instruction.form == Form::Shell
        {
            hits.at(instruction.line, instruction);
        }
    }
}

pub fn broken_exec_form(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        if step.instruction.form == Form::BrokenExec {
            hits.at(step.instruction.line, step.instruction);
        }
    }
}

pub fn repeated_command(analysis: &Analysis, hits: &mut Hits) {
    for stage in &analysis.stages {
        for keyword in ["CMD", "ENTRYPOINT"] {
            let found: Vec<_> = stage
                .steps
                .iter()
                .filter(|step| step.instruction.is(keyword))
                .collect();
            if let Some((last, earlier)) = found.split_last() {
                for step in earlier {
                    let detail = format!(
                        "overridden by the {keyword} on line {}",
                        last.instruction.line
                    );
                    hits.with(step.instruction.line, step.instruction, detail);
                }
            }
        }
    }
}

const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh"];

pub fn curl_pipe_shell(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        for pair in step.commands.windows(2) {
            let downloads = matches!(pair[0].program(), Some("curl" | "wget"));
            let into_shell = pair[1]
                .program()
                .is_some_and(|program| SHELLS.contains(&program));
            if downloads && pair[0].piped && into_shell {
                hits.at(pair[0].line(), step.instruction);
            }
        }
    }
}

pub fn sudo(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        for command in step.commands.iter().filter(|command| command.uses_sudo()) {
            hits.at(command.line(), step.instruction);
        }
    }
}

/// Only a RUN that starts with `cd` (or is nothing but `cd`): a `cd` later
/// in a chain often just follows a clone or an unpack within the same layer.
pub fn run_cd(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        if let Some(first) = step.commands.first() {
            if first.program() == Some("cd") {
                hits.at(first.line(), step.instruction);
            }
        }
    }
}
