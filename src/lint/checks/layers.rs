//! Checks on what each layer adds: ADD vs COPY, downloads, deletions,
//! context copies and layer count.

use super::downloads::output_file;
use super::packages::caches_left;
use super::{absolute, is_archive, next_workdir, removed_paths, removes, step_removes};
use crate::lint::instruction::Instruction;
use crate::lint::model::{Analysis, Stage, Step};
use crate::lint::rules::Hits;
use crate::lint::shell::basename;

fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

fn is_git(source: &str) -> bool {
    source.starts_with("git@") || source.ends_with(".git") || source.contains(".git#")
}

/// COPY/ADD sources (heredoc markers included) and destination.
fn sources_and_destination(instruction: &Instruction) -> Option<(Vec<String>, String)> {
    let mut list = instruction.arg_list();
    let destination = list.pop()?;
    Some((list, destination))
}

fn add_sources<'s>(analysis: &'s Analysis) -> impl Iterator<Item = (&'s Instruction, String)> + 's {
    analysis
        .stages
        .iter()
        .flat_map(|stage| &stage.steps)
        .map(|step| step.instruction)
        .filter(|instruction| instruction.is("ADD"))
        .flat_map(|instruction| {
            let sources = sources_and_destination(instruction)
                .map(|(sources, _)| sources)
                .unwrap_or_default();
            sources.into_iter().map(move |source| (instruction, source))
        })
}

pub fn add_instead_of_copy(analysis: &Analysis, hits: &mut Hits) {
    for (instruction, source) in add_sources(analysis) {
        if !is_url(&source) && !is_git(&source) && !is_archive(&source) {
            hits.with(instruction.line, instruction, source);
        }
    }
}

pub fn add_url(analysis: &Analysis, hits: &mut Hits) {
    for (instruction, source) in add_sources(analysis) {
        if is_url(&source) && !is_git(&source) && instruction.flag("checksum").is_none() {
            hits.with(instruction.line, instruction, source);
        }
    }
}

/// Paths a step leaves in its layer that a later `rm` could target.
fn added_paths(step: &Step, workdir: &str) -> Vec<String> {
    let instruction = step.instruction;
    if instruction.is("COPY") || instruction.is("ADD") {
        let Some((sources, destination)) = sources_and_destination(instruction) else {
            return Vec::new();
        };
        let into_directory = destination.ends_with('/') || sources.len() > 1;
        let destination = absolute(workdir, &destination);
        return sources
            .iter()
            .map(|source| {
                let whole = source == "."
                    || source.ends_with('/')
                    || source.contains('*')
                    || source.starts_with("<<");
                if into_directory && !whole {
                    format!("{destination}/{}", basename(source))
                } else {
                    destination.clone()
                }
            })
            .collect();
    }
    let mut paths: Vec<String> = step
        .commands
        .iter()
        .filter_map(output_file)
        .map(|file| absolute(workdir, &file))
        .collect();
    paths.extend(caches_left(step).into_iter().map(str::to_string));
    paths.retain(|path| !step_removes(step, workdir, path));
    paths
}

fn shipped_stages<'s, 'a>(analysis: &'s Analysis<'a>) -> impl Iterator<Item = &'s Stage<'a>> {
    analysis.stages.iter().filter(|stage| stage.ships)
}

pub fn removes_earlier_layer(analysis: &Analysis, hits: &mut Hits) {
    for stage in shipped_stages(analysis) {
        let mut workdir = "/".to_string();
        let mut added: Vec<(String, usize)> = Vec::new();
        for step in &stage.steps {
            for (target, word) in removed_paths(step, &workdir) {
                let earlier = added
                    .iter()
                    .find(|(path, _)| removes(&target, path) || removes(path, &target));
                if let Some((path, line)) = earlier {
                    hits.with(
                        word.line,
                        step.instruction,
                        format!("{path} was added on line {line}"),
                    );
                }
            }
            let line = step.instruction.line;
            added.extend(
                added_paths(step, &workdir)
                    .into_iter()
                    .map(|path| (path, line)),
            );
            workdir = next_workdir(&workdir, step);
        }
    }
}

pub fn download_kept(analysis: &Analysis, hits: &mut Hits) {
    for stage in shipped_stages(analysis) {
        let mut workdir = "/".to_string();
        for step in &stage.steps {
            for command in &step.commands {
                let Some(file) = output_file(command).filter(|file| is_archive(file)) else {
                    continue;
                };
                if !step_removes(step, &workdir, &absolute(&workdir, &file)) {
                    hits.with(command.line(), step.instruction, file);
                }
            }
            workdir = next_workdir(&workdir, step);
        }
    }
}

fn copies_context(instruction: &Instruction) -> bool {
    let is_copy = instruction.is("COPY") || instruction.is("ADD");
    is_copy
        && instruction.flag("from").is_none()
        && sources_and_destination(instruction).is_some_and(|(sources, _)| {
            sources.iter().any(|source| source == "." || source == "./")
        })
}

pub fn copy_context_unignored(analysis: &Analysis, hits: &mut Hits) {
    if analysis.has_dockerignore {
        return;
    }
    for stage in &analysis.stages {
        for step in stage
            .steps
            .iter()
            .filter(|step| copies_context(step.instruction))
        {
            hits.at(step.instruction.line, step.instruction);
        }
    }
}

/// Installs driven by a manifest (package.json, requirements.txt, go.mod...).
fn installs_dependencies(step: &Step) -> bool {
    step.commands.iter().any(|command| {
        let operands: Vec<&str> = command.operands().map(|word| word.text.as_str()).collect();
        match (command.program(), operands.as_slice()) {
            (Some("npm"), ["ci", ..] | ["install" | "i"]) => true,
            (Some("yarn"), [] | ["install", ..]) => true,
            (Some("pnpm" | "poetry" | "bundle" | "composer" | "pipenv"), ["install", ..]) => true,
            (Some("go"), ["mod", "download", ..]) => true,
            (Some("cargo"), ["fetch", ..]) => true,
            (Some(program), _) if program.starts_with("pip") => {
                command.has_arg(&["-r", "--requirement"])
            }
            _ => false,
        }
    })
}

pub fn copy_context_before_install(analysis: &Analysis, hits: &mut Hits) {
    for stage in &analysis.stages {
        for (index, step) in stage.steps.iter().enumerate() {
            if !copies_context(step.instruction) {
                continue;
            }
            if let Some(install) = stage.steps[index + 1..]
                .iter()
                .find(|later| installs_dependencies(later))
            {
                let detail = format!(
                    "dependencies are installed on line {}",
                    install.instruction.line
                );
                hits.with(step.instruction.line, step.instruction, detail);
            }
        }
    }
}

const RUNS_IN_A_ROW: usize = 3;

pub fn consecutive_runs(analysis: &Analysis, hits: &mut Hits) {
    for stage in &analysis.stages {
        for group in stage
            .steps
            .chunk_by(|a, b| a.instruction.is("RUN") == b.instruction.is("RUN"))
        {
            if group[0].instruction.is("RUN") && group.len() >= RUNS_IN_A_ROW {
                let last = group[group.len() - 1].instruction.line;
                let detail = format!(
                    "{} RUN instructions in a row, lines {}-{last}",
                    group.len(),
                    group[0].instruction.line
                );
                hits.with(group[0].instruction.line, group[0].instruction, detail);
            }
        }
    }
}
