//! What an importer builds: sidecars as ordered TOML keys with their comments, and the
//! warnings; then written out as readable TOML, one `[[sidecar]]` per process, each after
//! the sidecars it depends on.

use super::{Format, Warning, error_at};
use crate::config::ConfigError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use toml::Value;

pub(super) struct Item {
    comments: Vec<String>,
    key: String,
    value: Value,
}

pub(super) struct Sidecar {
    pub name: String,
    /// Where it is defined, for warnings.
    pub file: PathBuf,
    pub line: usize,
    comments: Vec<String>,
    items: Vec<Item>,
    pub env: Vec<(String, String)>,
    env_comments: Vec<String>,
    /// Names and the line that named them.
    pub depends_on: Vec<(String, usize)>,
    tables: Vec<(&'static str, Vec<Item>)>,
    warnings: Vec<Warning>,
}

impl Sidecar {
    pub fn new(name: &str, file: &Path, line: usize) -> Sidecar {
        Sidecar {
            name: name.to_string(),
            file: file.to_path_buf(),
            line,
            comments: Vec::new(),
            items: Vec::new(),
            env: Vec::new(),
            env_comments: Vec::new(),
            depends_on: Vec::new(),
            tables: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn slot(&mut self, table: Option<&'static str>) -> &mut Vec<Item> {
        match table {
            None => &mut self.items,
            Some(t) => {
                let at = match self.tables.iter().position(|(n, _)| *n == t) {
                    Some(at) => at,
                    None => {
                        self.tables.push((t, Vec::new()));
                        self.tables.len() - 1
                    }
                };
                &mut self.tables[at].1
            }
        }
    }

    fn put(&mut self, table: Option<&'static str>, key: &str, value: Value, comment: Option<String>) {
        let slot = self.slot(table);
        slot.retain(|i| i.key != key);
        slot.push(Item { comments: comment.into_iter().collect(), key: key.to_string(), value });
    }

    /// A sidecar named after a foreign process; a name sidetop does not accept is
    /// changed (and warned about).
    pub fn named(raw: &str, file: &Path, line: usize) -> Sidecar {
        let name = sidecar_name(raw);
        let mut s = Sidecar::new(&name, file, line);
        if name != raw {
            s.approx_note(
                line,
                &format!("named {name:?}: {raw:?} has characters a sidetop name cannot have"),
            );
        }
        s
    }

    /// An exact mapping.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.put(None, key, value.into(), None);
    }

    pub fn set_in(&mut self, table: &'static str, key: &str, value: impl Into<Value>) {
        self.put(Some(table), key, value.into(), None);
    }

    /// A new value for a key already set, keeping its comments.
    pub fn replace(&mut self, key: &str, value: impl Into<Value>) {
        if let Some(item) = self.items.iter_mut().find(|i| i.key == key) {
            item.value = value.into();
        }
    }

    /// The value of a top-level key.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.items.iter().find(|i| i.key == key).map(|i| &i.value)
    }

    pub fn has(&self, table: Option<&'static str>, key: &str) -> bool {
        match table {
            None => self.items.iter().any(|i| i.key == key),
            Some(t) => self.tables.iter().any(|(n, items)| *n == t && items.iter().any(|i| i.key == key)),
        }
    }

    /// A mapping that is close but not the same: commented and warned about.
    pub fn approx(
        &mut self,
        table: Option<&'static str>,
        key: &str,
        value: impl Into<Value>,
        line: usize,
        why: &str,
    ) {
        self.put(table, key, value.into(), Some(format!("approximated: {why}")));
        self.warn(line, format!("approximated: {why}"));
    }

    /// An approximation that is not one key (a difference in behaviour), noted at the top.
    pub fn approx_note(&mut self, line: usize, why: &str) {
        self.comments.push(format!("approximated: {why}"));
        self.warn(line, format!("approximated: {why}"));
    }

    /// A setting with no equivalent: a comment and a warning.
    pub fn skip(&mut self, line: usize, why: &str) {
        self.comments.push(format!("not imported: {why}"));
        self.warn(line, format!("not imported: {why}"));
    }

    /// A plain comment (where a value came from).
    pub fn note(&mut self, text: &str) {
        self.comments.push(text.to_string());
    }

    pub fn env_note(&mut self, text: &str) {
        self.env_comments.push(text.to_string());
    }

    fn warn(&mut self, line: usize, message: String) {
        let message = format!("{}: {message}", self.name);
        self.warnings.push(Warning { file: self.file.clone(), line, message });
    }

    /// Sets a variable, replacing an earlier value of it.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// A copy under another name (replicas, instances, numprocs).
    pub fn renamed(&self, name: &str) -> Sidecar {
        let clone = |items: &Vec<Item>| {
            items
                .iter()
                .map(|i| Item { comments: i.comments.clone(), key: i.key.clone(), value: i.value.clone() })
                .collect()
        };
        Sidecar {
            name: name.to_string(),
            file: self.file.clone(),
            line: self.line,
            comments: self.comments.clone(),
            items: clone(&self.items),
            env: self.env.clone(),
            env_comments: self.env_comments.clone(),
            depends_on: self.depends_on.clone(),
            tables: self.tables.iter().map(|(n, items)| (*n, clone(items))).collect(),
            warnings: self
                .warnings
                .iter()
                .map(|w| Warning { message: w.message.replacen(&self.name, name, 1), ..w.clone() })
                .collect(),
        }
    }
}

pub(super) struct Draft {
    source: PathBuf,
    notes: Vec<String>,
    pub sidecars: Vec<Sidecar>,
    warnings: Vec<Warning>,
}

impl Draft {
    pub fn new(source: &Path) -> Draft {
        Draft { source: source.to_path_buf(), notes: Vec::new(), sidecars: Vec::new(), warnings: Vec::new() }
    }

    /// A file-level setting with no equivalent.
    pub fn skip(&mut self, file: &Path, line: usize, why: &str) {
        self.notes.push(format!("not imported: {why}"));
        self.warnings.push(Warning {
            file: file.to_path_buf(),
            line,
            message: format!("not imported: {why}"),
        });
    }

    pub fn approx(&mut self, file: &Path, line: usize, why: &str) {
        self.notes.push(format!("approximated: {why}"));
        self.warnings.push(Warning {
            file: file.to_path_buf(),
            line,
            message: format!("approximated: {why}"),
        });
    }

    pub fn note(&mut self, text: &str) {
        self.notes.push(text.to_string());
    }

    /// Drops dependencies on unknown sidecars (warned), orders dependencies first, and
    /// writes the TOML.
    pub fn finish(mut self, format: Format) -> Result<(String, Vec<Warning>), ConfigError> {
        unique_names(&self.sidecars)?;
        let names: Vec<String> = self.sidecars.iter().map(|s| s.name.clone()).collect();
        for s in &mut self.sidecars {
            let deps = std::mem::take(&mut s.depends_on);
            for (dep, line) in deps {
                if names.contains(&dep) && dep != s.name {
                    s.depends_on.push((dep, line));
                } else {
                    s.skip(line, &format!("depends on {dep:?}, which is not a process here"));
                }
            }
        }
        let order = dependency_order(&self.sidecars)?;
        let mut out = format!(
            "# Imported from {} ({}) by `sidetop import`.\n# Relative paths resolve against that file's folder.\n",
            self.source.display(),
            format.name()
        );
        for note in &self.notes {
            out.push_str(&comment(note));
        }
        let mut warnings = self.warnings;
        for &i in &order {
            out.push('\n');
            write_sidecar(&mut out, &self.sidecars[i]);
        }
        for s in self.sidecars {
            warnings.extend(s.warnings);
        }
        warnings.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Ok((out, warnings))
    }
}

fn unique_names(sidecars: &[Sidecar]) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, &Sidecar> = HashMap::new();
    for s in sidecars {
        if let Some(first) = seen.insert(&s.name, s) {
            let text = std::fs::read_to_string(&s.file).unwrap_or_default();
            return Err(error_at(
                &s.file,
                &text,
                s.line,
                1,
                "",
                format!(
                    "two processes are named {:?} (the other at {}:{})",
                    s.name,
                    first.file.display(),
                    first.line
                ),
            ));
        }
    }
    Ok(())
}

/// Source order, except that each sidecar comes after its dependencies; a cycle is an
/// error at the dependency that closes it.
fn dependency_order(sidecars: &[Sidecar]) -> Result<Vec<usize>, ConfigError> {
    let index: HashMap<&str, usize> =
        sidecars.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let mut state = vec![0u8; sidecars.len()]; // 0 new, 1 visiting, 2 done
    let mut order = Vec::new();
    fn visit(
        i: usize,
        sidecars: &[Sidecar],
        index: &HashMap<&str, usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) -> Result<(), ConfigError> {
        state[i] = 1;
        for (dep, line) in &sidecars[i].depends_on {
            let d = index[dep.as_str()];
            match state[d] {
                1 => {
                    let s = &sidecars[i];
                    let text = std::fs::read_to_string(&s.file).unwrap_or_default();
                    return Err(error_at(
                        &s.file,
                        &text,
                        *line,
                        1,
                        "",
                        format!("dependency cycle: {} depends on {dep}, which waits for it", s.name),
                    ));
                }
                0 => visit(d, sidecars, index, state, order)?,
                _ => {}
            }
        }
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..sidecars.len() {
        if state[i] == 0 {
            visit(i, sidecars, &index, &mut state, &mut order)?;
        }
    }
    Ok(order)
}

fn comment(text: &str) -> String {
    text.lines().map(|l| if l.is_empty() { "#\n".to_string() } else { format!("# {l}\n") }).collect()
}

/// A bare key when TOML allows one, else a quoted one.
pub(super) fn key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        Value::String(k.to_string()).to_string()
    }
}

fn write_items(out: &mut String, items: &[Item]) {
    for item in items {
        for c in &item.comments {
            out.push_str(&comment(c));
        }
        out.push_str(&format!("{} = {}\n", key(&item.key), item.value));
    }
}

fn write_sidecar(out: &mut String, s: &Sidecar) {
    out.push_str("[[sidecar]]\n");
    out.push_str(&format!("name = {}\n", Value::String(s.name.clone())));
    for c in &s.comments {
        out.push_str(&comment(c));
    }
    write_items(out, &s.items);
    if !s.depends_on.is_empty() {
        let deps: Vec<Value> = s.depends_on.iter().map(|(d, _)| Value::String(d.clone())).collect();
        out.push_str(&format!("depends_on = {}\n", Value::Array(deps)));
    }
    if !s.env.is_empty() || !s.env_comments.is_empty() {
        out.push_str("[sidecar.env]\n");
        for c in &s.env_comments {
            out.push_str(&comment(c));
        }
        for (k, v) in &s.env {
            out.push_str(&format!("{} = {}\n", key(k), Value::String(v.clone())));
        }
    }
    for (name, items) in &s.tables {
        out.push_str(&format!("[sidecar.{name}]\n"));
        write_items(out, items);
    }
}

/// `"1500ms"`, `"10s"`.
pub(super) fn millis(ms: u64) -> Value {
    Value::String(if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{ms}ms") })
}

pub(super) fn secs(s: u64) -> Value {
    Value::String(format!("{s}s"))
}

/// A process name as sidetop accepts it: other characters become `-`.
pub(super) fn sidecar_name(name: &str) -> String {
    let cleaned: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
    if cleaned.is_empty() { "unnamed".to_string() } else { cleaned }
}
