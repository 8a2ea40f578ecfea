//! Checks on the stage graph: base images, stage names and references, USER.

use crate::lint::model::{Analysis, Stage};
use crate::lint::rules::Hits;

/// Whether `name` refers to a stage before `index`.
fn earlier_stage(analysis: &Analysis, index: usize, name: &str) -> bool {
    analysis.stages[..index]
        .iter()
        .any(|stage| stage.named(name))
}

pub fn unpinned_base(analysis: &Analysis, hits: &mut Hits) {
    for stage in &analysis.stages {
        let base = stage.base.as_str();
        let refers_to_stage = analysis.stages.iter().any(|other| other.named(base));
        if base.eq_ignore_ascii_case("scratch")
            || base.contains('$')
            || refers_to_stage
            || base.contains('@')
        {
            continue;
        }
        let name = base.rsplit('/').next().unwrap_or(base);
        match name.split_once(':') {
            None => hits.with(
                stage.from.line,
                stage.from,
                format!("{base} has no tag, which means :latest"),
            ),
            Some((_, "latest")) => {
                hits.with(stage.from.line, stage.from, format!("{base} uses :latest"))
            }
            Some(_) => {}
        }
    }
}

pub fn runs_as_root(analysis: &Analysis, hits: &mut Hits) {
    let last_user = analysis.final_chain().find_map(|stage| {
        stage
            .steps
            .iter()
            .rev()
            .find(|step| step.instruction.is("USER"))
    });
    match last_user {
        None => {
            let from = analysis.final_stage().from;
            hits.with(from.line, from, "no USER in the final stage");
        }
        Some(step) => {
            let user = step.instruction.args.text.trim();
            let name = user.split(':').next().unwrap_or(user);
            if name == "root" || name == "0" {
                hits.with(
                    step.instruction.line,
                    step.instruction,
                    format!("USER {user}"),
                );
            }
        }
    }
}

/// A bare word (no registry, tag or digest) is meant as a stage name.
fn looks_like_stage_name(reference: &str) -> bool {
    !reference.contains([':', '/', '@', '.', '$'])
}

pub fn copy_from_unknown(analysis: &Analysis, hits: &mut Hits) {
    for stage in &analysis.stages {
        for step in &stage.steps {
            let Some(source) = step.instruction.flag("from") else {
                continue;
            };
            let problem = if let Ok(index) = source.parse::<usize>() {
                (index >= stage.index)
                    .then(|| format!("stage index {index} is not before this stage"))
            } else if earlier_stage(analysis, stage.index, source) {
                None
            } else if analysis.stages[stage.index..]
                .iter()
                .any(|later| later.named(source))
            {
                Some(format!("stage {source:?} is this one or comes later"))
            } else if looks_like_stage_name(source) {
                Some(format!(
                    "no stage is named {source:?} (Docker would pull an image of that name)"
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                hits.with(step.instruction.line, step.instruction, problem);
            }
        }
    }
}

pub fn duplicate_stage_name(analysis: &Analysis, hits: &mut Hits) {
    for stage in &analysis.stages {
        let Some(alias) = &stage.alias else { continue };
        if let Some(first) = analysis.stages[..stage.index]
            .iter()
            .find(|other| other.named(alias))
        {
            let detail = format!("{alias:?} is already the stage on line {}", first.from.line);
            hits.with(stage.from.line, stage.from, detail);
        }
    }
}

pub fn from_later_stage(analysis: &Analysis, hits: &mut Hits) {
    for stage in &analysis.stages {
        let later = |other: &&Stage| other.index >= stage.index && other.named(&stage.base);
        if !earlier_stage(analysis, stage.index, &stage.base)
            && analysis.stages.iter().any(|other| later(&other))
        {
            hits.with(
                stage.from.line,
                stage.from,
                format!("stage {:?}", stage.base),
            );
        }
    }
}
