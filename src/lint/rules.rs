//! The rule table: every check carries its id, severity, reason and fix here,
//! in one place, so output and docs/lint.md cannot drift apart.

use crate::cli::Severity;

use super::checks::{commands, layers, metadata, packages, stages};
use super::instruction::Instruction;
use super::model::Analysis;

/// Where a rule matched; the rule supplies the rest of the finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub line: usize,
    pub keyword: String,
    pub detail: Option<String>,
}

#[derive(Debug, Default)]
pub struct Hits(pub Vec<Hit>);

impl Hits {
    pub fn at(&mut self, line: usize, instruction: &Instruction) {
        self.push(line, instruction, None);
    }

    pub fn with(&mut self, line: usize, instruction: &Instruction, detail: impl Into<String>) {
        self.push(line, instruction, Some(detail.into()));
    }

    fn push(&mut self, line: usize, instruction: &Instruction, detail: Option<String>) {
        self.0.push(Hit {
            line,
            keyword: instruction.keyword.clone(),
            detail,
        });
    }
}

pub type Check = fn(&Analysis, &mut Hits);

pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub reason: &'static str,
    pub fix: &'static str,
    pub check: Check,
}

use Severity::{Error, Info, Warning};

pub static RULES: &[Rule] = &[
    Rule {
        id: "RS001",
        severity: Warning,
        reason: "shell-form CMD/ENTRYPOINT runs under /bin/sh -c, which does not forward SIGTERM to the app",
        fix: "use the exec form: CMD [\"executable\", \"arg\"]",
        check: commands::shell_form_command,
    },
    Rule {
        id: "RS002",
        severity: Error,
        reason: "looks like exec form but is not a JSON array of strings, so Docker runs it as a shell command",
        fix: "use double quotes and commas: [\"executable\", \"arg\"]",
        check: commands::broken_exec_form,
    },
    Rule {
        id: "RS003",
        severity: Warning,
        reason: "more than one CMD or ENTRYPOINT in a stage: only the last one counts",
        fix: "keep a single CMD and a single ENTRYPOINT per stage",
        check: commands::repeated_command,
    },
    Rule {
        id: "RS004",
        severity: Warning,
        reason: "base image is not pinned: the build changes whenever the tag moves",
        fix: "pin a version tag or digest: FROM debian:12.5-slim or FROM image@sha256:DIGEST",
        check: stages::unpinned_base,
    },
    Rule {
        id: "RS005",
        severity: Warning,
        reason: "the final image runs as root",
        fix: "create an unprivileged user and end with USER app (or a numeric uid)",
        check: stages::runs_as_root,
    },
    Rule {
        id: "RS006",
        severity: Warning,
        reason: "ADD of a local file that is not an archive: COPY does the same with no surprises",
        fix: "use COPY; keep ADD for auto-extracting local tar archives",
        check: layers::add_instead_of_copy,
    },
    Rule {
        id: "RS007",
        severity: Warning,
        reason: "ADD of a URL leaves the download in its own layer, unverified and never removable",
        fix: "download in a RUN that also unpacks and deletes it, or use ADD --checksum=sha256:HASH",
        check: layers::add_url,
    },
    Rule {
        id: "RS008",
        severity: Warning,
        reason: "apt-get update in a RUN without install: its cache layer goes stale and later installs use old lists",
        fix: "RUN apt-get update && apt-get install -y --no-install-recommends pkg && rm -rf /var/lib/apt/lists/*",
        check: packages::apt_update_alone,
    },
    Rule {
        id: "RS009",
        severity: Error,
        reason: "apt-get install without -y waits for a confirmation that never comes in a build",
        fix: "add -y (apt-get install -y ...)",
        check: packages::apt_install_without_yes,
    },
    Rule {
        id: "RS010",
        severity: Warning,
        reason: "apt-get install without --no-install-recommends pulls in recommended packages you did not ask for",
        fix: "add --no-install-recommends and list what you need explicitly",
        check: packages::apt_install_recommends,
    },
    Rule {
        id: "RS011",
        severity: Warning,
        reason: "apt lists are not removed in the same RUN, so they stay in the image",
        fix: "end the RUN with && rm -rf /var/lib/apt/lists/*",
        check: packages::apt_lists_kept,
    },
    Rule {
        id: "RS012",
        severity: Warning,
        reason: "upgrading all packages in a build makes it unreproducible and bloats the layer",
        fix: "use a newer base image instead of apt-get upgrade / apk upgrade",
        check: packages::system_upgrade,
    },
    Rule {
        id: "RS013",
        severity: Info,
        reason: "apt is meant for people; its CLI is not stable for scripts",
        fix: "use apt-get (or apt-cache)",
        check: packages::apt_in_script,
    },
    Rule {
        id: "RS014",
        severity: Warning,
        reason: "apk add without --no-cache keeps the package index in the image",
        fix: "use apk add --no-cache pkg",
        check: packages::apk_cache_kept,
    },
    Rule {
        id: "RS015",
        severity: Warning,
        reason: "pip install keeps its download cache in the image",
        fix: "add --no-cache-dir (or set ENV PIP_NO_CACHE_DIR=1, or RUN --mount=type=cache,target=/root/.cache/pip)",
        check: packages::pip_cache_kept,
    },
    Rule {
        id: "RS016",
        severity: Warning,
        reason: "npm install resolves versions anew instead of following the lockfile",
        fix: "use npm ci (add --omit=dev for production images)",
        check: packages::npm_install,
    },
    Rule {
        id: "RS017",
        severity: Info,
        reason: "the npm cache is kept in the image",
        fix: "end the RUN with && npm cache clean --force, or use RUN --mount=type=cache,target=/root/.npm",
        check: packages::npm_cache_kept,
    },
    Rule {
        id: "RS018",
        severity: Warning,
        reason: "a build toolchain is installed in the final image",
        fix: "build in an earlier stage and COPY --from=build only the results into a slim final stage",
        check: packages::toolchain_in_final,
    },
    Rule {
        id: "RS019",
        severity: Warning,
        reason: "deleting files an earlier layer added saves no space: the earlier layer still holds them",
        fix: "remove files in the same RUN that creates them, or never add them (.dockerignore, multi-stage)",
        check: layers::removes_earlier_layer,
    },
    Rule {
        id: "RS020",
        severity: Warning,
        reason: "a downloaded archive is not removed in the same RUN, so it stays in the layer",
        fix: "rm the archive in the same RUN, or stream it: curl -fsSL url | tar -xz",
        check: layers::download_kept,
    },
    Rule {
        id: "RS021",
        severity: Warning,
        reason: "piping a download straight into a shell runs unverified code",
        fix: "download to a file, verify its checksum, then run it",
        check: commands::curl_pipe_shell,
    },
    Rule {
        id: "RS022",
        severity: Error,
        reason: "sudo in a build: RUN already runs as the current USER, and sudo leaves setuid baggage",
        fix: "switch with USER root before the RUN and back afterwards",
        check: commands::sudo,
    },
    Rule {
        id: "RS023",
        severity: Warning,
        reason: "RUN cd changes directory for this RUN only",
        fix: "use WORKDIR /path",
        check: commands::run_cd,
    },
    Rule {
        id: "RS024",
        severity: Error,
        reason: "relative WORKDIR depends on every earlier WORKDIR and on the base image",
        fix: "use an absolute path: WORKDIR /app",
        check: metadata::relative_workdir,
    },
    Rule {
        id: "RS025",
        severity: Error,
        reason: "EXPOSE takes container ports only",
        fix: "EXPOSE 80 (or 80/udp); publish host ports at run time with docker run -p 8080:80",
        check: metadata::bad_expose,
    },
    Rule {
        id: "RS026",
        severity: Warning,
        reason: "MAINTAINER is deprecated",
        fix: "use LABEL org.opencontainers.image.authors=\"name <email>\"",
        check: metadata::maintainer,
    },
    Rule {
        id: "RS027",
        severity: Warning,
        reason: "copies the whole build context but there is no .dockerignore next to the Dockerfile",
        fix: "add a .dockerignore (.git, node_modules, build output, secrets) or copy only what is needed",
        check: layers::copy_context_unignored,
    },
    Rule {
        id: "RS028",
        severity: Info,
        reason: "the whole context is copied before dependencies are installed, so any source change reinstalls them",
        fix: "COPY the dependency manifests first, install, then COPY the rest",
        check: layers::copy_context_before_install,
    },
    Rule {
        id: "RS029",
        severity: Error,
        reason: "COPY --from names no earlier stage",
        fix: "use the name of an earlier FROM ... AS name, or a full image reference with a tag",
        check: stages::copy_from_unknown,
    },
    Rule {
        id: "RS030",
        severity: Error,
        reason: "two stages have the same name",
        fix: "give every FROM ... AS a unique name",
        check: stages::duplicate_stage_name,
    },
    Rule {
        id: "RS031",
        severity: Error,
        reason: "FROM names a stage defined later (or itself), which Docker will treat as an image to pull",
        fix: "move the stage it depends on above this one",
        check: stages::from_later_stage,
    },
    Rule {
        id: "RS032",
        severity: Info,
        reason: "consecutive RUN instructions each add a layer",
        fix: "join related commands with && in one RUN (or use a heredoc)",
        check: layers::consecutive_runs,
    },
    Rule {
        id: "RS033",
        severity: Info,
        reason: "the final image exposes a port but has no HEALTHCHECK",
        fix: "add HEALTHCHECK CMD [\"/app/healthcheck\"] (or HEALTHCHECK NONE to say it is deliberate)",
        check: metadata::missing_healthcheck,
    },
    Rule {
        id: "RS034",
        severity: Warning,
        reason: "a secret-looking name in ENV/ARG: its value is stored in the image history",
        fix: "pass secrets with RUN --mount=type=secret, or name a file path (e.g. DB_PASSWORD_FILE)",
        check: metadata::secret_in_env,
    },
];

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_in_order() {
        for (index, rule) in RULES.iter().enumerate() {
            assert_eq!(rule.id, format!("RS{:03}", index + 1));
            assert!(
                !rule.reason.ends_with('.') && !rule.fix.ends_with('.'),
                "{}",
                rule.id
            );
        }
        assert!(RULES.len() >= 20);
    }

    #[test]
    fn docs_list_every_rule_with_its_severity() {
        let docs = include_str!("../../docs/lint.md");
        for rule in RULES {
            let severity = serde_json::to_value(rule.severity).unwrap();
            let row = format!(
                "| {} | {} | {} |",
                rule.id,
                severity.as_str().unwrap(),
                rule.reason
            );
            assert!(docs.contains(&row), "docs/lint.md lacks {row}");
        }
    }
}
