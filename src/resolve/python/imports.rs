//! The modules a Python file can import, read from its tokens: `import`
//! and `from … import` statements anywhere in the file, and
//! `importlib.import_module` / `__import__` calls whose module is a string
//! literal.

use super::lexer::{tokenize, Token};

/// One import, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The leading dots of a relative import; 0 for an absolute one.
    pub level: usize,
    /// The module, dotted; empty for `from . import x`.
    pub module: String,
    /// What `from module import` names: each may be a submodule. Empty for
    /// `import a.b` and for `from a import *`.
    pub names: Vec<String>,
}

impl Import {
    fn absolute(module: &str) -> Import {
        Import {
            level: 0,
            module: module.to_string(),
            names: Vec::new(),
        }
    }
}

/// The imports of the Python source `source`, in order of appearance.
/// `from __future__ import …` is left out: it imports nothing at run time.
pub fn imports(source: &str) -> Vec<Import> {
    let tokens = tokenize(source);
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        import_module_aliases: Vec::new(),
        found: Vec::new(),
    };
    parser.run();
    parser.found
}

/// Whether `name` is a dotted Python name: `a`, `a.b_2`, `café.x`.
pub fn is_module_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                && chars.all(|c| c == '_' || c.is_alphanumeric())
        })
}

struct Parser<'t, 's> {
    tokens: &'t [Token<'s>],
    at: usize,
    /// Local names for `importlib.import_module` (`from importlib import import_module as im`).
    import_module_aliases: Vec<&'s str>,
    found: Vec<Import>,
}

impl<'s> Parser<'_, 's> {
    fn peek(&self, ahead: usize) -> Option<&Token<'s>> {
        self.tokens.get(self.at + ahead)
    }

    fn eat_op(&mut self, op: u8) -> bool {
        let matched = self.peek(0) == Some(&Token::Op(op));
        if matched {
            self.at += 1;
        }
        matched
    }

    fn eat_name(&mut self, name: &str) -> bool {
        let matched = self.peek(0) == Some(&Token::Name(name));
        if matched {
            self.at += 1;
        }
        matched
    }

    /// A name that is not one of the keywords an import statement uses.
    fn identifier(&mut self) -> Option<&'s str> {
        match self.peek(0) {
            Some(&Token::Name(name)) if !matches!(name, "import" | "from" | "as") => {
                self.at += 1;
                Some(name)
            }
            _ => None,
        }
    }

    fn dotted_name(&mut self) -> Option<String> {
        let mut dotted = self.identifier()?.to_string();
        while self.peek(0) == Some(&Token::Op(b'.')) {
            let Some(&Token::Name(part)) = self.peek(1) else {
                break;
            };
            self.at += 2;
            dotted.push('.');
            dotted.push_str(part);
        }
        Some(dotted)
    }

    fn run(&mut self) {
        while let Some(token) = self.peek(0) {
            match *token {
                // `import` and `from` are hard keywords: outside strings and
                // comments they can only start these statements (`from` also
                // appears in `yield from` and `raise … from`, which
                // `after_from` tells apart).
                Token::Name("import") => {
                    self.at += 1;
                    self.after_import();
                }
                Token::Name("from") => {
                    let start = self.at;
                    self.at += 1;
                    if !self.after_from() {
                        self.at = start + 1;
                    }
                }
                Token::Name(name)
                    if self.peek(1) == Some(&Token::Op(b'('))
                        && (name == "__import__"
                            || name == "import_module"
                            || self.import_module_aliases.contains(&name)) =>
                {
                    self.at += 2;
                    self.dynamic_import(name == "__import__");
                }
                _ => self.at += 1,
            }
        }
    }

    /// `a.b [as c], d …` after `import`.
    fn after_import(&mut self) {
        while let Some(module) = self.dotted_name() {
            self.found.push(Import::absolute(&module));
            if self.eat_name("as") {
                self.identifier();
            }
            if !self.eat_op(b',') {
                break;
            }
        }
    }

    /// `[dots] [module] import names` after `from`; false when it is not an
    /// import (`yield from x`).
    fn after_from(&mut self) -> bool {
        let mut level = 0;
        while self.eat_op(b'.') {
            level += 1;
        }
        let module = self.dotted_name().unwrap_or_default();
        if (level == 0 && module.is_empty()) || !self.eat_name("import") {
            return false;
        }
        let parenthesized = self.eat_op(b'(');
        let mut names = Vec::new();
        if !self.eat_op(b'*') {
            while let Some(name) = self.identifier() {
                let mut local = name;
                if self.eat_name("as") {
                    local = self.identifier().unwrap_or(name);
                }
                if module == "importlib" && name == "import_module" {
                    self.import_module_aliases.push(local);
                }
                names.push(name.to_string());
                if !self.eat_op(b',') {
                    break;
                }
            }
        }
        if parenthesized {
            self.eat_op(b')');
        }
        if level > 0 || module != "__future__" {
            self.found.push(Import {
                level,
                module,
                names,
            });
        }
        true
    }

    /// Adjacent plain string literals, joined (`"a" "b"` is `"ab"`).
    fn plain_string(&mut self) -> Option<String> {
        let mut joined: Option<String> = None;
        while let Some(Token::Str { plain }) = self.peek(0) {
            let part = plain.as_deref()?;
            joined.get_or_insert_with(String::new).push_str(part);
            self.at += 1;
        }
        joined
    }

    /// The arguments of `__import__(` or `import_module(`, after the `(`.
    fn dynamic_import(&mut self, dunder: bool) {
        let Some(name) = self.plain_string() else {
            return;
        };
        let package = if self.eat_op(b',') {
            if self.eat_name("package") && !self.eat_op(b'=') {
                return;
            }
            self.package_argument()
        } else {
            Package::Unknown
        };
        let level = name.bytes().take_while(|&b| b == b'.').count();
        let rest = &name[level..];
        if level == 0 {
            if is_module_name(rest) {
                self.found.push(Import::absolute(rest));
            }
            return;
        }
        if dunder || !(rest.is_empty() || is_module_name(rest)) {
            return;
        }
        match package {
            Package::Named(package) => {
                // `.x` against `a.b` is `a.b.x`; `..x` is `a.x`.
                let mut parts: Vec<&str> = package.split('.').collect();
                if level > parts.len() || !is_module_name(&package) {
                    return;
                }
                parts.truncate(parts.len() + 1 - level);
                if !rest.is_empty() {
                    parts.push(rest);
                }
                self.found.push(Import::absolute(&parts.join(".")));
            }
            Package::Own if !rest.is_empty() => self.found.push(Import {
                level,
                module: rest.to_string(),
                names: Vec::new(),
            }),
            Package::Own | Package::Unknown => {}
        }
    }

    /// The `package` argument of `import_module`.
    fn package_argument(&mut self) -> Package {
        if let Some(package) = self.plain_string() {
            return Package::Named(package);
        }
        // `__name__` is the package itself only in an `__init__.py`;
        // elsewhere the file's own directory is still the best guess.
        if self.eat_name("__package__") || self.eat_name("__name__") {
            return Package::Own;
        }
        Package::Unknown
    }
}

enum Package {
    Named(String),
    /// The importing file's own package.
    Own,
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn absolute(module: &str, names: &[&str]) -> Import {
        Import {
            level: 0,
            module: module.to_string(),
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    fn relative(level: usize, module: &str, names: &[&str]) -> Import {
        Import {
            level,
            ..absolute(module, names)
        }
    }

    /// The imported modules, dotted, with relative ones prefixed by their dots.
    fn modules(source: &str) -> Vec<String> {
        imports(source)
            .iter()
            .map(|i| format!("{}{}", ".".repeat(i.level), i.module))
            .collect()
    }

    #[test]
    fn reads_every_form_of_import_statement() {
        let source = "\
import a.b.c
import d as x, e.f as y
from g.h import i, j
from k import (l,
    m as n,
)
from . import o
from .p import q
from ..r.s import t
from ... import u
from v import *
from __future__ import annotations
def f():
    if True:
        import w
    try:
        import x1
    except ImportError:
        pass
class C:
    import x2
import os; import sys
import aa, \\
    bb
z = 1; from cc import dd
if z: import ee
from ff import (gg)
";
        assert_eq!(
            imports(source),
            vec![
                absolute("a.b.c", &[]),
                absolute("d", &[]),
                absolute("e.f", &[]),
                absolute("g.h", &["i", "j"]),
                absolute("k", &["l", "m"]),
                relative(1, "", &["o"]),
                relative(1, "p", &["q"]),
                relative(2, "r.s", &["t"]),
                relative(3, "", &["u"]),
                absolute("v", &[]),
                absolute("w", &[]),
                absolute("x1", &[]),
                absolute("x2", &[]),
                absolute("os", &[]),
                absolute("sys", &[]),
                absolute("aa", &[]),
                absolute("bb", &[]),
                absolute("cc", &["dd"]),
                absolute("ee", &[]),
                absolute("ff", &["gg"]),
            ]
        );
    }

    #[test]
    fn strings_and_comments_are_not_code() {
        let source = r####"
# import no1
s = "import no2"
s = 'from no3 import x'
s = """
import no4
"""
s = '''from no5 import y'''
s = r"import no6 \" import no7"
s = b"import no8"
s = f"{x} import no9 {y!r:>{width}} import no10"
s = f"{'import no11'}"
s = f"{x["import no12"]}"
s = rb'\' import no13'
s = "escaped \" import no14"
s = "line \
import no15"
s = t"import no16 {x}"
s = U"import no17"
s = Rf"{x} import no18 \{y}"
s = f"\N{BULLET} import no19 {{import no20}}"
s = f"""
import no21 {x:{'>'}10} {d['a']:{w}.{p}f}
"""
s = f'''{f"{f'{x}'}"} import no22'''
s = f"{ {'a': 1}['a'] } import no23"
s = BR"import no24"
import yes1  # import no25
s = 'a' 'import no26' "b"
from yes2 import z
s = rf"\{'"'}"; import yes3
"####;
        assert_eq!(modules(source), ["yes1", "yes2", "yes3"]);
    }

    #[test]
    fn from_in_other_statements_is_not_an_import() {
        let source = "def g():\n    yield from range(3)\n    raise ValueError() from None\n\
                      x = [a for a in b]\nfrom x import y\n";
        assert_eq!(imports(source), vec![absolute("x", &["y"])]);
    }

    #[test]
    fn reads_literal_dynamic_imports() {
        let source = r#"
import importlib
importlib.import_module("dyn.a")
importlib.import_module('.sub', 'pkg.inner')
importlib.import_module('..up', package='pkg.inner')
importlib.import_module(".own", __package__)
importlib.import_module("..parent", package=__name__)
__import__("dyn.b", globals(), locals(), ["x"], 0)
__import__("dyn." "c")
from importlib import import_module as im
im("dyn.d")
import_module("dyn.e")
import_module(name)
importlib.import_module(f"dyn.{x}")
importlib.import_module("dyn.\x41")
__import__(".rel")
importlib.import_module("not a module")
importlib.import_module(".lost", some_package)
def import_module(name): pass
"#;
        assert_eq!(
            imports(source),
            vec![
                absolute("importlib", &[]),
                absolute("dyn.a", &[]),
                absolute("pkg.inner.sub", &[]),
                absolute("pkg.up", &[]),
                relative(1, "own", &[]),
                relative(2, "parent", &[]),
                absolute("dyn.b", &[]),
                absolute("dyn.c", &[]),
                absolute("importlib", &["import_module"]),
                absolute("dyn.d", &[]),
                absolute("dyn.e", &[]),
            ]
        );
    }

    #[test]
    fn survives_broken_and_unusual_text() {
        // An unterminated string ends at its line; the next line is code again.
        let source = "s = 'open\nimport a\ns = f'{x:\nimport b\ns = \"a\\\"\nimport c\n";
        assert_eq!(modules(source), ["a", "b", "c"]);
        // A replacement field may span lines (Python 3.12).
        let source = "s = f'{\n  x  # a comment\n}'; import d\nimport e\n";
        assert_eq!(modules(source), ["d", "e"]);
        // Windows line ends, a continuation across one, a byte order mark, form feeds.
        let source = "\u{feff}import bom\r\nimport d, \\\r\n    e\r\n\x0cimport f\r\n";
        assert_eq!(modules(source), ["bom", "d", "e", "f"]);
        // Lossily decoded Latin-1 and stray bytes.
        let bytes = b"s = '\xe9t\xe9'\n# \xff\xfe\nimport g\n\x00\x01import h\n";
        assert_eq!(modules(&String::from_utf8_lossy(bytes)), ["g", "h"]);
        // Unicode identifiers are names.
        assert_eq!(modules("import café.thé as t\n"), ["café.thé"]);
        // Numbers are not names, and `.5` is not a relative dot.
        assert_eq!(modules("x = 1if y else.5\nimport i\nx = 0x1e-5\n"), ["i"]);

        // No prefix of a tricky file makes the tokenizer panic or loop.
        let tricky = "import a\ns = f'''{x!r:>{w}} \\N{DASH} {{' '}}'''\nr = rb'\\\\'\n\
                      t = f\"{'\\\"'}\"\nu = '\\\nv'\n# é\nfrom .b import (c,\n d)\n";
        for end in (0..=tricky.len()).filter(|&end| tricky.is_char_boundary(end)) {
            imports(&tricky[..end]);
        }
    }

    #[test]
    fn module_names_are_dotted_identifiers() {
        assert!(is_module_name("a.b_2.c"));
        assert!(is_module_name("_private"));
        assert!(is_module_name("café"));
        assert!(!is_module_name(""));
        assert!(!is_module_name("a..b"));
        assert!(!is_module_name("2to3"));
        assert!(!is_module_name("a b"));
        assert!(!is_module_name("a/b"));
        assert!(!is_module_name(".a"));
    }
}
