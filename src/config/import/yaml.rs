//! YAML through saphyr, kept with the line and column of every node (for warnings and
//! errors), with merge keys (`<<: *defaults`) applied as Go's yaml.v3 and serde_yaml do.

use super::error_at;
use crate::config::ConfigError;
use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};
use std::path::Path;

#[derive(Debug, Clone)]
pub(super) enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub(super) struct Node {
    /// 1-based.
    pub line: usize,
    pub col: usize,
    pub kind: Kind,
}

/// Reads one YAML document (an empty file is an empty mapping).
pub(super) fn parse(path: &Path, text: &str) -> Result<Node, ConfigError> {
    let docs = MarkedYamlOwned::load_from_str(text).map_err(|e| {
        let m = e.marker();
        error_at(path, text, m.line(), m.col() + 1, "", format!("YAML syntax error: {}", e.info()))
    })?;
    match docs.into_iter().next() {
        None => Ok(Node { line: 1, col: 1, kind: Kind::Map(Vec::new()) }),
        Some(doc) => convert(path, text, doc),
    }
}

fn convert(path: &Path, text: &str, node: MarkedYamlOwned) -> Result<Node, ConfigError> {
    let (line, col) = (node.span.start.line(), node.span.start.col() + 1);
    let kind = match node.data {
        YamlDataOwned::Value(v) => match v {
            ScalarOwned::Null => Kind::Null,
            ScalarOwned::Boolean(b) => Kind::Bool(b),
            ScalarOwned::Integer(i) => Kind::Int(i),
            ScalarOwned::FloatingPoint(f) => Kind::Float(f.into_inner()),
            ScalarOwned::String(s) => Kind::Str(s),
        },
        YamlDataOwned::Representation(s, _, _) => Kind::Str(s),
        YamlDataOwned::Tagged(_, inner) => return convert(path, text, *inner),
        YamlDataOwned::Sequence(items) => {
            Kind::Seq(items.into_iter().map(|n| convert(path, text, n)).collect::<Result<_, _>>()?)
        }
        YamlDataOwned::Mapping(map) => {
            let mut entries: Vec<(Node, Node)> = Vec::new();
            let mut merged: Vec<(Node, Node)> = Vec::new();
            for (k, v) in map {
                let k = convert(path, text, k)?;
                let v = convert(path, text, v)?;
                if k.as_str() == Some("<<") {
                    let sources = match v.kind {
                        Kind::Map(_) => vec![v],
                        Kind::Seq(items) => items,
                        _ => {
                            return Err(error_at(
                                path,
                                text,
                                v.line,
                                v.col,
                                "<<",
                                "a merge key takes a mapping",
                            ));
                        }
                    };
                    for source in sources {
                        let Kind::Map(m) = source.kind else {
                            return Err(error_at(
                                path,
                                text,
                                source.line,
                                source.col,
                                "<<",
                                "a merge key takes a mapping",
                            ));
                        };
                        for (mk, mv) in m {
                            if !merged.iter().any(|(e, _)| e.same_key(&mk)) {
                                merged.push((mk, mv));
                            }
                        }
                    }
                } else {
                    entries.push((k, v));
                }
            }
            for (mk, mv) in merged {
                if !entries.iter().any(|(e, _)| e.same_key(&mk)) {
                    entries.push((mk, mv));
                }
            }
            Kind::Map(entries)
        }
        YamlDataOwned::Alias(_) | YamlDataOwned::BadValue => Kind::Null,
    };
    Ok(Node { line, col, kind })
}

impl Node {
    fn same_key(&self, other: &Node) -> bool {
        self.scalar_text().is_some() && self.scalar_text() == other.scalar_text()
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text, the way a string-typed field reads it (`8080` is `"8080"`).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            Kind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// Key-value pairs with string keys (an empty list for anything but a mapping).
    pub fn entries(&self) -> Vec<(String, &Node, &Node)> {
        match &self.kind {
            Kind::Map(m) => m.iter().map(|(k, v)| (k.scalar_text().unwrap_or_default(), k, v)).collect(),
            _ => Vec::new(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(m) => m.iter().find(|(k, _)| k.scalar_text().as_deref() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key node of `key`, for its line.
    pub fn key_node(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(m) => m.iter().find(|(k, _)| k.scalar_text().as_deref() == Some(key)).map(|(k, _)| k),
            _ => None,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// Typed reads of a node, each failing with the node's place and what was expected.
pub(super) struct Reader<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Reader<'_> {
    pub fn fail<T>(&self, node: &Node, key: &str, message: impl Into<String>) -> Result<T, ConfigError> {
        Err(error_at(self.path, self.text, node.line, node.col, key, message))
    }

    pub fn string(&self, node: &Node, key: &str) -> Result<String, ConfigError> {
        match node.scalar_text() {
            Some(s) => Ok(s),
            None => self.fail(node, key, format!("expected a string, found {}", node.kind_name())),
        }
    }

    pub fn boolean(&self, node: &Node, key: &str) -> Result<bool, ConfigError> {
        match node.kind {
            Kind::Bool(b) => Ok(b),
            _ => self.fail(node, key, format!("expected true or false, found {}", node.kind_name())),
        }
    }

    /// A whole number (also written as a string, as Go's decoder allows for ports).
    pub fn int(&self, node: &Node, key: &str) -> Result<i64, ConfigError> {
        match &node.kind {
            Kind::Int(i) => Ok(*i),
            Kind::Str(s) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().expect("checked")),
            _ => self.fail(node, key, format!("expected a whole number, found {}", node.kind_name())),
        }
    }

    pub fn strings(&self, node: &Node, key: &str) -> Result<Vec<String>, ConfigError> {
        match &node.kind {
            Kind::Seq(items) => items.iter().map(|i| self.string(i, key)).collect(),
            _ => self.fail(node, key, format!("expected a list of strings, found {}", node.kind_name())),
        }
    }

    pub fn map<'n>(
        &self,
        node: &'n Node,
        key: &str,
    ) -> Result<Vec<(String, &'n Node, &'n Node)>, ConfigError> {
        match &node.kind {
            Kind::Map(_) => Ok(node.entries()),
            Kind::Null => Ok(Vec::new()),
            _ => self.fail(node, key, format!("expected a mapping, found {}", node.kind_name())),
        }
    }
}
