//! Where `curl` and `wget` write what they download.

use crate::lint::shell::{basename, Command};

fn url(command: &Command) -> Option<&str> {
    command
        .operands()
        .map(|word| word.text.as_str())
        .find(|text| {
            ["http://", "https://", "ftp://"]
                .iter()
                .any(|scheme| text.starts_with(scheme))
        })
}

fn remote_name(command: &Command) -> Option<String> {
    let url = url(command)?;
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = basename(path);
    (!name.is_empty() && !path.ends_with("//")).then(|| name.to_string())
}

/// The file a curl/wget command writes, as written (relative or absolute);
/// `None` when it writes to stdout.
pub fn output_file(command: &Command) -> Option<String> {
    let args = command.args();
    let value_after = |index: usize| args.get(index + 1).map(|word| word.text.clone());
    let output = match command.program()? {
        "curl" => {
            let mut output = None;
            for (index, word) in args.iter().enumerate() {
                let text = word.text.as_str();
                if text == "--output" {
                    output = value_after(index);
                } else if text == "--remote-name" {
                    output = remote_name(command);
                } else if let Some(cluster) =
                    text.strip_prefix('-').filter(|rest| !rest.starts_with('-'))
                {
                    if let Some(at) = cluster.find('o') {
                        let inline = &cluster[at + 1..];
                        output = if inline.is_empty() {
                            value_after(index)
                        } else {
                            Some(inline.to_string())
                        };
                    } else if cluster.contains('O') {
                        output = remote_name(command);
                    }
                }
            }
            output
        }
        "wget" => {
            let mut output = None;
            let mut directory = None;
            for (index, word) in args.iter().enumerate() {
                let text = word.text.as_str();
                if let Some(value) = text.strip_prefix("--output-document=") {
                    output = Some(value.to_string());
                } else if let Some(value) = text.strip_prefix("--directory-prefix=") {
                    directory = Some(value.to_string());
                } else if text == "-P" {
                    directory = value_after(index);
                } else if let Some(cluster) =
                    text.strip_prefix('-').filter(|rest| !rest.starts_with('-'))
                {
                    if let Some(at) = cluster.find('O') {
                        let inline = &cluster[at + 1..];
                        output = if inline.is_empty() {
                            value_after(index)
                        } else {
                            Some(inline.to_string())
                        };
                    }
                }
            }
            let name = output.or_else(|| remote_name(command))?;
            match directory {
                Some(directory) if !name.starts_with('/') && name != "-" => {
                    Some(format!("{directory}/{name}"))
                }
                _ => Some(name),
            }
        }
        _ => None,
    }?;
    (output != "-").then_some(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::shell::commands;
    use crate::lint::text::Spanned;

    fn output_of(line: &str) -> Option<String> {
        output_file(&commands(&Spanned::new(line, 1))[0])
    }

    #[test]
    fn finds_where_downloads_land() {
        assert_eq!(
            output_of("curl -fsSLo /tmp/go.tgz https://x/go.tgz").as_deref(),
            Some("/tmp/go.tgz")
        );
        assert_eq!(
            output_of("curl -fsSLO https://x/a/go.tgz?raw=1").as_deref(),
            Some("go.tgz")
        );
        assert_eq!(output_of("curl -fsSL https://x/go.tgz"), None);
        assert_eq!(
            output_of("wget -q https://x/node.tar.xz").as_deref(),
            Some("node.tar.xz")
        );
        assert_eq!(output_of("wget -qO- https://x/node.tar.xz"), None);
        assert_eq!(
            output_of("wget -P /opt https://x/n.zip").as_deref(),
            Some("/opt/n.zip")
        );
    }
}
