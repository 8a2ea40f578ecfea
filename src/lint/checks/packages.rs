//! Checks on package managers: apt, apk, yum/dnf, pip, npm.

use super::{all_steps, shipped_steps, step_removes};
use crate::lint::model::{Analysis, Step};
use crate::lint::rules::Hits;
use crate::lint::shell::{Command, Word};

const APT: &[&str] = &["apt-get", "apt"];

/// Options of apt/apk/yum that take a separate value word.
const VALUE_OPTIONS: &[&str] = &[
    "-o",
    "-c",
    "-t",
    "--option",
    "--config-file",
    "--target-release",
    "--virtual",
    "-X",
    "--repository",
    "-p",
    "--root",
];

/// The subcommand (first operand) and the operands after it, skipping option values.
fn subcommand_and_operands(command: &Command) -> Option<(&str, Vec<&Word>)> {
    let mut operands = Vec::new();
    let mut args = command.args().iter();
    while let Some(word) = args.next() {
        if VALUE_OPTIONS.contains(&word.text.as_str()) {
            args.next();
        } else if !word.text.starts_with('-') {
            operands.push(word);
        }
    }
    let (first, rest) = operands.split_first()?;
    Some((first.text.as_str(), rest.to_vec()))
}

fn subcommand(command: &Command) -> Option<&str> {
    subcommand_and_operands(command).map(|(name, _)| name)
}

fn apt_commands<'s>(
    step: &'s Step,
    subcommands: &'s [&'s str],
) -> impl Iterator<Item = &'s Command> + 's {
    step.commands_of(APT)
        .filter(move |command| subcommand(command).is_some_and(|name| subcommands.contains(&name)))
}

/// Short option clusters such as `-qy`.
fn short_cluster(word: &Word) -> Option<&str> {
    word.text
        .strip_prefix('-')
        .filter(|rest| !rest.starts_with('-'))
}

fn assumes_yes(command: &Command) -> bool {
    command.args().iter().any(|word| {
        matches!(
            word.text.as_str(),
            "--yes" | "--assume-yes" | "--force-yes" | "-q=2" | "--quiet=2"
        ) || short_cluster(word)
            .is_some_and(|cluster| cluster.contains('y') || cluster.contains("qq"))
    })
}

pub fn apt_update_alone(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        let installs = apt_commands(
            step,
            &["install", "upgrade", "dist-upgrade", "full-upgrade"],
        )
        .next();
        if let (Some(update), None) = (apt_commands(step, &["update"]).next(), installs) {
            hits.at(update.line(), step.instruction);
        }
    }
}

pub fn apt_install_without_yes(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        for command in apt_commands(step, &["install"]).filter(|command| !assumes_yes(command)) {
            hits.at(command.line(), step.instruction);
        }
    }
}

pub fn apt_install_recommends(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        for command in apt_commands(step, &["install"]) {
            let skips = command.has_arg(&[
                "--no-install-recommends",
                "APT::Install-Recommends=false",
                "APT::Install-Recommends=0",
            ]);
            if !skips {
                hits.at(command.line(), step.instruction);
            }
        }
    }
}

pub fn apt_lists_kept(analysis: &Analysis, hits: &mut Hits) {
    for step in shipped_steps(analysis) {
        let lists = "/var/lib/apt/lists/partial";
        if step.instruction.caches(lists) || step_removes(step, "/", lists) {
            continue;
        }
        let install = apt_commands(step, &["install"]).next();
        if let Some(command) = install.or_else(|| apt_commands(step, &["update"]).next()) {
            hits.at(command.line(), step.instruction);
        }
    }
}

pub fn system_upgrade(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        for command in &step.commands {
            let Some((name, operands)) = subcommand_and_operands(command) else {
                continue;
            };
            let upgrades = match command.program() {
                Some("apt-get" | "apt") => {
                    matches!(name, "upgrade" | "dist-upgrade" | "full-upgrade")
                }
                Some("apk") => name == "upgrade" && operands.is_empty(),
                Some("yum" | "dnf" | "microdnf") => {
                    matches!(name, "upgrade" | "update") && operands.is_empty()
                }
                _ => false,
            };
            if upgrades {
                hits.with(
                    command.line(),
                    step.instruction,
                    format!("{} {name}", command.program().unwrap_or_default()),
                );
            }
        }
    }
}

pub fn apt_in_script(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        for command in step.commands_of(&["apt"]) {
            hits.at(command.line(), step.instruction);
        }
    }
}

pub fn apk_cache_kept(analysis: &Analysis, hits: &mut Hits) {
    for step in shipped_steps(analysis) {
        let cache = "/var/cache/apk/index";
        if step.instruction.caches(cache) || step_removes(step, "/", cache) {
            continue;
        }
        for command in step.commands_of(&["apk"]) {
            if subcommand(command) == Some("add") && !command.has_arg(&["--no-cache"]) {
                hits.at(command.line(), step.instruction);
            }
        }
    }
}

fn is_pip(command: &Command) -> bool {
    let program = command.program().unwrap_or_default();
    let named_pip = program
        .strip_prefix("pip")
        .is_some_and(|version| version.chars().all(|c| c.is_ascii_digit() || c == '.'));
    let module_pip = program.starts_with("python")
        && command
            .args()
            .windows(2)
            .any(|pair| pair[0].text == "-m" && pair[1].text == "pip");
    named_pip || module_pip
}

pub fn pip_cache_kept(analysis: &Analysis, hits: &mut Hits) {
    for stage in analysis.stages.iter().filter(|stage| stage.ships) {
        let mut env_disables_cache = false;
        for step in &stage.steps {
            let instruction = step.instruction;
            if (instruction.is("ENV") || instruction.is("ARG"))
                && instruction.args.text.contains("PIP_NO_CACHE_DIR")
            {
                env_disables_cache = true;
            }
            if env_disables_cache || instruction.caches("/root/.cache/pip") {
                continue;
            }
            for command in step.commands.iter().filter(|command| is_pip(command)) {
                let installs = command.operands().any(|word| word.text == "install");
                let no_cache = command.has_arg(&["--no-cache-dir"])
                    || command
                        .words
                        .iter()
                        .any(|word| word.text.starts_with("PIP_NO_CACHE_DIR="));
                if installs && !no_cache {
                    hits.at(command.line(), instruction);
                }
            }
        }
    }
}

fn npm_subcommand(command: &Command) -> Option<(&str, Vec<&Word>)> {
    subcommand_and_operands(command).filter(|_| command.program() == Some("npm"))
}

pub fn npm_install(analysis: &Analysis, hits: &mut Hits) {
    for (_, step) in all_steps(analysis) {
        for command in &step.commands {
            if let Some(("install" | "i", packages)) = npm_subcommand(command) {
                if packages.is_empty() {
                    hits.at(command.line(), step.instruction);
                }
            }
        }
    }
}

pub fn npm_cache_kept(analysis: &Analysis, hits: &mut Hits) {
    for step in shipped_steps(analysis) {
        let cleans = step
            .commands
            .iter()
            .any(|command| matches!(npm_subcommand(command), Some(("cache", _))));
        if cleans || step.instruction.caches("/root/.npm") {
            continue;
        }
        let install = step
            .commands
            .iter()
            .find(|command| matches!(npm_subcommand(command), Some(("install" | "i" | "ci", _))));
        if let Some(command) = install {
            hits.at(command.line(), step.instruction);
        }
    }
}

/// Package-manager caches a step writes into its layer and does not clean.
pub(super) fn caches_left(step: &Step) -> Vec<&'static str> {
    let apt_lists = apt_commands(step, &["update"]).next().is_some();
    let apk_cache = step.commands_of(&["apk"]).any(|command| {
        matches!(subcommand(command), Some("add" | "update")) && !command.has_arg(&["--no-cache"])
    });
    let pip_cache = step.commands.iter().any(|command| {
        is_pip(command)
            && command.operands().any(|word| word.text == "install")
            && !command.has_arg(&["--no-cache-dir"])
    });
    [
        (apt_lists, "/var/lib/apt/lists"),
        (apk_cache, "/var/cache/apk"),
        (pip_cache, "/root/.cache/pip"),
    ]
    .into_iter()
    .filter(|&(written, path)| written && !step.instruction.caches(path))
    .map(|(_, path)| path)
    .filter(|path| !step_removes(step, "/", &format!("{path}/x")))
    .collect()
}

const TOOLCHAIN: &[&str] = &[
    "gcc",
    "g++",
    "gcc-c++",
    "clang",
    "build-essential",
    "build-base",
    "make",
    "cmake",
    "golang",
    "golang-go",
    "go",
    "cargo",
    "rustc",
    "rust",
];

pub fn toolchain_in_final(analysis: &Analysis, hits: &mut Hits) {
    for step in shipped_steps(analysis) {
        for command in &step.commands {
            let managed = matches!(
                command.program(),
                Some("apt-get" | "apt" | "apk" | "yum" | "dnf" | "microdnf")
            );
            let Some((name, operands)) = subcommand_and_operands(command).filter(|_| managed)
            else {
                continue;
            };
            if name != "install" && name != "add" {
                continue;
            }
            let tools: Vec<&str> = operands
                .iter()
                .map(|word| {
                    word.text
                        .split(['=', '<', '>', '~'])
                        .next()
                        .unwrap_or_default()
                })
                .filter(|package| TOOLCHAIN.contains(package))
                .collect();
            if !tools.is_empty() {
                hits.with(command.line(), step.instruction, tools.join(", "));
            }
        }
    }
}
