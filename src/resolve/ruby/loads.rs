//! What a Ruby file loads, read from its tokens: `require`,
//! `require_relative`, `load`, `autoload`, `gem`, and `$LOAD_PATH`
//! additions, wherever they stand (in a method, after `;`, as `x = require
//! 'y'`, with a trailing `if`). A name given as a computation is kept as
//! the literal directory it starts with (`"rdoc/generator/#{name}"`,
//! `File.join('digest', name)`), and as "computed", so that the library's
//! own directory can be kept.

use std::collections::BTreeSet;

use super::lexer::{is_keyword, tokenize, Lexed, Str, Token};

/// Where a name is looked for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// As `require` looks: `./x` and `/x` as paths (from the working
    /// directory), anything else in the load path, then in gems.
    Feature(String),
    /// Relative to the directory of the file that names it.
    Relative(String),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Loads {
    /// `require 'x'`, `require_relative 'x'`, `autoload :X, 'x'`.
    pub requires: BTreeSet<Target>,
    /// `load 'x.rb'`: a file name with its extension, as given, then in the load path.
    pub loads: BTreeSet<Target>,
    /// `gem 'name'`.
    pub gems: BTreeSet<String>,
    /// `$LOAD_PATH.unshift 'dir'`, `$: << File.expand_path('lib', __dir__)`.
    pub lib_dirs: BTreeSet<Target>,
    /// The literal directories computed names start in (load-path relative,
    /// or relative to the file).
    pub computed_dirs: BTreeSet<Target>,
    /// Some `require` names what it loads by a computation.
    pub computed: bool,
    /// Words of `%w[…]` lists: with a computed `require`, likely its names.
    pub words: BTreeSet<String>,
}

/// Hole codes that mean "this file's directory".
const FILE_DIR_CODES: &[&str] = &[
    "__dir__",
    "File.dirname(__FILE__)",
    "File.expand_path(__dir__)",
    "File.expand_path(File.dirname(__FILE__))",
    "File.expand_path(\"..\",__FILE__)",
    "File.expand_path('..',__FILE__)",
];

/// Words a path expression may use and still be computed here.
const PATH_WORDS: &[&str] = &[
    "File",
    "expand_path",
    "join",
    "dirname",
    "absolute_path",
    "realpath",
    "__dir__",
    "__FILE__",
    "freeze",
    "to_s",
];

/// Words that end a command call's arguments (`require 'x' if y`, `def a; require 'x' end`).
const ARGUMENT_ENDS: &[&str] = &[
    "if", "unless", "while", "until", "rescue", "and", "or", "then", "do", "end",
];

pub fn scan(source: &str) -> Loads {
    let tokens = tokenize(source);
    let mut loads = Loads::default();
    for at in 0..tokens.len() {
        match &tokens[at].token {
            Token::Words(words) => loads.words.extend(words.iter().cloned()),
            Token::Word(word) if is_call(&tokens, at) => {
                let args = arguments(&tokens, at + 1);
                let first = args.first().map(|arg| path_expr(arg));
                match (word.as_str(), first) {
                    ("require", Some(expr)) => record_require(expr, false, &mut loads),
                    ("require_relative", Some(expr)) => record_require(expr, true, &mut loads),
                    ("load", Some(PathExpr::Literal(name))) => {
                        loads.loads.insert(Target::Feature(name));
                    }
                    ("load", Some(PathExpr::FromFile(name))) => {
                        loads.loads.insert(Target::Relative(name));
                    }
                    ("autoload", _) => {
                        if let Some(expr) = args.get(1).map(|arg| path_expr(arg)) {
                            record_require(expr, false, &mut loads);
                        }
                    }
                    ("gem", Some(PathExpr::Literal(name))) if is_plain_string(&args[0]) => {
                        loads.gems.insert(name);
                    }
                    _ => {}
                }
            }
            Token::Global(name) if name == "$LOAD_PATH" || name == "$:" => {
                if let Some(dir) = load_path_addition(&tokens, at) {
                    loads.lib_dirs.insert(dir);
                }
            }
            _ => {}
        }
    }
    loads
}

fn record_require(expr: PathExpr, relative: bool, loads: &mut Loads) {
    let place = |name: String, from_file: bool| {
        if relative || from_file {
            Target::Relative(name)
        } else {
            Target::Feature(name)
        }
    };
    match expr {
        PathExpr::Literal(name) => {
            loads.requires.insert(place(name, false));
        }
        PathExpr::FromFile(name) => {
            loads.requires.insert(Target::Relative(name));
        }
        PathExpr::Computed { dirs, from_file } => {
            loads.computed = true;
            loads
                .computed_dirs
                .extend(dirs.into_iter().map(|dir| place(dir, from_file)));
        }
    }
}

fn is_plain_string(arg: &[&Lexed]) -> bool {
    matches!(arg, [Lexed { token: Token::Str(s), .. }] if s.is_plain())
}

/// Whether the word at `at` is a call of that method, not a method
/// definition, another object's method (`YAML.load`), a variable or a key.
fn is_call(tokens: &[Lexed], at: usize) -> bool {
    let Token::Word(word) = &tokens[at].token else {
        return false;
    };
    if !matches!(
        word.as_str(),
        "require" | "require_relative" | "load" | "autoload" | "gem"
    ) {
        return false;
    }
    let before = at.checked_sub(1).map(|i| &tokens[i].token);
    let receiver_ok = match before {
        Some(Token::Punct('.')) => {
            // `Kernel.require 'x'` and `SomeModule.autoload :X, 'x'` load too.
            word == "autoload"
                || matches!(at.checked_sub(2).map(|i| &tokens[i].token),
                            Some(Token::Word(w)) if w == "Kernel")
        }
        Some(Token::Word(w)) => w != "def" && w != "alias" && is_keyword(w) || w == "then",
        Some(Token::Punct(':')) => false,
        _ => true,
    };
    let next_ok = match tokens.get(at + 1).map(|l| &l.token) {
        None | Some(Token::Newline | Token::Label(_)) => false,
        Some(Token::Punct(c)) => *c == '(',
        Some(_) => true,
    };
    receiver_ok && next_ok
}

/// The arguments of the call whose name ends before `start`: up to the
/// matching `)` when parenthesised, else to the end of the statement.
/// Each argument is its tokens, split at top-level commas.
fn arguments(tokens: &[Lexed], start: usize) -> Vec<Vec<&Lexed>> {
    let parenthesised = matches!(tokens.get(start).map(|l| &l.token), Some(Token::Punct('(')));
    let mut args: Vec<Vec<&Lexed>> = vec![Vec::new()];
    let mut depth = 0usize;
    let first = if parenthesised { start + 1 } else { start };
    for lexed in tokens.iter().skip(first) {
        match &lexed.token {
            Token::Punct('(' | '[' | '{') => depth += 1,
            Token::Punct(')' | ']' | '}') if depth == 0 => break,
            Token::Punct(')' | ']' | '}') => depth -= 1,
            Token::Punct(',') if depth == 0 => {
                args.push(Vec::new());
                continue;
            }
            Token::Newline if depth == 0 && !parenthesised => {
                // A line ending in `,` or an operator goes on.
                let continued = match args.last().and_then(|a| a.last()).map(|l| &l.token) {
                    None => args.len() > 1,
                    Some(Token::Punct(c)) => matches!(c, '.' | '+' | '=' | '\\'),
                    Some(_) => false,
                };
                if !continued {
                    break;
                }
                continue;
            }
            Token::Newline => continue,
            Token::Punct(';' | '|' | '&') if depth == 0 && !parenthesised => break,
            Token::Word(w) if depth == 0 && ARGUMENT_ENDS.contains(&w.as_str()) => break,
            _ => {}
        }
        if let Some(arg) = args.last_mut() {
            arg.push(lexed);
        }
    }
    args.retain(|arg| !arg.is_empty());
    args
}

/// What a path argument evaluates to, as far as can be told without running it.
#[derive(Debug, PartialEq, Eq)]
enum PathExpr {
    Literal(String),
    /// Relative to the directory of the file it is in.
    FromFile(String),
    /// Not known: the literal directories it starts in.
    Computed {
        dirs: Vec<String>,
        from_file: bool,
    },
}

fn path_expr(arg: &[&Lexed]) -> PathExpr {
    let strings: Vec<&Str> = arg
        .iter()
        .filter_map(|l| match &l.token {
            Token::Str(s) => Some(s),
            _ => None,
        })
        .collect();
    let words: Vec<&str> = arg
        .iter()
        .filter_map(|l| match &l.token {
            Token::Word(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    let only_path_parts = arg.iter().all(|l| {
        matches!(
            &l.token,
            Token::Str(_) | Token::Punct('.' | '(' | ')' | ',' | '+')
        ) || matches!(&l.token, Token::Word(w) if PATH_WORDS.contains(&w.as_str()))
    });

    // `'x'`, and `'x'` followed by what cannot act on it (`require 'x' end`).
    if let [Lexed {
        token: Token::Str(string),
        ..
    }, rest @ ..] = arg
    {
        let operated_on = matches!(
            rest.first().map(|l| &l.token),
            Some(Token::Punct('.' | '+' | '%' | '[' | '*'))
        );
        if string.is_plain() && !operated_on {
            return PathExpr::Literal(string.text.clone());
        }
    }
    // `"#{__dir__}/x"`.
    if let [string] = strings.as_slice() {
        if arg.len() == 1 || (only_path_parts && words.iter().all(|w| *w == "freeze")) {
            if string.is_plain() {
                return PathExpr::Literal(string.text.clone());
            }
            if let Some(rest) = string.text.strip_prefix('\0') {
                let code: String = string.holes[0].split_whitespace().collect();
                if FILE_DIR_CODES.contains(&code.as_str()) {
                    let rest = rest.trim_start_matches('/').to_string();
                    if !rest.contains('\0') {
                        return PathExpr::FromFile(rest);
                    }
                    return computed(
                        &[&Str {
                            text: rest,
                            holes: string.holes[1..].to_vec(),
                        }],
                        true,
                    );
                }
            }
        }
    }

    // `File.expand_path('../x', __FILE__)`, `File.join(__dir__, 'x')`, `File.join('a', 'b')`.
    let from_dir =
        words.contains(&"__dir__") || (words.contains(&"__FILE__") && words.contains(&"dirname"));
    let from_file_path = !from_dir
        && words.contains(&"__FILE__")
        && (words.contains(&"expand_path") || words.contains(&"absolute_path"));
    if only_path_parts && !strings.is_empty() && strings.iter().all(|s| s.is_plain()) {
        let joined = strings
            .iter()
            .map(|s| s.text.trim_matches('/'))
            .collect::<Vec<_>>()
            .join("/");
        if from_dir {
            return PathExpr::FromFile(joined);
        }
        if from_file_path {
            // Relative to the file's own path: the first `..` leaves the file.
            if let Some(rest) = joined.strip_prefix("..") {
                return PathExpr::FromFile(rest.trim_start_matches('/').to_string());
            }
        } else if words.contains(&"join") && !words.contains(&"expand_path") {
            return PathExpr::Literal(joined);
        }
    }
    computed(&strings, from_dir || from_file_path)
}

/// The directories a computed name's literal parts point into:
/// `"rdoc/generator/#{x}"` → `rdoc/generator`; `File.join('digest', x)` → `digest`.
fn computed(strings: &[&Str], from_file: bool) -> PathExpr {
    let mut dirs = Vec::new();
    for string in strings {
        let prefix = string.literal_prefix();
        let dir = match prefix.rfind('/') {
            Some(slash) => &prefix[..slash],
            None if string.is_plain() => prefix,
            None => "",
        };
        let dir = dir.trim_start_matches("./").trim_matches('/');
        let path_like = dir
            .chars()
            .all(|c| c.is_alphanumeric() || "_-/.".contains(c));
        if !dir.is_empty() && path_like && !dir.starts_with('.') {
            dirs.push(dir.to_string());
        }
    }
    PathExpr::Computed { dirs, from_file }
}

/// `$LOAD_PATH.unshift x`, `$:.push(x)`, `$: << x`, `$LOAD_PATH.insert(0, x)`.
fn load_path_addition(tokens: &[Lexed], at: usize) -> Option<Target> {
    let token = |i: usize| tokens.get(i).map(|l| &l.token);
    let (args_at, skip) = match (token(at + 1), token(at + 2)) {
        (Some(Token::Punct('.')), Some(Token::Word(method))) => match method.as_str() {
            "unshift" | "push" | "prepend" | "append" | "<<" => (at + 3, 0),
            "insert" => (at + 3, 1),
            _ => return None,
        },
        (Some(Token::Punct('<')), Some(Token::Punct('<'))) => (at + 3, 0),
        _ => return None,
    };
    let args = arguments(tokens, args_at);
    match path_expr(args.get(skip)?) {
        PathExpr::Literal(dir) => Some(Target::Feature(dir)),
        PathExpr::FromFile(dir) => Some(Target::Relative(dir)),
        PathExpr::Computed { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(name: &str) -> Target {
        Target::Feature(name.into())
    }

    fn relative(name: &str) -> Target {
        Target::Relative(name.into())
    }

    #[test]
    fn every_form_of_loading_is_found_wherever_it_stands() {
        let source = r##"#!/usr/bin/env ruby
require 'socket'
require "json"
require('digest/sha2')
require_relative 'lib/helpers'
require_relative "../shared/util.rb"
load 'tasks/setup.rb'
autoload :CSV, 'csv'
Foo.autoload(:Bar, "foo/bar")
gem 'rack', '>= 2'
Kernel.require 'kernel_form'
handlers = { json: -> { require 'lazy/inline'; 1 } }
x = require('assigned') if ENV['X']
def handler; require 'in_method' end
begin; require 'optional'; rescue LoadError; end
require File.expand_path('lib/expanded', __dir__)
require File.expand_path('../file_based', __FILE__)
require File.join(File.dirname(__FILE__), 'joined', 'parts')
require File.join('plain', 'join')
require "#{__dir__}/interpolated_dir"
require 'with_modifier' unless defined?(X)
"##;
        let loads = scan(source);
        assert_eq!(
            loads.requires,
            [
                feature("assigned"),
                feature("csv"),
                feature("digest/sha2"),
                feature("foo/bar"),
                feature("in_method"),
                feature("json"),
                feature("kernel_form"),
                feature("lazy/inline"),
                feature("optional"),
                feature("plain/join"),
                feature("socket"),
                feature("with_modifier"),
                relative("../shared/util.rb"),
                relative("file_based"),
                relative("interpolated_dir"),
                relative("joined/parts"),
                relative("lib/expanded"),
                relative("lib/helpers"),
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(
            loads.loads,
            [feature("tasks/setup.rb")].into_iter().collect()
        );
        assert_eq!(loads.gems, ["rack".to_string()].into_iter().collect());
        assert!(!loads.computed);
    }

    #[test]
    fn names_in_strings_comments_docs_and_other_methods_do_not_count() {
        let source = r##"
# require 'commented'
puts "require 'in_string'"
msg = 'require "in_single"'
text = <<~DOC
  require 'in_heredoc'
DOC
=begin
require 'in_begin_block'
=end
YAML.load(data)
JSON.load('not_a_file')
config[:require] = 'not_this'
opts = { require: 'nor_this' }
def require(name) = super
r = %q(require 'in_percent')
pattern = /require 'in_regexp'/
gem_name = 'x'
__END__
require 'after_end'
"##;
        let loads = scan(source);
        assert_eq!(loads, Loads::default(), "{loads:?}");
    }

    #[test]
    fn computed_names_keep_their_literal_directories() {
        let loads = scan(
            r##"
require "rdoc/generator/#{name}"
require File.join('digest', name.to_s.downcase)
require lib
autoload :SortedSet, "#{__dir__}/set/sorted_set"
require_relative "plugins/#{kind}"
%w[json set].each { |l| require l }
"##,
        );
        assert!(loads.computed);
        assert_eq!(
            loads.computed_dirs,
            [
                feature("digest"),
                feature("rdoc/generator"),
                relative("plugins")
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(
            loads.requires,
            [relative("set/sorted_set")].into_iter().collect()
        );
        assert_eq!(
            loads.words,
            ["json".to_string(), "set".to_string()]
                .into_iter()
                .collect()
        );
    }

    #[test]
    fn load_path_additions_are_found() {
        let loads = scan(
            r##"
$LOAD_PATH.unshift File.expand_path('lib', __dir__)
$:.push('/opt/app/lib')
$: << File.join(__dir__, 'vendor')
$LOAD_PATH.unshift(*Dir.glob('x/*'))
"##,
        );
        assert_eq!(
            loads.lib_dirs,
            [feature("/opt/app/lib"), relative("lib"), relative("vendor")]
                .into_iter()
                .collect()
        );
    }
}
