//! Instructions grouped into build stages, with each RUN's shell commands
//! split out, so checks can ask "what does this stage run" directly.

use super::instruction::{Form, Instruction};
use super::parse::{Dockerfile, ParseError};
use super::shell::{self, Command};
use super::text::Spanned;

/// An instruction plus, for RUN, the commands it executes.
#[derive(Debug)]
pub struct Step<'a> {
    pub instruction: &'a Instruction,
    pub commands: Vec<Command>,
}

impl Step<'_> {
    pub fn commands_of<'s>(
        &'s self,
        programs: &'s [&'s str],
    ) -> impl Iterator<Item = &'s Command> + 's {
        self.commands.iter().filter(move |command| {
            command
                .program()
                .is_some_and(|program| programs.contains(&program))
        })
    }
}

#[derive(Debug)]
pub struct Stage<'a> {
    pub index: usize,
    pub from: &'a Instruction,
    /// The image (or earlier stage) this stage starts from.
    pub base: String,
    pub alias: Option<String>,
    pub steps: Vec<Step<'a>>,
    /// Its layers end up in the final image (the last stage and the stages it is built FROM).
    pub ships: bool,
}

impl Stage<'_> {
    pub fn named(&self, name: &str) -> bool {
        self.alias
            .as_deref()
            .is_some_and(|alias| alias.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug)]
pub struct Analysis<'a> {
    /// ARG instructions before the first FROM.
    pub global_args: Vec<&'a Instruction>,
    pub stages: Vec<Stage<'a>>,
    /// A `.dockerignore` (or `<Dockerfile>.dockerignore`) sits next to the Dockerfile.
    pub has_dockerignore: bool,
}

impl<'a> Analysis<'a> {
    pub fn new(file: &'a Dockerfile, has_dockerignore: bool) -> Result<Self, ParseError> {
        let mut global_args = Vec::new();
        let mut stages: Vec<Stage<'a>> = Vec::new();
        for instruction in &file.instructions {
            if instruction.is("FROM") {
                stages.push(stage_from(stages.len(), instruction)?);
                continue;
            }
            match stages.last_mut() {
                Some(stage) => stage.steps.push(Step {
                    instruction,
                    commands: run_commands(instruction),
                }),
                None if instruction.is("ARG") => global_args.push(instruction),
                None => {
                    return Err(ParseError::new(
                        instruction.line,
                        format!(
                            "{} comes before the first FROM: only ARG may",
                            instruction.keyword
                        ),
                    ))
                }
            }
        }
        if stages.is_empty() {
            return Err(ParseError::new(
                1,
                "no FROM instruction: a Dockerfile needs at least one stage",
            ));
        }
        mark_shipping(&mut stages);
        Ok(Analysis {
            global_args,
            stages,
            has_dockerignore,
        })
    }

    pub fn final_stage(&self) -> &Stage<'a> {
        self.stages.last().expect("analysis has at least one stage")
    }

    /// The final stage followed by the stages it is built on, nearest first.
    pub fn final_chain(&self) -> impl Iterator<Item = &Stage<'a>> {
        let mut next = Some(self.final_stage());
        std::iter::from_fn(move || {
            let current = next?;
            next = self.stages[..current.index]
                .iter()
                .rev()
                .find(|stage| stage.named(&current.base));
            Some(current)
        })
    }
}

fn stage_from(index: usize, from: &Instruction) -> Result<Stage<'_>, ParseError> {
    let words = from.arg_list();
    let alias = match words.as_slice() {
        [_] => None,
        [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => Some(name.clone()),
        _ => {
            return Err(ParseError::new(
                from.line,
                "FROM takes an image and optionally `AS name`",
            ))
        }
    };
    Ok(Stage {
        index,
        from,
        base: words[0].clone(),
        alias,
        steps: Vec::new(),
        ships: false,
    })
}

fn mark_shipping(stages: &mut [Stage<'_>]) {
    let mut current = stages.len() - 1;
    loop {
        stages[current].ships = true;
        let base = stages[current].base.clone();
        match stages[..current]
            .iter()
            .rposition(|stage| stage.named(&base))
        {
            Some(parent) => current = parent,
            None => break,
        }
    }
}

const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh"];

/// The commands a RUN executes: its shell line, and heredoc bodies that are
/// scripts (fed to a shell, or the whole command line is heredoc markers).
fn run_commands(instruction: &Instruction) -> Vec<Command> {
    if !instruction.is("RUN") {
        return Vec::new();
    }
    match &instruction.form {
        Form::Exec(items) => {
            if let [program, flag, script] = items.as_slice() {
                if SHELLS.contains(&shell::basename(program)) && flag == "-c" {
                    return shell::commands(&Spanned::new(script, instruction.line));
                }
            }
            shell::commands(&Spanned::new(&items.join(" "), instruction.line))
        }
        Form::Shell | Form::BrokenExec => {
            let mut commands = shell::commands(&instruction.args);
            let body_is_script = match commands.first().and_then(Command::program) {
                None => true,
                Some(program) => SHELLS.contains(&program),
            };
            if body_is_script {
                for heredoc in &instruction.heredocs {
                    commands.extend(shell::commands(&heredoc.body));
                }
            }
            commands
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::parse::parse;

    #[test]
    fn only_the_final_stage_and_its_bases_ship() {
        let file = parse("ARG V=1\nFROM a:1 AS build\nFROM b:1 AS base\nRUN x\nFROM base AS final\nRUN <<EOF\nset -e\napt-get update\nEOF\n").unwrap();
        let analysis = Analysis::new(&file, false).unwrap();
        assert_eq!(analysis.global_args.len(), 1);
        let shipping: Vec<bool> = analysis.stages.iter().map(|stage| stage.ships).collect();
        assert_eq!(shipping, [false, true, true]);
        let chain: Vec<usize> = analysis.final_chain().map(|stage| stage.index).collect();
        assert_eq!(chain, [2, 1]);
        let heredoc_run = &analysis.stages[2].steps[0];
        let lines: Vec<usize> = heredoc_run.commands.iter().map(Command::line).collect();
        assert_eq!(lines, [7, 8]);
    }

    #[test]
    fn structure_errors_name_the_line() {
        let before_from = parse("ARG A\nRUN x\nFROM a:1\n").unwrap();
        assert_eq!(Analysis::new(&before_from, false).unwrap_err().line, 2);
        let bad_from = parse("FROM a:1 AS\n").unwrap();
        assert_eq!(Analysis::new(&bad_from, false).unwrap_err().line, 1);
        let no_from = parse("ARG A\n").unwrap();
        assert!(Analysis::new(&no_from, false)
            .unwrap_err()
            .message
            .contains("no FROM"));
    }
}
